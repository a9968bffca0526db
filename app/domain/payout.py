"""Variable-pay payout and money across currencies.

Decision (DOMAIN.md): the proposed payout is the smallest of hours x the market's hourly rate, percent-of-deal x
the opportunity's deal size, and the cap.

Decision (DOMAIN.md, currencies): each engagement has a currency, each opportunity's deal size its own; the
reference data carries what one unit of each currency is worth in USD (USD itself is 1 and never listed). The
minimum deal size and the percent of deal apply to the deal converted into the engagement's currency, and the
claim keeps the rate it used. Money is never compared or paid across currencies as if they were one: without a
rate for both currencies there is no conversion (`conversion` returns None), and the caller refuses
(`CURRENCY_NOT_SUPPORTED`).

Rounding, stated once:
- the rate from currency S to currency T is usd_per_unit(S) / usd_per_unit(T), rounded half-up to
  `RATE_PLACES` (10) decimal places: that rounded rate is what the claim keeps, so anyone can redo the sums;
- a converted amount is amount x that rate, rounded half-up to cents;
- the payout is figured on the converted deal and rounded half-up to cents.
A deal already in the engagement's currency is converted at exactly 1, with no rate needed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from app.domain.enums import Market

_CENT = Decimal("0.01")

USD = "USD"
RATE_PLACES = 10  # as the claim keeps a rate (Numeric(20, 10))
_RATE_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)
_RATE_LIMIT = Decimal(10) ** (20 - RATE_PLACES)  # a kept rate has at most 10 digits before the point

# What one unit of a currency is worth in USD, by ISO 4217 code; USD is implicit (1) and never listed.
ExchangeRates = Mapping[str, Decimal]
NO_RATES: ExchangeRates = MappingProxyType({})  # a world of USD only

# ISO 4217 alphabetic codes in use (2025), funds and precious metals included; XXX ("no currency") left out.
_ISO_4217_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD
    CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD
    OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU
    XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA YER ZAR ZMW ZWG ZWL
"""
ISO_4217 = frozenset(_ISO_4217_CODES.split())


def is_currency_code(code: str) -> bool:
    """An ISO 4217 alphabetic code, upper-case, e.g. "EUR"."""
    return code in ISO_4217


def usd_per_unit(rates: ExchangeRates, currency: str) -> Decimal | None:
    """What one unit of `currency` is worth in USD; None when the reference data has no rate for it."""
    if currency == USD:
        return Decimal(1)
    rate = rates.get(currency)
    return rate if rate is not None and rate > 0 else None


@dataclass(frozen=True)
class Conversion:
    """Money in `source` expressed in `target`, at `rate` units of `target` per unit of `source`."""

    source: str
    target: str
    rate: Decimal  # rounded half-up to RATE_PLACES; exactly 1 when source == target

    def convert(self, amount: Decimal) -> Decimal:
        """`amount` (in `source`) in `target`: amount x rate, rounded half-up to cents."""
        return (amount * self.rate).quantize(_CENT, rounding=ROUND_HALF_UP)


def conversion(rates: ExchangeRates, source: str, target: str) -> Conversion | None:
    """How to express `source` money in `target`, or None when it cannot be: a currency without a rate, or a
    rate too small or too large to keep (rounded to zero, or 10^10 and more)."""
    if source == target:
        return Conversion(source, target, Decimal(1))
    source_usd, target_usd = usd_per_unit(rates, source), usd_per_unit(rates, target)
    if source_usd is None or target_usd is None:
        return None
    exact = source_usd / target_usd
    if exact >= _RATE_LIMIT:  # checked first: quantizing it would overflow the context's precision
        return None
    rate = exact.quantize(_RATE_QUANTUM, rounding=ROUND_HALF_UP)
    if rate <= 0:
        return None
    return Conversion(source, target, rate)


@dataclass(frozen=True)
class VariablePayRules:
    """One variable-pay engagement's figures (all per-engagement data), in `currency`."""

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
    """min(hours x rate, percent-of-deal x deal size, cap), rounded half-up to cents; `deal_size` is in the
    engagement's currency (`rules.currency`): convert it first (`payout_for`).

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


@dataclass(frozen=True)
class Payout:
    """A proposed payout in the engagement's currency, with the conversion of the deal it was figured on."""

    amount: Decimal
    currency: str  # the engagement's
    deal_currency: str
    exchange_rate: Decimal  # units of `currency` per unit of `deal_currency`, as used (1 when the same)


def payout_for(
    rules: VariablePayRules,
    market: Market,
    hours: int,
    deal_size: Decimal,
    deal_currency: str,
    rates: ExchangeRates,
) -> Payout | None:
    """The proposed payout for a deal in its own currency: the deal converted into the engagement's currency,
    then `proposed_payout`. None when the deal cannot be converted (no rate for one of the currencies).

    Raises ValueError as `proposed_payout` does."""
    converted = conversion(rates, deal_currency, rules.currency)
    if converted is None:
        return None
    amount = proposed_payout(rules, market, hours, converted.convert(deal_size))
    return Payout(amount, rules.currency, deal_currency, converted.rate)
