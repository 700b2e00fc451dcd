"""Persons: registration, look-ups, and reading them page by page in an area.

Registering a person appends it to the global audit log (aidflow.store.auditlog)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, exists, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aidflow.engine.access import Area
from aidflow.errors import DuplicateError, NotFoundError
from aidflow.i18n import _
from aidflow.store import auditlog
from aidflow.store.fast import Fast
from aidflow.store.models import Person, PersonSource
from aidflow.store.records import PersonRecord
from aidflow.store.scope import in_area
from aidflow.store.tables import CASES, PERSONS, record_of

PAGE = 500

_BY_ID_NUMBER = Fast(select(PERSONS).where(PERSONS.c.id_number == bindparam("b_number")))
_BY_ID = Fast(select(PERSONS).where(PERSONS.c.id == bindparam("b_id")))


def _no_person(person_id: int) -> NotFoundError:
    return NotFoundError(_("no person with id {person_id}", person_id=person_id))


def find_person(session: Session, id_number: str) -> PersonRecord | None:
    """The person registered under a (normalised) ID number, if any."""
    row = _BY_ID_NUMBER.one_or_none(session, {"b_number": id_number})
    return None if row is None else PersonRecord(*row)


def persons_named(session: Session, name: str, area: Area, limit: int) -> list[PersonRecord]:
    """Persons in `area` whose name is `name` exactly, by ID number (at most `limit`)."""
    stmt = select(PERSONS).where(PERSONS.c.name == name)
    stmt = in_area(stmt, area, PERSONS.c.township, PERSONS.c.village)
    rows = session.execute(stmt.order_by(PERSONS.c.id_number).limit(limit))
    return [PersonRecord(*row) for row in rows]


def search_persons(session: Session, text: str, area: Area, limit: int) -> list[PersonRecord]:
    """Persons in `area` whose name contains `text`, or whose ID number does when `text` is
    digits (an X last allowed): at most `limit`, by name and ID number.

    `text` is matched literally (`%` and `_` are no wildcards); the caller has trimmed it.
    """
    match = PERSONS.c.name.contains(text, autoescape=True)
    digits = text.upper()
    if digits.isascii() and digits.rstrip("X").isdigit() and digits.count("X") <= 1:
        match = match | PERSONS.c.id_number.contains(digits, autoescape=True)
    stmt = in_area(select(PERSONS).where(match), area, PERSONS.c.township, PERSONS.c.village)
    rows = session.execute(stmt.order_by(PERSONS.c.name, PERSONS.c.id_number).limit(limit))
    return [PersonRecord(*row) for row in rows]


def open_case_counts(session: Session, person_ids: Sequence[int]) -> dict[int, int]:
    """How many open cases each of `person_ids` has (those with none are left out)."""
    if not person_ids:
        return {}
    stmt = (
        select(CASES.c.person_id, func.count())
        .where(CASES.c.person_id.in_(sorted(set(person_ids))), CASES.c.closed_at.is_(None))
        .group_by(CASES.c.person_id)
    )
    return {int(pid): int(n) for pid, n in session.execute(stmt)}


def person_by_id(session: Session, person_id: int) -> PersonRecord:
    row = _BY_ID.one_or_none(session, {"b_id": person_id})
    if row is None:
        raise _no_person(person_id)
    return PersonRecord(*row)


def persons_by_id(session: Session, ids: Sequence[int]) -> dict[int, PersonRecord]:
    """The persons of `ids` (unknown ids are left out)."""
    if not ids:
        return {}
    stmt = select(PERSONS).where(PERSONS.c.id.in_(sorted(set(ids))))
    return {row.id: PersonRecord(*row) for row in session.execute(stmt)}


@lru_cache(maxsize=16)
def _columns(names: tuple[str, ...]) -> Fast:
    return Fast(select(*[PERSONS.c[n] for n in names]).where(PERSONS.c.id == bindparam("b_id")))


def person_columns(session: Session, person_id: int, names: Sequence[str]) -> tuple[Any, ...]:
    """The values of the named columns of one person (what guards read as person.*)."""
    row = _columns(tuple(names)).one_or_none(session, {"b_id": person_id})
    if row is None:
        raise _no_person(person_id)
    return row


def add_person(session: Session, actor: str, **values: Any) -> PersonRecord:
    """Insert a person (the caller has checked the values) and log it as added by `actor`;
    a concurrent registration of the same ID number raises DuplicateError."""
    person = Person(**values)
    session.add(person)
    try:
        session.flush()
    except IntegrityError:
        raise DuplicateError(
            _("a person with this ID number was registered concurrently")
        ) from None
    auditlog.log_rows(
        session,
        at=person.created_at,
        actor=actor,
        kind="person_added",
        table="persons",
        where=PERSONS.c.id == person.id,
    )
    return record_of(PersonRecord, person)


def persons_in_pages(
    session: Session,
    area: Area,
    township: str | None = None,
    *,
    listed_only: bool = False,
    size: int = PAGE,
) -> Iterator[list[PersonRecord]]:
    """The persons in `area` (and `township`), in pages ordered by township, village and id.

    Keyset pages: memory stays flat however large the county. `listed_only` keeps the
    persons imported from at least one survey list.
    """
    stmt = in_area(select(PERSONS), area, PERSONS.c.township, PERSONS.c.village)
    if township is not None:
        stmt = stmt.where(PERSONS.c.township == township)
    if listed_only:
        stmt = stmt.where(exists().where(PersonSource.person_id == PERSONS.c.id))
    order = (PERSONS.c.township, PERSONS.c.village, PERSONS.c.id)
    last: tuple[str, str, int] | None = None
    while True:
        page = stmt if last is None else stmt.where(tuple_(*order) > tuple_(*last))
        rows = [PersonRecord(*r) for r in session.execute(page.order_by(*order).limit(size))]
        if not rows:
            return
        yield rows
        tail = rows[-1]
        last = (tail.township, tail.village, tail.id)
