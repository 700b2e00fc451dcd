"""persons and money in the audit log; bank-file exports and reconciliations; PostgreSQL roles

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Persons, import runs, payment runs, payments, bank-file exports and reconciliations join
the global audit log (aidflow.store.auditlog). The two new tables record each bank file
written and each bank answer recorded, with the file's SHA-256 and who did it. The rows a
database already holds of the newly logged tables are appended to the log here, oldest
first, after the entries it has: the first signed checkpoint after the upgrade is the
commitment to them.

On PostgreSQL it also splits the roles (README, "The audit log and signed checkpoints"):
`aidflow_owner` (for the login that runs migrations) and `aidflow_app` (for the server's
login), both NOLOGIN group roles, created once per cluster. The application role may read
and write the working tables but only SELECT and INSERT on audit_log, and a trigger refuses
UPDATE, DELETE and TRUNCATE of audit_log to everyone until the table's owner disables it.
"""

from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OWNER = "aidflow_owner"
APP = "aidflow_app"


def upgrade() -> None:
    op.create_table(
        "payment_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("file", sa.String(length=500), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "reconciliations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file", sa.String(length=500), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("paid", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _log_existing_rows()
    if op.get_bind().dialect.name == "postgresql":
        _roles()


# the tables as this revision knows them (not the models, which later revisions change)
def _c(name: str, type_: Any = None) -> sa.ColumnClause[Any]:
    return sa.column(name, type_) if type_ is not None else sa.column(name)


_SOURCES: list[tuple[str, str, str, str | None, list[sa.ColumnClause[Any]]]] = [
    # (table, kind, time column, actor column (None: the system), columns)
    (
        "persons",
        "person_added",
        "created_at",
        None,
        [
            _c("id"),
            _c("id_number"),
            _c("name"),
            _c("birth_date", sa.Date()),
            _c("sex"),
            _c("township"),
            _c("village"),
            _c("hukou"),
            _c("disability_grade"),
            _c("disability_type"),
            _c("mental_illness", sa.Boolean()),
            _c("registered_poor", sa.Boolean()),
            _c("dibao_status"),
            _c("tekun_status"),
            _c("supporter_able", sa.Boolean()),
            _c("living_alone", sa.Boolean()),
            _c("related_users", sa.JSON()),
            _c("created_at", sa.DateTime()),
        ],
    ),
    (
        "import_runs",
        "import_run",
        "started_at",
        "started_by",
        [
            _c("id"),
            _c("file"),
            _c("file_hash"),
            _c("source"),
            _c("started_at", sa.DateTime()),
            _c("finished_at", sa.DateTime()),
            _c("started_by"),
            _c("rows_total"),
            _c("rows_imported"),
            _c("rows_skipped"),
            _c("status"),
        ],
    ),
    (
        "payment_runs",
        "payment_run",
        "started_at",
        "started_by",
        [
            _c("id"),
            _c("period"),
            _c("started_at", sa.DateTime()),
            _c("finished_at", sa.DateTime()),
            _c("started_by"),
            _c("created"),
        ],
    ),
    (
        "payments",
        "payment_created",
        "created_at",
        None,
        [
            _c("id"),
            _c("case_id"),
            _c("person_id"),
            _c("run_id"),
            _c("kind"),
            _c("period"),
            _c("amount_fen"),
            _c("basis", sa.JSON()),
            _c("status"),
            _c("created_at", sa.DateTime()),
            _c("settled_at", sa.DateTime()),
            _c("bank_ref"),
            _c("failure_reason"),
        ],
    ),
]


def _log_existing_rows() -> None:
    from aidflow.store.auditlog import GENESIS, digest, entry_hash, subject_key

    conn = op.get_bind()
    pending: list[tuple[Any, int, str, str, str, dict[str, Any]]] = []
    for order, (table, kind, time_col, actor_col, columns) in enumerate(_SOURCES):
        stmt = sa.select(*columns).select_from(sa.table(table, *columns)).order_by(_c("id"))
        for found in conn.execute(stmt):
            row = dict(found._mapping)
            for name, value in row.items():  # stored as naive UTC
                if hasattr(value, "tzinfo") and value.tzinfo is None and hasattr(value, "hour"):
                    row[name] = value.replace(tzinfo=UTC)
            actor = "system" if actor_col is None else str(row[actor_col])
            pending.append((row[time_col], order, table, kind, actor, row))
    pending.sort(key=lambda p: (p[0], p[1], p[5]["id"]))
    log = sa.table(
        "audit_log",
        *[sa.column(c) for c in ("seq", "actor", "kind", "subject_table", "subject_key", "digest")],
        sa.column("at", sa.DateTime()),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    head = conn.execute(
        sa.select(log.c.seq, log.c.hash).order_by(log.c.seq.desc()).limit(1)
    ).first()
    last, prev = (0, GENESIS) if head is None else (int(head[0]), str(head[1]))
    rows = []
    for seq, (at, _, table, kind, actor, row) in enumerate(pending, start=last + 1):
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


# Roles belong to the cluster, so another database (or schema) may have made them already;
# two migrations at once may race to make one, and the loser carries on.
_CREATE_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{role}') THEN
        CREATE ROLE {role} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$
"""

_GUARD = """
CREATE OR REPLACE FUNCTION {schema}.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _roles() -> None:
    conn = op.get_bind()
    schema = conn.dialect.identifier_preparer.quote(
        str(conn.scalar(sa.text("SELECT current_schema()")))
    )
    for role in (OWNER, APP):
        op.execute(_CREATE_ROLE.format(role=role))
    op.execute(f"GRANT USAGE ON SCHEMA {schema} TO {APP}")
    op.execute(f"GRANT ALL ON SCHEMA {schema} TO {OWNER}")
    op.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA {schema} TO {OWNER}")
    op.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA {schema} TO {OWNER}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {APP}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {APP}")
    # the log only grows, and only migrations move the schema's revision
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.audit_log FROM {APP}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {schema}.alembic_version FROM {APP}")
    # tables and sequences later migrations create (as this same login) are the app's too
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {APP}"
    )
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT ALL ON TABLES TO {OWNER}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT ALL ON SEQUENCES TO {OWNER}")
    op.execute(_GUARD.format(schema=schema))
    op.execute(
        f"CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON {schema}.audit_log "
        f"FOR EACH ROW EXECUTE FUNCTION {schema}.audit_log_append_only()"
    )
    op.execute(
        f"CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON {schema}.audit_log "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_log_append_only()"
    )


def _drop_roles_grants() -> None:
    conn = op.get_bind()
    schema = conn.dialect.identifier_preparer.quote(
        str(conn.scalar(sa.text("SELECT current_schema()")))
    )
    op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_truncate ON {schema}.audit_log")
    op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_change ON {schema}.audit_log")
    op.execute(f"DROP FUNCTION IF EXISTS {schema}.audit_log_append_only()")
    for role in (APP, OWNER):
        op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {role}")
        op.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON SEQUENCES FROM {role}"
        )
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}")
        op.execute(f"REVOKE ALL ON SCHEMA {schema} FROM {role}")
    # the roles stay: other databases of the cluster may use them


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _drop_roles_grants()
    # the log keeps its entries of these tables: the code of the revision before skips them
    op.drop_table("reconciliations")
    op.drop_table("payment_exports")
