"""`UserError`: what the user can fix, returned in a payload, never as a top-level error."""

import strawberry

from app.resolvers.enums import expose
from app.services.problems import ErrorCode, Problem

UserErrorCode = expose(
    ErrorCode,
    "Stable codes of the problems a user can fix.",
    {
        "INVALID_INPUT": "A value is missing, too long or malformed.",
        "INVALID_ID_FORMAT": "The customer identifier is not well formed for its type.",
        "NOT_FOUND": "An ID names nothing you can see.",
        "TENANT_MISMATCH_REASON_REQUIRED": "The customer contact's email domain is not one of the customer's "
        "tenant's domains (any identifier type; also when no domain of the tenant is known): give "
        "`tenantMismatchReason`.",
        "SINGLE_ENGAGEMENT_FOR_VARIABLE_PAY": "A variable-pay engagement must be chosen on its own.",
        "MIXED_PAY_TYPES": "Fixed- and variable-pay engagements cannot be chosen together.",
        "HOURS_REQUIRED": "Variable pay needs the hours.",
        "HOURS_OUT_OF_RANGE": "The hours are outside what the engagement allows.",
        "HOURS_NOT_ALLOWED": "Hours are for variable-pay engagements only.",
        "VARIABLE_PAY_NOT_CLAIMABLE": "Variable-pay engagements are nominated with addCustomer only.",
        "NOT_A_KNOWN_CUSTOMER": "Only customers who consented to you before can be claimed.",
        "IDEMPOTENCY_KEY_REUSED": "The idempotency key was used before with a different input.",
        "CONCURRENT_CHANGE": "Someone changed the object at the same moment; read it again and retry.",
        "ACTION_NOT_AVAILABLE": "The action is not open on the claim in its current status.",
        "CLAIM_CLOSED": "The claim has ended (terminal); only a new claim can go on.",
        "DEADLINE_PASSED": "The deadline for this step has passed.",
        "CONSENT_LINK_INVALID": "The consent link is not one this service issued.",
        "CONSENT_ALREADY_ANSWERED": "The consent request was already answered; a link works once.",
        "CONSENT_LINK_EXPIRED": "The consent link expired with the consent deadline.",
        "CONSENT_NO_LONGER_OPEN": "The claim no longer waits for consent (for example, it was cancelled).",
        "SANDBOX_ONLY": "Only available in sandbox mode.",
        "ADMIN_ONLY": "Only an INCENTIVES_ADMIN may do this.",
        "CLOCK_OUT_OF_RANGE": "The test clock moves by 1 to 400 days a call and never past 2100-01-01.",
        "RECIPIENT_IS_PARTNER": "The consent recipient is at a domain of your own organisation (your users' or "
        "your partner contacts'): consent must come from the customer, with or without a mismatch reason.",
        "REMINDER_LIMIT": "The consent request cannot be sent again yet (the first reminder may follow at once, "
        "then one per 24 hours) or any more (five sends in all); the message says when the next is allowed, and "
        "`ConsentRequest.nextReminderAllowedAt` shows it.",
        "CONSENT_LINK_REPLACED": "The consent link was replaced by a newer one, mailed after the customer contact "
        "changed; only the newest link answers.",
        "CRITERIA_NOT_MET": "The customer does not meet the engagement's criteria.",
        "ID_TYPE_NOT_ALLOWED": "The engagement does not accept this kind of identifier.",
        "CURRENCY_NOT_SUPPORTED": "The opportunity's deal cannot be converted into the engagement's currency (no "
        "exchange rate).",
        "CLAIM_LIMIT_REACHED": "The customer already has as many active claims on the engagement as it allows, "
        "across all partners.",
        "ALREADY_CLAIMED_BY_YOU": "You already have an active claim for this customer on this engagement.",
        "COOLING_OFF": "Your claim for this customer on this engagement ended without consent recently; the "
        "message says from when you may nominate it again.",
        "ALREADY_PARTICIPATED": "The customer already completed the engagement.",
        "ENGAGEMENT_CLOSED": "The engagement accepts no new claims.",
        "LOCATION_NOT_ENROLLED": "The location is not enrolled in MCI; reported once, on `input.locationId`.",
        "LOCATION_NOT_ELIGIBLE": "The location is not eligible for one or more of the engagements chosen (the "
        "message names them); reported once, on `input.locationId`.",
        "IDENTIFIER_NOT_FOUND": "The identifier is not in the customer directory.",
    },
)


@strawberry.type(description="A problem with the input that the user can fix; nothing was changed.")
class UserError:
    code: UserErrorCode = strawberry.field(description="Stable code to branch on.")
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. `["input", "engagementIds", "1"]`; null when '
        "the problem is not about one field."
    )
    message: str = strawberry.field(description="What is wrong, in words for the user.")

    @classmethod
    def of(cls, problem: Problem) -> "UserError":
        field = [str(part) for part in problem.field] if problem.field is not None else None
        return cls(code=problem.code, field=field, message=problem.message)
