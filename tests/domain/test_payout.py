from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.enums import Market
from app.domain.payout import (
    ISO_4217,
    NO_RATES,
    Conversion,
    VariablePayRules,
    conversion,
    is_currency_code,
    market_for_country,
    payout_for,
    proposed_payout,
    usd_per_unit,
    validate_hours,
)

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


# --- currencies ------------------------------------------------------------------------------------------------

RATES = {"EUR": Decimal("1.08"), "JPY": Decimal("0.0067"), "GBP": Decimal("1.27")}


def test_usd_is_one_and_others_come_from_the_rates() -> None:
    assert usd_per_unit(NO_RATES, "USD") == Decimal(1)
    assert usd_per_unit(RATES, "EUR") == Decimal("1.08")
    assert usd_per_unit(RATES, "CHF") is None
    assert usd_per_unit({"XTS": Decimal(0)}, "XTS") is None  # a rate must be positive


def test_a_conversion_keeps_its_rate_rounded_to_ten_places() -> None:
    usd_to_eur = conversion(RATES, "USD", "EUR")
    assert usd_to_eur == Conversion("USD", "EUR", Decimal("0.9259259259"))  # 1 / 1.08, half-up
    assert usd_to_eur.convert(Decimal("50000")) == Decimal("46296.30")
    yen = conversion(RATES, "JPY", "USD")
    assert yen is not None and yen.rate == Decimal("0.0067")
    assert yen.convert(Decimal("10000000")) == Decimal("67000.00")
    # Neither currency USD: through USD, one rounding.
    assert conversion(RATES, "GBP", "EUR") == Conversion("GBP", "EUR", Decimal("1.1759259259"))


def test_no_rate_no_conversion_and_one_currency_needs_none() -> None:
    assert conversion(RATES, "CHF", "USD") is None
    assert conversion(RATES, "USD", "CHF") is None
    assert conversion(NO_RATES, "SEK", "SEK") == Conversion("SEK", "SEK", Decimal(1))
    # Rates too extreme to keep in Numeric(20, 10) are no conversion either, never a zero or overflowing one.
    assert conversion({"XTS": Decimal("0.0000000001")}, "XTS", "XAU") is None
    extreme = {"XAU": Decimal("9999999999"), "XTS": Decimal("0.0000000001")}
    assert conversion(extreme, "XTS", "XAU") is None
    assert conversion(extreme, "XAU", "XTS") is None


def test_the_payout_of_a_deal_in_another_currency_is_figured_in_the_engagements() -> None:
    eur = VariablePayRules(
        RULES.hourly_rates, Decimal("0.05"), Decimal("23000"), Decimal("45000"), 200, "EUR"
    )
    # 850 000 USD is 787 037.04 EUR; 5 % of that is 39 351.85, above the cap.
    payout = payout_for(eur, Market.A, 200, Decimal("850000"), "USD", RATES)
    assert payout is not None
    assert (payout.amount, payout.currency, payout.deal_currency) == (Decimal("23000.00"), "EUR", "USD")
    assert payout.exchange_rate == Decimal("0.9259259259")
    payout = payout_for(eur, Market.A, 200, Decimal("100000"), "USD", RATES)
    assert payout is not None and payout.amount == Decimal("4629.63")  # 5 % of 92 592.59 EUR
    # 10 000 000 JPY on a USD engagement: 67 000 USD, 5 % is 3 350.
    yen = payout_for(RULES, Market.A, 100, Decimal("10000000"), "JPY", RATES)
    assert yen is not None and (yen.amount, yen.exchange_rate) == (Decimal("3350.00"), Decimal("0.0067"))
    assert payout_for(RULES, Market.A, 100, Decimal("10000000"), "CHF", RATES) is None


def test_a_deal_in_the_engagements_currency_is_paid_as_before() -> None:
    payout = payout_for(RULES, Market.A, 100, Decimal("100000"), "USD", NO_RATES)
    assert payout is not None
    assert payout.amount == proposed_payout(RULES, Market.A, 100, Decimal("100000"))
    assert payout.exchange_rate == Decimal(1)


def test_iso_4217_codes() -> None:
    assert {"USD", "EUR", "JPY", "GBP", "CHF", "XTS"} <= ISO_4217
    assert len(ISO_4217) > 150 and all(len(code) == 3 and code.isupper() for code in ISO_4217)
    assert not is_currency_code("XXX") and not is_currency_code("EUE") and not is_currency_code("eur")


usd_per_units = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=4)
amounts = st.decimals(min_value=0, max_value=10**9, places=2)


@settings(max_examples=200)
@given(usd_per_units, usd_per_units, amounts)
def test_a_conversion_is_the_value_in_usd_to_within_the_rounding(
    source: Decimal, target: Decimal, amount: Decimal
) -> None:
    rates = {"XTS": source, "XAU": target}
    converted = conversion(rates, "XTS", "XAU")
    exact = source / target
    if not Decimal("0.00000000005") <= exact < Decimal(10**10):
        return  # too small or too large to keep (its own test above)
    assert converted is not None
    assert abs(converted.rate - exact) <= Decimal("0.00000000005")  # half-up to 10 places
    value = converted.convert(amount)
    assert value.as_tuple().exponent == -2
    assert value == (amount * converted.rate).quantize(Decimal("0.01"), ROUND_HALF_UP)  # from the kept rate
    # Never off by more than the rate's rounding on the amount, plus half a cent.
    assert abs(value - amount * exact) <= amount * Decimal("0.00000000005") + Decimal("0.005")


@settings(max_examples=200)
@given(usd_per_units, amounts, amounts)
def test_converting_keeps_the_order_of_amounts(rate: Decimal, a: Decimal, b: Decimal) -> None:
    converted = conversion({"XTS": rate}, "XTS", "USD")
    assert converted is not None
    low, high = sorted((a, b))
    assert converted.convert(low) <= converted.convert(high)


@settings(max_examples=200)
@given(st.sampled_from(list(Market)), hours, amounts, usd_per_units)
def test_a_converted_payout_never_exceeds_any_bound_in_the_engagements_currency(
    market: Market, h: int, deal: Decimal, rate: Decimal
) -> None:
    payout = payout_for(RULES, market, h, deal, "XTS", {"XTS": rate})
    assert payout is not None and payout.currency == RULES.currency and payout.deal_currency == "XTS"
    converted = Conversion("XTS", "USD", payout.exchange_rate).convert(deal)
    assert payout.amount == proposed_payout(RULES, market, h, converted)
    assert Decimal(0) <= payout.amount <= min(RULES.cap, RULES.hourly_rates[market] * h)
