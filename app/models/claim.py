"""Customers a partner nominated, their identifiers, claims, consent requests and the claim event log."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, Numeric, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.domain.contacts import MAX_ACTOR_NAME, MAX_EMAIL
from app.domain.lifecycle import TERMINAL
from app.models.types import UTCDateTime


class Customer(SQLModel, table=True):
    """A customer as one partner knows it: one nominating identifier (eligibility belongs to an identifier, never
    to an organisation as a whole). Never shared between partners."""

    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("partner_id", "id_type", "id_value"),
        # A partner's customers in id order: the Customers page's keyset over its candidates.
        Index("ix_customer_partner_key", "partner_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner_account.id", index=True)
    name: str = Field(max_length=200)
    id_type: str = Field(max_length=24)
    id_value: str = Field(max_length=253, description="Normalised")
    tenant_id: str | None = Field(default=None, max_length=36, description="Resolved tenant, when known")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CustomerIdentifier(SQLModel, table=True):
    """The identifiers shown for a customer: the nominating one and what the directory derived (a domain's tenant)."""

    __tablename__ = "customer_identifier"
    __table_args__ = (UniqueConstraint("customer_id", "id_type", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    id_type: str = Field(max_length=24)
    value: str = Field(max_length=253, description="Normalised")


# Bumped by every write; SQLAlchemy adds `WHERE version = <read>` to each UPDATE, so of two racing writers
# exactly one wins and the other gets StaleDataError.
_claim_version = Column("version", Integer, nullable=False, default=1)
_NOT_TERMINAL = "status NOT IN ({})".format(", ".join(f"'{status.value}'" for status in TERMINAL))


class Claim(SQLModel, table=True):
    __tablename__ = "claim"
    __table_args__ = (
        Index("ix_claim_engagement_status", "engagement_id", "status"),
        Index("ix_claim_limit", "engagement_id", "limit_key"),
        # The Customers page: is this customer known to this partner (consented on any claim of its)?
        Index(
            "ix_claim_partner_consented",
            "partner_id",
            "customer_id",
            sqlite_where=text("consented_at IS NOT NULL"),
            postgresql_where=text("consented_at IS NOT NULL"),
        ),
        # The Customers page: this partner's claims on this engagement, per customer.
        Index("ix_claim_engagement_partner_customer", "engagement_id", "partner_id", "customer_id"),
        # Add or claim, not both: one active claim per (partner, engagement, identifier), whatever the race.
        Index(
            "ux_claim_active_per_partner",
            "partner_id",
            "engagement_id",
            "limit_key",
            unique=True,
            sqlite_where=text(_NOT_TERMINAL),
            postgresql_where=text(_NOT_TERMINAL),
        ),
    )
    __mapper_args__ = {"version_id_col": _claim_version}

    id: int | None = Field(default=None, primary_key=True)
    claim_number: str = Field(max_length=24, unique=True)
    partner_id: int = Field(foreign_key="partner_account.id")
    location_pk: int = Field(foreign_key="partner_location.id", index=True)
    engagement_id: int = Field(foreign_key="engagement.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    friendly_name: str = Field(max_length=200)
    id_type: str = Field(max_length=24, description="Type of the nominating identifier")
    id_value: str = Field(max_length=253, description="Nominating identifier, normalised")
    limit_key: str = Field(
        max_length=300, description="What claim limits count: a domain counts as its tenant"
    )
    tenant_mismatch_reason: str | None = None
    status: str = Field(max_length=40)
    deadline: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), index=True))
    hours: int | None = None
    proposed_payout: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    currency: str | None = Field(default=None, max_length=3)
    # Variable pay: the deal's currency and the rate that converted it into `currency` (kept as used).
    deal_currency: str | None = Field(default=None, max_length=3)
    exchange_rate: Decimal | None = Field(default=None, sa_column=Column(Numeric(20, 10)))
    customer_contact: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    partner_contact: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by_user_id: int | None = Field(default=None, foreign_key="partner_user.id")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    consented_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    first_submitted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    rejected_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    disputed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    dispute_submitted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    partner_action_requested_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    ended_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime()), description="Terminal since"
    )
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    version: int = Field(default=1, sa_column=_claim_version)


class ConsentRequest(SQLModel, table=True):
    """The request for a customer's consent to one claim. Re-sends remind the same request; its link is signed
    from (id, nonce), works once and dies at the consent deadline."""

    __tablename__ = "consent_request"

    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id", unique=True)
    recipient_email: str = Field(max_length=254)
    nonce: str = Field(max_length=64, description="Secret part of the link's signature")
    first_sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    send_count: int = 1
    responded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    response: str | None = Field(default=None, max_length=10, description="ACCEPT or DECLINE")
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ClaimEvent(SQLModel, table=True):
    """Append-only: one row per action on a claim. Its id is the cursor clients resume from."""

    __tablename__ = "claim_event"
    # AUTOINCREMENT on SQLite: an id is never reused, even after deletes, so a cursor never points twice.
    # Per engagement and per partner in id order: a feed's replay, and the latest change a Customers page
    # judgement depends on (services/customers_page.py, `TabJudgements`).
    __table_args__ = (
        Index("ix_claim_event_engagement", "engagement_id", "id"),
        Index("ix_claim_event_partner", "partner_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id", index=True)
    engagement_id: int = Field(foreign_key="engagement.id")
    partner_id: int = Field(foreign_key="partner_account.id")
    action: str = Field(max_length=40)
    from_status: str | None = Field(default=None, max_length=40)
    to_status: str = Field(max_length=40)
    actor_kind: str = Field(max_length=20)
    actor_id: str | None = Field(default=None, max_length=MAX_EMAIL)
    actor_name: str | None = Field(default=None, max_length=MAX_ACTOR_NAME)
    comment: str | None = None
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class IdempotencyKey(SQLModel, table=True):
    """The first successful result of a mutation sent with an idempotency key, per user."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "operation", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="partner_user.id")
    operation: str = Field(max_length=40)
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
