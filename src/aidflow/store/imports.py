"""The survey import's SQL: import runs, the persons a list names, and the rows it leaves.

An import run is keyed by (file hash, source) and counts the rows written; every row
written leaves a PersonSource (unique per run and line), so the last line a run committed
is where an interrupted import resumes. Persons are looked up by a set of ID numbers bound
as ONE parameter (`= ANY(array)` on PostgreSQL, `IN (SELECT value FROM json_each(?))` on
SQLite; both use the unique index): a list names thousands of persons, and a query with
a placeholder per number is re-rendered and re-parsed for every chunk.

Every run, person added and person changed is appended to the global audit log
(aidflow.store.auditlog) as it is written, a batch's persons in one bulk append.

Functions take the caller's Session; the caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    String,
    Table,
    any_,
    bindparam,
    column,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from aidflow.store import auditlog
from aidflow.store.fast import Fast
from aidflow.store.models import ImportRun, Person, PersonSource

LOOKUP_CHUNK = 1000  # ID numbers per query where the database binds each one separately

_PERSONS = cast(Table, Person.__table__)
_SOURCES = cast(Table, PersonSource.__table__)
_RUNS = cast(Table, ImportRun.__table__)
_PERSON_FIXED = auditlog.ROW_SETS["person_sets"].fixed
_FIXED_OF = itemgetter(*_PERSON_FIXED)  # a person's fixed columns, in their order
# a list's rows go in through the store's fast path (store.fast.Fast): one driver executemany
# per batch, the values alike in every row converted once
_INSERT_SOURCES = Fast(
    insert(_SOURCES),
    column_keys=("person_id", "import_run_id", "source", "line", "data", "imported_at"),
)


@dataclass(frozen=True, slots=True)
class ImportRunRecord:
    id: int
    file: str
    source: str
    status: str  # "running" or "done"
    rows_total: int


def latest_run(session: Session, file_hash: str, source: str) -> ImportRunRecord | None:
    """The latest run of this file (by content) from this source, if any."""
    row = session.execute(
        select(_RUNS.c.id, _RUNS.c.file, _RUNS.c.source, _RUNS.c.status, _RUNS.c.rows_total)
        .where(_RUNS.c.file_hash == file_hash, _RUNS.c.source == source)
        .order_by(_RUNS.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else ImportRunRecord(*row)


def start_run(
    session: Session,
    *,
    file: str,
    file_hash: str,
    source: str,
    started_at: datetime,
    started_by: str,
    rows_total: int,
    rows_skipped: int,
) -> int:
    """A new running import run; its id."""
    run = ImportRun(
        file=file,
        file_hash=file_hash,
        source=source,
        started_at=started_at,
        started_by=started_by,
        rows_total=rows_total,
        rows_imported=0,
        rows_skipped=rows_skipped,
        status="running",
    )
    session.add(run)
    session.flush()
    _log_run(session, run.id, started_at, started_by)
    return run.id


def _log_run(session: Session, run_id: int, at: datetime, actor: str) -> None:
    auditlog.log_rows(
        session,
        at=at,
        actor=actor,
        kind="import_run",
        table="import_runs",
        where=_RUNS.c.id == run_id,
    )


def last_line(session: Session, run_id: int) -> int:
    """The last line the run wrote (0: none): an interrupted run resumes after it."""
    return (
        session.scalar(select(func.max(_SOURCES.c.line)).where(_SOURCES.c.import_run_id == run_id))
        or 0
    )


def count_rows(session: Session, run_id: int, rows: int, at: datetime, actor: str) -> None:
    """Add `rows` to the rows the run imported."""
    session.connection().execute(
        update(_RUNS).where(_RUNS.c.id == run_id).values(rows_imported=_RUNS.c.rows_imported + rows)
    )
    _log_run(session, run_id, at, actor)


def finish_run(session: Session, run_id: int, at: datetime, actor: str) -> None:
    session.connection().execute(
        update(_RUNS).where(_RUNS.c.id == run_id).values(status="done", finished_at=at)
    )
    _log_run(session, run_id, at, actor)


class PersonRows:
    """The import's statements over persons and their source rows, built once per import.

    `merged` names the person columns a list's rows are merged into.
    """

    def __init__(self, session: Session, merged: Sequence[str]) -> None:
        dialect = session.get_bind().dialect
        where: ColumnElement[bool]
        self.chunk = 0  # 0: the whole set is one parameter
        self.bind: Callable[[list[str]], Any] = list
        if dialect.name == "postgresql":
            where = _PERSONS.c.id_number == any_(bindparam("ids", type_=ARRAY(String)))
        elif dialect.name == "sqlite":
            each: Select[Any] = select(column("value")).select_from(
                func.json_each(bindparam("ids"))
            )
            where = _PERSONS.c.id_number.in_(each)
            self.bind = json.dumps
        else:
            where = _PERSONS.c.id_number.in_(bindparam("ids", expanding=True))
            self.chunk = LOOKUP_CHUNK
        c = _PERSONS.c
        self.merged = tuple(merged)
        self._areas = select(c.id_number, c.township, c.village).where(where)
        self._current = select(c.id, c.id_number, *(c[f] for f in self.merged)).where(where)
        self._ids = select(c.id, c.id_number).where(where)
        self._insert_persons = Fast(
            insert(_PERSONS),
            column_keys=(
                *self.merged,
                "id_number",
                "birth_date",
                "sex",
                "related_users",
                "created_at",
            ),
        )

    def _lookup(
        self, session: Session, stmt: Select[Any], id_numbers: Iterable[str]
    ) -> Iterator[Any]:
        conn = session.connection()
        numbers = list(id_numbers)
        step = self.chunk or max(1, len(numbers))
        for i in range(0, len(numbers), step):
            yield from conn.execute(stmt, {"ids": self.bind(numbers[i : i + step])})

    def areas(self, session: Session, id_numbers: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Township and village of the known persons among `id_numbers`."""
        return {n: (t, v) for n, t, v in self._lookup(session, self._areas, id_numbers)}

    def current(
        self, session: Session, id_numbers: Iterable[str]
    ) -> dict[str, tuple[int, dict[str, Any]]]:
        """Id and merged fields of the known persons among `id_numbers`."""
        return {
            r[1]: (r[0], dict(zip(self.merged, r[2:], strict=True)))
            for r in self._lookup(session, self._current, id_numbers)
        }

    def ids(self, session: Session, id_numbers: Iterable[str]) -> dict[str, int]:
        return {n: i for i, n in self._lookup(session, self._ids, id_numbers)}

    def statements(
        self, session: Session, person_ids: Sequence[int]
    ) -> Iterator[tuple[int, str, int, list[str]]]:
        """(person id, source, line, fields the row stated) of every source row of these
        persons, each person's rows in the order they were written."""
        conn = session.connection()
        s = _SOURCES.c
        for i in range(0, len(person_ids), LOOKUP_CHUNK):
            for pid, source, line, data in conn.execute(
                select(s.person_id, s.source, s.line, s.data)
                .where(s.person_id.in_(person_ids[i : i + LOOKUP_CHUNK]))
                .order_by(s.id)
            ):
                yield pid, source, line, list(data.get("row") or {})

    def insert_persons(
        self, session: Session, persons: list[dict[str, Any]], shared: dict[str, Any]
    ) -> None:
        """New persons: each dict holds the merged fields, id_number, birth_date and sex;
        `shared` the columns alike in every row (related_users, created_at)."""
        self._insert_persons.many(session, persons, shared)

    def log_new(
        self,
        session: Session,
        persons: Iterable[dict[str, Any]],
        ids: dict[str, int],
        shared: dict[str, Any],
        *,
        at: datetime,
        actor: str,
    ) -> None:
        """Log new persons (as given to insert_persons, with the same `shared`; `ids` maps
        their ID numbers to the ids they got) as one entry for the batch (a row set, see
        auditlog.RowSet) without reading them back: an import writes thousands, and what
        went in is known. Columns an import never sets are NULL."""
        alike = dict(shared)
        if isinstance(alike.get("created_at"), datetime):  # the same in every row: once
            alike["created_at"] = auditlog.canonical_time(alike["created_at"])
        unset = dict.fromkeys(_PERSON_FIXED)
        lines: list[auditlog.SetLine] = [
            (ids[p["id_number"]], _FIXED_OF({**unset, **p, **alike})) for p in persons
        ]
        auditlog.append_set(
            session, at=at, actor=actor, kind="person_added", name="person_sets", lines=lines
        )

    def fill_many(
        self, session: Session, fills: dict[int, dict[str, Any]], *, at: datetime, actor: str
    ) -> None:
        """Set fields of known persons (id -> values) that no list had stated before, and log
        each as changed (person_edited), read back; the import's sets holding them are
        logged again, whole, if they matched their rows before the change."""
        if not fills:
            return
        sets = auditlog.sets_of(session, "person_sets", fills)
        for person_id, values in fills.items():
            session.connection().execute(
                update(_PERSONS).where(_PERSONS.c.id == person_id).values(**values)
            )
        ids = sorted(fills)
        for i in range(0, len(ids), LOOKUP_CHUNK):
            auditlog.log_rows(
                session,
                at=at,
                actor=actor,
                kind="person_edited",
                table="persons",
                where=_PERSONS.c.id.in_(ids[i : i + LOOKUP_CHUNK]),
            )
        auditlog.refresh_sets(
            session, at=at, actor=actor, kind="person_edited", name="person_sets", keys=sets
        )

    def insert_sources(
        self, session: Session, rows: list[dict[str, Any]], shared: dict[str, Any]
    ) -> None:
        """PersonSource rows: each dict holds person_id, line and data; `shared` the columns
        alike in every row (import_run_id, source, imported_at)."""
        _INSERT_SOURCES.many(session, rows, shared)
