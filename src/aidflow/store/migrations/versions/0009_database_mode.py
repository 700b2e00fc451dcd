"""the database's mode: production or training

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

One row saying whether the database holds real cases (production: every write takes the
system clock) or is a training or simulation database (writes may take --now). The row is
written by `aidflow.store.database.upgrade` in the same transaction as this migration, so a
database upgraded from an earlier revision becomes a production database, and only a
database created from empty can be a training one.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "database_info",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("database_info")
