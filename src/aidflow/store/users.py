"""Users: who they are, their roles and area, their login binding and their credential state.

Every change of a user's security columns (roles, area, email, operating-system login,
password hash, must-change flag, disabled flag) appends an entry to the global audit log
(aidflow.store.auditlog) in the same transaction, naming who made it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aidflow.errors import DuplicateError, NotFoundError
from aidflow.i18n import _
from aidflow.store import auditlog
from aidflow.store.fast import Fast, connection
from aidflow.store.models import User
from aidflow.store.records import UserRecord
from aidflow.store.tables import USERS, record_of

# the record's columns: never the password hash, which only store.credentials reads
_RECORD = (
    USERS.c.name,
    USERS.c.email,
    USERS.c.roles,
    USERS.c.area,
    USERS.c.created_at,
    USERS.c.os_login,
    USERS.c.must_change_password,
    USERS.c.disabled,
    USERS.c.display_name,
)
# the columns the audit log's digest of a user covers
_CONTENT = tuple(
    USERS.c[c]
    for c in sorted(
        set(auditlog.SUBJECTS["users"].content)
        | {c for c, _ in auditlog.SUBJECTS["users"].optional}
    )
)
_USER = Fast(select(*_RECORD).where(USERS.c.name == bindparam("b_name")))
_BY_LOGIN = Fast(select(*_RECORD).where(USERS.c.os_login == bindparam("b_login")))
_ACCESS = Fast(select(USERS.c.roles, USERS.c.area).where(USERS.c.name == bindparam("b_name")))
_ROLES_OF = select(USERS.c.roles).where(USERS.c.name.in_(bindparam("b_names", expanding=True)))


def _no_user(name: str) -> NotFoundError:
    return NotFoundError(
        _("no user named '{name}'", name=name),
        hint=_("check --as / AIDFLOW_USER, or add one with `aidflow user add`"),
    )


def get_user(session: Session, name: str) -> UserRecord:
    row = _USER.one_or_none(session, {"b_name": name})
    if row is None:
        raise _no_user(name)
    return UserRecord(*row)


def user_by_login(session: Session, os_login: str) -> UserRecord | None:
    """The user bound to the operating-system account `os_login`, if any."""
    row = _BY_LOGIN.one_or_none(session, {"b_login": os_login})
    return None if row is None else UserRecord(*row)


def any_login_bound(session: Session) -> bool:
    """Whether some user is bound to an operating-system login."""
    return (
        session.scalar(select(USERS.c.name).where(USERS.c.os_login.is_not(None)).limit(1))
        is not None
    )


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
    return [UserRecord(*row) for row in session.execute(select(*_RECORD).order_by(USERS.c.name))]


def all_roles(session: Session) -> set[str]:
    """Every role some user holds."""
    return {role for (roles,) in session.execute(select(USERS.c.roles)) for role in roles}


def roles_of_users(session: Session, names: Sequence[str]) -> list[str]:
    """The sorted union of the roles of the named users (unknown names add nothing)."""
    if not names:
        return []
    rows = connection(session).execute(_ROLES_OF, {"b_names": list(names)})
    return sorted({role for (roles,) in rows for role in roles})


def _content(session: Session, name: str) -> dict[str, Any]:
    row = session.execute(select(*_CONTENT).where(USERS.c.name == name)).one()
    return dict(row._mapping)


def add_user(
    session: Session,
    name: str,
    roles: list[str],
    area: str,
    email: str,
    created_at: datetime,
    added_by: str | None = None,
    *,
    os_login: str | None = None,
    password_hash: str | None = None,
    must_change_password: bool = False,
    display_name: str | None = None,
) -> UserRecord:
    """Insert a user; a concurrent insert of the same name (or login) raises DuplicateError.

    `added_by` is the acting user (None for the first user, added before there is one)."""
    user = User(
        name=name,
        roles=roles,
        area=area,
        email=email,
        created_at=created_at,
        os_login=os_login,
        password_hash=password_hash,
        must_change_password=must_change_password,
        display_name=display_name,
        disabled=False,
        failed_logins=0,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        if os_login is not None and "os_login" in str(exc.orig):
            raise DuplicateError(
                _(
                    "operating-system login '{os_login}' is already bound to another user",
                    os_login=os_login,
                ),
                hint=_("`aidflow user list` shows who; one login acts as one user"),
            ) from None
        raise DuplicateError(_("user '{name}' already exists", name=name)) from None
    auditlog.append(
        session,
        at=created_at,
        actor=added_by or name,
        kind="user_added",
        table="users",
        row=_content(session, name),
    )
    return record_of(UserRecord, user)


def update_user(
    session: Session, name: str, *, at: datetime, actor: str, kind: str, **values: Any
) -> UserRecord:
    """Set `values` (columns of users) on the named user and log the change as `kind`.

    With no values, the user's row is logged as it is (a lockout, a revocation)."""
    if values:
        try:
            found = (
                connection(session)
                .execute(USERS.update().where(USERS.c.name == name).values(**values))
                .rowcount
            )
        except IntegrityError as exc:
            if "os_login" in str(exc.orig):
                raise DuplicateError(
                    _(
                        "operating-system login '{os_login}' is already bound to another user",
                        os_login=values.get("os_login"),
                    ),
                    hint=_("`aidflow user list` shows who; one login acts as one user"),
                ) from None
            raise
        if found != 1:
            raise _no_user(name)
    elif not user_exists(session, name):
        raise _no_user(name)
    auditlog.append(
        session, at=at, actor=actor, kind=kind, table="users", row=_content(session, name)
    )
    return get_user(session, name)
