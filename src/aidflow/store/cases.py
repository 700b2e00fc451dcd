"""Cases: reading one for a command or a view, opening one, and the lists over them.

The reads of a command (`get_case`, `case_for_write`) run on the fast path and build the
`CaseRecord` straight from the driver's row. Lists are limited to an area by
`aidflow.store.scope.in_area`, the one place the area rule becomes SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from aidflow.engine.access import Area
from aidflow.errors import NotFoundError
from aidflow.i18n import _
from aidflow.store import events, persons, workflows
from aidflow.store.events import EventInput
from aidflow.store.fast import Fast, connection
from aidflow.store.models import Case, User
from aidflow.store.records import CaseRecord, EventRecord, PersonRecord, VersionRecord
from aidflow.store.scope import in_area
from aidflow.store.tables import CASES, EVENTS, VERSIONS, record_of

_BY_ID = Fast(select(CASES).where(CASES.c.id == bindparam("b_id")))
# the case and its definition's content hash in one read: the parsed definition is cached by hash
_FOR_WRITE = Fast(
    select(CASES, VERSIONS.c.content_hash)
    .join(VERSIONS, VERSIONS.c.id == CASES.c.workflow_version_id)
    .where(CASES.c.id == bindparam("b_id"))
)
_SET_DATA = Fast(
    CASES.update()
    .where(CASES.c.id == bindparam("b_id"))
    .values(data=bindparam("b_data", type_=CASES.c.data.type))
)
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


def _no_case(case_id: int) -> NotFoundError:
    return NotFoundError(
        _("no case {case}", case=case_id),
        hint=_("`aidflow case list` shows the cases you can see"),
    )


def display_names(session: Session, names: Iterable[str]) -> dict[str, str]:
    """The display name (李明) of each user of `names` who has one (a case's actors, its
    caseworker, its investigators); a name that is no user, or has none, is left out."""
    wanted = sorted({n for n in names if n})
    if not wanted:
        return {}
    rows = session.execute(select(User.name, User.display_name).where(User.name.in_(wanted))).all()
    return {name: shown for name, shown in rows if shown}


def get_case(session: Session, case_id: int) -> CaseRecord:
    row = _BY_ID.one_or_none(session, {"b_id": case_id})
    if row is None:
        raise _no_case(case_id)
    return CaseRecord(*row)


def case_for_write(session: Session, case_id: int) -> tuple[CaseRecord, str]:
    """The case and its definition's content hash, as one read."""
    row = _FOR_WRITE.one_or_none(session, {"b_id": case_id})
    if row is None:
        raise _no_case(case_id)
    return CaseRecord(*row[:-1]), row[-1]


def insert_case(
    session: Session, opening: EventInput, command_id: str | None, **values: Any
) -> CaseRecord:
    """Insert a case (`values`: its columns) and its opening event, #1 of its chain."""
    case = Case(**values, entry_seq=1, last_seq=0, head_hash="")
    session.add(case)
    session.flush()
    inserted = record_of(CaseRecord, case)
    ev = events.write_event(session, case.id, 0, "", opening, None, None, command_id)
    return replace(inserted, last_seq=ev.seq, head_hash=ev.hash, version=inserted.version + 1)


def case_view(
    session: Session, case_id: int
) -> tuple[CaseRecord, VersionRecord, PersonRecord, list[EventRecord]]:
    """The case, its workflow version, its person and its events (oldest first).

    Only columns are read (no ORM objects, so a short command skips the ORM's set-up);
    pending ORM changes of the session are flushed first, as a query would autoflush them.
    """
    session.flush()
    case = get_case(session, case_id)
    return (
        case,
        workflows.version_by_id(session, case.workflow_version_id),
        persons.person_by_id(session, case.person_id),
        events.events_of_case(session, case_id),
    )


def list_cases(
    session: Session,
    area: Area,
    *,
    states: Sequence[str] | None = None,
    workflow: str | None = None,
    township: str | None = None,
    village: str | None = None,
    person_id: int | None = None,
    deadline_before: datetime | None = None,
    assigned_to: str | None = None,
    include_closed: bool = False,
    limit: int | None = 200,
) -> tuple[list[CaseRecord], int]:
    """The cases in `area` matching every filter given, the soonest deadline first (those
    with none last), at most `limit` (None: all); and how many match in all."""
    c = CASES.c
    stmt = in_area(select(CASES), area, c.township, c.village)
    if states is not None:
        stmt = stmt.where(c.state.in_(list(states)))
    if workflow:
        stmt = stmt.where(c.workflow_name == workflow)
    if township:
        stmt = stmt.where(c.township == township)
    if village:
        stmt = stmt.where(c.village == village)
    if person_id is not None:
        stmt = stmt.where(c.person_id == person_id)
    if deadline_before is not None:
        stmt = stmt.where(c.deadline_at < deadline_before)
    if assigned_to is not None:
        stmt = stmt.where(c.assigned_to == assigned_to)
    if not include_closed:
        stmt = stmt.where(c.closed_at.is_(None))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = stmt.order_by(c.deadline_at.is_(None), c.deadline_at, c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [CaseRecord(*row) for row in session.execute(stmt)], total


def existing_case_ids(session: Session, ids: Iterable[int]) -> set[int]:
    """Those of `ids` that name a case."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    return set(session.scalars(select(CASES.c.id).where(CASES.c.id.in_(wanted))))


def open_case_ids(
    session: Session, workflow: str, state: str, township: str | None = None
) -> tuple[int, ...]:
    """The ids of the open cases of `workflow` in `state` (and `township`), sorted."""
    stmt = select(CASES.c.id).where(
        CASES.c.workflow_name == workflow, CASES.c.state == state, CASES.c.closed_at.is_(None)
    )
    if township is not None:
        stmt = stmt.where(CASES.c.township == township)
    return tuple(session.scalars(stmt.order_by(CASES.c.id)))


def set_case_data(session: Session, case_id: int, data: dict[str, Any]) -> None:
    """Replace the case's data fields; state, entry time, deadline and version stay as they are."""
    _SET_DATA.rowcount(session, {"b_id": case_id, "b_data": data})


def persons_with_open_cases(session: Session, person_ids: Sequence[int]) -> set[int]:
    """Those of `person_ids` who have at least one open case."""
    if not person_ids:
        return set()
    stmt = (
        select(CASES.c.person_id)
        .where(CASES.c.person_id.in_(list(person_ids)), CASES.c.closed_at.is_(None))
        .distinct()
    )
    return set(session.scalars(stmt))


def _open_in(area: Area, township: str | None) -> Any:
    stmt = in_area(select(CASES), area, CASES.c.township, CASES.c.village)
    stmt = stmt.where(CASES.c.closed_at.is_(None))
    if township is not None:
        stmt = stmt.where(CASES.c.township == township)
    return stmt


def overdue_cases(
    session: Session, area: Area, township: str | None, now: datetime
) -> list[CaseRecord]:
    """Open cases in the area past their deadline, by township, deadline and id."""
    stmt = (
        _open_in(area, township)
        .where(CASES.c.deadline_at < now)
        .order_by(CASES.c.township, CASES.c.deadline_at, CASES.c.id)
    )
    return [CaseRecord(*row) for row in session.execute(stmt)]


def stalled_cases(
    session: Session,
    area: Area,
    township: str | None,
    before: datetime,
    exempt_states: Sequence[str],
) -> list[tuple[CaseRecord, datetime]]:
    """Open cases in the area whose last event is older than `before` (outside
    `exempt_states`), with that event's time; by township and id."""
    last_event = (
        select(EVENTS.c.at)
        .where(EVENTS.c.case_id == CASES.c.id, EVENTS.c.seq == CASES.c.last_seq)
        .scalar_subquery()
    )
    stmt = (
        _open_in(area, township)
        .add_columns(last_event.label("last_at"))
        .where(last_event < before, CASES.c.state.not_in(list(exempt_states)))
        .order_by(CASES.c.township, CASES.c.id)
    )
    return [(CaseRecord(*row[:-1]), row[-1]) for row in session.execute(stmt)]


def approvals_of_person(
    session: Session,
    person_id: int,
    workflow: str,
    states: Sequence[str],
    except_case: int,
    since: datetime,
) -> list[tuple[int, datetime, dict[str, Any]]]:
    """(case_id, at, data) of events after `since` that moved another case of the person in
    `workflow` into one of `states`, newest first."""
    rows = connection(session).execute(
        _APPROVALS_OF_PERSON,
        {
            "b_person": person_id,
            "b_workflow": workflow,
            "b_case": except_case,
            "b_states": list(states),
            "b_since": since,
        },
    )
    return [(case_id, at, data or {}) for case_id, at, data in rows]
