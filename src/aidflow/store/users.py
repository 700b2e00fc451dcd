"""Users: who they are, their roles and their area.

Adding a user appends it to the global audit log (aidflow.store.auditlog).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aidflow.errors import DuplicateError, NotFoundError
from aidflow.store import auditlog
from aidflow.store.fast import Fast, connection
from aidflow.store.models import User
from aidflow.store.records import UserRecord
from aidflow.store.tables import USERS, record_of

_USER = Fast(select(USERS).where(USERS.c.name == bindparam("b_name")))
_ACCESS = Fast(select(USERS.c.roles, USERS.c.area).where(USERS.c.name == bindparam("b_name")))
_ROLES_OF = select(USERS.c.roles).where(USERS.c.name.in_(bindparam("b_names", expanding=True)))


def _no_user(name: str) -> NotFoundError:
    return NotFoundError(
        f"no user named '{name}'",
        hint="check --as / AIDFLOW_USER, or add one with `aidflow user add`",
    )


def get_user(session: Session, name: str) -> UserRecord:
    row = _USER.one_or_none(session, {"b_name": name})
    if row is None:
        raise _no_user(name)
    return UserRecord(*row)


def user_exists(session: Session, name: str) -> bool:
    return _ACCESS.one_or_none(session, {"b_name": name}) is not None


def user_access(session: Session, name: str) -> tuple[list[str], str]:
    """(roles, area) of the named user: what an acting user is checked against."""
    row = _ACCESS.one_or_none(session, {"b_name": name})
    if row is None:
        raise _no_user(name)
    return list(row[0]), row[1]


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(USERS)) or 0


def list_users(session: Session) -> list[UserRecord]:
    """Every user, by name."""
    return [UserRecord(*row) for row in session.execute(select(USERS).order_by(USERS.c.name))]


def roles_of_users(session: Session, names: Sequence[str]) -> list[str]:
    """The sorted union of the roles of the named users (unknown names add nothing)."""
    if not names:
        return []
    rows = connection(session).execute(_ROLES_OF, {"b_names": list(names)})
    return sorted({role for (roles,) in rows for role in roles})


def add_user(
    session: Session,
    name: str,
    roles: list[str],
    area: str,
    email: str,
    created_at: datetime,
    added_by: str | None = None,
) -> UserRecord:
    """Insert a user; a concurrent insert of the same name raises DuplicateError.

    `added_by` is the acting user (None for the first user, added before there is one)."""
    user = User(name=name, roles=roles, area=area, email=email, created_at=created_at)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise DuplicateError(f"user '{name}' already exists") from None
    auditlog.append(
        session,
        at=created_at,
        actor=added_by or name,
        kind="user_added",
        table="users",
        row={"name": name, "email": email, "roles": roles, "area": area, "created_at": created_at},
    )
    return record_of(UserRecord, user)
