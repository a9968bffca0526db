"""Customers page indexes: a partner's consented claims, its claims on an engagement per customer, and its
customers in id order (the page's keyset).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSENTED = sa.text("consented_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.create_index(
            "ix_claim_partner_consented",
            ["partner_id", "customer_id"],
            unique=False,
            sqlite_where=CONSENTED,
            postgresql_where=CONSENTED,
        )
        batch_op.create_index(
            "ix_claim_engagement_partner_customer", ["engagement_id", "partner_id", "customer_id"], unique=False
        )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index("ix_customer_partner_key", ["partner_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_partner_key")
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.drop_index("ix_claim_engagement_partner_customer")
        batch_op.drop_index("ix_claim_partner_consented", sqlite_where=CONSENTED, postgresql_where=CONSENTED)
