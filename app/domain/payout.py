"""Variable-pay payout. Decision (DOMAIN.md): the proposed payout is the smallest of
hours x the market's hourly rate, percent-of-deal x the opportunity's deal size, and the cap.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from app.domain.enums import Market

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class VariablePayRules:
    """One variable-pay engagement's figures (all per-engagement data)."""

    hourly_rates: Mapping[Market, Decimal]
    percent_of_deal: Decimal  # a FRACTION: Decimal("0.05") means 5 % of the deal size
    cap: Decimal
    min_deal_size: Decimal
    max_hours: int
    currency: str  # ISO 4217, e.g. "USD"

    def __post_init__(self) -> None:
        # Catches the likely mix-up of storing 5 for 5 %, which would pay 100 times too much.
        if not Decimal(0) <= self.percent_of_deal <= Decimal(1):
            raise ValueError("percent_of_deal is a fraction between 0 and 1 (0.05 means 5%)")
        if self.max_hours < 1:
            raise ValueError("max_hours must be at least 1")


def market_for_country(country: str, markets: Mapping[str, Market], default: Market = Market.C) -> Market:
    """The market of an ISO country code (case-insensitive); countries not listed fall in `default`."""
    return markets.get(country.strip().upper(), default)


def validate_hours(rules: VariablePayRules, hours: int) -> str | None:
    """None when `hours` is acceptable, else a message for the partner."""
    if 1 <= hours <= rules.max_hours:
        return None
    return f"Hours must be a whole number from 1 to {rules.max_hours}."


def proposed_payout(rules: VariablePayRules, market: Market, hours: int, deal_size: Decimal) -> Decimal:
    """min(hours x rate, percent-of-deal x deal size, cap), rounded half-up to cents.

    Raises ValueError when the hours are out of range or the market has no rate.
    """
    problem = validate_hours(rules, hours)
    if problem is not None:
        raise ValueError(problem)
    if market not in rules.hourly_rates:
        raise ValueError(f"The engagement has no hourly rate for market {market.value}.")
    by_hours = rules.hourly_rates[market] * hours
    by_deal = rules.percent_of_deal * deal_size
    payout = max(min(by_hours, by_deal, rules.cap), Decimal(0))  # never negative, whatever the data says
    return payout.quantize(_CENT, rounding=ROUND_HALF_UP)
