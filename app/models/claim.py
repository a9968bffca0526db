"""Customers a partner nominated, their identifiers, claims, consent requests and the claim event log."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime


class Customer(SQLModel, table=True):
    """An organisation as one partner knows it; never shared between partners."""

    __tablename__ = "customer"

    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner_account.id", index=True)
    name: str = Field(max_length=200)
    tenant_id: str | None = Field(default=None, max_length=36, description="Resolved tenant, when known")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CustomerIdentifier(SQLModel, table=True):
    __tablename__ = "customer_identifier"
    __table_args__ = (UniqueConstraint("customer_id", "id_type", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    id_type: str = Field(max_length=24)
    value: str = Field(max_length=253, description="Normalised")


class Claim(SQLModel, table=True):
    __tablename__ = "claim"
    __table_args__ = (
        Index("ix_claim_engagement_status", "engagement_id", "status"),
        Index("ix_claim_partner_engagement", "partner_id", "engagement_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    claim_number: str = Field(max_length=24, unique=True)
    partner_id: int = Field(foreign_key="partner_account.id")
    location_pk: int = Field(foreign_key="partner_location.id", index=True)
    engagement_id: int = Field(foreign_key="engagement.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    friendly_name: str = Field(max_length=200)
    id_type: str = Field(max_length=24, description="Type of the nominating identifier")
    id_value: str = Field(max_length=253, description="Nominating identifier, normalised")
    limit_key: str = Field(max_length=300, index=True, description="What claim limits count: a domain counts as its tenant")
    tenant_mismatch_reason: str | None = None
    status: str = Field(max_length=40)
    deadline: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    hours: int | None = None
    proposed_payout: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 2)))
    currency: str | None = Field(default=None, max_length=3)
    customer_contact: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    partner_contact: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by_user_id: int | None = Field(default=None, foreign_key="partner_user.id")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    consented_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    first_submitted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    disputed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    version: int = Field(default=1, description="Bumped by every change; guards against racing writers")


class ConsentRequest(SQLModel, table=True):
    __tablename__ = "consent_request"

    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id", unique=True)
    recipient_email: str = Field(max_length=254)
    status: str = Field(max_length=20)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    first_sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    send_count: int = 0
    responded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    response: str | None = Field(default=None, max_length=10)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ClaimEvent(SQLModel, table=True):
    """Append-only: one row per action on a claim. Its id is the cursor clients resume from."""

    __tablename__ = "claim_event"
    __table_args__ = (Index("ix_claim_event_engagement", "engagement_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id", index=True)
    engagement_id: int = Field(foreign_key="engagement.id")
    partner_id: int = Field(foreign_key="partner_account.id", index=True)
    action: str = Field(max_length=40)
    from_status: str | None = Field(default=None, max_length=40)
    to_status: str = Field(max_length=40)
    actor_kind: str = Field(max_length=20)
    actor_id: str | None = Field(default=None, max_length=254)
    actor_name: str | None = Field(default=None, max_length=200)
    comment: str | None = None
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
