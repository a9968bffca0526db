"""What a Customers page judgement depends on, cheap to read: claim events per partner in id order, and a count of
reference-data imports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("claim_event", schema=None) as batch_op:
        batch_op.create_index("ix_claim_event_partner", ["partner_id", "id"], unique=False)
        batch_op.drop_index("ix_claim_event_partner_id")
    version = op.create_table(
        "reference_data_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(version, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("reference_data_version")
    with op.batch_alter_table("claim_event", schema=None) as batch_op:
        batch_op.create_index("ix_claim_event_partner_id", ["partner_id"], unique=False)
        batch_op.drop_index("ix_claim_event_partner")
