"""case clocks and the open-deadline index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

`cases.clocks` holds the state of the workflow's named clocks (running, paused with the
time left, stopped); `ix_cases_open_deadline` lets the timed-transition sweep read only
open cases past their deadline.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clocks", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.create_index(
            "ix_cases_open_deadline",
            ["deadline_at"],
            unique=False,
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_open_deadline")
        batch_op.drop_column("clocks")
