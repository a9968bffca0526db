"""Claims and their history (the claim event log)."""

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app import models
from app.domain.enums import ActorKind as DomainActorKind
from app.domain.enums import ClaimStatus as DomainClaimStatus
from app.domain.payout import USD
from app.resolvers.context import Info
from app.resolvers.customers import Customer, CustomerIdentifier
from app.resolvers.engagements import Engagement, ProposedPayout
from app.resolvers.enums import ActorKind, ClaimAction, ClaimStatus, CustomerIdType, TerminalCategory
from app.resolvers.loaders import now_or_later
from app.resolvers.partners import PartnerLocation
from app.resolvers.relay import (
    After,
    Before,
    Connection,
    First,
    Last,
    Node,
    encode_cursor,
    page_request,
    to_global_id,
)
from app.services import claims as claim_service
from app.services import consent as consent_service
from app.services import records

if TYPE_CHECKING:
    from app.resolvers.consent import ConsentRequest


@strawberry.type(description="A person to contact about a claim.")
class Contact:
    first_name: str = strawberry.field(description="First name.")
    last_name: str = strawberry.field(description="Last name.")
    email: str = strawberry.field(description="Email address.")
    phone: str | None = strawberry.field(description="Phone number, if given.")
    job_title: str | None = strawberry.field(description="Job title, if given.")

    @classmethod
    def of(cls, stored: dict[str, Any]) -> "Contact":
        return cls(
            first_name=stored.get("firstName") or "",
            last_name=stored.get("lastName") or "",
            email=stored.get("email") or "",
            phone=stored.get("phone"),
            job_title=stored.get("jobTitle"),
        )


@strawberry.type(description="Who did something to a claim.")
class Actor:
    kind: ActorKind = strawberry.field(description="Partner user, customer, reviewer or the service's clock.")
    name: str | None = strawberry.field(description="Display name, when there is one.")


@strawberry.type(
    description="One action on a claim, kept for ever: what happened, from which status to which, who and when."
)
class ClaimEvent(Node):
    cursor: str = strawberry.field(description="Resume a subscription or a history page after this event.")
    action: ClaimAction = strawberry.field(description="What happened.")
    from_status: ClaimStatus | None = strawberry.field(description="Status before; null for the creation.")
    to_status: ClaimStatus = strawberry.field(description="Status after.")
    comment: str | None = strawberry.field(
        description="A comment that came with the action: reviewer requests, rejections, disputes; on CREATE and "
        "UPDATE_CONTACT the tenant mismatch reason given, and on UPDATE_CONTACT who the request now goes to."
    )
    occurred_at: datetime = strawberry.field(description="When it happened (UTC).")
    claim_pk: strawberry.Private[int]
    actor_kind: strawberry.Private[DomainActorKind]
    actor_name: strawberry.Private[str | None]

    @strawberry.field(description="Who did it. Partners see reviewers as Microsoft, never by name.")
    def actor(self, info: Info) -> Actor:
        hidden = self.actor_kind is DomainActorKind.REVIEWER and info.context.reviewer is None
        return Actor(kind=self.actor_kind, name="Microsoft reviewer" if hidden else self.actor_name)

    @strawberry.field(description="The claim the event belongs to.")
    async def claim(self, info: Info) -> "Claim":
        return Claim.from_model(await info.context.loaders.claim.load(self.claim_pk))

    @classmethod
    def from_model(cls, row: models.ClaimEvent) -> "ClaimEvent":
        assert row.id is not None
        return cls(
            id=to_global_id("ClaimEvent", row.id),
            cursor=encode_cursor(row.id),
            claim_pk=row.claim_id,
            action=ClaimAction(row.action),
            from_status=ClaimStatus(row.from_status) if row.from_status else None,
            to_status=ClaimStatus(row.to_status),
            actor_kind=DomainActorKind(row.actor_kind),
            actor_name=row.actor_name,
            comment=row.comment,
            occurred_at=row.occurred_at,
        )


ClaimEventConnection = Connection[ClaimEvent]


@strawberry.type(
    description="A partner's claim on an engagement for one customer, from nomination to its end."
)
class Claim(Node):
    claim_number: str = strawberry.field(
        description="Human-readable unique claim number, e.g. `C26-7K3Q9XWD`."
    )
    friendly_name: str = strawberry.field(description="The partner's name for the claim.")
    status: ClaimStatus = strawberry.field(description="Where the claim is in its life.")
    identifier: CustomerIdentifier = strawberry.field(
        description="The identifier the customer was nominated with."
    )
    hours: int | None = strawberry.field(
        description="Hours stated for a variable-pay engagement; they never change."
    )
    proposed_payout: ProposedPayout | None = strawberry.field(
        description="The payout proposed at nomination (variable pay), in the engagement's currency, with the "
        "deal's currency and the exchange rate it was figured at, as kept on the claim."
    )
    tenant_mismatch_reason: str | None = strawberry.field(
        description="The partner's reason why the customer contact's email domain is not one of the customer's "
        "tenant's domains (any identifier type), when it is not; null when it is. Shown to reviewers too."
    )
    customer_contact: Contact = strawberry.field(description="Who answers the consent email.")
    partner_contact: Contact = strawberry.field(description="The partner's contact for this claim.")
    created_at: datetime = strawberry.field(description="When the claim was created.")
    deadline: datetime | None = strawberry.field(
        description="When the current waiting status ends; null when the claim waits on the reviewer or has ended."
    )
    row: strawberry.Private[models.Claim]

    @strawberry.field(
        description="Whole days left before the deadline, rounded up; null when there is no deadline."
    )
    def days_remaining(self, info: Info) -> int | None:
        return claim_service.days_left(self.row, info.context.runtime.clock.now())

    @strawberry.field(description="How the claim ended; null while it is active.")
    def terminal_category(self) -> TerminalCategory | None:
        return claim_service.terminal_category(self.row)

    @strawberry.field(
        description="What you (a partner user, or a reviewer) may do to the claim now: each succeeds when invoked "
        "at once with valid input (RESEND_CONSENT only while the reminder limits allow one)."
    )
    def available_actions(self, info: Info) -> list[ClaimAction]:
        if info.context.reviewer is not None:
            return claim_service.available_actions(self.row, DomainActorKind.REVIEWER)
        now = info.context.runtime.clock.now()
        if self.row.status != DomainClaimStatus.AWAITING_CUSTOMER_CONSENT_RESPONSE:  # no reminder to judge
            return consent_service.partner_actions(self.row, None, now)
        return now_or_later(  # type: ignore[return-value]
            info.context.loaders.consent_request,
            self.row.id,
            lambda request: consent_service.partner_actions(self.row, request, now),
        )

    @strawberry.field(
        description="The comments that came with actions, oldest first: those exchanged with the reviewer "
        "(requests, rejections, disputes) and the tenant mismatch reasons given with the customer contact."
    )
    async def comments(self, info: Info) -> list[ClaimEvent]:
        assert self.row.id is not None
        async with info.context.runtime.sessions() as session:
            events = await records.claim_comments(session, self.row.id)
        return [ClaimEvent.from_model(e) for e in events]

    @strawberry.field(description="The engagement claimed.")
    async def engagement(self, info: Info) -> Engagement:
        return Engagement.from_model(await info.context.loaders.engagement.load(self.row.engagement_id))

    @strawberry.field(description="The customer the claim is about.")
    async def customer(self, info: Info) -> Customer:
        return Customer.from_model(await info.context.loaders.customer.load(self.row.customer_id))

    @strawberry.field(description="The partner location the claim earns for.")
    async def location(self, info: Info) -> PartnerLocation:
        return PartnerLocation.from_model(await info.context.loaders.location.load(self.row.location_pk))

    @strawberry.field(description="The consent request; null until consent was first sent.")
    def consent_request(
        self, info: Info
    ) -> Annotated["ConsentRequest", strawberry.lazy("app.resolvers.consent")] | None:
        from app.resolvers.consent import ConsentRequest

        return now_or_later(  # type: ignore[return-value]
            info.context.loaders.consent_request,
            self.row.id,
            lambda row: ConsentRequest.from_model(row) if row else None,
        )

    @strawberry.field(description="Everything that happened to the claim, oldest first.")
    async def history(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> ClaimEventConnection:
        settings = info.context.runtime.settings
        request = page_request(settings, first, after, last, before)
        assert self.row.id is not None
        async with info.context.runtime.sessions() as session:
            page = await records.claim_history(session, self.row.id, request)
        return ClaimEventConnection.of(page, ClaimEvent.from_model)

    @classmethod
    def from_model(cls, row: models.Claim) -> "Claim":
        assert row.id is not None
        payout = None
        if row.proposed_payout is not None:
            currency = row.currency or USD
            payout = ProposedPayout.of(
                row.proposed_payout,
                currency,
                row.deal_currency or currency,  # claims made before deals had currencies: the same, at 1
                row.exchange_rate if row.exchange_rate is not None else Decimal(1),
            )
        return cls(
            id=to_global_id("Claim", row.id),
            row=row,
            claim_number=row.claim_number,
            friendly_name=row.friendly_name,
            status=ClaimStatus(row.status),
            identifier=CustomerIdentifier(id_type=CustomerIdType(row.id_type), value=row.id_value),
            hours=row.hours,
            proposed_payout=payout,
            tenant_mismatch_reason=row.tenant_mismatch_reason,
            customer_contact=Contact.of(row.customer_contact),
            partner_contact=Contact.of(row.partner_contact),
            created_at=row.created_at,
            deadline=row.deadline,
        )


ClaimConnection = Connection[Claim]
