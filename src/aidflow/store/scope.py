"""The role-and-area rule (aidflow.engine.access) as SQL: the one place it becomes WHERE."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

from aidflow.engine.access import Area

S = TypeVar("S", bound=Select[Any])


def in_area(stmt: S, area: Area, township: Any, village: Any) -> S:
    """`stmt` limited to rows whose `township`/`village` columns lie inside `area`."""
    if area.township is None:
        return stmt
    stmt = stmt.where(township == area.township)
    if area.village is not None:
        stmt = stmt.where(village == area.village)
    return stmt
