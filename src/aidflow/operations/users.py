"""User and area operations: what an administrator does to accounts (`aidflow user ...`,
`aidflow area ...`), and what every user does to their own password.

Administration is done as oneself: an administrator entering for someone else (--as) is
refused here, so the audit log's actor of every account change is the one who made it.
"""

from __future__ import annotations

from typing import Any

from aidflow.errors import ForbiddenError, InvalidInputError
from aidflow.i18n import _
from aidflow.operations import Caller, operation
from aidflow.services import auth, users
from aidflow.services.cases import Service
from aidflow.store.records import UserRecord


def _admin(svc: Service, caller: Caller) -> str:
    if caller.entered_by is not None:
        raise ForbiddenError(
            _(
                "{entered_by} may not administer users as {user}",
                entered_by=caller.entered_by,
                user=caller.user,
            ),
            hint=_("run user and area commands without --as / AIDFLOW_USER"),
        )
    return users.require_admin(svc.session, caller.user)


def _user(u: UserRecord) -> dict[str, Any]:
    return {
        "name": u.name,
        "display_name": u.display_name,
        "roles": u.roles,
        "area": u.area,
        "email": u.email,
        "os_login": u.os_login,
        "disabled": u.disabled,
        "must_change_password": u.must_change_password,
    }


@operation("user.add", write=True)
def add(
    svc: Service,
    caller: Caller,
    user: str,
    roles: list[str],
    area: str,
    email: str,
    os_login: str | None = None,
    password: str | None = None,
    display_name: str | None = None,
) -> dict[str, Any]:
    """Add a user with an initial password (generated unless given), to be changed at the
    first login; the generated one is in the result, once. With no user in the database
    (and no caller), the first user bootstraps as an administrator."""
    by = None if caller.user is None else _admin(svc, caller)
    initial = auth.initial_password() if password is None else None
    added = svc.add_user(
        by,
        user,
        roles,
        area,
        email,
        os_login=os_login,
        password=password or initial,
        display_name=display_name,
    )
    return dict(_user(added), initial_password=initial)


@operation("user.list", write=False)
def list_(svc: Service, caller: Caller) -> list[dict[str, Any]]:
    """Every user (any known user may see them; staff emails are not for outsiders)."""
    svc.actor(caller.user)
    labels = users.role_labels(svc.session, caller.lang)
    return [
        dict(_user(u), role_labels=[labels.get(r, r) for r in u.roles])
        for u in users.list_users(svc.session)
    ]


@operation("user.me", write=False)
def me(svc: Service, caller: Caller) -> dict[str, Any]:
    """The acting user's own account (`aidflow whoami` in local mode)."""
    from aidflow.store.users import get_user

    return _user(get_user(svc.session, svc.actor(caller.user).name))


@operation("user.disable", write=True)
def disable(svc: Service, caller: Caller, user: str) -> dict[str, Any]:
    """Disable a user: nothing can be done as them, their tokens are revoked."""
    who = _admin(svc, caller)
    return _user(users.set_disabled(svc.session, svc.clock.now(), who, user, True))


@operation("user.enable", write=True)
def enable(svc: Service, caller: Caller, user: str) -> dict[str, Any]:
    """Enable a user again (also lifts a login lockout)."""
    who = _admin(svc, caller)
    return _user(users.set_disabled(svc.session, svc.clock.now(), who, user, False))


@operation("user.set_roles", write=True)
def set_roles(svc: Service, caller: Caller, user: str, roles: list[str]) -> dict[str, Any]:
    who = _admin(svc, caller)
    return _user(users.set_roles(svc.session, svc.clock.now(), who, user, roles))


@operation("user.set_area", write=True)
def set_area(svc: Service, caller: Caller, user: str, area: str) -> dict[str, Any]:
    who = _admin(svc, caller)
    return _user(users.set_area(svc.session, svc.clock.now(), who, user, area))


@operation("user.set_login", write=True)
def set_login(svc: Service, caller: Caller, user: str, os_login: str | None) -> dict[str, Any]:
    """Bind a user to an operating-system login for local mode (None unbinds)."""
    who = _admin(svc, caller)
    return _user(users.set_login(svc.session, svc.clock.now(), who, user, os_login))


@operation("user.reset_password", write=True)
def reset_password(
    svc: Service, caller: Caller, user: str, password: str | None = None
) -> dict[str, Any]:
    """A new initial password (generated unless given; shown once), to be changed at the
    next login; the user's tokens are revoked and a lockout lifted."""
    who = _admin(svc, caller)
    initial = auth.initial_password() if password is None else None
    reset = users.reset_password(svc.session, svc.clock.now(), who, user, password or initial or "")
    return dict(_user(reset), initial_password=initial)


@operation("user.revoke_tokens", write=True)
def revoke_tokens(svc: Service, caller: Caller, user: str) -> dict[str, Any]:
    who = _admin(svc, caller)
    return {"name": user, "revoked": users.revoke_tokens(svc.session, svc.clock.now(), who, user)}


@operation("user.passwd", write=True)
def passwd(svc: Service, caller: Caller, old: str | None, new: str) -> dict[str, Any]:
    """Change one's own password (the old one is needed once there is one)."""
    if caller.entered_by is not None:
        raise ForbiddenError(
            _(
                "{entered_by} may not change {user}'s password",
                entered_by=caller.entered_by,
                user=caller.user,
            ),
            hint=_(
                "an administrator resets it: `aidflow user reset-password {user}`", user=caller.user
            ),
        )
    actor = svc.actor(caller.user)
    return _user(users.change_own_password(svc.session, svc.clock.now(), actor.name, old, new))


@operation("area.import", write=True)
def area_import(svc: Service, caller: Caller, rows: list[list[str]]) -> dict[str, Any]:
    """Register townships and villages: each row is [township] or [township, village]."""
    who = _admin(svc, caller)
    pairs: list[tuple[str, str]] = []
    for n, row in enumerate(rows, start=1):
        if not 1 <= len(row) <= 2:
            raise InvalidInputError(
                _("row {n}: expected a township and a village, got {row!r}", n=n, row=row)
            )
        pairs.append((row[0], row[1] if len(row) == 2 else ""))
    added = users.import_areas(svc.session, svc.clock.now(), who, pairs)
    return {"added": [[t, v] for t, v in added], "rows": len(rows)}


@operation("area.list", write=False)
def area_list(svc: Service, caller: Caller) -> list[list[str]]:
    svc.actor(caller.user)
    return [[t, v] for t, v in users.list_areas(svc.session)]
