"""the global audit log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

One append-only log of every security- or money-relevant change, with a global sequence
and a hash chain (aidflow.store.auditlog). The rows a database already holds (workflow
versions, users, case events, votes) are logged here, oldest first, so that the log covers
them; what they were before the upgrade only the case chains and earlier backups can say,
and the first signed checkpoint after the upgrade is the commitment from then on.
"""

from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_table", sa.String(length=40), nullable=False),
        sa.Column("subject_key", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    _log_existing_rows()


# the tables as this revision knows them (not the models, which later revisions change)
_SOURCES: list[tuple[str, str, str, str, list[sa.ColumnClause[Any]]]] = [
    # (table, kind, time column, actor column, columns)
    (
        "workflow_versions",
        "workflow_deployed",
        "deployed_at",
        "deployed_by",
        [
            sa.column("name"),
            sa.column("version"),
            sa.column("declared_version"),
            sa.column("file"),
            sa.column("source"),
            sa.column("definition_json"),
            sa.column("content_hash"),
            sa.column("deployed_at", sa.DateTime()),
            sa.column("deployed_by"),
        ],
    ),
    (
        "users",
        "user_added",
        "created_at",
        "name",
        [
            sa.column("name"),
            sa.column("email"),
            sa.column("roles", sa.JSON()),
            sa.column("area"),
            sa.column("created_at", sa.DateTime()),
        ],
    ),
    (
        "case_events",
        "case_event",
        "at",
        "actor",
        [
            sa.column("case_id"),
            sa.column("seq"),
            sa.column("at", sa.DateTime()),
            sa.column("actor"),
            sa.column("kind"),
            sa.column("trigger"),
            sa.column("from_state"),
            sa.column("to_state"),
            sa.column("fields", sa.JSON()),
            sa.column("note"),
        ],
    ),
    (
        "votes",
        "vote",
        "at",
        "voter",
        [
            sa.column("case_id"),
            sa.column("round"),
            sa.column("voter"),
            sa.column("choice"),
            sa.column("at", sa.DateTime()),
        ],
    ),
]


def _log_existing_rows() -> None:
    from aidflow.store.auditlog import GENESIS, digest, entry_hash, subject_key

    conn = op.get_bind()
    pending: list[tuple[Any, int, str, str, str, dict[str, Any]]] = []
    for order, (table, kind, time_col, actor_col, columns) in enumerate(_SOURCES):
        for found in conn.execute(sa.select(*columns).select_from(sa.table(table, *columns))):
            row = dict(found._mapping)
            for name, value in row.items():  # stored as naive UTC
                if hasattr(value, "tzinfo") and value.tzinfo is None and hasattr(value, "hour"):
                    row[name] = value.replace(tzinfo=UTC)
            pending.append((row[time_col], order, table, kind, str(row[actor_col]), row))
    pending.sort(key=lambda p: (p[0], p[1], subject_key(p[2], p[5])))
    log = sa.table(
        "audit_log",
        *[sa.column(c) for c in ("seq", "actor", "kind", "subject_table", "subject_key", "digest")],
        sa.column("at", sa.DateTime()),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    prev = GENESIS
    rows = []
    for seq, (at, _, table, kind, actor, row) in enumerate(pending, start=1):
        key, row_digest = subject_key(table, row), digest(table, row)
        h = entry_hash(seq, at, actor, kind, table, key, row_digest, prev)
        rows.append(
            {
                "seq": seq,
                "at": at.astimezone(UTC).replace(tzinfo=None),
                "actor": actor,
                "kind": kind,
                "subject_table": table,
                "subject_key": key,
                "digest": row_digest,
                "prev_hash": prev,
                "hash": h,
            }
        )
        prev = h
    if rows:
        op.bulk_insert(log, rows)


def downgrade() -> None:
    op.drop_table("audit_log")
