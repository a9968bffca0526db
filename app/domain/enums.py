"""The vocabulary of DOMAIN.md. Every layer above imports these; the GraphQL enums wrap them."""

from enum import StrEnum


class IncentivesRole(StrEnum):
    INCENTIVES_ADMIN = "INCENTIVES_ADMIN"
    INCENTIVES_USER = "INCENTIVES_USER"


class EngagementType(StrEnum):
    ASSESSMENT = "ASSESSMENT"
    WORKSHOP = "WORKSHOP"
    PROJECT_XS = "PROJECT_XS"
    PROJECT_S = "PROJECT_S"
    PROJECT_M = "PROJECT_M"
    PROJECT_L = "PROJECT_L"
    PROJECT_XL = "PROJECT_XL"
    PROJECT_XXL = "PROJECT_XXL"


class PayType(StrEnum):
    FIXED = "FIXED"
    VARIABLE = "VARIABLE"


class CustomerIdType(StrEnum):
    DOMAIN_NAME = "DOMAIN_NAME"
    TENANT_ID = "TENANT_ID"
    TPID = "TPID"
    AZURE_SUBSCRIPTION_ID = "AZURE_SUBSCRIPTION_ID"
    MSX_OPPORTUNITY_ID = "MSX_OPPORTUNITY_ID"


FIXED_PAY_ID_TYPES = frozenset(
    {
        CustomerIdType.DOMAIN_NAME,
        CustomerIdType.TENANT_ID,
        CustomerIdType.TPID,
        CustomerIdType.AZURE_SUBSCRIPTION_ID,
    }
)
VARIABLE_PAY_ID_TYPES = frozenset({CustomerIdType.MSX_OPPORTUNITY_ID})


class Market(StrEnum):
    """Variable-pay rate band of a partner location's country."""

    A = "A"
    B = "B"
    C = "C"


class OpportunityStatus(StrEnum):
    OPEN = "OPEN"
    WON = "WON"
    LOST = "LOST"


class ClaimStatus(StrEnum):
    CUSTOMER_CLAIMED = "CUSTOMER_CLAIMED"
    AWAITING_CUSTOMER_CONSENT_RESPONSE = "AWAITING_CUSTOMER_CONSENT_RESPONSE"
    CUSTOMER_CONSENT_RECEIVED = "CUSTOMER_CONSENT_RECEIVED"
    CUSTOMER_CONSENT_DECLINED = "CUSTOMER_CONSENT_DECLINED"
    CUSTOMER_CONSENT_EXPIRED = "CUSTOMER_CONSENT_EXPIRED"
    CANCELED = "CANCELED"
    SUBMITTED = "SUBMITTED"
    UNDER_REVIEW = "UNDER_REVIEW"
    PARTNER_ACTION_REQUIRED = "PARTNER_ACTION_REQUIRED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    DISPUTED = "DISPUTED"
    REJECTED_FINAL = "REJECTED_FINAL"
    NOT_SUBMITTED_EXPIRED = "NOT_SUBMITTED_EXPIRED"
    POST_SUBMISSION_EXPIRED = "POST_SUBMISSION_EXPIRED"
    DISPUTED_EXPIRED = "DISPUTED_EXPIRED"


class TerminalCategory(StrEnum):
    COMPLETED = "COMPLETED"
    EXPIRED = "EXPIRED"
    CANCELED = "CANCELED"
    DECLINED = "DECLINED"
    FINAL_REJECTED = "FINAL_REJECTED"


class ActorKind(StrEnum):
    PARTNER_USER = "PARTNER_USER"
    CUSTOMER = "CUSTOMER"
    REVIEWER = "REVIEWER"
    SYSTEM = "SYSTEM"


class IneligibilityReason(StrEnum):
    CRITERIA_NOT_MET = "CRITERIA_NOT_MET"
    IDENTIFIER_NOT_FOUND = "IDENTIFIER_NOT_FOUND"
    ID_TYPE_NOT_ALLOWED = "ID_TYPE_NOT_ALLOWED"
    CURRENCY_NOT_SUPPORTED = "CURRENCY_NOT_SUPPORTED"  # the deal cannot be converted into the engagement's
    CLAIM_LIMIT_REACHED = "CLAIM_LIMIT_REACHED"  # the customer's limit across all partners
    ALREADY_CLAIMED_BY_YOU = "ALREADY_CLAIMED_BY_YOU"  # the nominating partner's own active claim
    COOLING_OFF = "COOLING_OFF"  # the partner's own claim ended without consent not long ago
    ALREADY_PARTICIPATED = "ALREADY_PARTICIPATED"
    ENGAGEMENT_CLOSED = "ENGAGEMENT_CLOSED"
    LOCATION_NOT_ENROLLED = "LOCATION_NOT_ENROLLED"
    LOCATION_NOT_ELIGIBLE = "LOCATION_NOT_ELIGIBLE"
    # Stops the location earning, never the nomination (DOMAIN.md): shown where a location's earning is shown.
    PAYEE_PROFILE_INVALID = "PAYEE_PROFILE_INVALID"
    # The preview's hours outside 1..maxHours of a variable-pay engagement (addCustomer refuses them as input).
    HOURS_OUT_OF_RANGE = "HOURS_OUT_OF_RANGE"


class ClaimAction(StrEnum):
    """What can happen to a claim; each one is a claim event. The rules are in `lifecycle.TRANSITIONS`."""

    CREATE = "CREATE"  # add or claim a customer
    SEND_CONSENT = "SEND_CONSENT"
    RESEND_CONSENT = "RESEND_CONSENT"
    UPDATE_CONTACT = "UPDATE_CONTACT"  # the customer contact changed (with a send: sendConsent)
    ACCEPT_CONSENT = "ACCEPT_CONSENT"
    DECLINE_CONSENT = "DECLINE_CONSENT"
    EXPIRE_CONSENT = "EXPIRE_CONSENT"
    CANCEL = "CANCEL"
    SUBMIT = "SUBMIT"
    START_REVIEW = "START_REVIEW"
    REQUEST_PARTNER_ACTION = "REQUEST_PARTNER_ACTION"
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    DISPUTE = "DISPUTE"
    EXPIRE_NOT_SUBMITTED = "EXPIRE_NOT_SUBMITTED"
    EXPIRE_POST_SUBMISSION = "EXPIRE_POST_SUBMISSION"
    EXPIRE_DISPUTE = "EXPIRE_DISPUTE"
