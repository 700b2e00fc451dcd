"""households, their members and the members' recorded incomes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

Dibao is granted to a household (户) on its per-capita income (L21 §3, §9): a household
groups persons under a head, each with the relationship to the head and whether they live
together; incomes are recorded per member in integer fen (BIGINT), append-only. The three
tables are new, so no existing row changes; their rows join the global audit log as they
are written (aidflow.store.auditlog).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "households",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("head_person_id", sa.Integer(), nullable=False),
        sa.Column("township", sa.String(length=100), nullable=False),
        sa.Column("village", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["head_person_id"], ["persons.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("head_person_id"),
    )
    op.create_table(
        "household_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("relationship", sa.String(length=20), nullable=False),
        sa.Column("lives_together", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id"),
    )
    op.create_index("ix_household_members_household", "household_members", ["household_id"])
    op.create_table(
        "household_incomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_household_incomes_household", "household_incomes", ["household_id", "person_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_household_incomes_household", table_name="household_incomes")
    op.drop_table("household_incomes")
    op.drop_index("ix_household_members_household", table_name="household_members")
    op.drop_table("household_members")
    op.drop_table("households")
