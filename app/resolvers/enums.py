"""The domain's enums as GraphQL enums, each value described (GraphiQL is the documentation)."""

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

import strawberry

from app.domain import enums as domain

E = TypeVar("E", bound=type[Enum])


def expose(enum: E, description: str, values: Mapping[str, str]) -> E:
    """Wrap a domain enum for GraphQL; every member must be described, so a new one cannot slip in bare."""
    undescribed = {member.name for member in enum} ^ set(values)
    assert not undescribed, f"{enum.__name__}: describe exactly its members ({sorted(undescribed)})"
    strawberry.enum(enum, description=description)
    for value in enum.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[value.name]
    return enum


IncentivesRole = expose(
    domain.IncentivesRole,
    "A partner user's role in the incentives program.",
    {
        "INCENTIVES_ADMIN": "Sees and acts for every location of the partner account.",
        "INCENTIVES_USER": "Sees and acts only for the locations where the role is held.",
    },
)

EngagementType = expose(
    domain.EngagementType,
    "The kind of engagement; it sets the default timelines.",
    {
        "ASSESSMENT": "An assessment.",
        "WORKSHOP": "A workshop.",
        "PROJECT_XS": "An extra-small project.",
        "PROJECT_S": "A small project.",
        "PROJECT_M": "A medium project.",
        "PROJECT_L": "A large project.",
        "PROJECT_XL": "An extra-large project.",
        "PROJECT_XXL": "A double-extra-large project.",
    },
)

PayType = expose(
    domain.PayType,
    "How an engagement pays.",
    {
        "FIXED": "A fixed amount; customers are nominated by domain, tenant, TPID or subscription.",
        "VARIABLE": "Paid by hours and deal size; customers are nominated by MSX opportunity ID only.",
    },
)

CustomerIdType = expose(
    domain.CustomerIdType,
    "The kind of identifier a customer is nominated with.",
    {
        "DOMAIN_NAME": "A domain of the customer (resolved to its tenant), e.g. `contoso.com`.",
        "TENANT_ID": "A Microsoft Entra tenant ID (GUID).",
        "TPID": "A Top Parent ID: 1 to 12 digits.",
        "AZURE_SUBSCRIPTION_ID": "An Azure subscription ID (GUID).",
        "MSX_OPPORTUNITY_ID": "A Microsoft Sales Experience opportunity ID, e.g. `7-3FS2XQBWAO`.",
    },
)

IneligibilityReason = expose(
    domain.IneligibilityReason,
    "Why a customer or a location cannot be nominated for an engagement, or (PAYEE_PROFILE_INVALID) why a location "
    "cannot earn on it.",
    {
        "CRITERIA_NOT_MET": "The identifier does not meet the engagement's customer criteria (for an MSX "
        "opportunity also: open, and its deal, converted into the engagement's currency, at least the minimum "
        "deal size).",
        "IDENTIFIER_NOT_FOUND": "The identifier could not be found in the customer directory.",
        "ID_TYPE_NOT_ALLOWED": "The engagement does not accept this kind of identifier.",
        "CURRENCY_NOT_SUPPORTED": "The opportunity's deal is in a currency that cannot be converted into the "
        "engagement's: the reference data has no exchange rate for one of the two.",
        "CLAIM_LIMIT_REACHED": "The customer already has as many active claims on the engagement as it allows, "
        "across all partners (your own claim is ALREADY_CLAIMED_BY_YOU).",
        "ALREADY_CLAIMED_BY_YOU": "You already have an active claim for this customer on this engagement (a "
        "partner either adds or claims a customer, once, per engagement; the customer counts by its limit key: "
        "a domain or an Azure subscription as its tenant).",
        "COOLING_OFF": "Your claim for this customer on this engagement ended recently with consent declined or "
        "expired: you may nominate it again when the engagement's `timelines.coolingOffDays` have passed since "
        "(the preview gives the date as `coolingOffUntil`). Other partners are not affected.",
        "ALREADY_PARTICIPATED": "The customer already completed this engagement as often as it allows.",
        "ENGAGEMENT_CLOSED": "The engagement accepts no new claims.",
        "LOCATION_NOT_ENROLLED": "The partner location is not enrolled in MCI.",
        "LOCATION_NOT_ELIGIBLE": "The partner location is not eligible for this engagement.",
        "PAYEE_PROFILE_INVALID": "The location's payee profile is invalid: it may still nominate customers, but "
        "earns nothing until the profile is fixed. Never a reason a nomination is refused.",
        "HOURS_OUT_OF_RANGE": "The preview's hours are outside 1 to the engagement's maxHours (addCustomer "
        "refuses them as a HOURS_OUT_OF_RANGE userError on `input.hours`).",
    },
)

Market = expose(
    domain.Market,
    "The variable-pay market of a partner location's country; it sets the hourly rate.",
    {"A": "Market A.", "B": "Market B.", "C": "Market C (also every country not listed)."},
)

ClaimStatus = expose(
    domain.ClaimStatus,
    "Where a claim is in its life.",
    {
        "CUSTOMER_CLAIMED": "Added or claimed; consent not yet asked. The consent countdown runs.",
        "AWAITING_CUSTOMER_CONSENT_RESPONSE": "The consent email was sent; waiting for the customer's answer.",
        "CUSTOMER_CONSENT_RECEIVED": "The customer accepted; the partner may submit the claim.",
        "CUSTOMER_CONSENT_DECLINED": "The customer declined. Terminal.",
        "CUSTOMER_CONSENT_EXPIRED": "No consent within the window. Terminal (expired).",
        "CANCELED": "Cancelled by the partner before the first submit. Terminal.",
        "SUBMITTED": "Submitted by the partner; waiting for the reviewer.",
        "UNDER_REVIEW": "A reviewer is working on it.",
        "PARTNER_ACTION_REQUIRED": "The reviewer asked the partner for more; the partner fixes and resubmits.",
        "APPROVED": "Approved: the engagement is completed. Terminal.",
        "REJECTED": "Rejected; one dispute is allowed within the dispute window.",
        "DISPUTED": "The partner disputes the rejection.",
        "REJECTED_FINAL": "Rejected after the dispute. Terminal.",
        "NOT_SUBMITTED_EXPIRED": "Not submitted in time after consent. Terminal (expired).",
        "POST_SUBMISSION_EXPIRED": "The partner did not answer the reviewer in time. Terminal (expired).",
        "DISPUTED_EXPIRED": "The dispute was not submitted in time. Terminal (expired).",
    },
)

TerminalCategory = expose(
    domain.TerminalCategory,
    "How a claim ended.",
    {
        "COMPLETED": "Approved.",
        "EXPIRED": "A deadline passed.",
        "CANCELED": "Cancelled by the partner.",
        "DECLINED": "The customer declined consent.",
        "FINAL_REJECTED": "Rejected after a dispute.",
    },
)

ClaimAction = expose(
    domain.ClaimAction,
    "Something done to a claim: what a claim event records, and what `availableActions` offers.",
    {
        "CREATE": "The claim was created by adding or claiming a customer.",
        "SEND_CONSENT": "Send the consent email to the customer.",
        "RESEND_CONSENT": "Send the consent email again, as a reminder; the deadline does not move. Offered only "
        "while the reminder limits allow one now (`ConsentRequest.nextReminderAllowedAt`).",
        "UPDATE_CONTACT": "The customer contact was changed (with `sendConsent`); the status and deadline stay. "
        "Recorded in the history, never offered on its own: its comment says who the request now goes to and the "
        "mismatch reason given.",
        "ACCEPT_CONSENT": "The customer accepted.",
        "DECLINE_CONSENT": "The customer declined.",
        "EXPIRE_CONSENT": "The consent window passed.",
        "CANCEL": "Cancel the claim (before its first submit).",
        "SUBMIT": "Submit the claim (also the resubmit after a request or a dispute).",
        "START_REVIEW": "A reviewer started the review.",
        "REQUEST_PARTNER_ACTION": "The reviewer asked the partner for more.",
        "APPROVE": "The reviewer approved the claim.",
        "REJECT": "The reviewer rejected the claim.",
        "DISPUTE": "Dispute the rejection (once).",
        "EXPIRE_NOT_SUBMITTED": "The first-submit window passed.",
        "EXPIRE_POST_SUBMISSION": "The window to answer the reviewer passed.",
        "EXPIRE_DISPUTE": "The dispute window passed.",
    },
)

ActorKind = expose(
    domain.ActorKind,
    "Who did something to a claim.",
    {
        "PARTNER_USER": "A partner user.",
        "CUSTOMER": "The customer, through the consent link.",
        "REVIEWER": "A Microsoft reviewer.",
        "SYSTEM": "The service itself: the clock applying a deadline.",
    },
)
