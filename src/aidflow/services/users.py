"""Administration: users (add, roles, area, disable, passwords, tokens), the area registry,
who acts in local mode, and deploying workflow versions.

Every change here is an administrator's, logged in the global audit log with its actor.
The very first user of an empty database bootstraps without one: it becomes an
administrator bound to the operating-system login that created it. Nothing else happens
without an administrator (the server never bootstraps: its callers always name a user).

A role must be declared by a deployed workflow (its `roles`, state owners, voters,
transition roles and escalation recipients) or be built in (admin, auditor); an area must
be '*' or registered (`aidflow area import`). A mistyped one is refused with a suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from aidflow.engine.access import ADMIN, COUNTY, Area
from aidflow.errors import (
    AuthenticationError,
    ForbiddenError,
    InvalidInputError,
    did_you_mean,
)
from aidflow.i18n import N_, _, use_language
from aidflow.language.definition import workflow_to_json
from aidflow.services import auth
from aidflow.services.workflows import check_declared_version
from aidflow.store import areas, credentials, users, workflows
from aidflow.store.records import UserRecord, VersionRecord
from aidflow.store.session import Session

if TYPE_CHECKING:
    from aidflow.language.loader import LoadedWorkflow

AUDITOR = "auditor"
BUILTIN_ROLES = (ADMIN, AUDITOR)


def require_admin(session: Session, actor_name: str | None) -> str:
    """The acting administrator's name; refused unless `actor_name` holds role admin and is
    not disabled."""
    if actor_name is None:
        raise ForbiddenError(
            _("this command needs an administrator"),
            hint=_("run it from the operating-system account of a user with role admin"),
        )
    user = users.get_user(session, actor_name)
    if ADMIN not in user.roles or user.disabled:
        raise ForbiddenError(
            _(
                "{name} is not an administrator (roles: {roles})",
                name=user.name,
                roles=", ".join(user.roles),
            ),
            hint=_("ask a user with role admin"),
        )
    return user.name


# --- roles and areas ----------------------------------------------------------------------


# the built-in roles' names (the workflows name theirs in their `roles:` labels)
BUILTIN_ROLE_LABELS = {ADMIN: N_("administrator"), AUDITOR: N_("auditor")}


def role_labels(session: Session, lang: str) -> dict[str, str]:
    """Each role's name in `lang`: the built-in ones from the catalog, the others from the
    `roles:` labels of the deployed workflows (a role no workflow labels keeps its code)."""
    out: dict[str, str] = {}
    for _version, wf in workflows.deployed_definitions(session):
        for role, labels in wf.roles.items():
            out.setdefault(role, labels.get(lang))
    with use_language(lang):
        out.update({role: _(label) for role, label in BUILTIN_ROLE_LABELS.items()})
    return out


def declared_roles(session: Session) -> set[str]:
    """The built-in roles and every role a deployed workflow names."""
    out = set(BUILTIN_ROLES)
    for _version, wf in workflows.deployed_definitions(session):
        out.update(wf.roles)
        for state in wf.states.values():
            if state.owner:
                out.add(state.owner)
            if state.vote is not None:
                out.add(state.vote.voters)
        for t in wf.transitions:
            out.update(t.roles)
        for ladder in wf.escalations.values():
            out.update(rung.to for rung in ladder)
    return out


def check_roles(session: Session, roles: list[str]) -> list[str]:
    """`roles`, sorted and without repeats, after refusing any no workflow declares."""
    if not roles:
        raise InvalidInputError(_("a user needs at least one role"), hint=_("add --role ROLE"))
    known = declared_roles(session)
    for role in roles:
        if len(role) > 64 or not role.strip():
            raise InvalidInputError(_("role {role!r} must be 1 to 64 characters", role=role[:70]))
        if role not in known:
            raise InvalidInputError(
                _(
                    "unknown role '{role}': no deployed workflow declares it and it is not built "
                    "in ({builtin})",
                    role=role,
                    builtin=", ".join(BUILTIN_ROLES),
                ),
                hint=did_you_mean(role, known) or _("deploy the workflow that uses it first"),
            )
    return sorted(set(roles))


def check_area(session: Session, text: str) -> str:
    """`text` as a registered area ('*', TOWNSHIP or TOWNSHIP/VILLAGE)."""
    area = Area.parse(text)
    if area.is_county:
        return COUNTY
    registered = areas.list_areas(session)
    if not registered:
        raise InvalidInputError(
            _("area '{area}' is not registered: the area registry is empty", area=area),
            hint=_("import the county's townships and villages with `aidflow area import FILE`"),
        )
    known = {t if not v else f"{t}/{v}" for t, v in registered}
    if str(area) not in known:
        raise InvalidInputError(
            _("unknown area '{area}'", area=area),
            hint=did_you_mean(str(area), known) or _("`aidflow area list` shows the registry"),
        )
    return str(area)


def list_areas(session: Session) -> list[tuple[str, str]]:
    return areas.list_areas(session)


def import_areas(
    session: Session, now: datetime, by: str | None, pairs: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Register townships and villages (a village registers its township too); the rows
    that were new. Each pair is (township, village or '')."""
    who = require_admin(session, by)
    wanted: list[tuple[str, str]] = []
    for n, (township, village) in enumerate(pairs, start=1):
        township, village = township.strip(), village.strip()
        for label, value in ((N_("township"), township), (N_("village"), village)):
            if "/" in value or value == COUNTY or len(value) > 100:
                raise InvalidInputError(
                    _(
                        "row {n}: {label} {value!r} is not a name",
                        n=n,
                        label=_(label),
                        value=value[:40],
                    ),
                    hint=_("a name of at most 100 characters without '/'"),
                )
        if not township:
            raise InvalidInputError(
                _("row {n}: no township", n=n), hint=_("every row names its township")
            )
        wanted.append((township, ""))
        if village:
            wanted.append((township, village))
    return areas.add_areas(session, wanted, now, who)


# --- users --------------------------------------------------------------------------------


def _check_values(
    name: str, email: str, os_login: str | None, display_name: str | None = None
) -> None:
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise InvalidInputError(
            _("email {email!r} is not an email address", email=email),
            hint=_("write it like li@example.org"),
        )
    for label, value, limit in (
        (N_("name"), name, 64),
        (N_("email"), email, 200),
        (N_("os login"), os_login or "", 64),
        (N_("display name"), display_name or "", 100),
    ):
        if len(value) > limit:  # the column's width
            raise InvalidInputError(
                _(
                    "user {label} is {n} characters long; the limit is {limit}",
                    label=_(label),
                    n=len(value),
                    limit=limit,
                )
            )


def add_user(
    session: Session,
    now: datetime,
    by: str | None,
    name: str,
    roles: list[str],
    area: str,
    email: str,
    *,
    os_login: str | None = None,
    password: str | None = None,
    display_name: str | None = None,
) -> UserRecord:
    """Add a user after checking the administrator and every value.

    `by` None is the bootstrap: allowed only in an empty database, where the user becomes
    an administrator (bound to `os_login`). A `password` given is an initial one: the user
    must change it at the first login.
    """
    bootstrap = by is None and users.count_users(session) == 0
    if not bootstrap:
        require_admin(session, by)
    if users.user_exists(session, name):
        raise InvalidInputError(_("user '{name}' already exists", name=name))
    display_name = (display_name or "").strip() or None
    if display_name is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in display_name):
        raise InvalidInputError(
            _("display name {display_name!r} holds a control character", display_name=display_name),
            hint=_("write the name as it should appear in emails, e.g. 张建国"),
        )
    _check_values(name, email, os_login, display_name)
    if bootstrap:
        checked = sorted(set(roles) | {ADMIN})
        Area.parse(area)
        area = area.strip()
    else:
        checked = check_roles(session, roles)
        area = check_area(session, area)
    return users.add_user(
        session,
        name,
        checked,
        area,
        email,
        now,
        by,
        os_login=os_login or None,
        password_hash=None if password is None else auth.hash_password(password),
        display_name=display_name,
        must_change_password=password is not None,
    )


def list_users(session: Session) -> list[UserRecord]:
    """Every user, by name."""
    return users.list_users(session)


def set_disabled(
    session: Session, now: datetime, by: str | None, name: str, disabled: bool
) -> UserRecord:
    """Disable a user (tokens revoked; nothing is possible as them) or enable one again
    (which also lifts a lockout)."""
    who = require_admin(session, by)
    if disabled and name == who:
        raise InvalidInputError(
            _("an administrator cannot disable themselves"), hint=_("ask another administrator")
        )
    users.get_user(session, name)
    credentials.set_failures(session, name, 0, None)
    if disabled:
        credentials.revoke_user_tokens(session, name, now)
    kind = "user_disabled" if disabled else "user_enabled"
    return users.update_user(session, name, at=now, actor=who, kind=kind, disabled=disabled)


def set_roles(
    session: Session, now: datetime, by: str | None, name: str, roles: list[str]
) -> UserRecord:
    who = require_admin(session, by)
    checked = check_roles(session, roles)
    if name == who and ADMIN not in checked:
        raise InvalidInputError(
            _("an administrator cannot take their own admin role away"),
            hint=_("ask another administrator"),
        )
    return users.update_user(session, name, at=now, actor=who, kind="user_roles_set", roles=checked)


def set_area(session: Session, now: datetime, by: str | None, name: str, area: str) -> UserRecord:
    who = require_admin(session, by)
    checked = check_area(session, area)
    return users.update_user(session, name, at=now, actor=who, kind="user_area_set", area=checked)


def set_login(
    session: Session, now: datetime, by: str | None, name: str, os_login: str | None
) -> UserRecord:
    """Bind the user to an operating-system login (None: unbind)."""
    who = require_admin(session, by)
    if os_login is not None and (not os_login.strip() or len(os_login) > 64):
        raise InvalidInputError(
            _("os login {os_login!r} must be 1 to 64 characters", os_login=os_login[:70])
        )
    return users.update_user(
        session, name, at=now, actor=who, kind="user_login_set", os_login=os_login
    )


def reset_password(
    session: Session, now: datetime, by: str | None, name: str, password: str
) -> UserRecord:
    """Give the user a new initial password (must be changed; tokens revoked, lockout lifted)."""
    who = require_admin(session, by)
    users.get_user(session, name)
    return auth.set_password(session, who, name, password, now, must_change=True)


def change_own_password(
    session: Session, now: datetime, name: str, old: str | None, new: str
) -> UserRecord:
    """The acting user changes their own password: proving the old one if they have one
    (a user added without a password sets a first one as who they are already)."""
    state = credentials.login_state(session, name)
    if state is not None and state.password_hash is None:
        return auth.set_password(
            session, name, name, new, now, must_change=False, kind="user_password_set"
        )
    return auth.change_password(session, name, old or "", new, now)


def revoke_tokens(session: Session, now: datetime, by: str | None, name: str) -> int:
    who = require_admin(session, by)
    return auth.revoke_tokens(session, who, name, now)


# --- who acts in local mode ---------------------------------------------------------------


@dataclass(frozen=True)
class LocalIdentity:
    """Who acts (`user`) and, when an administrator enters for them, who entered it."""

    user: str | None  # None only in an empty database (the bootstrap)
    entered_by: str | None = None


def local_identity(session: Session, os_login: str, claimed: str | None) -> LocalIdentity:
    """The user bound to `os_login`; or, for an administrator naming another user with
    --as (`claimed`), that user, entered by the administrator."""
    if users.count_users(session) == 0:
        return LocalIdentity(None)
    bound = users.user_by_login(session, os_login)
    if bound is None and not users.any_login_bound(session):
        # a database from before logins were bound: an administrator named with --as acts,
        # so that they can bind themselves (`aidflow --as NAME user set-login NAME LOGIN`)
        if claimed is not None and ADMIN in users.get_user(session, claimed).roles:
            return LocalIdentity(claimed)
        raise AuthenticationError(
            _("no user is bound to an operating-system login yet"),
            hint=_(
                "an administrator binds themselves first: `aidflow --as ADMIN user set-login "
                "ADMIN {os_login}`",
                os_login=os_login,
            ),
        )
    if bound is None:
        raise AuthenticationError(
            _(
                "operating-system login '{os_login}' is not bound to an aidflow user",
                os_login=os_login,
            ),
            hint=_(
                "an administrator binds it: `aidflow user add NAME ... --os-login "
                "{os_login}` or `aidflow user set-login NAME {os_login}`",
                os_login=os_login,
            ),
        )
    if bound.disabled:
        raise AuthenticationError(
            _(
                "user {name} (operating-system login '{os_login}') is disabled",
                name=bound.name,
                os_login=os_login,
            ),
            hint=_("ask an administrator to `aidflow user enable` it"),
        )
    if claimed is None or claimed == bound.name:
        return LocalIdentity(bound.name)
    if ADMIN not in bound.roles:
        raise ForbiddenError(
            _(
                "{name} (operating-system login '{os_login}') may not act as {claimed}: only "
                "an administrator enters on someone's behalf",
                name=bound.name,
                os_login=os_login,
                claimed=claimed,
            ),
            hint=_("run the command without --as / AIDFLOW_USER"),
        )
    users.get_user(session, claimed)
    return LocalIdentity(claimed, bound.name)


def deploy(
    session: Session, now: datetime, by: str | None, loaded: LoadedWorkflow
) -> tuple[VersionRecord, bool]:
    """Store a workflow as a new version; an unchanged file returns its existing version."""
    who = require_admin(session, by)
    wf = loaded.definition
    existing = workflows.version_by_hash(session, wf.name, loaded.content_hash)
    if existing is not None:
        return existing, False
    assigned = workflows.next_version(session, wf.name)
    check_declared_version(loaded, assigned)
    version = workflows.add_version(
        session,
        name=wf.name,
        declared_version=str(assigned),
        file=loaded.file,
        source=loaded.source,
        definition_json=workflow_to_json(wf),
        content_hash=loaded.content_hash,
        deployed_at=now,
        deployed_by=who,
        version=assigned,
    )
    return version, True
