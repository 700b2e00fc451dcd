"""Households (户), their members and the members' recorded monthly incomes.

Every row written here is appended to the global audit log in the same transaction
(aidflow.store.auditlog): who is in a household and what they earn decide the dibao amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aidflow.errors import DuplicateError, NotFoundError
from aidflow.i18n import _
from aidflow.store import auditlog
from aidflow.store.models import Household, HouseholdIncome, HouseholdMember
from aidflow.store.tables import CASES, HOUSEHOLD_INCOMES, HOUSEHOLD_MEMBERS, HOUSEHOLDS, PERSONS


@dataclass(frozen=True, slots=True)
class HouseholdRecord:
    id: int
    head_person_id: int
    township: str
    village: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A member with the person's name and hukou, and the latest income recorded for them."""

    person_id: int
    name: str
    id_number: str
    hukou: str
    relationship: str
    lives_together: bool
    income_fen: int | None
    income_recorded_at: datetime | None
    income_recorded_by: str | None


def _log(session: Session, at: datetime, actor: str, kind: str, table: str, row_id: int) -> None:
    tables = {
        "households": HOUSEHOLDS,
        "household_members": HOUSEHOLD_MEMBERS,
        "household_incomes": HOUSEHOLD_INCOMES,
    }
    auditlog.log_rows(
        session, at=at, actor=actor, kind=kind, table=table, where=tables[table].c.id == row_id
    )


def add_household(
    session: Session, actor: str, at: datetime, head_person_id: int, township: str, village: str
) -> HouseholdRecord:
    """A new household with its head as first member (living together)."""
    household = Household(
        head_person_id=head_person_id,
        township=township,
        village=village,
        created_at=at,
        created_by=actor,
    )
    session.add(household)
    try:
        session.flush()
    except IntegrityError:
        raise DuplicateError(_("this person heads a household registered concurrently")) from None
    _log(session, at, actor, "household_added", "households", household.id)
    add_member(session, actor, at, household.id, head_person_id, "head", True)
    return HouseholdRecord(household.id, head_person_id, township, village, at, actor)


def add_member(
    session: Session,
    actor: str,
    at: datetime,
    household_id: int,
    person_id: int,
    relationship: str,
    lives_together: bool,
) -> None:
    member = HouseholdMember(
        household_id=household_id,
        person_id=person_id,
        relationship=relationship,
        lives_together=lives_together,
        added_at=at,
        added_by=actor,
    )
    session.add(member)
    try:
        session.flush()
    except IntegrityError:
        raise DuplicateError(_("this person was added to a household concurrently")) from None
    _log(session, at, actor, "household_member_added", "household_members", member.id)


def record_income(
    session: Session, actor: str, at: datetime, household_id: int, person_id: int, fen: int
) -> None:
    income = HouseholdIncome(
        household_id=household_id,
        person_id=person_id,
        amount_fen=fen,
        recorded_at=at,
        recorded_by=actor,
    )
    session.add(income)
    session.flush()
    _log(session, at, actor, "household_income", "household_incomes", income.id)


def get_household(session: Session, household_id: int) -> HouseholdRecord:
    row = session.execute(select(HOUSEHOLDS).where(HOUSEHOLDS.c.id == household_id)).one_or_none()
    if row is None:
        raise NotFoundError(
            _("no household with id {id}", id=household_id),
            hint=_("`aidflow household add HEAD_ID_NUMBER` registers one"),
        )
    return HouseholdRecord(*row)


def household_of_person(session: Session, person_id: int) -> int | None:
    """The id of the household `person_id` belongs to, if any."""
    return session.execute(
        select(HOUSEHOLD_MEMBERS.c.household_id).where(HOUSEHOLD_MEMBERS.c.person_id == person_id)
    ).scalar_one_or_none()


def member_ids(session: Session, household_id: int) -> list[int]:
    return list(
        session.execute(
            select(HOUSEHOLD_MEMBERS.c.person_id)
            .where(HOUSEHOLD_MEMBERS.c.household_id == household_id)
            .order_by(HOUSEHOLD_MEMBERS.c.id)
        ).scalars()
    )


def members(session: Session, household_id: int) -> list[MemberRecord]:
    """The members in the order they were added, each with their latest recorded income."""
    m, p = HOUSEHOLD_MEMBERS, PERSONS
    rows = session.execute(
        select(
            m.c.person_id, p.c.name, p.c.id_number, p.c.hukou, m.c.relationship, m.c.lives_together
        )
        .join(p, p.c.id == m.c.person_id)
        .where(m.c.household_id == household_id)
        .order_by(m.c.id)
    ).all()
    i = HOUSEHOLD_INCOMES
    latest: dict[int, tuple[int, datetime, str]] = {}
    for person_id, fen, at, by in session.execute(
        select(i.c.person_id, i.c.amount_fen, i.c.recorded_at, i.c.recorded_by)
        .where(i.c.household_id == household_id)
        .order_by(i.c.id)
    ):
        latest[person_id] = (fen, at, by)  # the last record of each member supersedes the rest
    out = []
    for person_id, name, id_number, hukou, relationship, together in rows:
        fen, at, by = latest.get(person_id, (None, None, None))
        out.append(
            MemberRecord(person_id, name, id_number, hukou, relationship, together, fen, at, by)
        )
    return out


def open_cases_of(
    session: Session, person_ids: Sequence[int], workflows: Sequence[str]
) -> list[tuple[int, int, str, str]]:
    """(case id, person id, workflow, state) of the open cases of `workflows` held by
    `person_ids`, oldest first (what the programmes' exclusivity rules compare against)."""
    if not person_ids or not workflows:
        return []
    c = CASES.c
    stmt = (
        select(c.id, c.person_id, c.workflow_name, c.state)
        .where(
            c.person_id.in_(sorted(set(person_ids))),
            c.workflow_name.in_(sorted(set(workflows))),
            c.closed_at.is_(None),
        )
        .order_by(c.id)
    )
    return [(r[0], r[1], r[2], r[3]) for r in session.execute(stmt)]
