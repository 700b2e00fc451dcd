"""The area registry: the county's townships (village '') and their villages.

A user's area must be one of these (or '*'); each row added is logged in the global audit
log (aidflow.store.auditlog).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aidflow.store import auditlog
from aidflow.store.tables import AREAS


def list_areas(session: Session) -> list[tuple[str, str]]:
    """Every (township, village) pair, the township's own row with village ''."""
    return [
        (t, v)
        for t, v in session.execute(
            select(AREAS.c.township, AREAS.c.village).order_by(AREAS.c.township, AREAS.c.village)
        )
    ]


def count_areas(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AREAS)) or 0


def add_areas(
    session: Session, pairs: Iterable[tuple[str, str]], at: datetime, actor: str
) -> list[tuple[str, str]]:
    """Add the pairs not yet registered (each logged as `area_added`); those added."""
    known = set(list_areas(session))
    added: list[tuple[str, str]] = []
    for township, village in pairs:
        if (township, village) in known:
            continue
        known.add((township, village))
        session.execute(AREAS.insert().values(township=township, village=village))
        auditlog.append(
            session,
            at=at,
            actor=actor,
            kind="area_added",
            table="areas",
            row={"township": township, "village": village},
        )
        added.append((township, village))
    return added
