"""Nominating customers: the eligibility preview, addCustomer and claimCustomer."""

from datetime import datetime
from typing import Annotated

import strawberry

from app.domain.contacts import Contact as ContactValue
from app.resolvers.claims import Claim
from app.resolvers.context import Info
from app.resolvers.customers import Customer
from app.resolvers.engagements import Engagement, ProposedPayout
from app.resolvers.enums import CustomerIdType, IneligibilityReason
from app.resolvers.relay import pk_of
from app.resolvers.user_errors import UserError
from app.services import nominations
from app.services.problems import Problems


@strawberry.input(description="A person to contact about a claim.")
class ContactInput:
    first_name: str = strawberry.field(description="First name (required).")
    last_name: str = strawberry.field(description="Last name (required).")
    email: str = strawberry.field(description="Email address (required).")
    phone: str | None = strawberry.field(default=None, description="Phone number.")
    job_title: str | None = strawberry.field(default=None, description="Job title.")

    def value(self) -> ContactValue:
        return ContactValue(self.first_name, self.last_name, self.email, self.phone, self.job_title)


@strawberry.input(description="What the add-customer preview needs: a location and a customer identifier.")
class CustomerEligibilityInput:
    location_id: strawberry.ID = strawberry.field(description="Global ID of one of your partner locations.")
    customer_id_type: CustomerIdType = strawberry.field(description="The kind of identifier.")
    customer_id_value: str = strawberry.field(description="The identifier as typed.")
    customer_email: str | None = strawberry.field(
        default=None,
        description="The customer contact's email, to tell whether a tenant mismatch reason is needed and whether "
        "the address is at your own organisation (RECIPIENT_IS_PARTNER).",
    )
    hours: int | None = strawberry.field(
        default=None,
        description="Hours, for the proposed payout of variable pay. Outside 1 to an engagement's maxHours they "
        "are a HOURS_OUT_OF_RANGE userError on `input.hours`, and that engagement is listed ineligible "
        "(HOURS_OUT_OF_RANGE), with no payout, as addCustomer would refuse it.",
    )


@strawberry.type(description="The verdict on one engagement for the identifier and location.")
class EngagementEligibility:
    engagement: Engagement = strawberry.field(description="The engagement.")
    reasons: list[IneligibilityReason] = strawberry.field(
        description="Why it cannot be chosen, as addCustomer would refuse it; empty when it can. The location's "
        "reasons come first (LOCATION_NOT_ENROLLED, LOCATION_NOT_ELIGIBLE): they are shown on every engagement "
        "they concern, so no list ever offers what addCustomer refuses, while addCustomer and claimCustomer "
        "report them once, on `input.locationId`."
    )
    proposed_payout: ProposedPayout | None = strawberry.field(
        description="For variable pay with valid hours and a deal that converts into the engagement's "
        "currency: the proposed payout, with the rate it was figured at."
    )
    cooling_off_until: datetime | None = strawberry.field(
        description="With COOLING_OFF: the instant (UTC) from which you may nominate this customer for the "
        "engagement again; null otherwise."
    )
    can_earn: bool = strawberry.field(
        description="True when a claim made now would earn: the engagement can be chosen and the location's "
        "payee profile is valid. An invalid payee profile does not stop the nomination: the engagement stays "
        "eligible, with `canEarn` false and PAYEE_PROFILE_INVALID in `earningReasons`, until it is fixed."
    )
    earning_reasons: list[IneligibilityReason] = strawberry.field(
        description="Why a claim made now would not earn: `reasons`, then PAYEE_PROFILE_INVALID when the "
        "location's payee profile is invalid; empty when it would."
    )


@strawberry.type(
    description="The add-customer preview: which engagements the identifier and location can be nominated for."
)
class CustomerEligibility:
    customer_id_type: CustomerIdType | None = strawberry.field(description="The kind of identifier.")
    customer_id_value: str | None = strawberry.field(
        description="The identifier, normalised; null when malformed."
    )
    customer_name: str | None = strawberry.field(
        description="The organisation's name in the directory, when found."
    )
    resolved_tenant_id: str | None = strawberry.field(
        description="The tenant the identifier resolves to, when known."
    )
    tenant_mismatch_reason_required: bool | None = strawberry.field(
        description="True when addCustomer will need `tenantMismatchReason`: the customer email's domain is not "
        "one of the customer's tenant's domains (any identifier type; also when the directory knows no domain of "
        "its tenant). Null until `customerEmail` is given, and for an identifier the directory does not know."
    )
    eligible_engagements: list[EngagementEligibility] = strawberry.field(
        description="Engagements that can be chosen."
    )
    ineligible_engagements: list[EngagementEligibility] = strawberry.field(
        description="Engagements that cannot, with their reasons."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Problems with the input. A location that is not yours (NOT_FOUND on `input.locationId`) or "
        "a malformed identifier (INVALID_ID_FORMAT) leaves the lists empty. A location not enrolled in MCI is "
        "reported once (LOCATION_NOT_ENROLLED on `input.locationId`), hours out of an engagement's range once "
        "(HOURS_OUT_OF_RANGE on `input.hours`), and an email at a domain of your own organisation "
        "(RECIPIENT_IS_PARTNER on `input.customerEmail`, which addCustomer would refuse as the customer contact); "
        "the lists still show every engagement's verdict then, each naming its reasons."
    )


async def resolve_customer_eligibility(
    info: Info,
    input: Annotated[CustomerEligibilityInput, strawberry.argument(description="Location and identifier.")],
) -> CustomerEligibility:
    viewer = info.context.require_viewer()
    question = nominations.EligibilityQuestion(
        location_pk=pk_of(input.location_id, "PartnerLocation"),
        id_type=input.customer_id_type,
        id_value=input.customer_id_value,
        customer_email=input.customer_email,
        hours=input.hours,
    )
    try:
        async with info.context.runtime.sessions() as session:
            answer = await nominations.assess(session, viewer, question, info.context.runtime.clock.now())
    except Problems as error:
        return CustomerEligibility(
            customer_id_type=input.customer_id_type,
            customer_id_value=None,
            customer_name=None,
            resolved_tenant_id=None,
            tenant_mismatch_reason_required=None,
            eligible_engagements=[],
            ineligible_engagements=[],
            user_errors=[UserError.of(p) for p in error.problems],
        )

    def verdict(v: nominations.EngagementVerdict) -> EngagementEligibility:
        pay = v.payout
        payout = (
            ProposedPayout.of(pay.amount, pay.currency, pay.deal_currency, pay.exchange_rate)
            if pay is not None
            else None
        )
        return EngagementEligibility(
            engagement=Engagement.from_model(v.engagement),
            reasons=v.reasons,
            proposed_payout=payout,
            cooling_off_until=v.cooling_off_until,
            can_earn=not v.earning_reasons,
            earning_reasons=v.earning_reasons,
        )

    return CustomerEligibility(
        customer_id_type=answer.identifier.id_type,
        customer_id_value=answer.identifier.value,
        customer_name=answer.entry.name,
        resolved_tenant_id=answer.entry.tenant_id,
        tenant_mismatch_reason_required=answer.tenant_mismatch_reason_required,
        eligible_engagements=[verdict(v) for v in answer.verdicts if v.eligible],
        ineligible_engagements=[verdict(v) for v in answer.verdicts if not v.eligible],
        user_errors=[UserError.of(p) for p in answer.problems],
    )


@strawberry.input(description="Add a customer: one claim per chosen engagement, all or none.")
class AddCustomerInput:
    friendly_name: str = strawberry.field(description="Your name for the claims.")
    location_id: strawberry.ID = strawberry.field(description="Global ID of an enrolled location of yours.")
    customer_id_type: CustomerIdType = strawberry.field(description="The kind of identifier.")
    customer_id_value: str = strawberry.field(description="The identifier.")
    tenant_mismatch_reason: str | None = strawberry.field(
        default=None,
        description="Required when the customer contact's email domain is not one of the customer's tenant's "
        "domains, for any identifier type (TENANT_MISMATCH_REASON_REQUIRED); kept on the claims, shown to "
        "reviewers and in the history.",
    )
    engagement_ids: list[strawberry.ID] = strawberry.field(
        description="Engagements to nominate for: fixed-pay ones, or exactly one variable-pay one."
    )
    hours: int | None = strawberry.field(
        default=None, description="Hours needed (variable pay only; never changes)."
    )
    customer_contact: ContactInput = strawberry.field(
        description="Who answers the consent email: never at a domain of your own organisation "
        "(RECIPIENT_IS_PARTNER)."
    )
    partner_contact: ContactInput = strawberry.field(description="Your contact for the claims.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Send the same key to retry safely: the first result is returned, nothing more made.",
    )


@strawberry.input(
    description="Claim a known customer (one who consented to you before) for fixed-pay engagements."
)
class ClaimCustomerInput:
    customer_id: strawberry.ID = strawberry.field(description="Global ID of the known customer.")
    friendly_name: str = strawberry.field(description="Your name for the claims.")
    location_id: strawberry.ID = strawberry.field(
        description="Global ID of an enrolled, eligible location of yours."
    )
    engagement_ids: list[strawberry.ID] = strawberry.field(
        description="Fixed-pay engagements to claim the customer for."
    )
    customer_contact: ContactInput = strawberry.field(
        description="Who answers the consent email: never at a domain of your own organisation "
        "(RECIPIENT_IS_PARTNER)."
    )
    partner_contact: ContactInput = strawberry.field(description="Your contact for the claims.")
    tenant_mismatch_reason: str | None = strawberry.field(
        default=None,
        description="Required when the customer contact's email domain is not one of the customer's tenant's "
        "domains (TENANT_MISMATCH_REASON_REQUIRED); kept on the claims, shown to reviewers and in the history.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Send the same key to retry safely: the first result is returned, nothing more made.",
    )


@strawberry.type(description="The result of addCustomer.")
class AddCustomerPayload:
    customer: Customer | None = strawberry.field(description="The customer; null when nothing was made.")
    claims: list[Claim] = strawberry.field(
        description="The claims made, one per engagement; empty on problems."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Every problem found; nothing was made when any."
    )


@strawberry.type(description="The result of claimCustomer.")
class ClaimCustomerPayload:
    customer: Customer | None = strawberry.field(description="The customer; null when nothing was made.")
    claims: list[Claim] = strawberry.field(
        description="The claims made, one per engagement; empty on problems."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Every problem found; nothing was made when any."
    )


async def _run(
    info: Info, input: "AddCustomerInput | ClaimCustomerInput", **specific: object
) -> tuple[Customer | None, list[Claim], list[UserError]]:
    """Map what both inputs share (and the fields `specific` to one of them) to the service, and back."""
    context = info.context
    command = nominations.Nominate(
        friendly_name=input.friendly_name,
        location_pk=pk_of(input.location_id, "PartnerLocation"),
        engagement_pks=[pk_of(e, "Engagement") for e in input.engagement_ids],
        customer_contact=input.customer_contact.value(),
        partner_contact=input.partner_contact.value(),
        idempotency_key=input.idempotency_key,
        **specific,  # type: ignore[arg-type]
    )
    outcome = await nominations.nominate(
        context.runtime.sessions, context.require_viewer(), command, context.runtime.clock.now()
    )
    if isinstance(outcome, list):
        return None, [], [UserError.of(p) for p in outcome]
    for claim in outcome.claims:
        context.loaders.claim.prime(claim.id, claim)
    return Customer.from_model(outcome.customer), [Claim.from_model(c) for c in outcome.claims], []


async def add_customer(
    info: Info,
    input: Annotated[AddCustomerInput, strawberry.argument(description="The customer and engagements.")],
) -> AddCustomerPayload:
    customer, claims, errors = await _run(
        info,
        input,
        id_type=input.customer_id_type,
        id_value=input.customer_id_value,
        tenant_mismatch_reason=input.tenant_mismatch_reason,
        hours=input.hours,
    )
    return AddCustomerPayload(customer=customer, claims=claims, user_errors=errors)


async def claim_customer(
    info: Info,
    input: Annotated[ClaimCustomerInput, strawberry.argument(description="The customer and engagements.")],
) -> ClaimCustomerPayload:
    customer, claims, errors = await _run(
        info,
        input,
        claiming=True,
        customer_pk=pk_of(input.customer_id, "Customer"),
        tenant_mismatch_reason=input.tenant_mismatch_reason,
    )
    return ClaimCustomerPayload(customer=customer, claims=claims, user_errors=errors)
