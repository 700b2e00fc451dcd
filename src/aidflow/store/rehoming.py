"""Moving running cases to another version of their workflow, in bulk (`workflow migrate`).

The reads: the running cases of a workflow on any other version (closed cases are never
read), and the states each has been in (from its events). The write, `write_moves`, is
`events.write_event` for many cases at once: per case one event of kind "migrated" hashed
onto the case's chain; the moves go into a temporary table and the cases are updated from
it by one UPDATE ... FROM matching each case's id and version; the event rows are inserted
in bulk (COPY on PostgreSQL) and appended to the global audit log as one entry per page
of events (`auditlog.append_written`: a row set whose digest covers every event).
A case changed since it was read (its version moved, or it was closed) or with an event
later than the migration's time makes the whole write fail with ConflictError: the
caller's transaction rolls back and nothing is migrated.

Functions take the caller's Session; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.orm import Session

from aidflow.errors import ConflictError
from aidflow.i18n import _
from aidflow.store import audit, auditlog
from aidflow.store.fast import Fast, connection
from aidflow.store.models import UTCDateTime
from aidflow.store.tables import CASES, EVENTS

KIND = "migrated"


def _running(name: Any, version_id: Any) -> Any:
    return (
        CASES.c.workflow_name == name,
        CASES.c.workflow_version_id != version_id,
        CASES.c.closed_at.is_(None),
    )


class Running(NamedTuple):
    """What a migration reads of a running case (its data and clocks only on demand)."""

    id: int
    workflow_version_id: int
    state: str
    state_entered_at: datetime
    entry_seq: int
    deadline_at: datetime | None
    township: str
    village: str
    last_seq: int
    head_hash: str
    version: int


_RUNNING = Fast(
    select(*[CASES.c[name] for name in Running._fields])
    .where(*_running(bindparam("b_name"), bindparam("b_vid")))
    .order_by(CASES.c.id)
)


def running_cases(session: Session, name: str, version_id: int) -> list[Running]:
    """The open cases of workflow `name` on a version other than `version_id`, by id."""
    params = {"b_name": name, "b_vid": version_id}
    return [Running._make(row) for row in _RUNNING.rows(session, params)]


def json_of(
    session: Session, name: str, version_id: int, column: str, states: Sequence[str] | None = None
) -> dict[int, Any]:
    """Those cases' `data` or `clocks` (of the cases in `states`, if given), by case id, where
    not empty."""
    stmt = select(CASES.c.id, CASES.c[column]).where(
        *_running(name, version_id), cast(CASES.c[column], Text) != "{}"
    )
    if states is not None:
        stmt = stmt.where(CASES.c.state.in_(states))
    return {case_id: value for case_id, value in connection(session).execute(stmt)}


def visited_states(
    session: Session, name: str, version_id: int, states: Collection[str]
) -> dict[int, frozenset[str]]:
    """For each of those cases, which of `states` its events moved it into (equal sets
    shared)."""
    if not states:
        return {}
    stmt = (
        select(EVENTS.c.case_id, EVENTS.c.to_state)
        .distinct()
        .join(CASES, CASES.c.id == EVENTS.c.case_id)
        .where(*_running(name, version_id), EVENTS.c.to_state.in_(sorted(states)))
    )
    found: dict[int, set[str]] = {}
    for case_id, state in connection(session).execute(stmt):
        found.setdefault(case_id, set()).add(state)
    shared: dict[frozenset[str], frozenset[str]] = {}
    return {i: shared.setdefault(frozenset(v), frozenset(v)) for i, v in found.items()}


class CaseMoveRow(NamedTuple):
    """One case's move to the new version: the case as read, and what it becomes."""

    case: Running
    version_id: int
    state: str
    deadline_at: datetime | None
    clocks: dict[str, Any] | None  # None: unchanged
    new_round: bool  # the state entry (votes' round, escalations' key) starts at this event
    fields: dict[str, Any]


# The moves go into a temporary table (one bulk insert: COPY on PostgreSQL) and the cases
# are updated from it by one UPDATE ... FROM, matching each case's id and version: a case
# changed since it was read (or closed) does not match, and the count says so.
_MOVES = Table(
    "migration_moves",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("version", Integer),
    Column("workflow_version_id", Integer),
    Column("state", String(64)),
    Column("entry_seq", Integer),
    Column("deadline_at", UTCDateTime),
    Column("clocks", JSON(none_as_null=True)),  # NULL: the case's clocks stay as they are
    Column("last_seq", Integer),
    Column("head_hash", String(64)),
    prefixes=["TEMPORARY"],
)
_INSERT_MOVES = Fast(_MOVES.insert(), column_keys=tuple(_MOVES.c.keys()))
_APPLY = Fast(
    CASES.update()
    .where(
        CASES.c.id == _MOVES.c.id,
        CASES.c.version == _MOVES.c.version,
        CASES.c.closed_at.is_(None),
    )
    .values(
        workflow_version_id=_MOVES.c.workflow_version_id,
        state=_MOVES.c.state,
        entry_seq=_MOVES.c.entry_seq,
        deadline_at=_MOVES.c.deadline_at,
        clocks=func.coalesce(_MOVES.c.clocks, CASES.c.clocks),
        last_seq=_MOVES.c.last_seq,
        head_hash=_MOVES.c.head_hash,
        version=CASES.c.version + 1,
    )
)
_EVENT_COLUMNS = (
    "case_id",
    "seq",
    "at",
    "actor",
    "kind",
    "trigger",
    "from_state",
    "to_state",
    "fields",
    "note",
    "prev_hash",
    "hash",
    "command_id",
    "entered_by",
)
# the event rows of a bulk write, by the store's fast path (also aidflow.store.caseimport)
INSERT_EVENTS = Fast(EVENTS.insert(), column_keys=_EVENT_COLUMNS)
# the moves whose case's last event (by the unique (case_id, seq) key) is later than `at`
_LATE = Fast(
    select(_MOVES.c.id).join(
        EVENTS,
        and_(
            EVENTS.c.case_id == _MOVES.c.id,
            EVENTS.c.seq == _MOVES.c.last_seq - 1,
            EVENTS.c.at > bindparam("b_at", type_=EVENTS.c.at.type),
        ),
    )
)


def write_moves(
    session: Session, moves: Sequence[CaseMoveRow], *, at: datetime, actor: str, note: str
) -> int:
    """Record a "migrated" event on each case and move it; the number moved."""
    if not moves:
        return 0
    auditlog.lock(session)  # before the cases' row locks, as write_event does
    at_text = at.astimezone(UTC).isoformat()  # as the log's digest spells `at`, once
    updates: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    logged: list[dict[str, Any]] = []
    for m in moves:
        c = m.case
        seq = c.last_seq + 1
        prev = c.head_hash or audit.GENESIS
        digest = audit.event_hash(
            c.id, seq, at, actor, KIND, None, c.state, m.state, m.fields, note, prev
        )
        updates.append(
            {
                "id": c.id,
                "version": c.version,
                "workflow_version_id": m.version_id,
                "state": m.state,
                "entry_seq": seq if m.new_round else c.entry_seq,
                "deadline_at": m.deadline_at,
                "clocks": m.clocks,
                "last_seq": seq,
                "head_hash": digest,
            }
        )
        rows.append(
            {
                "case_id": c.id,
                "seq": seq,
                "from_state": c.state,
                "to_state": m.state,
                "fields": m.fields,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        logged.append(
            {
                "case_id": c.id,
                "seq": seq,
                "at": at_text,
                "actor": actor,
                "kind": KIND,
                "trigger": None,
                "from_state": c.state,
                "to_state": m.state,
                "fields": m.fields,
                "note": note,
                "entered_by": None,
            }
        )
    conn = connection(session)
    _MOVES.drop(conn, checkfirst=True)  # a temporary table: this connection's own
    _MOVES.create(conn)
    _INSERT_MOVES.many(session, updates, {})
    late = [row[0] for row in _LATE.rows(session, {"b_at": at})]
    if late:
        _MOVES.drop(conn)
        raise ConflictError(
            _(
                "{n} case(s) have events after the migration's time, e.g. case {case}: an "
                "event cannot be dated before the case's last one",
                n=len(late),
                case=min(late),
            ),
            hint=_("migrate at or after the cases' last events (check --now)"),
        )
    moved = _APPLY.rowcount(session, {})
    _MOVES.drop(conn)
    if moved != len(moves):
        raise ConflictError(
            _(
                "{changed} of the {n} case(s) changed while they were being migrated; nothing "
                "was migrated",
                changed=len(moves) - moved,
                n=len(moves),
            ),
            hint=_("run the migration again"),
        )

    after = auditlog.last_id(session, "event_sets")
    INSERT_EVENTS.many(
        session,
        rows,
        {
            "at": at,
            "actor": actor,
            "kind": KIND,
            "trigger": None,
            "note": note,
            "command_id": None,
            "entered_by": None,
        },
    )
    # the page's events as one entry of the log (auditlog.RowSet)
    auditlog.append_written(
        session, at=at, actor=actor, kind="case_event", name="event_sets", rows=logged, after=after
    )
    return moved
