"""INSERT ... ON CONFLICT DO NOTHING RETURNING, on SQLite and PostgreSQL: rows written once.

The scheduler's jobs are idempotent because each thing they write has a natural key (an
escalation per case, state entry, rung, repeat and recipient; a visit alert per case,
month, kind and recipient; an outbox row per Message-ID) and a second insert of the same
key is ignored rather than refused. This module is the one place that chooses the
dialect's INSERT for that. Executed with a list of rows, SQLAlchemy sends the statement
as multi-row INSERTs ("insertmanyvalues", pages sized for SQLite's variable limit); a row
that conflicts returns nothing, so callers match returned rows by key, not by position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

_STATEMENTS: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def insert_once(session: Session, table: Table, returning: Sequence[str] = ("id",)) -> Any:
    """The INSERT for `table` that skips rows whose unique key exists, returning `returning`.

    Built once per (dialect, table, returned columns): the sweep runs it once per batch.
    """
    dialect = session.get_bind().dialect.name
    key = (dialect, table.name, tuple(returning))
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        insert: Any
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = _STATEMENTS[key] = (
            insert(table).on_conflict_do_nothing().returning(*(table.c[c] for c in returning))
        )
    return stmt


def insert_rows_once(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    returning: Sequence[str] = ("id",),
) -> list[tuple[Any, ...]]:
    """Insert `rows`, skipping those whose unique key exists; `returning` of the new ones."""
    if not rows:
        return []
    result = session.connection().execute(insert_once(session, table, returning), list(rows))
    return [tuple(r) for r in result.all()]
