"""Queries and writes over a Session. The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from . import audit
from .definition import Workflow, workflow_from_json
from .errors import NotFoundError
from .models import Case, CaseEvent, Person, User, Vote, WorkflowVersion

_DEFINITIONS: dict[str, Workflow] = {}


def definition_of(version: WorkflowVersion) -> Workflow:
    """The parsed definition of a deployed version, cached by content hash."""
    wf = _DEFINITIONS.get(version.content_hash)
    if wf is None:
        wf = _DEFINITIONS[version.content_hash] = workflow_from_json(version.definition_json)
    return wf


def get_user(session: Session, name: str) -> User:
    user = session.get(User, name)
    if user is None:
        raise NotFoundError(f"no user named '{name}'",
                            hint="check --as / AIDFLOW_USER, or add one with `aidflow user add`")
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}", hint="`aidflow case list` shows the cases you can see")
    return case


def get_person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError(f"no person with id {person_id}")
    return person


def find_person(session: Session, id_number: str) -> Person | None:
    return session.scalar(select(Person).where(Person.id_number == id_number))


def latest_version(session: Session, name: str) -> WorkflowVersion:
    wv = session.scalar(select(WorkflowVersion).where(WorkflowVersion.name == name)
                        .order_by(WorkflowVersion.version.desc()).limit(1))
    if wv is None:
        known = session.scalars(select(WorkflowVersion.name).distinct()).all()
        from .errors import did_you_mean

        hint = did_you_mean(name, known) or (f"deployed workflows: {', '.join(known)}" if known else
                                              "deploy one with `aidflow workflow deploy FILE`")
        raise NotFoundError(f"no deployed workflow named '{name}'", hint=hint)
    return wv


def workflow_version(session: Session, name: str, version: int | None) -> WorkflowVersion:
    if version is None:
        return latest_version(session, name)
    wv = session.scalar(select(WorkflowVersion).where(WorkflowVersion.name == name,
                                                      WorkflowVersion.version == version))
    if wv is None:
        raise NotFoundError(f"workflow '{name}' has no version {version}",
                            hint="`aidflow workflow list` shows the deployed versions")
    return wv


def list_versions(session: Session) -> Sequence[WorkflowVersion]:
    return session.scalars(select(WorkflowVersion).order_by(WorkflowVersion.name,
                                                            WorkflowVersion.version)).all()


def version_by_hash(session: Session, name: str, content_hash: str) -> WorkflowVersion | None:
    return session.scalar(select(WorkflowVersion).where(WorkflowVersion.name == name,
                                                        WorkflowVersion.content_hash == content_hash))


def next_version_number(session: Session, name: str) -> int:
    top = session.scalar(select(func.max(WorkflowVersion.version)).where(WorkflowVersion.name == name))
    return (top or 0) + 1


def events_of(session: Session, case_id: int) -> Sequence[CaseEvent]:
    return session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                           .order_by(CaseEvent.seq)).all()


def fired_by(session: Session, case_id: int, triggers: Sequence[str]) -> dict[str, set[str]]:
    """Which actors fired each of `triggers` on the case."""
    if not triggers:
        return {}
    rows = session.connection().execute(_FIRED_BY, {"b_id": case_id, "b_triggers": list(triggers)})
    out: dict[str, set[str]] = {}
    for trigger, actor in rows:
        out.setdefault(trigger, set()).add(actor)
    return out


def votes_of(session: Session, case_id: int, round_: int) -> list[tuple[str, str]]:
    rows = session.connection().execute(_VOTES_OF, {"b_id": case_id, "b_round": round_})
    return [(v, c) for v, c in rows]


CASES = cast(Table, Case.__table__)
EVENTS = cast(Table, CaseEvent.__table__)
VOTES = cast(Table, Vote.__table__)
PERSONS = cast(Table, Person.__table__)


# Statements of the hot path are built once: building and cache-keying a statement costs
# more than executing it on SQLite.
_CASE_BY_ID = select(CASES).where(CASES.c.id == bindparam("b_id"))
_USER_ACCESS = select(User.roles, User.area).where(User.name == bindparam("b_name"))
_WF_HASH = select(WorkflowVersion.content_hash).where(WorkflowVersion.id == bindparam("b_id"))
_WF_JSON = select(WorkflowVersion.definition_json).where(WorkflowVersion.id == bindparam("b_id"))
_MOVE = CASES.update().where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version")).values(
    state=bindparam("b_state"), state_entered_at=bindparam("b_entered", type_=CASES.c.state_entered_at.type),
    entry_seq=bindparam("b_entry_seq"), deadline_at=bindparam("b_deadline", type_=CASES.c.deadline_at.type),
    data=bindparam("b_data", type_=CASES.c.data.type), closed_at=bindparam("b_closed", type_=CASES.c.closed_at.type),
    last_seq=bindparam("b_seq"), head_hash=bindparam("b_hash"), version=CASES.c.version + 1)
_HEAD = CASES.update().where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version")).values(
    last_seq=bindparam("b_seq"), head_hash=bindparam("b_hash"), version=CASES.c.version + 1)
_HEAD_ANY_VERSION = CASES.update().where(CASES.c.id == bindparam("b_id")).values(
    last_seq=bindparam("b_seq"), head_hash=bindparam("b_hash"), version=CASES.c.version + 1)
_FIRED_BY = select(EVENTS.c.trigger, EVENTS.c.actor).where(
    EVENTS.c.case_id == bindparam("b_id"), EVENTS.c.kind.in_(("transition", "objection")),
    EVENTS.c.trigger.in_(bindparam("b_triggers", expanding=True)))
_VOTES_OF = select(VOTES.c.voter, VOTES.c.choice).where(
    VOTES.c.case_id == bindparam("b_id"), VOTES.c.round == bindparam("b_round")).order_by(VOTES.c.id)
_INSERT_EVENT = EVENTS.insert()
INSERT_VOTE = VOTES.insert()


def case_row(session: Session, case_id: int) -> Any:
    """The case as a Core row (attribute access like a Case, no ORM bookkeeping)."""
    row = session.connection().execute(_CASE_BY_ID, {"b_id": case_id}).one_or_none()
    if row is None:
        raise NotFoundError(f"no case {case_id}", hint="`aidflow case list` shows the cases you can see")
    return row


def user_access(session: Session, name: str) -> tuple[list[str], str]:
    row = session.connection().execute(_USER_ACCESS, {"b_name": name}).one_or_none()
    if row is None:
        raise NotFoundError(f"no user named '{name}'",
                            hint="check --as / AIDFLOW_USER, or add one with `aidflow user add`")
    return list(row[0]), row[1]


def workflow_by_id(session: Session, version_id: int) -> Workflow:
    """A deployed definition by version id: one small lookup, the parse is cached by hash."""
    conn = session.connection()
    digest = conn.execute(_WF_HASH, {"b_id": version_id}).scalar_one()
    wf = _DEFINITIONS.get(digest)
    if wf is None:
        text = conn.execute(_WF_JSON, {"b_id": version_id}).scalar_one()
        wf = _DEFINITIONS[digest] = workflow_from_json(text)
    return wf


@lru_cache(maxsize=16)
def _person_select(names: tuple[str, ...]) -> Any:
    return select(*[PERSONS.c[n] for n in names]).where(PERSONS.c.id == bindparam("b_id"))


def person_columns(session: Session, person_id: int, names: Sequence[str]) -> Any:
    return session.connection().execute(_person_select(tuple(names)), {"b_id": person_id}).one()


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
    .where(CASES.c.person_id == bindparam("b_person"), CASES.c.workflow_name == bindparam("b_workflow"),
           CASES.c.id != bindparam("b_case"), EVENTS.c.kind == "transition",
           EVENTS.c.to_state.in_(bindparam("b_states", expanding=True)), EVENTS.c.at > bindparam("b_since"))
    .order_by(EVENTS.c.at.desc(), EVENTS.c.case_id.desc()))


def approvals_of_person(session: Session, person_id: int, workflow: str, states: Sequence[str],
                        except_case: int, since: datetime) -> list[Any]:
    """(case_id, at, data) of events after `since` that moved another case of the person in
    `workflow` into one of `states`, newest first."""
    return list(session.connection().execute(_APPROVALS_OF_PERSON, {
        "b_person": person_id, "b_workflow": workflow, "b_case": except_case,
        "b_states": list(states), "b_since": since}))


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
    data: dict[str, Any]
    closed_at: datetime | None


def write_event(session: Session, case_id: int, last_seq: int, head_hash: str, ev: EventInput,
                move: Move | None, version: int | None, command_id: str | None = None) -> Recorded:
    """Append the next event and move the case's head, in two statements.

    With `version` the case UPDATE only matches that version (optimistic locking): a case
    changed by someone else since it was read makes this return None-matching, and the
    caller's ConflictError follows. The event's (case_id, seq) key is a second guard.
    """
    seq = last_seq + 1
    fields = ev.fields or {}
    prev = head_hash or audit.GENESIS
    digest = audit.event_hash(case_id, seq, ev.at, ev.actor, ev.kind, ev.trigger, ev.from_state,
                              ev.to_state, fields, ev.note, prev)
    stale = session.identity_map.get(session.identity_key(Case, (case_id,)))
    if stale is not None:  # an ORM copy loaded earlier in this session must not be trusted now
        session.expire(stale)
    conn = session.connection()
    params: dict[str, Any] = {"b_id": case_id, "b_seq": seq, "b_hash": digest}
    if move is not None:
        params.update(b_state=move.state, b_entered=move.entered_at, b_entry_seq=seq,
                      b_deadline=move.deadline_at, b_data=move.data, b_closed=move.closed_at)
    if version is None:
        stmt = _HEAD_ANY_VERSION
    else:
        params["b_version"] = version
        stmt = _MOVE if move is not None else _HEAD
    if conn.execute(stmt, params).rowcount != 1:
        from .errors import ConflictError

        raise ConflictError(f"case {case_id} changed since you loaded it; reload and retry",
                            hint=f"`aidflow case show {case_id}` shows what changed")
    conn.execute(_INSERT_EVENT, {
        "case_id": case_id, "seq": seq, "at": ev.at, "actor": ev.actor, "kind": ev.kind,
        "trigger": ev.trigger, "from_state": ev.from_state, "to_state": ev.to_state, "fields": fields,
        "note": ev.note, "prev_hash": prev, "hash": digest, "command_id": command_id})
    return Recorded(case_id, seq, ev.kind, ev.actor, ev.at, ev.trigger, ev.from_state, ev.to_state,
                    fields, ev.note, digest)


_EVENT_BY_COMMAND = select(EVENTS).where(EVENTS.c.command_id == bindparam("b_key"))


def event_by_command(session: Session, command_id: str) -> Any:
    """The event an idempotent command wrote earlier under `command_id`, or None."""
    return session.connection().execute(_EVENT_BY_COMMAND, {"b_key": command_id}).one_or_none()


def recorded_of(row: Any) -> Recorded:
    """A stored event row as the Recorded a command returns."""
    return Recorded(row.case_id, row.seq, row.kind, row.actor, row.at, row.trigger, row.from_state,
                    row.to_state, row.fields or {}, row.note, row.hash)


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
