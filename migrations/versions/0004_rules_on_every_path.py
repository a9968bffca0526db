"""Rules that hold on every path: the sandbox clock in the database, exchange rates, the partner's own email
domains, cooling off and partner-action days per engagement, and what a claim keeps (when it ended, when partner
action was asked, the deal's currency and rate). Backfills: terminal claims' end, the partner domains, and the
limit key of claims nominated by Azure subscription (now the tenant that owns it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the terminal statuses when this revision was written.
_TERMINAL = (
    "APPROVED",
    "CUSTOMER_CONSENT_EXPIRED",
    "NOT_SUBMITTED_EXPIRED",
    "POST_SUBMISSION_EXPIRED",
    "DISPUTED_EXPIRED",
    "CANCELED",
    "CUSTOMER_CONSENT_DECLINED",
    "REJECTED_FINAL",
)


def upgrade() -> None:
    clock = op.create_table(
        "sandbox_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offset_seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(clock, [{"id": 1, "offset_seconds": 0}])
    op.create_table(
        "exchange_rate",
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("usd_per_unit", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.PrimaryKeyConstraint("currency"),
    )
    op.create_table(
        "partner_domain",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("domain", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partner_account.id"]),
        sa.PrimaryKeyConstraint("partner_id", "domain"),
    )
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cooling_off_days", sa.Integer(), nullable=False, server_default="30"))
        batch_op.add_column(
            sa.Column("partner_action_days", sa.Integer(), nullable=False, server_default="14")
        )
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deal_currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True))
        batch_op.add_column(sa.Column("exchange_rate", sa.Numeric(precision=20, scale=10), nullable=True))
        batch_op.add_column(
            sa.Column("partner_action_requested_at", app.models.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("ended_at", app.models.types.UTCDateTime(), nullable=True))
    # The models carry no server defaults: drop them once the existing rows are filled.
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.alter_column("cooling_off_days", server_default=None)
        batch_op.alter_column("partner_action_days", server_default=None)
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    terminal = ", ".join(f"'{s}'" for s in _TERMINAL)
    bind.execute(sa.text(f"UPDATE claim SET ended_at = updated_at WHERE status IN ({terminal})"))
    bind.execute(
        sa.text("UPDATE claim SET deal_currency = 'USD', exchange_rate = 1 WHERE proposed_payout IS NOT NULL")
    )

    domains: set[tuple[int, str]] = set()
    for partner_id, email in bind.execute(sa.text("SELECT partner_id, email FROM partner_user")):
        domains.add((partner_id, email.rpartition("@")[2].strip().lower()))
    claims = sa.table("claim", sa.column("partner_id"), sa.column("partner_contact", sa.JSON))
    for partner_id, contact in bind.execute(sa.select(claims.c.partner_id, claims.c.partner_contact)):
        email = (contact or {}).get("email") or ""
        domains.add((partner_id, email.rpartition("@")[2].strip().lower()))
    rows = [{"partner_id": p, "domain": d} for p, d in sorted(domains) if d]
    if rows:
        op.bulk_insert(sa.table("partner_domain", sa.column("partner_id"), sa.column("domain")), rows)

    # A subscription's claims now count on the tenant that owns it, unless the partner already holds an active
    # claim on that tenant for the engagement (the one-active-claim index would refuse it): those keep their key.
    owners = bind.execute(
        sa.text(
            "SELECT c.id, c.partner_id, c.engagement_id, c.status, t.tenant_id FROM claim c "
            "JOIN directory_subscription s ON s.subscription_id = c.id_value "
            "JOIN directory_tenant t ON t.id = s.tenant_pk WHERE c.id_type = 'AZURE_SUBSCRIPTION_ID' ORDER BY c.id"
        )
    ).all()
    taken = {
        (p, e, k)
        for p, e, k in bind.execute(
            sa.text(f"SELECT partner_id, engagement_id, limit_key FROM claim WHERE status NOT IN ({terminal})")
        )
    }
    for claim_id, partner_id, engagement_id, status, tenant_id in owners:
        key = f"TENANT_ID:{tenant_id}"
        if status not in _TERMINAL:
            if (partner_id, engagement_id, key) in taken:
                continue
            taken.add((partner_id, engagement_id, key))
        bind.execute(sa.text("UPDATE claim SET limit_key = :key WHERE id = :id"), {"key": key, "id": claim_id})


def downgrade() -> None:
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.drop_column("ended_at")
        batch_op.drop_column("partner_action_requested_at")
        batch_op.drop_column("exchange_rate")
        batch_op.drop_column("deal_currency")
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.drop_column("partner_action_days")
        batch_op.drop_column("cooling_off_days")
    op.drop_table("partner_domain")
    op.drop_table("exchange_rate")
    op.drop_table("sandbox_clock")
