"""Care visits and visit alerts: the rows of `services.visits`, and the reads of its monthly check.

A visit row is keyed by its optional idempotency key (`command_id`, unique); a visit
alert by (case, month, kind, recipient) (`uq_visit_alert_once`). Both are inserted with
`insert_once`, so a repeated command or a second run of the check writes nothing twice.
Cases under obligation are read BATCH at a time by keyset on the id, and the month's
visits of each batch are counted with one grouped query.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from aidflow.engine.access import Area
from aidflow.store.models import Case, Person, User, Visit, VisitAlert
from aidflow.store.once import insert_rows_once
from aidflow.store.scope import in_area

BATCH = 500
VISITS = cast(Table, Visit.__table__)
ALERTS = cast(Table, VisitAlert.__table__)


class ObligedCase(NamedTuple):
    """The columns of a case the monthly check reads (and a `when` guard may test)."""

    id: int
    person_id: int
    workflow_version_id: int
    state: str
    entry_seq: int
    assigned_to: str | None
    township: str
    village: str
    data: dict[str, Any]
    emergency: bool
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class VisitRecord:
    id: int
    case_id: int
    kind: str
    at: datetime
    by_user: str
    note: str | None
    logged_at: datetime
    logged_by: str
    command_id: str | None


# ORM attributes, so a read flushes what the session holds unwritten (autoflush)
_CASE_COLUMNS = tuple(getattr(Case, name) for name in ObligedCase._fields)
_VISIT_COLUMNS = tuple(getattr(Visit, f.name) for f in fields(VisitRecord))
_PERSON_COLUMNS = tuple(Person.__table__.columns.keys())


def in_states(
    session: Session,
    workflow: str,
    states: Sequence[str],
    entered_before: datetime,
    area: Area | None,
) -> Iterator[list[ObligedCase]]:
    """Open cases of `workflow` in `states` entered before `entered_before` (in `area`), batched."""
    stmt = select(*_CASE_COLUMNS).where(
        Case.workflow_name == workflow,
        Case.state.in_(states),
        Case.closed_at.is_(None),
        Case.state_entered_at < entered_before,
    )
    if area is not None:
        stmt = in_area(stmt, area, Case.township, Case.village)
    last = 0
    while True:
        rows = session.execute(stmt.where(Case.id > last).order_by(Case.id).limit(BATCH)).all()
        if not rows:
            return
        last = rows[-1].id
        yield [ObligedCase(*r) for r in rows]


def counts(
    session: Session, case_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, dict[str, int]]:
    """case id -> {kind: visits in [start, end)} for the given cases."""
    out: dict[int, dict[str, int]] = {}
    if not case_ids:
        return out
    for cid, kind, n in session.execute(
        select(Visit.case_id, Visit.kind, func.count())
        .where(Visit.case_id.in_(case_ids), Visit.at >= start, Visit.at < end)
        .group_by(Visit.case_id, Visit.kind)
    ):
        out.setdefault(cid, {})[kind] = n
    return out


def person_values(session: Session, person_id: int) -> dict[str, Any]:
    """Every column of a person, by name (the `person.*` a guard may read)."""
    row = session.execute(
        select(*(getattr(Person, c) for c in _PERSON_COLUMNS)).where(Person.id == person_id)
    ).one()
    return dict(zip(_PERSON_COLUMNS, row, strict=True))


def person_name(session: Session, person_id: int) -> tuple[str, str]:
    """(name, ID number) of a person."""
    name, id_number = session.execute(
        select(Person.name, Person.id_number).where(Person.id == person_id)
    ).one()
    return name, id_number


def user_exists(session: Session, name: str) -> bool:
    return session.execute(select(User.name).where(User.name == name)).first() is not None


def by_command(session: Session, command_id: str) -> VisitRecord | None:
    """The visit written earlier under an idempotency key, or None."""
    row = session.execute(select(*_VISIT_COLUMNS).where(Visit.command_id == command_id)).first()
    return None if row is None else VisitRecord(*row)


def insert_visit(
    session: Session,
    *,
    case_id: int,
    kind: str,
    at: datetime,
    by_user: str,
    note: str | None,
    logged_at: datetime,
    logged_by: str,
    command_id: str | None,
) -> int | None:
    """Insert a visit; its id, or None when a visit with the same `command_id` exists."""
    inserted = insert_rows_once(
        session,
        VISITS,
        [
            {
                "case_id": case_id,
                "kind": kind,
                "at": at,
                "by_user": by_user,
                "note": note,
                "logged_at": logged_at,
                "logged_by": logged_by,
                "command_id": command_id,
            }
        ],
    )
    return inserted[0][0] if inserted else None


def insert_alert(
    session: Session,
    *,
    case_id: int,
    month: str,
    kind: str,
    recipient: str,
    shortfall: dict[str, Any],
    created_at: datetime,
) -> int | None:
    """Record an alert once per (case, month, kind, recipient); its id, or None if it exists."""
    inserted = insert_rows_once(
        session,
        ALERTS,
        [
            {
                "case_id": case_id,
                "month": month,
                "kind": kind,
                "recipient": recipient,
                "shortfall": shortfall,
                "created_at": created_at,
            }
        ],
    )
    return inserted[0][0] if inserted else None
