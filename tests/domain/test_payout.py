from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.enums import Market
from app.domain.payout import VariablePayRules, market_for_country, proposed_payout, validate_hours

RULES = VariablePayRules(
    hourly_rates={Market.A: Decimal("150.00"), Market.B: Decimal("100.00"), Market.C: Decimal("75.00")},
    percent_of_deal=Decimal("0.05"),
    cap=Decimal("25000.00"),
    min_deal_size=Decimal("50000.00"),
    max_hours=400,
    currency="USD",
)


@pytest.mark.parametrize(
    ("market", "hours", "deal_size", "expected", "why"),
    [
        (Market.A, 10, Decimal("1000000"), Decimal("1500.00"), "hours x rate is smallest"),
        (Market.C, 10, Decimal("1000000"), Decimal("750.00"), "rate by market"),
        (Market.A, 100, Decimal("100000"), Decimal("5000.00"), "percent of deal is smallest"),
        (Market.A, 400, Decimal("10000000"), Decimal("25000.00"), "cap is smallest"),
        (Market.B, 1, Decimal("0"), Decimal("0.00"), "no deal, no pay"),
    ],
)
def test_payout_is_the_smallest_of_the_three(
    market: Market, hours: int, deal_size: Decimal, expected: Decimal, why: str
) -> None:
    assert proposed_payout(RULES, market, hours, deal_size) == expected, why


def test_payout_rounds_half_up_to_cents() -> None:
    # 5 % of 100.10 = 5.005 -> 5.01 (banker's rounding would give 5.00)
    assert proposed_payout(RULES, Market.A, 10, Decimal("100.10")) == Decimal("5.01")
    assert proposed_payout(RULES, Market.A, 10, Decimal("100.09")) == Decimal("5.00")
    assert proposed_payout(RULES, Market.A, 10, Decimal("100.10")).as_tuple().exponent == -2


def test_payout_is_never_negative() -> None:
    assert proposed_payout(RULES, Market.A, 10, Decimal("-500")) == Decimal("0.00")


def test_payout_refuses_bad_hours_and_unknown_markets() -> None:
    with pytest.raises(ValueError, match="from 1 to 400"):
        proposed_payout(RULES, Market.A, 0, Decimal("1000"))
    rules = VariablePayRules({Market.A: Decimal(1)}, Decimal("0.1"), Decimal(10), Decimal(0), 10, "USD")
    with pytest.raises(ValueError, match="market C"):
        proposed_payout(rules, Market.C, 1, Decimal("1000"))


def test_percent_of_deal_is_a_fraction() -> None:
    with pytest.raises(ValueError, match="fraction"):
        VariablePayRules({}, Decimal("5"), Decimal(10), Decimal(0), 10, "USD")


@pytest.mark.parametrize(("hours", "ok"), [(0, False), (1, True), (400, True), (401, False), (-5, False)])
def test_validate_hours(hours: int, ok: bool) -> None:
    message = validate_hours(RULES, hours)
    assert (message is None) == ok
    if not ok:
        assert message == "Hours must be a whole number from 1 to 400."


def test_market_for_country() -> None:
    markets = {"US": Market.A, "DE": Market.A, "BR": Market.B}
    assert market_for_country("us", markets) == Market.A
    assert market_for_country(" BR ", markets) == Market.B
    assert market_for_country("KE", markets) == Market.C
    assert market_for_country("KE", markets, default=Market.B) == Market.B


money = st.decimals(min_value=0, max_value=10**8, places=2)
hours = st.integers(min_value=1, max_value=RULES.max_hours)


@settings(max_examples=100)
@given(st.sampled_from(list(Market)), hours, money)
def test_payout_never_exceeds_any_bound(market: Market, h: int, deal_size: Decimal) -> None:
    payout = proposed_payout(RULES, market, h, deal_size)
    assert Decimal(0) <= payout <= RULES.cap
    assert payout <= RULES.hourly_rates[market] * h
    assert payout <= (RULES.percent_of_deal * deal_size).quantize(Decimal("0.01")) + Decimal("0.01")


@settings(max_examples=100)
@given(st.sampled_from(list(Market)), hours, hours, money)
def test_payout_is_monotone_in_hours(market: Market, h1: int, h2: int, deal_size: Decimal) -> None:
    low, high = sorted((h1, h2))
    assert proposed_payout(RULES, market, low, deal_size) <= proposed_payout(RULES, market, high, deal_size)
