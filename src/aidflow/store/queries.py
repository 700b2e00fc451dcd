"""Queries and writes over a Session. The caller owns the transaction."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import repeat
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Table, bindparam, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from aidflow.errors import NotFoundError
from aidflow.language.definition import Workflow, workflow_from_json
from aidflow.store import audit
from aidflow.store.models import Case, CaseEvent, Person, User, Vote, WorkflowVersion

_DEFINITIONS: dict[str, Workflow] = {}


def definition_of(version: Any) -> Workflow:
    """The parsed definition of a deployed version (a WorkflowVersion or a row of its columns),
    cached by content hash."""
    wf = _DEFINITIONS.get(version.content_hash)
    if wf is None:
        wf = _DEFINITIONS[version.content_hash] = workflow_from_json(version.definition_json)
    return wf


def get_user(session: Session, name: str) -> User:
    user = session.get(User, name)
    if user is None:
        raise NotFoundError(
            f"no user named '{name}'",
            hint="check --as / AIDFLOW_USER, or add one with `aidflow user add`",
        )
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(
            f"no case {case_id}", hint="`aidflow case list` shows the cases you can see"
        )
    return case


def get_person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError(f"no person with id {person_id}")
    return person


def find_person(session: Session, id_number: str) -> Person | None:
    return session.scalar(select(Person).where(Person.id_number == id_number))


def latest_version(session: Session, name: str) -> WorkflowVersion:
    wv = session.scalar(
        select(WorkflowVersion)
        .where(WorkflowVersion.name == name)
        .order_by(WorkflowVersion.version.desc())
        .limit(1)
    )
    if wv is None:
        known = session.scalars(select(WorkflowVersion.name).distinct()).all()
        from aidflow.errors import did_you_mean

        hint = did_you_mean(name, known) or (
            f"deployed workflows: {', '.join(known)}"
            if known
            else "deploy one with `aidflow workflow deploy FILE`"
        )
        raise NotFoundError(f"no deployed workflow named '{name}'", hint=hint)
    return wv


def workflow_version(session: Session, name: str, version: int | None) -> WorkflowVersion:
    if version is None:
        return latest_version(session, name)
    wv = session.scalar(
        select(WorkflowVersion).where(
            WorkflowVersion.name == name, WorkflowVersion.version == version
        )
    )
    if wv is None:
        raise NotFoundError(
            f"workflow '{name}' has no version {version}",
            hint="`aidflow workflow list` shows the deployed versions",
        )
    return wv


def list_versions(session: Session) -> Sequence[WorkflowVersion]:
    return session.scalars(
        select(WorkflowVersion).order_by(WorkflowVersion.name, WorkflowVersion.version)
    ).all()


def version_by_hash(session: Session, name: str, content_hash: str) -> WorkflowVersion | None:
    return session.scalar(
        select(WorkflowVersion).where(
            WorkflowVersion.name == name, WorkflowVersion.content_hash == content_hash
        )
    )


def next_version_number(session: Session, name: str) -> int:
    top = session.scalar(
        select(func.max(WorkflowVersion.version)).where(WorkflowVersion.name == name)
    )
    return (top or 0) + 1


def events_of(session: Session, case_id: int) -> Sequence[CaseEvent]:
    return session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
    ).all()


CASES = cast(Table, Case.__table__)
EVENTS = cast(Table, CaseEvent.__table__)
VOTES = cast(Table, Vote.__table__)
PERSONS = cast(Table, Person.__table__)
USERS = cast(Table, User.__table__)
VERSIONS = cast(Table, WorkflowVersion.__table__)


_CONNECTION = "aidflow.store.queries.connection"


def connection(session: Session) -> Connection:
    """session.connection(), remembered for the session's current transaction: the hot path
    asks for it once per statement, and SQLAlchemy's lookup costs several us each time."""
    tx = session.get_transaction()
    held = session.info.get(_CONNECTION)
    if (
        held is not None
        and tx is not None
        and held[0] is tx
        and tx.is_active
        and not held[1].closed
    ):
        conn: Connection = held[1]
        return conn
    conn = session.connection()
    session.info[_CONNECTION] = (session.get_transaction(), conn)
    return conn


class _Plan:
    """One statement compiled for one dialect: SQL text, parameters in order, type processors."""

    __slots__ = ("copy", "names", "params", "results", "row", "sql")

    def __init__(
        self, stmt: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None
    ) -> None:
        # a SQLCompiler: bind names, positions; an INSERT names its columns by column_keys
        compiled: Any = stmt.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys else None
        )
        self.sql = str(compiled)
        # per rendered parameter: (caller's key, bind processor) or (None, constant), the
        # constants (e.g. the 1 of version + 1) processed here once
        by_name: dict[str, tuple[str | None, Any]] = {}
        for bp, name in compiled.bind_names.items():
            if bp.expanding:
                raise TypeError("expanding parameters are not supported on the fast path")
            proc = bp.type.dialect_impl(dialect).bind_processor(dialect)
            if bp.required:
                by_name[name] = (bp.key, proc)
            else:
                value = bp.effective_value
                by_name[name] = (None, proc(value) if proc is not None else value)
        # positional drivers (sqlite3: qmark) take a tuple in this order; named ones a dict
        self.names: tuple[str, ...] | None = None if compiled.positional else tuple(by_name)
        order = compiled.positiontup if compiled.positional else list(by_name)
        self.params = tuple(by_name[n] for n in order or ())
        cols = list(getattr(stmt, "selected_columns", ()))
        procs = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in cols]
        self.results = tuple((i, p) for i, p in enumerate(procs) if p is not None)
        self.row = namedtuple("Row", [c.key for c in cols]) if cols else None  # type: ignore[misc]
        # an INSERT of plain column values can go by COPY on psycopg (see Fast.many)
        self.copy: str | None = None
        if column_keys and dialect.name == "postgresql" and dialect.driver == "psycopg":
            table: Any = getattr(stmt, "table")  # noqa: B009 - an Insert's table
            quote = dialect.identifier_preparer
            names = ", ".join(quote.quote(table.c[key].name) for key, _ in self.params)
            self.copy = f"COPY {quote.format_table(table)} ({names}) FROM STDIN"


class Fast:
    """A fixed Core statement run straight on the DB-API cursor of the caller's transaction.

    SQLAlchemy's own execute costs 100-180 us per statement on SQLite (execution context,
    result object, event dispatch), several times what SQLite needs, and a command runs four
    or more. The SQL, the parameter order and the type processors (UTC datetimes, JSON,
    booleans) still come from SQLAlchemy, compiled once per dialect class, so the rows
    written and read are the ones conn.execute(stmt) would write and read; driver errors are
    wrapped as conn.execute wraps them (sqlalchemy.exc.IntegrityError, OperationalError, ...).
    Parameters are given by their bindparam keys; no expanding (IN) parameters. These
    statements bypass SQLAlchemy's cursor events (the benchmark counts at the driver).
    """

    def __init__(self, stmt: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self.stmt = stmt
        self.column_keys = column_keys  # an INSERT's columns, given by these keys
        self._plans: dict[type, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(type(dialect))
        if plan is None:
            plan = self._plans[type(dialect)] = _Plan(self.stmt, dialect, self.column_keys)
        return plan

    def _run(self, session: Session, params: dict[str, Any]) -> tuple[_Plan, Any]:
        conn = connection(session)
        dialect = conn.dialect
        plan = self._plan(dialect)
        # as SQLAlchemy does, processors see None too (JSON writes it as 'null')
        values = [
            v if key is None else params[key] if v is None else v(params[key])
            for key, v in plan.params
        ]
        args: Any = tuple(values) if plan.names is None else dict(zip(plan.names, values))
        cursor = conn.connection.cursor()
        try:
            cursor.execute(plan.sql, args)
        except dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise DBAPIError.instance(
                plan.sql, args, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        return plan, cursor

    def many(
        self, session: Session, rows: Sequence[dict[str, Any]], shared: dict[str, Any]
    ) -> None:
        """Run for every row in one driver executemany; `shared` holds the parameters that are
        the same in every row, converted once instead of once per row (a bulk INSERT's
        timestamps and empty lists). An INSERT given by column keys goes by COPY on
        PostgreSQL (psycopg): one statement instead of one per row, less client and server
        work; the values are the ones the columns' types convert, as for executemany."""
        if not rows:
            return
        conn = connection(session)
        dialect = conn.dialect
        plan = self._plan(dialect)
        columns: list[Any] = []  # converted parameter by parameter, then zipped into rows
        for key, proc in plan.params:
            if key is None:
                columns.append(repeat(proc, len(rows)))
            elif key in shared:
                value = shared[key]
                columns.append(repeat(value if proc is None else proc(value), len(rows)))
            elif proc is None:
                columns.append([row[key] for row in rows])
            else:
                columns.append([proc(row[key]) for row in rows])
        cursor = conn.connection.cursor()
        try:
            if plan.copy is not None:
                with cursor.copy(plan.copy) as copy:
                    for values in zip(*columns, strict=True):
                        copy.write_row(values)
            else:
                args: list[Any] = list(zip(*columns, strict=True))
                if plan.names is not None:
                    args = [dict(zip(plan.names, values, strict=True)) for values in args]
                cursor.executemany(plan.sql, args)
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                plan.copy or plan.sql, None, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        finally:
            cursor.close()

    def rowcount(self, session: Session, params: dict[str, Any]) -> int:
        _plan, cursor = self._run(session, params)
        count: int = cursor.rowcount
        cursor.close()
        return count

    def rows(self, session: Session, params: dict[str, Any]) -> list[Any]:
        """All rows, with attribute access by column key (like a Core Row)."""
        plan, cursor = self._run(session, params)
        try:
            raw = cursor.fetchall()
        finally:
            cursor.close()
        make = plan.row
        assert make is not None, "rows() of a statement that selects nothing"
        out = []
        for r in raw:
            if plan.results:
                r = list(r)
                for i, proc in plan.results:
                    r[i] = proc(r[i])
            out.append(make(*r))
        return out

    def one_or_none(self, session: Session, params: dict[str, Any]) -> Any:
        found = self.rows(session, params)
        if len(found) > 1:
            raise LookupError("more than one row where one was expected")
        return found[0] if found else None


# Statements of the hot path are built once and run through Fast (see there).
_CASE_BY_ID = select(CASES).where(CASES.c.id == bindparam("b_id"))
_CASE_BY_ID_FAST = Fast(_CASE_BY_ID)
# the case and its definition's content hash in one read: the parsed definition is cached by hash
_CASE_FOR_WRITE = Fast(
    select(CASES, VERSIONS.c.content_hash)
    .join(VERSIONS, VERSIONS.c.id == CASES.c.workflow_version_id)
    .where(CASES.c.id == bindparam("b_id"))
)
_USER_ACCESS = Fast(select(USERS.c.roles, USERS.c.area).where(USERS.c.name == bindparam("b_name")))
_WF_HASH = Fast(select(VERSIONS.c.content_hash).where(VERSIONS.c.id == bindparam("b_id")))
_WF_JSON = Fast(select(VERSIONS.c.definition_json).where(VERSIONS.c.id == bindparam("b_id")))
_MOVE_VALUES: dict[str, Any] = {
    "state": bindparam("b_state"),
    "state_entered_at": bindparam("b_entered", type_=CASES.c.state_entered_at.type),
    "entry_seq": bindparam("b_entry_seq"),
    "deadline_at": bindparam("b_deadline", type_=CASES.c.deadline_at.type),
    "closed_at": bindparam("b_closed", type_=CASES.c.closed_at.type),
    "last_seq": bindparam("b_seq"),
    "head_hash": bindparam("b_hash"),
    "version": CASES.c.version + 1,
}
_MOVE_OPTIONAL: dict[str, Any] = {
    "data": bindparam("b_data", type_=CASES.c.data.type),
    "clocks": bindparam("b_clocks", type_=CASES.c.clocks.type),
}


@lru_cache(maxsize=4)
def _move_statement(optional: tuple[str, ...]) -> Fast:
    """The versioned state-change UPDATE, also setting those of data and clocks that changed
    (an unchanged JSON column is neither encoded nor written)."""
    return Fast(
        CASES.update()
        .where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"))
        .values(**_MOVE_VALUES, **{name: _MOVE_OPTIONAL[name] for name in optional})
    )


_HEAD = Fast(
    CASES.update()
    .where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"))
    .values(last_seq=bindparam("b_seq"), head_hash=bindparam("b_hash"), version=CASES.c.version + 1)
)
_HEAD_ANY_VERSION = Fast(
    CASES.update()
    .where(CASES.c.id == bindparam("b_id"))
    .values(last_seq=bindparam("b_seq"), head_hash=bindparam("b_hash"), version=CASES.c.version + 1)
)
# every transition/objection of the case: a case has a few dozen events at most, and a fixed
# statement (no IN list) stays on the fast path; fired_by filters the triggers itself
_FIRED = Fast(
    select(EVENTS.c.trigger, EVENTS.c.actor).where(
        EVENTS.c.case_id == bindparam("b_id"),
        or_(EVENTS.c.kind == "transition", EVENTS.c.kind == "objection"),
    )
)
_VOTES_OF = Fast(
    select(VOTES.c.voter, VOTES.c.choice)
    .where(VOTES.c.case_id == bindparam("b_id"), VOTES.c.round == bindparam("b_round"))
    .order_by(VOTES.c.id)
)
_INSERT_EVENT = Fast(
    EVENTS.insert().values(
        case_id=bindparam("b_case_id"),
        seq=bindparam("b_seq"),
        at=bindparam("b_at", type_=EVENTS.c.at.type),
        actor=bindparam("b_actor"),
        kind=bindparam("b_kind"),
        trigger=bindparam("b_trigger"),
        from_state=bindparam("b_from"),
        to_state=bindparam("b_to"),
        fields=bindparam("b_fields", type_=EVENTS.c.fields.type),
        note=bindparam("b_note"),
        prev_hash=bindparam("b_prev"),
        hash=bindparam("b_hash"),
        command_id=bindparam("b_command"),
    )
)
_INSERT_VOTE = Fast(
    VOTES.insert().values(
        case_id=bindparam("b_case_id"),
        round=bindparam("b_round"),
        voter=bindparam("b_voter"),
        choice=bindparam("b_choice"),
        at=bindparam("b_at", type_=VOTES.c.at.type),
    )
)


def fired_by(session: Session, case_id: int, triggers: Sequence[str]) -> dict[str, set[str]]:
    """Which actors fired each of `triggers` on the case."""
    if not triggers:
        return {}
    wanted = set(triggers)
    out: dict[str, set[str]] = {}
    for trigger, actor in _FIRED.rows(session, {"b_id": case_id}):
        if trigger in wanted:
            out.setdefault(trigger, set()).add(actor)
    return out


def votes_of(session: Session, case_id: int, round_: int) -> list[tuple[str, str]]:
    return [(v, c) for v, c in _VOTES_OF.rows(session, {"b_id": case_id, "b_round": round_})]


def insert_vote(
    session: Session, case_id: int, round_: int, voter: str, choice: str, at: datetime
) -> None:
    """One vote; the unique key (case, round, voter) raises IntegrityError on a second one."""
    _INSERT_VOTE.rowcount(
        session,
        {"b_case_id": case_id, "b_round": round_, "b_voter": voter, "b_choice": choice, "b_at": at},
    )


def case_row(session: Session, case_id: int) -> Any:
    """The case as a Core row (attribute access like a Case, no ORM bookkeeping)."""
    row = session.connection().execute(_CASE_BY_ID, {"b_id": case_id}).one_or_none()
    if row is None:
        raise NotFoundError(
            f"no case {case_id}", hint="`aidflow case list` shows the cases you can see"
        )
    return row


def case_for_write(session: Session, case_id: int) -> Any:
    """The case's columns plus its definition's `content_hash`, as one read on the fast path."""
    row = _CASE_FOR_WRITE.one_or_none(session, {"b_id": case_id})
    if row is None:
        raise NotFoundError(
            f"no case {case_id}", hint="`aidflow case list` shows the cases you can see"
        )
    return row


_VERSION_BY_ID = Fast(select(VERSIONS).where(VERSIONS.c.id == bindparam("b_id")))
_PERSON_BY_ID = Fast(select(PERSONS).where(PERSONS.c.id == bindparam("b_id")))
_EVENTS_OF = Fast(
    select(EVENTS).where(EVENTS.c.case_id == bindparam("b_id")).order_by(EVENTS.c.seq)
)


def case_view_rows(session: Session, case_id: int) -> tuple[Any, Any, Any, list[Any]]:
    """(case, its workflow version, its person, its events oldest first) as Core-like rows.

    `aidflow case show` reads only columns: rows spare it the ORM's first-query set-up
    (configuring every mapper, ~20-50 ms of a short command). Pending ORM changes of the
    session are flushed first, as a query would autoflush them.
    """
    session.flush()
    case = _CASE_BY_ID_FAST.one_or_none(session, {"b_id": case_id})
    if case is None:
        raise NotFoundError(
            f"no case {case_id}", hint="`aidflow case list` shows the cases you can see"
        )
    version = _VERSION_BY_ID.one_or_none(session, {"b_id": case.workflow_version_id})
    person = _PERSON_BY_ID.one_or_none(session, {"b_id": case.person_id})
    if person is None:
        raise NotFoundError(f"no person with id {case.person_id}")
    return case, version, person, _EVENTS_OF.rows(session, {"b_id": case_id})


def user_access(session: Session, name: str) -> tuple[list[str], str]:
    row = _USER_ACCESS.one_or_none(session, {"b_name": name})
    if row is None:
        raise NotFoundError(
            f"no user named '{name}'",
            hint="check --as / AIDFLOW_USER, or add one with `aidflow user add`",
        )
    return list(row[0]), row[1]


def workflow_by_id(session: Session, version_id: int, content_hash: str | None = None) -> Workflow:
    """A deployed definition by version id: the parse is cached by content hash (looked up
    here unless the caller read it along with the case)."""
    digest = content_hash or _WF_HASH.rows(session, {"b_id": version_id})[0][0]
    wf = _DEFINITIONS.get(digest)
    if wf is None:
        text = _WF_JSON.rows(session, {"b_id": version_id})[0][0]
        wf = _DEFINITIONS[digest] = workflow_from_json(text)
    return wf


@lru_cache(maxsize=16)
def _person_select(names: tuple[str, ...]) -> Fast:
    return Fast(select(*[PERSONS.c[n] for n in names]).where(PERSONS.c.id == bindparam("b_id")))


def person_columns(session: Session, person_id: int, names: Sequence[str]) -> Any:
    row = _person_select(tuple(names)).one_or_none(session, {"b_id": person_id})
    if row is None:
        raise NotFoundError(f"no person with id {person_id}")
    return row


_USER_ROLES = select(User.roles).where(User.name.in_(bindparam("b_names", expanding=True)))


def roles_of_users(session: Session, names: Sequence[str]) -> list[str]:
    """The sorted union of the roles of the named users (unknown names add nothing)."""
    if not names:
        return []
    rows = session.connection().execute(_USER_ROLES, {"b_names": list(names)})
    return sorted({role for (roles,) in rows for role in roles})


_APPROVALS_OF_PERSON = (
    select(EVENTS.c.case_id, EVENTS.c.at, CASES.c.data)
    .join(CASES, CASES.c.id == EVENTS.c.case_id)
    .where(
        CASES.c.person_id == bindparam("b_person"),
        CASES.c.workflow_name == bindparam("b_workflow"),
        CASES.c.id != bindparam("b_case"),
        EVENTS.c.kind == "transition",
        EVENTS.c.to_state.in_(bindparam("b_states", expanding=True)),
        EVENTS.c.at > bindparam("b_since"),
    )
    .order_by(EVENTS.c.at.desc(), EVENTS.c.case_id.desc())
)


def approvals_of_person(
    session: Session,
    person_id: int,
    workflow: str,
    states: Sequence[str],
    except_case: int,
    since: datetime,
) -> list[Any]:
    """(case_id, at, data) of events after `since` that moved another case of the person in
    `workflow` into one of `states`, newest first."""
    return list(
        session.connection().execute(
            _APPROVALS_OF_PERSON,
            {
                "b_person": person_id,
                "b_workflow": workflow,
                "b_case": except_case,
                "b_states": list(states),
                "b_since": since,
            },
        )
    )


@dataclass(frozen=True)
class Recorded:
    """An event as written."""

    case_id: int
    seq: int
    kind: str
    actor: str
    at: datetime
    trigger: str | None
    from_state: str | None
    to_state: str | None
    fields: dict[str, Any]
    note: str | None
    hash: str


@dataclass(frozen=True)
class Move:
    """The case columns a state change sets."""

    state: str
    entered_at: datetime
    deadline_at: datetime | None
    data: dict[str, Any] | None  # None: the case's data stays as it is
    closed_at: datetime | None
    clocks: dict[str, Any] | None = None  # None: the case's clocks stay as they are


def write_event(
    session: Session,
    case_id: int,
    last_seq: int,
    head_hash: str,
    ev: EventInput,
    move: Move | None,
    version: int | None,
    command_id: str | None = None,
) -> Recorded:
    """Append the next event and move the case's head, in two statements.

    With `version` the case UPDATE only matches that version (optimistic locking): a case
    changed by someone else since it was read makes this return None-matching, and the
    caller's ConflictError follows. The event's (case_id, seq) key is a second guard.
    """
    seq = last_seq + 1
    fields = ev.fields or {}
    prev = head_hash or audit.GENESIS
    digest = audit.event_hash(
        case_id,
        seq,
        ev.at,
        ev.actor,
        ev.kind,
        ev.trigger,
        ev.from_state,
        ev.to_state,
        fields,
        ev.note,
        prev,
    )
    if len(
        session.identity_map
    ):  # an ORM copy loaded earlier in this session must not be trusted now
        stale = session.identity_map.get(session.identity_key(Case, (case_id,)))
        if stale is not None:
            session.expire(stale)
    params: dict[str, Any] = {"b_id": case_id, "b_seq": seq, "b_hash": digest}
    if move is not None:
        params.update(
            b_state=move.state,
            b_entered=move.entered_at,
            b_entry_seq=seq,
            b_deadline=move.deadline_at,
            b_data=move.data,
            b_closed=move.closed_at,
            b_clocks=move.clocks,
        )
    if version is None:
        assert move is None, "a state change always checks the case's version"
        stmt = _HEAD_ANY_VERSION
    else:
        params["b_version"] = version
        stmt = (
            _HEAD
            if move is None
            else _move_statement(
                ("data",) * (move.data is not None) + ("clocks",) * (move.clocks is not None)
            )
        )
    if stmt.rowcount(session, params) != 1:
        from aidflow.errors import ConflictError

        raise ConflictError(
            f"case {case_id} changed since you loaded it; reload and retry",
            hint=f"`aidflow case show {case_id}` shows what changed",
        )
    _INSERT_EVENT.rowcount(
        session,
        {
            "b_case_id": case_id,
            "b_seq": seq,
            "b_at": ev.at,
            "b_actor": ev.actor,
            "b_kind": ev.kind,
            "b_trigger": ev.trigger,
            "b_from": ev.from_state,
            "b_to": ev.to_state,
            "b_fields": fields,
            "b_note": ev.note,
            "b_prev": prev,
            "b_hash": digest,
            "b_command": command_id,
        },
    )
    return Recorded(
        case_id,
        seq,
        ev.kind,
        ev.actor,
        ev.at,
        ev.trigger,
        ev.from_state,
        ev.to_state,
        fields,
        ev.note,
        digest,
    )


_EVENT_BY_COMMAND = select(EVENTS).where(EVENTS.c.command_id == bindparam("b_key"))


def event_by_command(session: Session, command_id: str) -> Any:
    """The event an idempotent command wrote earlier under `command_id`, or None."""
    return session.connection().execute(_EVENT_BY_COMMAND, {"b_key": command_id}).one_or_none()


def recorded_of(row: Any) -> Recorded:
    """A stored event row as the Recorded a command returns."""
    return Recorded(
        row.case_id,
        row.seq,
        row.kind,
        row.actor,
        row.at,
        row.trigger,
        row.from_state,
        row.to_state,
        row.fields or {},
        row.note,
        row.hash,
    )


@dataclass(frozen=True)
class EventInput:
    kind: str
    actor: str
    at: datetime
    trigger: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    fields: dict[str, Any] | None = None
    note: str | None = None
