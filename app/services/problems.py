"""Problems the user can fix: what services return instead of raising, and the API shows as `userErrors`."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.domain.enums import IneligibilityReason
from app.domain.text import CONTROL_MESSAGE, has_control_characters


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_ID_FORMAT = "INVALID_ID_FORMAT"
    NOT_FOUND = "NOT_FOUND"
    TENANT_MISMATCH_REASON_REQUIRED = "TENANT_MISMATCH_REASON_REQUIRED"
    SINGLE_ENGAGEMENT_FOR_VARIABLE_PAY = "SINGLE_ENGAGEMENT_FOR_VARIABLE_PAY"
    MIXED_PAY_TYPES = "MIXED_PAY_TYPES"
    HOURS_REQUIRED = "HOURS_REQUIRED"
    HOURS_OUT_OF_RANGE = "HOURS_OUT_OF_RANGE"
    HOURS_NOT_ALLOWED = "HOURS_NOT_ALLOWED"
    VARIABLE_PAY_NOT_CLAIMABLE = "VARIABLE_PAY_NOT_CLAIMABLE"
    NOT_A_KNOWN_CUSTOMER = "NOT_A_KNOWN_CUSTOMER"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    CONCURRENT_CHANGE = "CONCURRENT_CHANGE"
    ACTION_NOT_AVAILABLE = "ACTION_NOT_AVAILABLE"
    CLAIM_CLOSED = "CLAIM_CLOSED"
    DEADLINE_PASSED = "DEADLINE_PASSED"
    CONSENT_LINK_INVALID = "CONSENT_LINK_INVALID"
    CONSENT_ALREADY_ANSWERED = "CONSENT_ALREADY_ANSWERED"
    CONSENT_LINK_EXPIRED = "CONSENT_LINK_EXPIRED"
    CONSENT_NO_LONGER_OPEN = "CONSENT_NO_LONGER_OPEN"
    SANDBOX_ONLY = "SANDBOX_ONLY"
    ADMIN_ONLY = "ADMIN_ONLY"
    CLOCK_OUT_OF_RANGE = "CLOCK_OUT_OF_RANGE"
    # The consent recipient (DOMAIN.md): never the partner itself; reminders limited; a link replaced.
    RECIPIENT_IS_PARTNER = "RECIPIENT_IS_PARTNER"
    REMINDER_LIMIT = "REMINDER_LIMIT"
    CONSENT_LINK_REPLACED = "CONSENT_LINK_REPLACED"
    # The eligibility reasons, for an engagement chosen that cannot be (the location's: on the location).
    CRITERIA_NOT_MET = IneligibilityReason.CRITERIA_NOT_MET.value
    ID_TYPE_NOT_ALLOWED = IneligibilityReason.ID_TYPE_NOT_ALLOWED.value
    CURRENCY_NOT_SUPPORTED = IneligibilityReason.CURRENCY_NOT_SUPPORTED.value
    CLAIM_LIMIT_REACHED = IneligibilityReason.CLAIM_LIMIT_REACHED.value
    ALREADY_CLAIMED_BY_YOU = IneligibilityReason.ALREADY_CLAIMED_BY_YOU.value
    COOLING_OFF = IneligibilityReason.COOLING_OFF.value
    ALREADY_PARTICIPATED = IneligibilityReason.ALREADY_PARTICIPATED.value
    ENGAGEMENT_CLOSED = IneligibilityReason.ENGAGEMENT_CLOSED.value
    LOCATION_NOT_ENROLLED = IneligibilityReason.LOCATION_NOT_ENROLLED.value
    LOCATION_NOT_ELIGIBLE = IneligibilityReason.LOCATION_NOT_ELIGIBLE.value
    # An identifier the directory does not know; NOT_FOUND is for IDs that name nothing you can see.
    IDENTIFIER_NOT_FOUND = IneligibilityReason.IDENTIFIER_NOT_FOUND.value


def code_for(reason: IneligibilityReason) -> ErrorCode:
    """The userError code of a reason that refuses a nomination: the reason's own name. PAYEE_PROFILE_INVALID
    never refuses one, so it has no code."""
    return ErrorCode(reason.value)


REASON_MESSAGES: dict[IneligibilityReason, str] = {
    IneligibilityReason.CRITERIA_NOT_MET: "the customer does not meet the engagement's criteria.",
    IneligibilityReason.IDENTIFIER_NOT_FOUND: "the identifier was not found in the customer directory.",
    IneligibilityReason.ID_TYPE_NOT_ALLOWED: "the engagement does not accept this kind of identifier.",
    IneligibilityReason.CURRENCY_NOT_SUPPORTED: (
        "the opportunity's deal is in a currency that cannot be converted into the engagement's (no exchange "
        "rate)."
    ),
    IneligibilityReason.CLAIM_LIMIT_REACHED: (
        "the customer already has as many active claims on this engagement as it allows."
    ),
    IneligibilityReason.ALREADY_CLAIMED_BY_YOU: (
        "you already have an active claim for this customer on this engagement."
    ),
    IneligibilityReason.COOLING_OFF: (
        "your last claim for this customer on this engagement ended without consent; you can nominate it again "
        "when the cooling-off period ends."
    ),
    IneligibilityReason.ALREADY_PARTICIPATED: "the customer already completed this engagement.",
    IneligibilityReason.ENGAGEMENT_CLOSED: "the engagement accepts no new claims.",
    IneligibilityReason.LOCATION_NOT_ENROLLED: "the location is not enrolled in MCI.",
    IneligibilityReason.LOCATION_NOT_ELIGIBLE: "the location is not eligible for this engagement.",
    IneligibilityReason.PAYEE_PROFILE_INVALID: (
        "the location's payee profile is invalid: it can nominate, but earns nothing until the profile is fixed."
    ),
    IneligibilityReason.HOURS_OUT_OF_RANGE: "the hours are outside what the engagement allows.",
}


def cooling_off_message(until: datetime) -> str:
    """COOLING_OFF's message with the instant the cooling off ends."""
    return (
        "your last claim for this customer on this engagement ended without consent; you can nominate it again "
        f"from {until:%Y-%m-%d %H:%M:%S} UTC."
    )


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    code: ErrorCode
    field: Path | None
    message: str


class Problems(Exception):
    """Raised inside a transaction to roll it back and report every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def control_problems(field: Path, value: str | None, *, multiline: bool = False) -> list[Problem]:
    """INVALID_INPUT on `field` when the text holds control characters (`multiline`: line breaks and tabs are
    text); none otherwise."""
    if value is None or not has_control_characters(value, multiline=multiline):
        return []
    return [Problem(ErrorCode.INVALID_INPUT, field, CONTROL_MESSAGE)]
