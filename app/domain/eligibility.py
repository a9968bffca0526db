"""Eligibility of (location, identifier) for an engagement, as a pure decision over facts the caller gathered.

No cascading (DOMAIN.md): the facts are those of the one identifier given (a domain: of its resolved tenant).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

from app.domain.enums import (
    FIXED_PAY_ID_TYPES,
    VARIABLE_PAY_ID_TYPES,
    ClaimStatus,
    CustomerIdType,
    IneligibilityReason,
    PayType,
)
from app.domain.payout import NO_RATES, USD, Conversion, ExchangeRates, conversion

R = IneligibilityReason

# Decision (DOMAIN.md): per-engagement limits, both 1 unless the engagement says otherwise.
DEFAULT_MAX_ACTIVE_CLAIMS_PER_CUSTOMER = 1
DEFAULT_MAX_COMPLETED_CLAIMS_PER_CUSTOMER = 1
# Decision (DOMAIN.md, cooling off): after the partner's own claim ends in one of these, it waits this many days
# (engagement data) before nominating the same limit key for the engagement again.
DEFAULT_COOLING_OFF_DAYS = 30
COOLING_OFF_STATUSES = frozenset(
    {ClaimStatus.CUSTOMER_CONSENT_DECLINED, ClaimStatus.CUSTOMER_CONSENT_EXPIRED}
)

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
    cooling_off_days: int = DEFAULT_COOLING_OFF_DAYS
    currency: str = USD  # what its money (minimum deal size, payout) is in


@dataclass(frozen=True)
class LocationFacts:
    location_id: str
    mci_enrolled: bool
    payee_profile_valid: bool = True  # decides whether it earns, never whether it may nominate


@dataclass(frozen=True)
class CustomerFacts:
    """What the customer directory knows about the identifier (a domain: about its tenant)."""

    found: bool
    country: str | None = None
    segment: str | None = None
    opportunity_open: bool | None = None  # MSX only
    deal_size: Decimal | None = None  # MSX only, in `deal_currency`
    deal_currency: str = USD  # MSX only


NOT_FOUND = CustomerFacts(found=False)


@dataclass(frozen=True)
class ClaimCounts:
    """Claims on this engagement with the identifier's limit key, across all partners."""

    active: int  # not terminal
    completed: int  # APPROVED
    active_by_this_partner: int = 0  # the nominating partner's own active claims among `active`
    # When the nominating partner's latest claim here that ended in a COOLING_OFF_STATUSES status ended.
    cooling_off_from: datetime | None = None


NO_CLAIMS = ClaimCounts(active=0, completed=0)


def reasons_shown(pay_type: PayType, reasons: Sequence[IneligibilityReason]) -> list[IneligibilityReason]:
    """DOMAIN.md: the Ineligible tab shows no reasons for variable-pay (MSX-only) engagements; the rows stay."""
    return [] if pay_type is PayType.VARIABLE else list(reasons)


def accepts_claims(claims_open_until: datetime | None, now: datetime) -> bool:
    """An engagement takes new claims up to and including its closing instant (None: for good)."""
    return claims_open_until is None or now <= claims_open_until


# The location's side of a refusal: DOMAIN.md reports these once, on the location, not once per engagement.
LOCATION_REASONS = frozenset({R.LOCATION_NOT_ENROLLED, R.LOCATION_NOT_ELIGIBLE})


def location_reasons(engagement: EngagementRules, location: LocationFacts) -> list[IneligibilityReason]:
    """Why the location cannot be chosen for a claim on the engagement (empty: it can)."""
    reasons = []
    if not location.mci_enrolled:
        reasons.append(R.LOCATION_NOT_ENROLLED)
    if location.location_id not in engagement.eligible_location_ids:
        reasons.append(R.LOCATION_NOT_ELIGIBLE)
    return reasons


def earning_reasons(engagement: EngagementRules, location: LocationFacts) -> list[IneligibilityReason]:
    """Why the location cannot earn on the engagement (empty: it can): `location_reasons`, then an invalid
    payee profile, which does not stop it nominating (DOMAIN.md) but stops it earning until it is fixed."""
    reasons = location_reasons(engagement, location)
    if not location.payee_profile_valid:
        reasons.append(R.PAYEE_PROFILE_INVALID)
    return reasons


def deal_conversion(
    engagement: EngagementRules, customer: CustomerFacts, rates: ExchangeRates
) -> Conversion | None:
    """How the opportunity's deal is expressed in the engagement's currency; None when it cannot be (a currency
    without a rate): the engagement then cannot judge it (`CURRENCY_NOT_SUPPORTED`)."""
    return conversion(rates, customer.deal_currency, engagement.currency)


def cooling_off_until(engagement: EngagementRules, counts: ClaimCounts, now: datetime) -> datetime | None:
    """Until when the nominating partner may not nominate this limit key for the engagement, its own claim having
    ended without consent (declined or expired) less than `cooling_off_days` ago; None when it may now."""
    if counts.cooling_off_from is None:
        return None
    until = counts.cooling_off_from + timedelta(days=engagement.cooling_off_days)
    return until if now < until else None


def _meets_criteria(
    engagement: EngagementRules,
    id_type: CustomerIdType,
    customer: CustomerFacts,
    deal: Conversion | None,
) -> bool:
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
        if minimum is None:
            return True
        if customer.deal_size is None:
            return False
        # Compared in the engagement's currency only; without a conversion it cannot be judged (reported as
        # CURRENCY_NOT_SUPPORTED by the caller), never compared as if the currencies were one.
        if deal is not None and deal.convert(customer.deal_size) < minimum:
            return False
    return True


def customer_reasons(
    engagement: EngagementRules,
    id_type: CustomerIdType,
    customer: CustomerFacts,
    counts: ClaimCounts,
    now: datetime,
    *,
    rates: ExchangeRates = NO_RATES,
) -> list[IneligibilityReason]:
    """The identifier's side (and whether the engagement still takes claims), in a stable order. `counts` are of
    the identifier's limit key, with the nominating partner's own; `rates` convert an opportunity's deal into the
    engagement's currency (the default knows USD only).

    Once the ID type is refused, nothing about the identifier is reported (it is not what the engagement
    checks); once it is not found, its criteria and limits cannot be judged and are skipped. A deal in a
    currency that cannot be converted skips the minimum deal size (the other criteria are still judged).
    """
    reasons = []
    if not accepts_claims(engagement.claims_open_until, now):
        reasons.append(R.ENGAGEMENT_CLOSED)
    accepted = engagement.allowed_id_types & ID_TYPES_BY_PAY_TYPE[engagement.pay_type]
    if id_type not in accepted:
        reasons.append(R.ID_TYPE_NOT_ALLOWED)
        return reasons
    if not customer.found:
        reasons.append(R.IDENTIFIER_NOT_FOUND)
        return reasons
    deal = None
    if id_type is CustomerIdType.MSX_OPPORTUNITY_ID:
        deal = deal_conversion(engagement, customer, rates)
        if deal is None:
            reasons.append(R.CURRENCY_NOT_SUPPORTED)
    if not _meets_criteria(engagement, id_type, customer, deal):
        reasons.append(R.CRITERIA_NOT_MET)
    if counts.completed >= engagement.max_completed_claims_per_customer:
        reasons.append(R.ALREADY_PARTICIPATED)
    # The customer's limit, across all partners: the others' active claims fill it without this partner's.
    mine = counts.active_by_this_partner
    if counts.active - mine >= engagement.max_active_claims_per_customer:
        reasons.append(R.CLAIM_LIMIT_REACHED)
    # Add or claim, not both: a partner holds at most one active claim per engagement and limit key.
    if mine > 0:
        reasons.append(R.ALREADY_CLAIMED_BY_YOU)
    if cooling_off_until(engagement, counts, now) is not None:
        reasons.append(R.COOLING_OFF)
    return reasons


def ineligibility_reasons(
    engagement: EngagementRules,
    location: LocationFacts,
    id_type: CustomerIdType,
    customer: CustomerFacts,
    counts: ClaimCounts,
    now: datetime,
    *,
    rates: ExchangeRates = NO_RATES,
) -> list[IneligibilityReason]:
    """Every reason (location's first, then the identifier's) why this can't be claimed; empty = eligible.
    An invalid payee profile is not one (`earning_reasons`)."""
    return location_reasons(engagement, location) + customer_reasons(
        engagement, id_type, customer, counts, now, rates=rates
    )
