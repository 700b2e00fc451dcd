"""Throw-away copies of a database, for "what if" runs that must never touch the real one.

`scratch_copy` makes a SQLite file holding the source's rows, whatever the source is:
SQLite is copied page by page with SQLite's online backup (a consistent snapshot, while
caseworkers keep writing), PostgreSQL table by table into a SQLite schema made by the
migrations. The copy is marked a training database, so a simulated clock may write to it;
what happens in it is never seen by the source. Rows a simulation never reads are left
out of a PostgreSQL copy: the audit log (the copy's own chain starts afresh), login tokens
and delivered mail.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import delete, select, update

from aidflow.store.database import TRAINING, Database, upgrade
from aidflow.store.models import Base
from aidflow.store.tables import DATABASE_INFO

# not copied from PostgreSQL: see the module docstring
_LEFT_OUT = frozenset({"audit_log", "tokens", "outbox"})
_CHUNK = 5000


def scratch_copy(source: Database, path: Path) -> Database:
    """A SQLite copy of `source` at `path` (which must not exist), as a training database."""
    url = f"sqlite:///{path}"
    if source.engine.url.get_backend_name() == "sqlite":
        _sqlite_backup(source, path)
    else:
        _copy_rows(source, url)
    copy = Database(url)
    with copy.engine.begin() as conn:
        conn.execute(update(DATABASE_INFO).values(mode=TRAINING))
    return copy


def _sqlite_backup(source: Database, path: Path) -> None:
    raw = source.engine.raw_connection()
    try:
        target = sqlite3.connect(path)
        try:
            raw.driver_connection.backup(target)  # type: ignore[union-attr]
        finally:
            target.close()
    finally:
        raw.close()


def _copy_rows(source: Database, url: str) -> None:
    copy = Database(url)
    upgrade(copy.engine, training=True)
    with source.reading() as reading, copy.engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            conn.execute(delete(table))  # the row `upgrade` wrote (database_info)
            if table.name in _LEFT_OUT:
                continue
            result = reading.execute(select(table)).yield_per(_CHUNK)
            for rows in result.partitions():
                conn.execute(table.insert(), [dict(r._mapping) for r in rows])
    copy.dispose()
