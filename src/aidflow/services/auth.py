"""Authentication: passwords (argon2id), login tokens, the login backoff and lockout.

Passwords are hashed with argon2-cffi's `PasswordHasher` and its default parameters
(argon2id); a hash made with older parameters is replaced at the next successful login.
A token is `secrets.token_urlsafe(32)` (256 random bits), handed to the client once and
stored only as its SHA-256, with an expiry and a revocation time.

Repeated failures slow an attacker down without any sleeping: after `FREE_FAILURES`
wrong passwords in a row, each further attempt is refused until 2**(n - FREE_FAILURES)
seconds after the n-th failure, and after `LOCK_AFTER` the account is locked until an
administrator enables it (`aidflow user enable`) or resets its password. Every time comes
from the caller's clock (`now`), so tests move the clock instead of waiting.

A refused login has written its failure to the session before raising: the caller commits
the unit of work anyway (`sign_in` does), or the counter would never grow.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from aidflow.errors import AuthenticationError, InvalidInputError
from aidflow.i18n import N_, _
from aidflow.store import credentials
from aidflow.store import users as user_store
from aidflow.store.records import UserRecord
from aidflow.store.session import Session

if TYPE_CHECKING:
    from aidflow.services.runtime import Runtime

FREE_FAILURES = 3  # wrong passwords in a row before the backoff starts
LOCK_AFTER = 10  # wrong passwords in a row that lock the account
MIN_PASSWORD_LENGTH = 10
LOGIN_HINT = N_("log in again with `aidflow login URL`")

_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so that answer takes as long as a wrong
    password. Made on first need: a hash costs as much as a login, and most commands never
    check a password."""
    return _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Issued:
    """A new token (shown to the client once), whose it is and until when."""

    token: str
    user: str
    expires_at: datetime
    must_change_password: bool


@dataclass(frozen=True)
class Authenticated:
    """The user a valid token belongs to."""

    user: str
    must_change_password: bool


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) of `password`, after checking its length."""
    check_password(password)
    return _HASHER.hash(password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            _(
                "the password is {n} characters long; the minimum is {minimum}",
                n=len(password),
                minimum=MIN_PASSWORD_LENGTH,
            ),
            hint=_("choose a longer one (a few unrelated words are easy to remember)"),
        )


def initial_password() -> str:
    """A random password to hand to a new user once (it must be changed at first login)."""
    return secrets.token_urlsafe(12)


def token_hash(token: str) -> str:
    """What the tokens table stores of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _wrong() -> AuthenticationError:
    # one message for an unknown name and a wrong password: the answer must not tell which
    return AuthenticationError(
        _("wrong user name or password"),
        hint=_("check both; after repeated failures the account locks"),
    )


def _locked(name: str) -> AuthenticationError:
    return AuthenticationError(
        _(
            "account {name} is locked after {lock_after} failed logins",
            name=name,
            lock_after=LOCK_AFTER,
        ),
        hint=_(
            "ask an administrator to run `aidflow user enable {name}` or `aidflow user "
            "reset-password {name}`",
            name=name,
        ),
    )


def login(session: Session, name: str, password: str, now: datetime, lifetime: timedelta) -> Issued:
    """Exchange a name and password for a new token valid for `lifetime`.

    Refused (AuthenticationError) for an unknown user or a wrong password (one message
    for both), a disabled or locked account, or an attempt inside the backoff interval.
    """
    state = credentials.login_state(session, name, lock=True)
    if state is None:
        _verify(None, password)
        raise _wrong()
    if state.failed_logins >= LOCK_AFTER:
        raise _locked(name)
    if state.locked_until is not None and now < state.locked_until:
        wait = max(1, int((state.locked_until - now).total_seconds() + 0.999))
        raise AuthenticationError(
            _("too many failed logins for {name}; try again in {wait} s", name=name, wait=wait),
            hint=_(
                "each further failure doubles the wait, and {lock_after} failures lock the account",
                lock_after=LOCK_AFTER,
            ),
        )
    if not _verify(state.password_hash, password):
        failures = state.failed_logins + 1
        until = (
            now + timedelta(seconds=2 ** (failures - FREE_FAILURES))
            if failures >= FREE_FAILURES
            else None
        )
        credentials.set_failures(session, name, failures, until)
        if failures >= LOCK_AFTER:
            user_store.update_user(session, name, at=now, actor=name, kind="user_locked")
            raise _locked(name)
        raise _wrong()
    if state.disabled:
        raise AuthenticationError(
            _("user {name} is disabled", name=name),
            hint=_("ask an administrator to `aidflow user enable {name}`", name=name),
        )
    credentials.set_failures(session, name, 0, None)
    assert state.password_hash is not None  # _verify accepts no password without a hash
    if _HASHER.check_needs_rehash(state.password_hash):
        user_store.update_user(
            session,
            name,
            at=now,
            actor=name,
            kind="user_password_rehashed",
            password_hash=_HASHER.hash(password),
        )
    token = secrets.token_urlsafe(32)
    expires = now + lifetime
    credentials.insert_token(session, token_hash(token), name, now, expires)
    return Issued(token, name, expires, state.must_change_password)


def sign_in(runtime: Runtime, name: str, password: str) -> Issued:
    """`login` in a unit of work of its own that is committed even when the login is
    refused, so that failures count; the lifetime is the token_lifetime_hours setting."""
    lifetime = timedelta(hours=runtime.settings.token_lifetime_hours)
    refused: AuthenticationError | None = None
    with runtime.transaction() as svc:
        try:
            return login(svc.session, name, password, svc.clock.now(), lifetime)
        except AuthenticationError as exc:
            refused = exc
    raise refused


def authenticate(session: Session, token: str, now: datetime) -> Authenticated:
    """The user `token` belongs to; AuthenticationError if it is unknown, expired or revoked,
    or its user is disabled."""
    found = credentials.token_state(session, token_hash(token))
    if found is None:
        raise AuthenticationError(_("the token is not known"), hint=_(LOGIN_HINT))
    if found.revoked_at is not None:
        raise AuthenticationError(_("the token was revoked"), hint=_(LOGIN_HINT))
    if now >= found.expires_at:
        raise AuthenticationError(
            _(
                "the token expired at {expires_at}",
                expires_at=found.expires_at.isoformat(timespec="seconds"),
            ),
            hint=_(LOGIN_HINT),
        )
    user = user_store.get_user(session, found.user_name)
    if user.disabled:
        raise AuthenticationError(
            _("user {name} is disabled", name=user.name),
            hint=_("ask an administrator to `aidflow user enable {name}`", name=user.name),
        )
    return Authenticated(user.name, user.must_change_password)


def logout(session: Session, token: str, now: datetime) -> None:
    """Revoke `token` (a token already revoked or unknown changes nothing)."""
    credentials.revoke_token(session, token_hash(token), now)


def revoke_tokens(session: Session, actor: str, user: str, now: datetime) -> int:
    """Revoke every live token of `user` (an administrator's act, logged); how many."""
    user_store.get_user(session, user)
    count = credentials.revoke_user_tokens(session, user, now)
    user_store.update_user(session, user, at=now, actor=actor, kind="user_tokens_revoked")
    return count


def change_password(session: Session, name: str, old: str, new: str, now: datetime) -> UserRecord:
    """Change one's own password, proving the old one; clears the must-change flag."""
    state = credentials.login_state(session, name)
    if state is None or not _verify(state.password_hash, old):
        raise _wrong()
    if hmac.compare_digest(old.encode(), new.encode()):
        raise InvalidInputError(
            _("the new password is the old one"), hint=_("choose a password you have not used here")
        )
    return user_store.update_user(
        session,
        name,
        at=now,
        actor=name,
        kind="user_password_changed",
        password_hash=hash_password(new),
        must_change_password=False,
    )


def set_password(
    session: Session,
    actor: str,
    name: str,
    password: str,
    now: datetime,
    *,
    must_change: bool,
    kind: str = "user_password_reset",
) -> UserRecord:
    """An administrator sets `name`'s password (reset): tokens revoked, counters cleared."""
    hashed = hash_password(password)
    credentials.revoke_user_tokens(session, name, now)
    credentials.set_failures(session, name, 0, None)
    return user_store.update_user(
        session,
        name,
        at=now,
        actor=actor,
        kind=kind,
        password_hash=hashed,
        must_change_password=must_change,
    )


__all__ = [
    "Authenticated",
    "Issued",
    "authenticate",
    "change_password",
    "hash_password",
    "login",
    "logout",
    "revoke_tokens",
    "set_password",
    "sign_in",
]
