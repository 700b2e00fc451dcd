"""money in BIGINT; each payment in at most one export batch

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-04

`payments.amount_fen` was a 32-bit INTEGER on PostgreSQL (SQLite's integers are 64-bit
already): an amount above 21,474,836.47 yuan could not be stored. It becomes BIGINT.

`payments.export_id` names the export batch (the bank file, `payment_exports`) a payment
was sent in, so a new export takes only the payments in no batch. Payments exported before
this revision keep no batch: their status (exported, paid, failed) already keeps them out
of a new export.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.alter_column(
            "amount_fen", existing_type=sa.Integer(), type_=sa.BigInteger(), nullable=False
        )
        batch.add_column(sa.Column("export_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_payments_export_id_payment_exports", "payment_exports", ["export_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint("fk_payments_export_id_payment_exports", type_="foreignkey")
        batch.drop_column("export_id")
        batch.alter_column(
            "amount_fen", existing_type=sa.BigInteger(), type_=sa.Integer(), nullable=False
        )
