"""Administration: users and their roles and areas, and deploying workflow versions.

Administrators manage both; the very first user of an empty database bootstraps without one.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from aidflow.engine.access import ADMIN, Area
from aidflow.errors import ForbiddenError, InvalidInputError
from aidflow.language.definition import workflow_to_json
from aidflow.store import users, workflows
from aidflow.store.records import UserRecord, VersionRecord
from aidflow.store.session import Session

if TYPE_CHECKING:
    from aidflow.language.loader import LoadedWorkflow


def require_admin(session: Session, actor_name: str | None) -> str:
    """The acting administrator's name; refused unless `actor_name` holds role admin.

    With no user at all yet, anyone may act (as `actor_name`, or "bootstrap").
    """
    if users.count_users(session) == 0:
        return actor_name or "bootstrap"
    if actor_name is None:
        raise ForbiddenError("this command needs an administrator", hint="pass --as ADMIN_USER")
    user = users.get_user(session, actor_name)
    if ADMIN not in user.roles:
        raise ForbiddenError(
            f"{user.name} is not an administrator (roles: {', '.join(user.roles)})",
            hint="ask a user with role admin",
        )
    return user.name


def add_user(
    session: Session,
    now: datetime,
    by: str | None,
    name: str,
    roles: list[str],
    area: str,
    email: str,
) -> UserRecord:
    """Add a user after checking the administrator and every value."""
    require_admin(session, by)
    if users.user_exists(session, name):
        raise InvalidInputError(f"user '{name}' already exists")
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise InvalidInputError(
            f"email {email!r} is not an email address", hint="write it like li@example.org"
        )
    if not roles:
        raise InvalidInputError("a user needs at least one role", hint="add --role ROLE")
    for label, value, limit in (("name", name, 64), ("email", email, 200), ("area", area, 200)):
        if len(value) > limit:  # the column's width
            raise InvalidInputError(
                f"user {label} is {len(value)} characters long; the limit is {limit}"
            )
    for role in roles:
        if len(role) > 64 or not role.strip():
            raise InvalidInputError(f"role {role[:70]!r} must be 1 to 64 characters")
    Area.parse(area)
    return users.add_user(session, name, sorted(set(roles)), area.strip(), email, now, by)


def list_users(session: Session) -> list[UserRecord]:
    """Every user, by name."""
    return users.list_users(session)


def deploy(
    session: Session, now: datetime, by: str | None, loaded: LoadedWorkflow
) -> tuple[VersionRecord, bool]:
    """Store a workflow as a new version; an unchanged file returns its existing version."""
    who = require_admin(session, by)
    wf = loaded.definition
    existing = workflows.version_by_hash(session, wf.name, loaded.content_hash)
    if existing is not None:
        return existing, False
    version = workflows.add_version(
        session,
        name=wf.name,
        declared_version=str(wf.version),
        file=loaded.file,
        source=loaded.source,
        definition_json=workflow_to_json(wf),
        content_hash=loaded.content_hash,
        deployed_at=now,
        deployed_by=who,
    )
    return version, True
