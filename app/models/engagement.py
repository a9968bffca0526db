"""Engagements: the catalogue partners earn on, with criteria, limits, timelines and variable-pay rules."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Column, Numeric
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime


class Engagement(SQLModel, table=True):
    __tablename__ = "engagement"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    description: str = ""
    solution_area: str = Field(max_length=100)
    engagement_type: str = Field(max_length=20)
    pay_type: str = Field(max_length=10)
    allowed_customer_id_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Criteria: null means "any".
    criteria_countries: list[str] | None = Field(default=None, sa_column=Column(JSON))
    criteria_segments: list[str] | None = Field(default=None, sa_column=Column(JSON))
    max_active_claims_per_customer: int = 1
    max_completed_claims_per_customer: int = 1
    # Decision (DOMAIN.md): after a declined or expired consent, the partner waits this long to nominate again.
    cooling_off_days: int = 30
    claims_open_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Timeline overrides in days; null means the engagement type's default.
    consent_days: int | None = None
    submit_days: int | None = None
    review_days: int | None = None
    dispute_days: int | None = None
    # Decision (DOMAIN.md): a partner-action request always leaves the partner at least this many days.
    partner_action_days: int = 14
    # Variable pay only. The currency the payout is figured and paid in; a deal in another is converted.
    currency: str = Field(default="USD", max_length=3)
    hourly_rate_a: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    hourly_rate_b: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    hourly_rate_c: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    percent_of_deal: Decimal | None = Field(default=None, sa_column=Column(Numeric(7, 4)))
    payout_cap: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    min_deal_size: Decimal | None = Field(default=None, sa_column=Column(Numeric(16, 2)))
    max_hours: int | None = None


class EngagementLocation(SQLModel, table=True):
    """A partner location that can earn on an engagement (by its public location ID, so import order is free)."""

    __tablename__ = "engagement_location"

    engagement_id: int = Field(foreign_key="engagement.id", primary_key=True)
    location_id: str = Field(max_length=20, primary_key=True, index=True)


class CountryMarket(SQLModel, table=True):
    """The variable-pay market (A, B or C) of a country."""

    __tablename__ = "country_market"

    country: str = Field(max_length=2, primary_key=True)
    market: str = Field(max_length=1)


class ExchangeRate(SQLModel, table=True):
    """Reference data: what one unit of a currency is worth in USD (USD itself is 1 and never listed)."""

    __tablename__ = "exchange_rate"

    currency: str = Field(max_length=3, primary_key=True, description="ISO 4217")
    usd_per_unit: Decimal = Field(sa_column=Column(Numeric(20, 10), nullable=False))
