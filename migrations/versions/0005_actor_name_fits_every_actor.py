"""A claim event's actor name fits every actor: a customer's full name (two names of up to 100 characters and a
space) no longer breaks the consent answer on PostgreSQL, nor a reviewer's long name its review actions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# SQLite alters a column by copying the table: the copy must keep AUTOINCREMENT, or event ids (the cursors clients
# resume from) could be used twice.
_KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("claim_event", schema=None, table_kwargs=_KEEP) as batch_op:
        batch_op.alter_column(
            "actor_name",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
            type_=sqlmodel.sql.sqltypes.AutoString(length=254),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("claim_event", schema=None, table_kwargs=_KEEP) as batch_op:
        batch_op.alter_column(
            "actor_name",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=254),
            type_=sqlmodel.sql.sqltypes.AutoString(length=200),
            existing_nullable=True,
        )
