"""Eligibility of (location, identifier) for an engagement, as a pure decision over facts the caller gathered.

No cascading (DOMAIN.md): the facts are those of the one identifier given (a domain: of its resolved tenant).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from app.domain.enums import (
    FIXED_PAY_ID_TYPES,
    VARIABLE_PAY_ID_TYPES,
    CustomerIdType,
    IneligibilityReason,
    PayType,
)

R = IneligibilityReason

# Decision (DOMAIN.md): per-engagement limits, both 1 unless the engagement says otherwise.
DEFAULT_MAX_ACTIVE_CLAIMS_PER_CUSTOMER = 1
DEFAULT_MAX_COMPLETED_CLAIMS_PER_CUSTOMER = 1

# What each pay type can ever accept, whatever an engagement's own list says.
ID_TYPES_BY_PAY_TYPE: Mapping[PayType, frozenset[CustomerIdType]] = MappingProxyType(
    {PayType.FIXED: FIXED_PAY_ID_TYPES, PayType.VARIABLE: VARIABLE_PAY_ID_TYPES}
)


@dataclass(frozen=True)
class EngagementRules:
    pay_type: PayType
    allowed_id_types: frozenset[CustomerIdType]
    countries: frozenset[str] | None = None  # ISO codes; None: any country
    segments: frozenset[str] | None = None  # None: any segment
    min_deal_size: Decimal | None = None  # MSX opportunities only
    max_active_claims_per_customer: int = DEFAULT_MAX_ACTIVE_CLAIMS_PER_CUSTOMER
    max_completed_claims_per_customer: int = DEFAULT_MAX_COMPLETED_CLAIMS_PER_CUSTOMER
    claims_open_until: datetime | None = None  # None: open for good
    eligible_location_ids: frozenset[str] = frozenset()  # empty: no location can earn on it


@dataclass(frozen=True)
class LocationFacts:
    location_id: str
    mci_enrolled: bool


@dataclass(frozen=True)
class CustomerFacts:
    """What the customer directory knows about the identifier (a domain: about its tenant)."""

    found: bool
    country: str | None = None
    segment: str | None = None
    opportunity_open: bool | None = None  # MSX only
    deal_size: Decimal | None = None  # MSX only


NOT_FOUND = CustomerFacts(found=False)


@dataclass(frozen=True)
class ClaimCounts:
    """Claims on this engagement with the identifier's limit key, across all partners."""

    active: int  # not terminal
    completed: int  # APPROVED
    active_by_this_partner: int = 0  # the nominating partner's own active claims among `active`


NO_CLAIMS = ClaimCounts(active=0, completed=0)


def reasons_shown(pay_type: PayType, reasons: Sequence[IneligibilityReason]) -> list[IneligibilityReason]:
    """DOMAIN.md: the Ineligible tab shows no reasons for variable-pay (MSX-only) engagements; the rows stay."""
    return [] if pay_type is PayType.VARIABLE else list(reasons)


def accepts_claims(claims_open_until: datetime | None, now: datetime) -> bool:
    """An engagement takes new claims up to and including its closing instant (None: for good)."""
    return claims_open_until is None or now <= claims_open_until


def location_reasons(engagement: EngagementRules, location: LocationFacts) -> list[IneligibilityReason]:
    reasons = []
    if not location.mci_enrolled:
        reasons.append(R.LOCATION_NOT_ENROLLED)
    if location.location_id not in engagement.eligible_location_ids:
        reasons.append(R.LOCATION_NOT_ELIGIBLE)
    return reasons


def any_location_can_nominate(engagement: EngagementRules, locations: Iterable[LocationFacts]) -> bool:
    """Whether one of these locations (the viewer's) can be chosen for a claim on the engagement: what the
    Customers page needs before it offers CLAIM_CUSTOMER (DOMAIN.md: rows offer only what succeeds)."""
    return any(not location_reasons(engagement, location) for location in locations)


def _meets_criteria(engagement: EngagementRules, id_type: CustomerIdType, customer: CustomerFacts) -> bool:
    if engagement.countries is not None:
        allowed = {c.upper() for c in engagement.countries}
        if customer.country is None or customer.country.upper() not in allowed:
            return False
    if engagement.segments is not None:
        allowed = {s.casefold() for s in engagement.segments}
        if customer.segment is None or customer.segment.casefold() not in allowed:
            return False
    if id_type is CustomerIdType.MSX_OPPORTUNITY_ID:
        if customer.opportunity_open is not True:
            return False
        minimum = engagement.min_deal_size
        if minimum is not None and (customer.deal_size is None or customer.deal_size < minimum):
            return False
    return True


def customer_reasons(
    engagement: EngagementRules,
    id_type: CustomerIdType,
    customer: CustomerFacts,
    counts: ClaimCounts,
    now: datetime,
) -> list[IneligibilityReason]:
    """The identifier's side (and whether the engagement still takes claims), in a stable order.

    Once the ID type is refused, nothing about the identifier is reported (it is not what the engagement
    checks); once it is not found, its criteria and limits cannot be judged and are skipped.
    """
    reasons = []
    if not accepts_claims(engagement.claims_open_until, now):
        reasons.append(R.ENGAGEMENT_CLOSED)
    accepted = engagement.allowed_id_types & ID_TYPES_BY_PAY_TYPE[engagement.pay_type]
    if id_type not in accepted:
        reasons.append(R.ID_TYPE_NOT_ALLOWED)
        return reasons
    if not customer.found:
        reasons.append(R.NOT_FOUND)
        return reasons
    if not _meets_criteria(engagement, id_type, customer):
        reasons.append(R.CRITERIA_NOT_MET)
    if counts.completed >= engagement.max_completed_claims_per_customer:
        reasons.append(R.ALREADY_PARTICIPATED)
    # Add or claim, not both: a partner holds at most one active claim per engagement and identifier.
    if counts.active >= engagement.max_active_claims_per_customer or counts.active_by_this_partner > 0:
        reasons.append(R.CLAIM_LIMIT_REACHED)
    return reasons


def ineligibility_reasons(
    engagement: EngagementRules,
    location: LocationFacts,
    id_type: CustomerIdType,
    customer: CustomerFacts,
    counts: ClaimCounts,
    now: datetime,
) -> list[IneligibilityReason]:
    """Every reason (location's first, then the identifier's) why this can't be claimed; empty = eligible."""
    return location_reasons(engagement, location) + customer_reasons(
        engagement, id_type, customer, counts, now
    )
