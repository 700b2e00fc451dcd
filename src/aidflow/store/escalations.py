"""Escalation rows and the reads of the deadline sweep: candidates by index, in keyset batches.

An escalation is one rung of a ladder fired for one recipient, keyed (case, state entry,
rung, repeat, recipient) by `uq_escalation_once`; `insert_fired` skips a key that exists,
so a sweep run twice, or by two processes at once, fires each rung once. The sweep reads
cases BATCH at a time by keyset on the id (`due_for_timeout`, `laddered`), never all at
once, and only through indexes: the deadline for timed transitions, (version, state,
entered) for ladders.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple, TypeVarTuple, cast

from sqlalchemy import Row, Select, Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from aidflow.engine.access import Area
from aidflow.language.definition import Workflow
from aidflow.store.models import Case, CaseEvent, Escalation, Person, User
from aidflow.store.once import insert_rows_once
from aidflow.store.records import CaseRecord, UserRecord
from aidflow.store.scope import in_area
from aidflow.store.workflows import deployed_definitions

BATCH = 500
ESCALATIONS = cast(Table, Escalation.__table__)
KEY = ("case_id", "entry_seq", "rung", "repeat_no", "recipient")  # uq_escalation_once
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class EscalationRecord:
    id: int
    case_id: int
    entry_seq: int
    state: str
    ladder: str
    rung: int
    repeat_no: int
    role: str
    recipient: str
    template: str
    due_at: datetime
    fired_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    meant_for: str | None = None  # the rung's role, when no user held it over the case
    rerouted: str | None = None  # why it went to `role` instead


# ORM attributes, so a read flushes what the session holds unwritten (autoflush)
_ESC_COLUMNS = tuple(getattr(Escalation, f.name) for f in fields(EscalationRecord))
_CASE_COLUMNS = tuple(getattr(Case, f.name) for f in fields(CaseRecord))


class TimeoutCandidate(NamedTuple):
    id: int
    workflow_version_id: int
    state: str
    version: int


class LadderCandidate(NamedTuple):
    id: int
    entry_seq: int
    state_entered_at: datetime
    township: str
    village: str
    deadline_at: datetime | None


@dataclass(frozen=True)
class RenderSource:
    """What an escalation email is rendered from: the escalation, its case, person and recipient."""

    escalation: EscalationRecord
    case: CaseRecord
    person_name: str
    person_id_number: str
    recipient: UserRecord


def users(session: Session) -> list[UserRecord]:
    """Every user, by name (the candidates for recipients)."""
    rows = session.execute(
        select(
            User.name, User.email, User.roles, User.area, User.created_at, User.display_name
        ).order_by(User.name)
    )
    return [
        UserRecord(name, email, list(roles), area, at, display_name=shown)
        for name, email, roles, area, at, shown in rows
    ]


def deployed(session: Session) -> list[tuple[int, Workflow]]:
    """Every deployed workflow version: (version id, its definition)."""
    return deployed_definitions(session)


def _batches(session: Session, stmt: Select[int, *Ts]) -> Iterator[Sequence[Row[int, *Ts]]]:
    """Rows of `stmt` (which selects Case.id first) in id order, BATCH at a time (keyset)."""
    last = 0
    while True:
        rows = session.execute(stmt.where(Case.id > last).order_by(Case.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def due_for_timeout(
    session: Session, now: datetime, states: Sequence[str]
) -> Iterator[list[TimeoutCandidate]]:
    """Open cases in `states` past their deadline, in batches (index on cases.deadline_at)."""
    stmt = select(Case.id, Case.workflow_version_id, Case.state, Case.version).where(
        Case.deadline_at <= now, Case.closed_at.is_(None), Case.state.in_(states)
    )
    for rows in _batches(session, stmt):
        yield [TimeoutCandidate(*r) for r in rows]


def laddered(
    session: Session,
    version_id: int,
    state: str,
    *,
    entered_by: datetime | None,
    deadline_by: datetime | None,
) -> Iterator[list[LadderCandidate]]:
    """Open cases of a version in `state` that entered it by `entered_by` or passed their
    deadline by `deadline_by` (the earliest a rung can be due), in batches.

    Uses the index on (workflow_version_id, state, state_entered_at).
    """
    bounds = []
    if entered_by is not None:
        bounds.append(Case.state_entered_at <= entered_by)
    if deadline_by is not None:
        bounds.append(Case.deadline_at <= deadline_by)
    stmt = select(
        Case.id,
        Case.entry_seq,
        Case.state_entered_at,
        Case.township,
        Case.village,
        Case.deadline_at,
    ).where(
        Case.workflow_version_id == version_id,
        Case.state == state,
        Case.closed_at.is_(None),
        or_(*bounds),
    )
    for rows in _batches(session, stmt):
        yield [LadderCandidate(*r) for r in rows]


Fired = dict[tuple[int, int, int], tuple[set[tuple[int, str]], bool]]


def fired(session: Session, case_ids: Sequence[int]) -> Fired:
    """(case, entry, rung) -> ({(repeat_no, recipient)}, acknowledged) for the given cases."""
    out: Fired = {}
    rows = session.execute(
        select(
            Escalation.case_id,
            Escalation.entry_seq,
            Escalation.rung,
            Escalation.repeat_no,
            Escalation.recipient,
            Escalation.acknowledged_at,
        ).where(Escalation.case_id.in_(case_ids))
    )
    for cid, entry, rung, rep, who, acked in rows:
        seen, ack = out.setdefault((cid, entry, rung), (set(), False))
        seen.add((rep, who))
        if acked is not None and not ack:
            out[(cid, entry, rung)] = (seen, True)
    return out


def insert_fired(
    session: Session, values: Sequence[dict[str, Any]]
) -> list[tuple[int, int, int, int, int, str]]:
    """Insert escalations, skipping keys that exist; (id, *KEY) of each one inserted, by id."""
    return sorted(insert_rows_once(session, ESCALATIONS, values, ("id", *KEY)))


def get(session: Session, escalation_id: int) -> EscalationRecord | None:
    row = session.execute(select(*_ESC_COLUMNS).where(Escalation.id == escalation_id)).first()
    return None if row is None else EscalationRecord(*row)


def case_of(session: Session, case_id: int) -> CaseRecord:
    row = session.execute(select(*_CASE_COLUMNS).where(Case.id == case_id)).one()
    return CaseRecord(*row)


def set_acknowledged(
    session: Session, escalation_id: int, at: datetime, by: str, note: str | None
) -> EscalationRecord:
    session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id)
        .values(acknowledged_at=at, acknowledged_by=by, ack_note=note)
    )
    found = get(session, escalation_id)
    assert found is not None
    return found


def open_in(session: Session, area: Area) -> list[tuple[EscalationRecord, CaseRecord]]:
    """Unacknowledged escalations on cases in `area`, by township then age."""
    stmt = (
        select(*_ESC_COLUMNS, *_CASE_COLUMNS)
        .join(Case, Case.id == Escalation.case_id)
        .where(Escalation.acknowledged_at.is_(None))
        .order_by(Case.township, Escalation.fired_at, Escalation.id)
    )
    stmt = in_area(stmt, area, Case.township, Case.village)
    n = len(_ESC_COLUMNS)
    return [(EscalationRecord(*row[:n]), CaseRecord(*row[n:])) for row in session.execute(stmt)]


_RENDER_SOURCE = (
    select(*_ESC_COLUMNS, *_CASE_COLUMNS, Person.name, Person.id_number)
    .add_columns(User.name, User.email, User.roles, User.area, User.created_at, User.display_name)
    .select_from(Escalation)
    .join(Case, Case.id == Escalation.case_id)
    .join(Person, Person.id == Case.person_id)
    .join(User, User.name == Escalation.recipient)
    .where(Escalation.id == bindparam("esc_id"))
)  # built once: it runs once per delivered message


def render_source(session: Session, escalation_id: int) -> RenderSource | None:
    """The escalation, its case, person and recipient in one query; None if one is gone."""
    row = session.execute(_RENDER_SOURCE, {"esc_id": escalation_id}).first()
    if row is None:
        return None
    n, m = len(_ESC_COLUMNS), len(_CASE_COLUMNS)
    name, id_number, *user = row[n + m :]
    return RenderSource(
        EscalationRecord(*row[:n]),
        CaseRecord(*row[n : n + m]),
        name,
        id_number,
        UserRecord(user[0], user[1], list(user[2]), user[3], user[4], display_name=user[5]),
    )


def fired_together(
    session: Session, recipient: str, fired_at: datetime, limit: int
) -> tuple[list[tuple[EscalationRecord, CaseRecord]], int]:
    """The escalations one sweep (at `fired_at`) sent to `recipient`, the earliest due first,
    at most `limit`, with their cases; and how many there are in all."""
    mine = (Escalation.recipient == recipient, Escalation.fired_at == fired_at)
    count = session.scalar(select(func.count()).select_from(Escalation).where(*mine)) or 0
    stmt = (
        select(*_ESC_COLUMNS, *_CASE_COLUMNS)
        .join(Case, Case.id == Escalation.case_id)
        .where(*mine)
        .order_by(Escalation.due_at, Escalation.id)
        .limit(limit)
    )
    n = len(_ESC_COLUMNS)
    listed = [(EscalationRecord(*row[:n]), CaseRecord(*row[n:])) for row in session.execute(stmt)]
    return listed, count


def opening_note(session: Session, case_id: int) -> str | None:
    """The note given when the case was opened (`case open --note`: an emergency's reason)."""
    return session.execute(
        select(CaseEvent.note).where(CaseEvent.case_id == case_id, CaseEvent.seq == 1)
    ).scalar()


def entered_at(session: Session, case_id: int, seq: int) -> datetime | None:
    """When the event `seq` of a case happened (a state entry's time, once the case moved on)."""
    return session.execute(
        select(CaseEvent.at).where(CaseEvent.case_id == case_id, CaseEvent.seq == seq)
    ).scalar()
