"""Consent: sendConsent (first send and reminders) and respondToConsent (the customer's answer, public, authorised
by the link's token)."""

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from app import models
from app.domain.consent import REMINDERS
from app.resolvers.claims import Claim
from app.resolvers.context import Info
from app.resolvers.nominations import ContactInput
from app.resolvers.relay import pk_of
from app.resolvers.user_errors import UserError
from app.services import consent


@strawberry.enum(description="Where a consent request stands.")
class ConsentRequestStatus(Enum):
    PENDING = strawberry.enum_value("PENDING", description="Sent; no answer yet.")
    ACCEPTED = strawberry.enum_value("ACCEPTED", description="The customer accepted.")
    DECLINED = strawberry.enum_value("DECLINED", description="The customer declined.")
    EXPIRED = strawberry.enum_value("EXPIRED", description="No answer before the consent deadline.")


@strawberry.enum(description="The customer's answer to a consent request.")
class ConsentDecision(Enum):
    ACCEPT = strawberry.enum_value(consent.ACCEPT, description="Agree to take part in the engagement.")
    DECLINE = strawberry.enum_value(consent.DECLINE, description="Refuse to take part.")


@strawberry.type(
    description="The request for the customer's consent to a claim; reminders re-send the same request."
)
class ConsentRequest:
    recipient: str = strawberry.field(description="The email address the request goes to.")
    first_sent_at: datetime = strawberry.field(description="When it was first sent.")
    last_sent_at: datetime = strawberry.field(description="When it was last sent (first send or reminder).")
    send_count: int = strawberry.field(description="How many times it was sent, reminders included.")
    response: ConsentDecision | None = strawberry.field(description="The customer's answer; null before one.")
    responded_at: datetime | None = strawberry.field(description="When the customer answered.")
    expires_at: datetime = strawberry.field(description="The consent deadline: the link dies then.")
    row: strawberry.Private[models.ConsentRequest]

    @strawberry.field(
        description="When a reminder (`sendConsent` again) may next be sent: at or before now means at once. "
        "The first reminder may follow the first send at once; after it, one per 24 hours; five sends in all. "
        "A re-send to a changed contact is timed the same way. Null when no send remains (five made) or the "
        "customer answered."
    )
    def next_reminder_allowed_at(self) -> datetime | None:
        return consent.next_reminder_at(self.row)

    @strawberry.field(description="How many more times the request may be sent (reminders), at most.")
    def remaining_sends(self) -> int:
        if self.row.responded_at is not None:
            return 0
        return max(REMINDERS.max_sends - self.row.send_count, 0)

    @strawberry.field(description="Where the request stands now.")
    def status(self, info: Info) -> ConsentRequestStatus:
        if self.row.response is not None:
            return (
                ConsentRequestStatus.ACCEPTED
                if self.row.response == consent.ACCEPT
                else ConsentRequestStatus.DECLINED
            )
        if info.context.runtime.clock.now() >= self.row.expires_at:
            return ConsentRequestStatus.EXPIRED
        return ConsentRequestStatus.PENDING

    @classmethod
    def from_model(cls, row: models.ConsentRequest) -> "ConsentRequest":
        return cls(
            row=row,
            recipient=row.recipient_email,
            first_sent_at=row.first_sent_at,
            last_sent_at=row.last_sent_at,
            send_count=row.send_count,
            response=ConsentDecision(row.response) if row.response else None,
            responded_at=row.responded_at,
            expires_at=row.expires_at,
        )


@strawberry.input(description="Send the consent email, or a reminder when it was sent before.")
class SendConsentInput:
    claim_id: strawberry.ID = strawberry.field(description="Global ID of the claim.")
    customer_contact: ContactInput | None = strawberry.field(
        default=None,
        description="Updated customer contact (the recipient); omit to keep it. A change is recorded in the "
        "history (UPDATE_CONTACT); a new recipient gets a new link and the earlier link stops working. Never an "
        "address at your own organisation's domains (RECIPIENT_IS_PARTNER).",
    )
    partner_contact: ContactInput | None = strawberry.field(
        default=None, description="Updated partner contact; omit to keep it."
    )
    tenant_mismatch_reason: str | None = strawberry.field(
        default=None,
        description="Why the customer contact's email domain is not one of the customer's tenant's domains: "
        "required then (TENANT_MISMATCH_REASON_REQUIRED), kept on the claim and in the history. Omit to keep the "
        "reason the claim has while the recipient stays the same; a new recipient needs its own.",
    )


@strawberry.type(description="The result of sendConsent.")
class SendConsentPayload:
    claim: Claim | None = strawberry.field(description="The claim, now awaiting the customer's answer.")
    consent_request: ConsentRequest | None = strawberry.field(description="The request sent.")
    user_errors: list[UserError] = strawberry.field(description="Problems; nothing was sent when any.")


async def send_consent(
    info: Info, input: Annotated[SendConsentInput, strawberry.argument(description="The claim and contacts.")]
) -> SendConsentPayload:
    context = info.context
    runtime = context.runtime
    outcome = await consent.send_consent(
        runtime.sessions,
        runtime.settings,
        context.require_viewer(),
        consent.SendConsent(
            claim_pk=pk_of(input.claim_id, "Claim"),
            customer_contact=input.customer_contact.value() if input.customer_contact else None,
            partner_contact=input.partner_contact.value() if input.partner_contact else None,
            tenant_mismatch_reason=input.tenant_mismatch_reason,
        ),
        runtime.clock.now(),
    )
    if isinstance(outcome, list):
        return SendConsentPayload(
            claim=None, consent_request=None, user_errors=[UserError.of(p) for p in outcome]
        )
    runtime.mail_sender.wake()
    claim, request = outcome
    context.loaders.consent_request.prime(claim.id, request)  # the claim's fields read the request just sent
    return SendConsentPayload(
        claim=Claim.from_model(claim), consent_request=ConsentRequest.from_model(request), user_errors=[]
    )


@strawberry.input(description="The customer's answer, authorised by the token of the consent link.")
class RespondToConsentInput:
    token: str = strawberry.field(description="The token from the consent link (the last part of its path).")
    decision: ConsentDecision = strawberry.field(description="Accept or decline.")


@strawberry.type(description="The result of respondToConsent.")
class RespondToConsentPayload:
    accepted: bool | None = strawberry.field(
        description="True when accepted, false when declined; null on problems."
    )
    engagement_name: str | None = strawberry.field(description="The engagement consented to.")
    partner_name: str | None = strawberry.field(description="The partner that asked.")
    user_errors: list[UserError] = strawberry.field(
        description="Problems with the link; nothing changed when any."
    )


async def respond_to_consent(
    info: Info,
    input: Annotated[RespondToConsentInput, strawberry.argument(description="The token and answer.")],
) -> RespondToConsentPayload:
    runtime = info.context.runtime
    outcome = await consent.respond(
        runtime.sessions, runtime.settings, input.token, input.decision.value, runtime.clock.now()
    )
    if isinstance(outcome, list):
        return RespondToConsentPayload(
            accepted=None,
            engagement_name=None,
            partner_name=None,
            user_errors=[UserError.of(p) for p in outcome],
        )
    return RespondToConsentPayload(
        accepted=outcome.accepted,
        engagement_name=outcome.engagement_name,
        partner_name=outcome.partner_name,
        user_errors=[],
    )
