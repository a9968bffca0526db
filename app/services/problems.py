"""Problems the user can fix: what services return instead of raising, and the API shows as `userErrors`."""

from dataclasses import dataclass
from enum import StrEnum

from app.domain.enums import IneligibilityReason


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
    # The eligibility reasons, for an engagement chosen that cannot be.
    CRITERIA_NOT_MET = IneligibilityReason.CRITERIA_NOT_MET.value
    ID_TYPE_NOT_ALLOWED = IneligibilityReason.ID_TYPE_NOT_ALLOWED.value
    CLAIM_LIMIT_REACHED = IneligibilityReason.CLAIM_LIMIT_REACHED.value
    ALREADY_PARTICIPATED = IneligibilityReason.ALREADY_PARTICIPATED.value
    ENGAGEMENT_CLOSED = IneligibilityReason.ENGAGEMENT_CLOSED.value
    LOCATION_NOT_ENROLLED = IneligibilityReason.LOCATION_NOT_ENROLLED.value
    LOCATION_NOT_ELIGIBLE = IneligibilityReason.LOCATION_NOT_ELIGIBLE.value
    IDENTIFIER_NOT_FOUND = "IDENTIFIER_NOT_FOUND"


def code_for(reason: IneligibilityReason) -> ErrorCode:
    # NOT_FOUND of an identifier differs from an unknown object ID: it has its own code.
    return (
        ErrorCode.IDENTIFIER_NOT_FOUND if reason is IneligibilityReason.NOT_FOUND else ErrorCode(reason.value)
    )


REASON_MESSAGES: dict[IneligibilityReason, str] = {
    IneligibilityReason.CRITERIA_NOT_MET: "the customer does not meet the engagement's criteria.",
    IneligibilityReason.NOT_FOUND: "the identifier was not found in the customer directory.",
    IneligibilityReason.ID_TYPE_NOT_ALLOWED: "the engagement does not accept this kind of identifier.",
    IneligibilityReason.CLAIM_LIMIT_REACHED: "the customer already has as many active claims as it allows.",
    IneligibilityReason.ALREADY_PARTICIPATED: "the customer already completed this engagement.",
    IneligibilityReason.ENGAGEMENT_CLOSED: "the engagement accepts no new claims.",
    IneligibilityReason.LOCATION_NOT_ENROLLED: "the location is not enrolled in MCI.",
    IneligibilityReason.LOCATION_NOT_ELIGIBLE: "the location is not eligible for this engagement.",
}

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
