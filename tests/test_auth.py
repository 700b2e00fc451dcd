"""Authentication: argon2id passwords, tokens, backoff and lockout (aidflow.services.auth).

Each attack the issue names is performed here: guessing passwords until the account locks,
probing for user names, reusing an expired or revoked token, and a disabled user's token.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from aidflow.errors import AuthenticationError, InvalidInputError
from aidflow.services import auth
from aidflow.store import auditlog
from aidflow.store import users as user_store
from aidflow.store.tables import AUDIT_LOG, TOKENS

from .conftest import START

PASSWORD = "correct horse battery"
HOUR = timedelta(hours=1)


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    with Session(engine) as s, s.begin():
        user_store.add_user(
            s,
            "li",
            ["township_caseworker"],
            "*",
            "li@county.example",
            START,
            "admin",
            password_hash=auth.hash_password(PASSWORD),
            must_change_password=True,
        )
    yield engine


def login(engine: Engine, name: str, password: str, at: timedelta = timedelta()) -> auth.Issued:
    """One login attempt in its own committed unit of work (failures count)."""
    refused: AuthenticationError | None = None
    with Session(engine) as s, s.begin():
        try:
            return auth.login(s, name, password, START + at, 12 * HOUR)
        except AuthenticationError as exc:
            refused = exc
    raise refused


def authenticate(engine: Engine, token: str, at: timedelta = timedelta()) -> auth.Authenticated:
    with Session(engine) as s, s.begin():
        return auth.authenticate(s, token, START + at)


def refusal(engine: Engine, name: str, password: str, at: timedelta = timedelta()) -> str:
    with pytest.raises(AuthenticationError) as info:
        login(engine, name, password, at)
    assert info.value.exit_code == 10
    return str(info.value)


def test_passwords_are_hashed_with_argon2id_default_parameters(db: Engine) -> None:
    with Session(db) as s:
        stored = s.execute(text("SELECT password_hash FROM users WHERE name = 'li'")).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored


def test_login_issues_a_token_stored_only_as_its_sha256(db: Engine) -> None:
    issued = login(db, "li", PASSWORD)
    assert issued.user == "li"
    assert issued.must_change_password is True
    assert issued.expires_at == START + 12 * HOUR
    assert len(issued.token) >= 43  # 32 random bytes, base64url
    with Session(db) as s:
        stored = s.execute(select(TOKENS.c.token_hash)).scalars().all()
    assert stored == [auth.token_hash(issued.token)]
    assert authenticate(db, issued.token) == auth.Authenticated("li", True)


def test_unknown_user_and_wrong_password_get_the_same_answer(db: Engine) -> None:
    expected = (
        "wrong user name or password\n  hint: check both; after repeated failures the account locks"
    )
    assert refusal(db, "li", "wrong password!") == expected
    assert refusal(db, "nobody", PASSWORD) == expected


def test_backoff_then_lockout_as_the_clock_moves(db: Engine) -> None:
    for _ in range(3):
        refusal(db, "li", "guess guess guess")
    # the third failure at START: the next attempt waits 2**0 s, even with the right password
    assert refusal(db, "li", PASSWORD) == (
        "too many failed logins for li; try again in 1 s\n"
        "  hint: each further failure doubles the wait, and 10 failures lock the account"
    )
    at = timedelta(seconds=1)
    for n in range(4, 10):  # each failure n waits 2**(n-3) s before the next attempt
        refusal(db, "li", "guess guess guess", at)
        assert "try again in" in refusal(db, "li", PASSWORD, at)
        at += timedelta(seconds=2 ** (n - 3))
    assert refusal(db, "li", "guess guess guess", at) == (
        "account li is locked after 10 failed logins\n"
        "  hint: ask an administrator to run `aidflow user enable li` or "
        "`aidflow user reset-password li`"
    )
    # locked: the right password a day later is refused too, and the lockout is logged
    assert refusal(db, "li", PASSWORD, at + 24 * HOUR).startswith("account li is locked")
    with Session(db) as s:
        kinds = s.execute(select(AUDIT_LOG.c.kind, AUDIT_LOG.c.actor)).all()
        assert ("user_locked", "li") in kinds
        assert auditlog.check(s).findings == []


def test_success_resets_the_failure_count(db: Engine) -> None:
    for _ in range(2):
        refusal(db, "li", "guess guess guess")
    login(db, "li", PASSWORD)
    for _ in range(2):
        refusal(db, "li", "guess guess guess")
    login(db, "li", PASSWORD)  # two more failures are still under the backoff's three


def test_expired_token_is_refused(db: Engine) -> None:
    issued = login(db, "li", PASSWORD)
    assert authenticate(db, issued.token, 12 * HOUR - timedelta(seconds=1)).user == "li"
    with pytest.raises(AuthenticationError) as info:
        authenticate(db, issued.token, 12 * HOUR)
    assert str(info.value) == (
        "the token expired at 2023-08-01T13:00:00+00:00\n"
        "  hint: log in again with `aidflow login URL`"
    )


def test_logout_and_revocation_refuse_the_token(db: Engine) -> None:
    first, second = login(db, "li", PASSWORD), login(db, "li", PASSWORD)
    with Session(db) as s, s.begin():
        auth.logout(s, first.token, START)
    with pytest.raises(AuthenticationError, match="^the token was revoked\n  hint: log in again"):
        authenticate(db, first.token)
    assert authenticate(db, second.token).user == "li"
    with Session(db) as s, s.begin():
        assert auth.revoke_tokens(s, "admin", "li", START) == 1
    with pytest.raises(AuthenticationError, match="^the token was revoked"):
        authenticate(db, second.token)
    with pytest.raises(AuthenticationError, match="^the token is not known"):
        authenticate(db, second.token[:-2] + "xx")
    with Session(db) as s:
        assert ("user_tokens_revoked", "admin") in s.execute(
            select(AUDIT_LOG.c.kind, AUDIT_LOG.c.actor)
        ).all()


def test_a_disabled_users_token_and_password_are_refused(db: Engine) -> None:
    issued = login(db, "li", PASSWORD)
    with Session(db) as s, s.begin():
        user_store.update_user(
            s, "li", at=START, actor="admin", kind="user_disabled", disabled=True
        )
    with pytest.raises(AuthenticationError) as info:
        authenticate(db, issued.token)
    assert str(info.value) == (
        "user li is disabled\n  hint: ask an administrator to `aidflow user enable li`"
    )
    assert refusal(db, "li", PASSWORD).startswith("user li is disabled")
    # a wrong password to a disabled account says only that it is wrong
    assert refusal(db, "li", "guess guess guess").startswith("wrong user name or password")


def test_must_change_flow(db: Engine) -> None:
    assert login(db, "li", PASSWORD).must_change_password is True
    with Session(db) as s, s.begin():
        with pytest.raises(InvalidInputError, match="the minimum is 10"):
            auth.change_password(s, "li", PASSWORD, "short", START)
        with pytest.raises(AuthenticationError, match="^wrong user name or password"):
            auth.change_password(s, "li", "not the password", "a much longer one", START)
        user = auth.change_password(s, "li", PASSWORD, "a much longer one", START)
    assert user.must_change_password is False
    refusal(db, "li", PASSWORD)
    issued = login(db, "li", "a much longer one")
    assert issued.must_change_password is False
    assert authenticate(db, issued.token) == auth.Authenticated("li", False)


def test_a_hash_with_older_parameters_is_replaced_at_login_and_logged(db: Engine) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    with Session(db) as s, s.begin():
        user_store.update_user(
            s, "li", at=START, actor="admin", kind="user_password_reset", password_hash=weak
        )
    login(db, "li", PASSWORD)
    with Session(db) as s:
        stored = s.execute(text("SELECT password_hash FROM users WHERE name = 'li'")).scalar_one()
        assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        last = s.execute(select(AUDIT_LOG.c.kind, AUDIT_LOG.c.actor).order_by(AUDIT_LOG.c.seq))
        assert last.all()[-1] == ("user_password_rehashed", "li")
        assert auditlog.check(s).findings == []
