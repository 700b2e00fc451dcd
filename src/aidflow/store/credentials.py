"""Credentials: a user's password hash and login counters, and login tokens.

A token is stored only as the SHA-256 of the token (hex): whoever reads this table cannot
act with what they read. The password hash itself changes through aidflow.store.users
(`update_user`), which logs the change; the failure counters here are not content the
audit log covers (they change with every wrong password).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aidflow.store.fast import connection
from aidflow.store.tables import TOKENS, USERS


@dataclass(frozen=True, slots=True)
class LoginState:
    """What a login is checked against."""

    name: str
    password_hash: str | None
    must_change_password: bool
    disabled: bool
    failed_logins: int
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class TokenState:
    """A stored token: whose it is, until when, and whether it was revoked."""

    user_name: str
    expires_at: datetime
    revoked_at: datetime | None


def login_state(session: Session, name: str, *, lock: bool = False) -> LoginState | None:
    """The user's credential state; with `lock`, the row stays locked until the commit
    (PostgreSQL), so concurrent attempts count their failures one after another."""
    stmt = select(
        USERS.c.name,
        USERS.c.password_hash,
        USERS.c.must_change_password,
        USERS.c.disabled,
        USERS.c.failed_logins,
        USERS.c.locked_until,
    ).where(USERS.c.name == name)
    row = session.execute(stmt.with_for_update() if lock else stmt).one_or_none()
    return None if row is None else LoginState(*row)


def set_failures(
    session: Session, name: str, failed_logins: int, locked_until: datetime | None
) -> None:
    """Record the count of failed logins and when the next attempt is allowed."""
    session.execute(
        USERS.update()
        .where(USERS.c.name == name)
        .values(failed_logins=failed_logins, locked_until=locked_until)
    )


def insert_token(
    session: Session, token_hash: str, user_name: str, created_at: datetime, expires_at: datetime
) -> None:
    session.execute(
        TOKENS.insert().values(
            token_hash=token_hash,
            user_name=user_name,
            created_at=created_at,
            expires_at=expires_at,
            revoked_at=None,
        )
    )


def token_state(session: Session, token_hash: str) -> TokenState | None:
    """The token stored under `token_hash` (an exact index lookup of the hash)."""
    row = session.execute(
        select(TOKENS.c.user_name, TOKENS.c.expires_at, TOKENS.c.revoked_at).where(
            TOKENS.c.token_hash == token_hash
        )
    ).one_or_none()
    return None if row is None else TokenState(*row)


def revoke_token(session: Session, token_hash: str, at: datetime) -> bool:
    """Revoke one token; whether a live one was found."""
    found = (
        connection(session)
        .execute(
            TOKENS.update()
            .where(TOKENS.c.token_hash == token_hash, TOKENS.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        .rowcount
    )
    return bool(found)


def revoke_user_tokens(session: Session, user_name: str, at: datetime) -> int:
    """Revoke every live token of the user; how many."""
    found = (
        connection(session)
        .execute(
            TOKENS.update()
            .where(TOKENS.c.user_name == user_name, TOKENS.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        .rowcount
    )
    return int(found)
