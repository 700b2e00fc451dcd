"""The daily digest's read: open cases with a deadline in an area, overdue or still open."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidflow.engine.access import Area
from aidflow.store.models import Case, Person
from aidflow.store.scope import in_area


class DeadlineCase(NamedTuple):
    case_id: int
    workflow_version_id: int
    state: str
    assigned_to: str | None
    deadline_at: datetime
    person_name: str
    person_id_number: str


def with_deadline(
    session: Session, area: Area, now: datetime, *, overdue: bool, limit: int
) -> list[DeadlineCase]:
    """Open cases in `area` past their deadline (`overdue`) or not yet, soonest first."""
    stmt = (
        select(
            Case.id,
            Case.workflow_version_id,
            Case.state,
            Case.assigned_to,
            Case.deadline_at,
            Person.name,
            Person.id_number,
        )
        .join(Person, Person.id == Case.person_id)
        .where(Case.closed_at.is_(None), Case.deadline_at.is_not(None))
        .where(Case.deadline_at <= now if overdue else Case.deadline_at > now)
        .order_by(Case.deadline_at, Case.id)
        .limit(limit)
    )
    stmt = in_area(stmt, area, Case.township, Case.village)
    found = []
    for case_id, version_id, state, assigned_to, deadline_at, name, id_number in session.execute(
        stmt
    ):
        assert deadline_at is not None  # the WHERE above keeps only cases with a deadline
        found.append(
            DeadlineCase(case_id, version_id, state, assigned_to, deadline_at, name, id_number)
        )
    return found
