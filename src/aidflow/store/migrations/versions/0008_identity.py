"""identity: credentials, tokens, the area registry, who entered an event

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

Users gain an operating-system login (local mode), an argon2id password hash, the
must-change flag of an initial password, a disabled flag and the counters of the login
backoff. Tokens are stored as the SHA-256 of the token only. The area registry lists the
county's townships and villages. Events and votes record the administrator who entered them
on someone's behalf, and an audit entry's actor is wide enough to name both. Existing rows
keep their audit digests: the new columns enter a row's digest only when they differ from
these defaults (aidflow.store.auditlog).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("os_login", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column(
                "must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint("uq_users_os_login", ["os_login"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_name"], ["users.name"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_tokens_user", "tokens", ["user_name"], unique=False)
    op.create_table(
        "areas",
        sa.Column("township", sa.String(length=100), nullable=False),
        sa.Column("village", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("township", "village"),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entered_by", sa.String(length=64), nullable=True))
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entered_by", sa.String(length=64), nullable=True))
    # an entry's actor names both users when an administrator entered it for someone
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column(
            "actor", existing_type=sa.String(length=64), type_=sa.String(length=200)
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column(
            "actor", existing_type=sa.String(length=200), type_=sa.String(length=64)
        )
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_column("entered_by")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_column("entered_by")
    op.drop_table("areas")
    op.drop_index("ix_tokens_user", table_name="tokens")
    op.drop_table("tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_os_login", type_="unique")
        for column in (
            "locked_until",
            "failed_logins",
            "disabled",
            "must_change_password",
            "password_hash",
            "os_login",
        ):
            batch_op.drop_column(column)
