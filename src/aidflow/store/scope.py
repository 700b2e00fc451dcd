"""The role-and-area rule (aidflow.engine.access) as SQL: the one place it becomes WHERE."""

from __future__ import annotations

from typing import Any, Protocol, Self, TypeVar

from sqlalchemy import ColumnElement

from aidflow.engine.access import Area


class Filterable(Protocol):
    """A statement that takes WHERE criteria: a Select, whatever columns it selects."""

    def where(self, *whereclause: ColumnElement[bool]) -> Self: ...


S = TypeVar("S", bound=Filterable)


def in_area(stmt: S, area: Area, township: Any, village: Any) -> S:
    """`stmt` limited to rows whose `township`/`village` columns lie inside `area`."""
    if area.township is None:
        return stmt
    stmt = stmt.where(township == area.township)
    if area.village is not None:
        stmt = stmt.where(village == area.village)
    return stmt
