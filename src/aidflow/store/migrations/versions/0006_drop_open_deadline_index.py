"""drop the partial open-deadline index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

`ix_cases_open_deadline` (deadline_at WHERE closed_at IS NULL) duplicated `ix_cases_deadline`:
a case is closed only in a final state, and final states have no deadline (the loader refuses
one), so a closed case's deadline_at is NULL and a range scan of the full index already skips
it. The copy cost an index update on every transition and, declared in the models, made every
command import SQLAlchemy's PostgreSQL dialect (to check `postgresql_where`), on SQLite too.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_open_deadline")


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_open_deadline",
            ["deadline_at"],
            unique=False,
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )
