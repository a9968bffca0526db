from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.eligibility import (
    COOLING_OFF_STATUSES,
    NOT_FOUND,
    ClaimCounts,
    CustomerFacts,
    EngagementRules,
    LocationFacts,
    cooling_off_until,
    customer_reasons,
    earning_reasons,
    ineligibility_reasons,
    location_reasons,
)
from app.domain.enums import CustomerIdType as T
from app.domain.enums import IneligibilityReason as R
from app.domain.enums import PayType

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

FIXED = EngagementRules(
    pay_type=PayType.FIXED,
    allowed_id_types=frozenset({T.DOMAIN_NAME, T.TENANT_ID, T.TPID}),
    countries=frozenset({"US", "DE"}),
    segments=frozenset({"SMB", "Corporate"}),
    claims_open_until=NOW + timedelta(days=30),
    eligible_location_ids=frozenset({"1000001", "1000002"}),
)
VARIABLE = EngagementRules(
    pay_type=PayType.VARIABLE,
    allowed_id_types=frozenset({T.MSX_OPPORTUNITY_ID}),
    min_deal_size=Decimal("50000"),
    eligible_location_ids=frozenset({"1000001"}),
)
LOCATION = LocationFacts("1000001", mci_enrolled=True)
CUSTOMER = CustomerFacts(found=True, country="US", segment="SMB")
OPPORTUNITY = CustomerFacts(
    found=True, country="BR", segment="Enterprise", opportunity_open=True, deal_size=Decimal("50000")
)
NO_CLAIMS = ClaimCounts(active=0, completed=0)


def test_defaults_are_one_active_and_one_completed_claim() -> None:
    assert FIXED.max_active_claims_per_customer == 1
    assert FIXED.max_completed_claims_per_customer == 1


def test_eligible() -> None:
    assert ineligibility_reasons(FIXED, LOCATION, T.DOMAIN_NAME, CUSTOMER, NO_CLAIMS, NOW) == []
    assert ineligibility_reasons(VARIABLE, LOCATION, T.MSX_OPPORTUNITY_ID, OPPORTUNITY, NO_CLAIMS, NOW) == []


@pytest.mark.parametrize(
    ("engagement", "location", "id_type", "customer", "counts", "expected"),
    [
        (FIXED, LocationFacts("1000001", False), T.TPID, CUSTOMER, NO_CLAIMS, [R.LOCATION_NOT_ENROLLED]),
        (FIXED, LocationFacts("9", True), T.TPID, CUSTOMER, NO_CLAIMS, [R.LOCATION_NOT_ELIGIBLE]),
        (
            replace(FIXED, claims_open_until=NOW - timedelta(seconds=1)),
            LOCATION,
            T.TPID,
            CUSTOMER,
            NO_CLAIMS,
            [R.ENGAGEMENT_CLOSED],
        ),
        (FIXED, LOCATION, T.AZURE_SUBSCRIPTION_ID, CUSTOMER, NO_CLAIMS, [R.ID_TYPE_NOT_ALLOWED]),
        (FIXED, LOCATION, T.MSX_OPPORTUNITY_ID, OPPORTUNITY, NO_CLAIMS, [R.ID_TYPE_NOT_ALLOWED]),
        (FIXED, LOCATION, T.TPID, NOT_FOUND, NO_CLAIMS, [R.IDENTIFIER_NOT_FOUND]),
        (FIXED, LOCATION, T.TPID, replace(CUSTOMER, country="FR"), NO_CLAIMS, [R.CRITERIA_NOT_MET]),
        (FIXED, LOCATION, T.TPID, replace(CUSTOMER, country=None), NO_CLAIMS, [R.CRITERIA_NOT_MET]),
        (FIXED, LOCATION, T.TPID, replace(CUSTOMER, segment="Enterprise"), NO_CLAIMS, [R.CRITERIA_NOT_MET]),
        (FIXED, LOCATION, T.TPID, CUSTOMER, ClaimCounts(active=0, completed=1), [R.ALREADY_PARTICIPATED]),
        (FIXED, LOCATION, T.TPID, CUSTOMER, ClaimCounts(active=1, completed=0), [R.CLAIM_LIMIT_REACHED]),
        (
            VARIABLE,
            LOCATION,
            T.MSX_OPPORTUNITY_ID,
            replace(OPPORTUNITY, opportunity_open=False),
            NO_CLAIMS,
            [R.CRITERIA_NOT_MET],
        ),
        (
            VARIABLE,
            LOCATION,
            T.MSX_OPPORTUNITY_ID,
            replace(OPPORTUNITY, deal_size=Decimal("49999.99")),
            NO_CLAIMS,
            [R.CRITERIA_NOT_MET],
        ),
        (
            VARIABLE,
            LOCATION,
            T.MSX_OPPORTUNITY_ID,
            replace(OPPORTUNITY, deal_size=None),
            NO_CLAIMS,
            [R.CRITERIA_NOT_MET],
        ),
    ],
)
def test_each_reason(
    engagement: EngagementRules,
    location: LocationFacts,
    id_type: T,
    customer: CustomerFacts,
    counts: ClaimCounts,
    expected: list[R],
) -> None:
    assert ineligibility_reasons(engagement, location, id_type, customer, counts, NOW) == expected


def test_variable_pay_never_accepts_fixed_pay_id_types() -> None:
    # Even if an engagement's data lists one: variable pay is MSX only.
    engagement = replace(VARIABLE, allowed_id_types=frozenset({T.MSX_OPPORTUNITY_ID, T.TPID}))
    assert customer_reasons(engagement, T.TPID, CUSTOMER, NO_CLAIMS, NOW) == [R.ID_TYPE_NOT_ALLOWED]


def test_the_engagement_closes_after_its_last_instant() -> None:
    at_close = replace(FIXED, claims_open_until=NOW)
    assert customer_reasons(at_close, T.TPID, CUSTOMER, NO_CLAIMS, NOW) == []
    assert customer_reasons(at_close, T.TPID, CUSTOMER, NO_CLAIMS, NOW + timedelta(microseconds=1)) == [
        R.ENGAGEMENT_CLOSED
    ]


def test_criteria_compare_country_and_segment_without_case() -> None:
    customer = CustomerFacts(found=True, country="us", segment="CORPORATE")
    assert customer_reasons(FIXED, T.TPID, customer, NO_CLAIMS, NOW) == []


def test_no_criteria_means_any_customer() -> None:
    open_to_all = replace(FIXED, countries=None, segments=None)
    assert customer_reasons(open_to_all, T.TPID, CustomerFacts(found=True), NO_CLAIMS, NOW) == []


def test_every_reason_at_once_in_a_stable_order() -> None:
    closed = replace(FIXED, claims_open_until=NOW - timedelta(days=1))
    reasons = ineligibility_reasons(
        closed,
        LocationFacts("9", mci_enrolled=False),
        T.TPID,
        CustomerFacts(found=True, country="FR", segment="SMB"),
        ClaimCounts(active=1, completed=1),
        NOW,
    )
    assert reasons == [
        R.LOCATION_NOT_ENROLLED,
        R.LOCATION_NOT_ELIGIBLE,
        R.ENGAGEMENT_CLOSED,
        R.CRITERIA_NOT_MET,
        R.ALREADY_PARTICIPATED,
        R.CLAIM_LIMIT_REACHED,
    ]


def test_a_refused_or_unknown_identifier_is_not_judged_further() -> None:
    counts = ClaimCounts(active=5, completed=5)
    assert customer_reasons(FIXED, T.AZURE_SUBSCRIPTION_ID, NOT_FOUND, counts, NOW) == [R.ID_TYPE_NOT_ALLOWED]
    assert customer_reasons(FIXED, T.TPID, NOT_FOUND, counts, NOW) == [R.IDENTIFIER_NOT_FOUND]


def test_limits_come_from_the_engagement() -> None:
    generous = replace(FIXED, max_active_claims_per_customer=3, max_completed_claims_per_customer=2)
    assert customer_reasons(generous, T.TPID, CUSTOMER, ClaimCounts(active=2, completed=1), NOW) == []
    assert customer_reasons(generous, T.TPID, CUSTOMER, ClaimCounts(active=3, completed=2), NOW) == [
        R.ALREADY_PARTICIPATED,
        R.CLAIM_LIMIT_REACHED,
    ]


def test_location_reasons_alone() -> None:
    assert location_reasons(FIXED, LOCATION) == []
    assert location_reasons(FIXED, LocationFacts("9", False)) == [
        R.LOCATION_NOT_ENROLLED,
        R.LOCATION_NOT_ELIGIBLE,
    ]


# Property: adding a reason-causing fact never makes a case eligible, and keeps every reason it had except
# those a gate now hides (a refused ID type or an unknown identifier hides the identifier's later checks).
@dataclass(frozen=True)
class Case:
    engagement: EngagementRules
    location: LocationFacts
    id_type: T
    customer: CustomerFacts
    counts: ClaimCounts

    def reasons(self) -> list[R]:
        return ineligibility_reasons(
            self.engagement, self.location, self.id_type, self.customer, self.counts, NOW
        )


ORDER = [
    R.LOCATION_NOT_ENROLLED,
    R.LOCATION_NOT_ELIGIBLE,
    R.ENGAGEMENT_CLOSED,
    R.ID_TYPE_NOT_ALLOWED,
    R.IDENTIFIER_NOT_FOUND,
    R.CURRENCY_NOT_SUPPORTED,
    R.CRITERIA_NOT_MET,
    R.ALREADY_PARTICIPATED,
    R.CLAIM_LIMIT_REACHED,
    R.ALREADY_CLAIMED_BY_YOU,
    R.COOLING_OFF,
]
_JUDGED_ON_THE_IDENTIFIER = {
    R.CURRENCY_NOT_SUPPORTED,
    R.CRITERIA_NOT_MET,
    R.ALREADY_PARTICIPATED,
    R.CLAIM_LIMIT_REACHED,
    R.ALREADY_CLAIMED_BY_YOU,
    R.COOLING_OFF,
}
HIDDEN_BY = {
    R.ID_TYPE_NOT_ALLOWED: {R.IDENTIFIER_NOT_FOUND} | _JUDGED_ON_THE_IDENTIFIER,
    R.IDENTIFIER_NOT_FOUND: _JUDGED_ON_THE_IDENTIFIER,
}
WORSENINGS: list[tuple[R, Callable[[Case], Case]]] = [
    (R.LOCATION_NOT_ENROLLED, lambda c: replace(c, location=replace(c.location, mci_enrolled=False))),
    (R.LOCATION_NOT_ELIGIBLE, lambda c: replace(c, location=replace(c.location, location_id="3"))),
    (
        R.ENGAGEMENT_CLOSED,
        lambda c: replace(c, engagement=replace(c.engagement, claims_open_until=NOW - timedelta(days=1))),
    ),
    (R.ID_TYPE_NOT_ALLOWED, lambda c: replace(c, id_type=T.AZURE_SUBSCRIPTION_ID)),
    (R.IDENTIFIER_NOT_FOUND, lambda c: replace(c, customer=NOT_FOUND)),
    (R.CRITERIA_NOT_MET, lambda c: replace(c, engagement=replace(c.engagement, countries=frozenset()))),
    (
        R.ALREADY_PARTICIPATED,
        lambda c: replace(
            c, counts=replace(c.counts, completed=c.engagement.max_completed_claims_per_customer)
        ),
    ),
    (
        # Other partners' active claims fill the customer's limit.
        R.CLAIM_LIMIT_REACHED,
        lambda c: replace(
            c,
            counts=replace(
                c.counts,
                active=c.engagement.max_active_claims_per_customer + c.counts.active_by_this_partner,
            ),
        ),
    ),
    (
        R.ALREADY_CLAIMED_BY_YOU,
        lambda c: replace(c, counts=replace(c.counts, active=c.counts.active + 1, active_by_this_partner=1)),
    ),
    (R.COOLING_OFF, lambda c: replace(c, counts=replace(c.counts, cooling_off_from=NOW - timedelta(days=1)))),
]


@st.composite
def claim_counts(draw: st.DrawFn) -> ClaimCounts:
    mine = draw(st.integers(0, 1))  # one active claim per partner at most
    others = draw(st.integers(0, 4))
    ended = draw(st.sampled_from([None, NOW - timedelta(days=31), NOW - timedelta(days=30), NOW]))
    return ClaimCounts(mine + others, draw(st.integers(0, 4)), mine, ended)


cases = st.builds(
    Case,
    engagement=st.builds(
        EngagementRules,
        pay_type=st.just(PayType.FIXED),
        allowed_id_types=st.frozensets(st.sampled_from([T.DOMAIN_NAME, T.TENANT_ID, T.TPID]), min_size=1),
        countries=st.one_of(st.none(), st.frozensets(st.sampled_from(["US", "DE", "FR"]))),
        segments=st.one_of(st.none(), st.frozensets(st.sampled_from(["SMB", "Corporate"]))),
        max_active_claims_per_customer=st.integers(1, 3),
        max_completed_claims_per_customer=st.integers(1, 3),
        claims_open_until=st.sampled_from([None, NOW - timedelta(days=1), NOW + timedelta(days=1)]),
        eligible_location_ids=st.frozensets(st.sampled_from(["1", "2"])),
    ),
    location=st.builds(LocationFacts, st.sampled_from(["1", "2", "3"]), st.booleans()),
    id_type=st.sampled_from([T.DOMAIN_NAME, T.TENANT_ID, T.TPID, T.AZURE_SUBSCRIPTION_ID]),
    customer=st.builds(
        CustomerFacts,
        found=st.booleans(),
        country=st.sampled_from([None, "US", "DE", "FR", "BR"]),
        segment=st.sampled_from([None, "SMB", "Corporate", "Enterprise"]),
    ),
    counts=claim_counts(),
)


@settings(max_examples=200)
@given(cases, st.sampled_from(WORSENINGS))
def test_a_reason_causing_fact_never_makes_it_eligible(
    case: Case, worsening: tuple[R, Callable[[Case], Case]]
) -> None:
    caused, worsen = worsening
    before, after = case.reasons(), worsen(case).reasons()
    assert after != []
    assert after == sorted(set(after), key=ORDER.index)  # no duplicates, stable order
    hidden = set().union(*(HIDDEN_BY.get(r, set()) for r in after))
    assert (set(before) | {caused}) - hidden <= set(after)


# --- the partner's own claim, the customer's limit, cooling off ------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "limit", "expected"),
    [
        (ClaimCounts(active=1, completed=0, active_by_this_partner=1), 1, [R.ALREADY_CLAIMED_BY_YOU]),
        (ClaimCounts(active=1, completed=0, active_by_this_partner=0), 1, [R.CLAIM_LIMIT_REACHED]),
        # Limit 2: the partner's own claim and another partner's; the others alone do not fill it.
        (ClaimCounts(active=2, completed=0, active_by_this_partner=1), 2, [R.ALREADY_CLAIMED_BY_YOU]),
        (ClaimCounts(active=2, completed=0, active_by_this_partner=0), 2, [R.CLAIM_LIMIT_REACHED]),
        (
            ClaimCounts(active=3, completed=0, active_by_this_partner=1),
            2,
            [R.CLAIM_LIMIT_REACHED, R.ALREADY_CLAIMED_BY_YOU],
        ),
        (ClaimCounts(active=1, completed=0, active_by_this_partner=0), 2, []),
    ],
)
def test_the_partners_own_claim_is_not_the_customers_limit(
    counts: ClaimCounts, limit: int, expected: list[R]
) -> None:
    engagement = replace(FIXED, max_active_claims_per_customer=limit)
    assert customer_reasons(engagement, T.TPID, CUSTOMER, counts, NOW) == expected


def test_cooling_off_runs_for_the_engagements_days_from_the_end() -> None:
    ended = NOW - timedelta(days=3)
    counts = ClaimCounts(active=0, completed=0, cooling_off_from=ended)
    engagement = replace(FIXED, cooling_off_days=30)
    until = ended + timedelta(days=30)
    assert cooling_off_until(engagement, counts, NOW) == until
    assert customer_reasons(engagement, T.TPID, CUSTOMER, counts, NOW) == [R.COOLING_OFF]
    assert customer_reasons(engagement, T.TPID, CUSTOMER, counts, until - timedelta(microseconds=1)) == [
        R.COOLING_OFF
    ]
    # From the instant it ends, nominating is open again.
    assert cooling_off_until(engagement, counts, until) is None
    assert customer_reasons(engagement, T.TPID, CUSTOMER, counts, until) == []
    # The days are the engagement's.
    short = replace(FIXED, cooling_off_days=2)
    assert customer_reasons(short, T.TPID, CUSTOMER, counts, NOW) == []
    assert cooling_off_until(engagement, NO_CLAIMS, NOW) is None


def test_cooling_off_statuses_are_the_consent_that_never_came() -> None:
    assert {s.value for s in COOLING_OFF_STATUSES} == {
        "CUSTOMER_CONSENT_DECLINED",
        "CUSTOMER_CONSENT_EXPIRED",
    }


# --- the location's earning --------------------------------------------------------------------------------------


def test_an_invalid_payee_profile_stops_earning_not_nominating() -> None:
    invalid = replace(LOCATION, payee_profile_valid=False)
    assert location_reasons(FIXED, invalid) == []
    assert ineligibility_reasons(FIXED, invalid, T.TPID, CUSTOMER, NO_CLAIMS, NOW) == []
    assert earning_reasons(FIXED, invalid) == [R.PAYEE_PROFILE_INVALID]
    assert earning_reasons(FIXED, LOCATION) == []
    assert earning_reasons(FIXED, LocationFacts("9", False, False)) == [
        R.LOCATION_NOT_ENROLLED,
        R.LOCATION_NOT_ELIGIBLE,
        R.PAYEE_PROFILE_INVALID,
    ]


# --- currencies ----------------------------------------------------------------------------------------------

RATES = {"JPY": Decimal("0.0067"), "EUR": Decimal("1.08")}
MIGRATE = replace(VARIABLE, min_deal_size=Decimal("50000"), currency="USD")


@pytest.mark.parametrize(
    ("engagement", "deal", "currency", "expected", "why"),
    [
        (MIGRATE, "10000000", "JPY", [], "10 000 000 JPY is 67 000 USD"),
        (MIGRATE, "7462685", "JPY", [R.CRITERIA_NOT_MET], "7 462 685 JPY is 49 999.9895, 49 999.99 USD"),
        # Compared once converted and rounded half-up to cents, as kept: 49 999.9962 is 50 000.00 USD.
        (MIGRATE, "7462686", "JPY", [], "7 462 686 JPY is 50 000.00 USD, the minimum"),
        (MIGRATE, "50000", "JPY", [R.CRITERIA_NOT_MET], "never compared as if it were USD"),
        (MIGRATE, "50000", "CHF", [R.CURRENCY_NOT_SUPPORTED], "no rate for the deal's currency"),
        (
            replace(MIGRATE, currency="SEK"),
            "50000",
            "USD",
            [R.CURRENCY_NOT_SUPPORTED],
            "none for the engagement's",
        ),
        (replace(MIGRATE, currency="SEK"), "50000", "SEK", [], "the same currency needs no rate"),
        # 50 000 USD is 46 296.30 EUR: above a 45 000 EUR minimum, below a 50 000 EUR one.
        (
            replace(MIGRATE, currency="EUR", min_deal_size=Decimal("45000")),
            "50000",
            "USD",
            [],
            "USD into EUR",
        ),
        (replace(MIGRATE, currency="EUR"), "50000", "USD", [R.CRITERIA_NOT_MET], "USD into EUR, below"),
    ],
)
def test_the_minimum_deal_size_applies_in_the_engagements_currency(
    engagement: EngagementRules, deal: str, currency: str, expected: list[R], why: str
) -> None:
    customer = replace(OPPORTUNITY, deal_size=Decimal(deal), deal_currency=currency)
    assert (
        customer_reasons(engagement, T.MSX_OPPORTUNITY_ID, customer, NO_CLAIMS, NOW, rates=RATES) == expected
    ), why


def test_an_unconvertible_deal_is_still_judged_on_the_other_criteria() -> None:
    lost = replace(OPPORTUNITY, deal_currency="CHF", opportunity_open=False)
    assert customer_reasons(MIGRATE, T.MSX_OPPORTUNITY_ID, lost, NO_CLAIMS, NOW, rates=RATES) == [
        R.CURRENCY_NOT_SUPPORTED,
        R.CRITERIA_NOT_MET,
    ]


def test_without_rates_only_usd_is_known() -> None:
    yen = replace(OPPORTUNITY, deal_size=Decimal("10000000"), deal_currency="JPY")
    assert customer_reasons(MIGRATE, T.MSX_OPPORTUNITY_ID, yen, NO_CLAIMS, NOW) == [R.CURRENCY_NOT_SUPPORTED]
    assert customer_reasons(MIGRATE, T.MSX_OPPORTUNITY_ID, OPPORTUNITY, NO_CLAIMS, NOW) == []
