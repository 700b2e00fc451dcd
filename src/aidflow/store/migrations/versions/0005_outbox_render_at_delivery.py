"""outbox rows rendered at delivery

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

The deadline sweep queues what identifies an escalation email (`template`, `lang`, the
escalation, the address and Message-ID) and delivery renders it the first time it is sent,
storing subject, text and HTML on the row (so a retry sends the same text). The rendered
columns are therefore empty until then; rows queued already rendered keep them as before.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lang", sa.String(length=8), nullable=True))
        batch_op.alter_column("subject", existing_type=sa.String(length=500), nullable=True)
        batch_op.alter_column("text", existing_type=sa.Text(), nullable=True)
        batch_op.alter_column("html", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    # rows never delivered have nothing to keep in the rendered columns: drop them first
    op.execute("DELETE FROM outbox WHERE text IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("html", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("text", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("subject", existing_type=sa.String(length=500), nullable=False)
        batch_op.drop_column("lang")
        batch_op.drop_column("template")
