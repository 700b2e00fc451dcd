"""users' display names; where an escalation was meant to go when it went elsewhere

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-05

`users.display_name` is the name emails greet the user by (张建国); empty, they are greeted
by their login name, as before.

`escalations.meant_for` is the role a ladder's rung names, kept when no user holds that
role over the case's area and the escalation went up the hierarchy instead (`role` is then
the role of the user it reached); `rerouted` says why. Both are empty for the escalations
that reached the rung's own role, which every existing row did.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("display_name", sa.String(100), nullable=True))
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("meant_for", sa.String(64), nullable=True))
        batch.add_column(sa.Column("rerouted", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        batch.drop_column("rerouted")
        batch.drop_column("meant_for")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("display_name")
