"""Faults of the environment: each ends in a clear error or a retry, and the next run loses nothing.

SMTP (through delivery.deliver_outbox, on SQLite and PostgreSQL): down, refusing with 5xx and
4xx, slow past the client's timeout, accepting a message and then dropping the connection.
SQLite: locked by another writer for longer than the busy timeout; the disk full (a 2 MB
tmpfs, or SQLite's max_page_count where mounting is not permitted). PostgreSQL restarted in
the middle of a sweep is not tested here: the server is shared by the whole suite.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy import select
from sqlalchemy.orm import Session

from aidflow.clock import FrozenClock
from aidflow.language.calendar import WorkCalendar
from aidflow.notify.email import SMTPMailer
from aidflow.services import delivery
from aidflow.store.models import Case, OutboxMessage

from .conftest import PERSON_ID, REPO, World
from .smtp import SMTPServer
from .test_crashes import TICK, base_env, escalating_world

MESSAGES = 3


def mailer_for(server: SMTPServer, timeout: float = 5.0) -> SMTPMailer:
    return SMTPMailer(
        server.host, server.port, security="none", sender="aidflow@county.example", timeout=timeout
    )


def queue(world: World, n: int = MESSAGES) -> list[str]:
    """n pending outbox rows, due now; their Message-IDs."""
    now = world.clock.now()
    ids = [f"<fault{i}@county.example>" for i in range(n)]
    with world.session() as s, s.begin():
        s.add_all(
            OutboxMessage(
                to_addr=f"u{i}@county.example",
                subject=f"subject {i}",
                text=f"text {i}",
                html=f"<p>text {i}</p>",
                message_id=mid,
                created_at=now,
                status="pending",
                attempts=0,
                next_attempt_at=now,
            )
            for i, mid in enumerate(ids)
        )
    return ids


def deliver(world: World, mailer: SMTPMailer) -> tuple[int, int]:
    with world.session() as s:  # no transaction open: deliver_outbox commits per message
        return delivery.deliver_outbox(s, world.clock, mailer)


def rows(world: World) -> list[tuple[str, str, int, datetime, str | None]]:
    with world.session() as s:
        return [
            (r.message_id, r.status, r.attempts, r.next_attempt_at, r.last_error)
            for r in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]


def received(server: SMTPServer) -> Counter[str]:
    return Counter(m.message["Message-ID"] for m in server.messages)


# -- SMTP ---------------------------------------------------------------------------------------


def test_smtp_down_retries_with_backoff_and_loses_nothing(
    world: World, smtp_server: SMTPServer
) -> None:
    ids = queue(world)
    mailer = mailer_for(smtp_server)
    smtp_server.stop()
    now = world.clock.now()
    assert deliver(world, mailer) == (0, 0)
    error = (
        f"SMTP server 127.0.0.1:{smtp_server.port} refused the connection"
        "\n  hint: is the mail server running and the port right?"
    )
    assert rows(world) == [(mid, "pending", 1, now + timedelta(minutes=1), error) for mid in ids]
    world.clock.advance(timedelta(seconds=59))  # not due yet: no second attempt
    assert deliver(world, mailer) == (0, 0)
    world.clock.advance(timedelta(seconds=1))
    assert deliver(world, mailer) == (0, 0)  # still down: the next wait doubles
    assert {(r[1], r[2], r[3]) for r in rows(world)} == {
        ("pending", 2, world.clock.now() + timedelta(minutes=2))
    }
    smtp_server.start()
    world.clock.advance(timedelta(minutes=2))
    assert deliver(world, mailer) == (MESSAGES, 0)
    assert {(r[1], r[2], r[4]) for r in rows(world)} == {("sent", 3, None)}
    assert received(smtp_server) == Counter(ids)


def test_smtp_5xx_fails_permanently_and_a_retry_sends_it(
    world: World, smtp_server: SMTPServer
) -> None:
    ids = queue(world)
    smtp_server.refuse("DATA", "554 5.6.0 Message content rejected")
    assert deliver(world, mailer_for(smtp_server)) == (0, MESSAGES)
    got = rows(world)
    assert {(r[1], r[2]) for r in got} == {("failed", 1)}
    assert all("554" in (r[4] or "") and "Message content rejected" in (r[4] or "") for r in got), (
        got
    )
    assert smtp_server.messages == []
    smtp_server.reset()  # the administrator fixed the cause and puts the rows back
    with world.session() as s, s.begin():
        for oid in s.scalars(select(OutboxMessage.id)):
            delivery.retry_outbox(s, world.clock, oid)
    assert deliver(world, mailer_for(smtp_server)) == (MESSAGES, 0)
    assert received(smtp_server) == Counter(ids)


def test_smtp_4xx_is_retried_with_backoff(world: World, smtp_server: SMTPServer) -> None:
    ids = queue(world)
    smtp_server.refuse("RCPT", "451 4.3.0 Try again later")
    assert deliver(world, mailer_for(smtp_server)) == (0, 0)
    assert {(r[1], r[2], r[3]) for r in rows(world)} == {
        ("pending", 1, world.clock.now() + timedelta(minutes=1))
    }
    assert all("451" in (r[4] or "") for r in rows(world))
    smtp_server.reset()
    world.clock.advance(timedelta(minutes=1))
    assert deliver(world, mailer_for(smtp_server)) == (MESSAGES, 0)
    assert received(smtp_server) == Counter(ids)


def test_smtp_slower_than_the_timeout_is_retried(world: World, smtp_server: SMTPServer) -> None:
    ids = queue(world, 1)
    smtp_server.delay("DATA", 3.0)
    assert deliver(world, mailer_for(smtp_server, timeout=0.3)) == (0, 0)
    [(_, status, attempts, due, error)] = rows(world)
    assert (status, attempts, due) == ("pending", 1, world.clock.now() + timedelta(minutes=1))
    assert (
        error == f"SMTP server 127.0.0.1:{smtp_server.port} did not answer within 0.3 s during DATA"
    )
    smtp_server.stop()  # cancels the stalled handler: the slow server never accepted it
    smtp_server.reset()
    smtp_server.start()
    world.clock.advance(timedelta(minutes=1))
    assert deliver(world, mailer_for(smtp_server)) == (1, 0)
    assert received(smtp_server) == Counter(ids)


class _DropAfterData:
    """Accepts the message, then drops the connection before its 250 reaches the client (once)."""

    def __init__(self, owner: SMTPServer, inner: Any) -> None:
        self.owner, self.inner, self.dropped = owner, inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        reply: str = await self.inner.handle_DATA(server, session, envelope)
        if self.dropped == 0:
            self.dropped += 1
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
        return reply


@pytest.fixture
def dropping_server(smtp_server: SMTPServer) -> Iterator[tuple[SMTPServer, _DropAfterData]]:
    controller: Any = smtp_server._controller
    handler = _DropAfterData(smtp_server, controller.handler)
    controller.handler = handler  # used for every new connection
    yield smtp_server, handler


def test_smtp_accepting_then_dropping_sends_one_duplicate_with_the_same_id(
    world: World, dropping_server: tuple[SMTPServer, _DropAfterData]
) -> None:
    server, handler = dropping_server
    ids = queue(world, 2)
    assert deliver(world, mailer_for(server)) == (
        1,
        0,
    )  # the first was cut off, the second went through
    first, second = rows(world)
    assert first[1:4] == ("pending", 1, world.clock.now() + timedelta(minutes=1))
    assert first[4] is not None and "during DATA" in first[4], first
    assert second[1:3] == ("sent", 1)
    world.clock.advance(timedelta(minutes=1))
    assert deliver(world, mailer_for(server)) == (1, 0)
    assert [r[1:3] for r in rows(world)] == [("sent", 2), ("sent", 1)]
    assert handler.dropped == 1
    # the documented duplicate: the server had it before the drop; the resend has the same
    # Message-ID
    assert received(server) == Counter({ids[0]: 2, ids[1]: 1})


# -- SQLite: locked ----------------------------------------------------------------------------


def aidflow(
    url: str,
    *args: str,
    env: dict[str, str] | None = None,
    user: str | None = None,
    now: str = "2023-08-01T09:00",
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "aidflow.cli.main", "--db", url, "--now", now]
    if user:
        argv += ["--as", user]
    return subprocess.run(
        argv + list(args),
        env=env or base_env(),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def sqlite_world(sqlite_url: str, calendar: WorkCalendar) -> World:
    from aidflow.policy.workflows import load_workflow_file
    from aidflow.store.database import make_engine, upgrade

    from .conftest import START, WORKFLOWS

    engine = make_engine(sqlite_url)
    upgrade(engine)
    w = World(engine, FrozenClock(START), calendar)

    def setup(svc: Any) -> None:
        from .conftest import bootstrap

        bootstrap(svc, deploy=False)
        svc.deploy("admin", load_workflow_file(WORKFLOWS / "dibao.yaml"))
        svc.add_user("admin", "li", ["township_caseworker"], "城关镇", "li@county.example")
        svc.register_person(PERSON_ID, "王秀英", "城关镇", "东村", "rural", disability_grade=2)

    w.run(setup)
    return w


def test_sqlite_locked_longer_than_the_busy_timeout(sqlite_world: World, sqlite_url: str) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    sqlite_world.engine.dispose()
    before = dump(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer, holding the lock
    try:
        env = dict(base_env(), AIDFLOW_SQLITE_BUSY_TIMEOUT_MS="200")
        out = aidflow(
            sqlite_url, "case", "open", PERSON_ID, "--workflow", "dibao", user="li", env=env
        )
        assert out.returncode == 9, out.stderr
        assert out.stdout == ""
        assert out.stderr == (
            "error: the database is busy: database is locked\n"
            "  hint: another writer holds it; retry\n"
        )
        tick = aidflow(sqlite_url, "scheduler", "tick", env=env)
        assert (tick.returncode, tick.stderr) == (9, out.stderr)
    finally:
        holder.rollback()
        holder.close()
    assert dump(path) == before  # nothing half-written
    out = aidflow(
        sqlite_url,
        "case",
        "open",
        PERSON_ID,
        "--workflow",
        "dibao",
        user="li",
        env=dict(base_env(), AIDFLOW_SQLITE_BUSY_TIMEOUT_MS="200"),
    )
    assert out.returncode == 0, out.stderr
    with Session(sqlite_world.engine) as s:
        assert len(s.scalars(select(Case)).all()) == 1
    assert sqlite_world.verify() == []


def test_busy_timeout_setting_is_checked(sqlite_world: World, sqlite_url: str) -> None:
    out = aidflow(
        sqlite_url,
        "case",
        "list",
        user="li",
        env=dict(base_env(), AIDFLOW_SQLITE_BUSY_TIMEOUT_MS="2s"),
    )
    assert out.returncode == 3
    assert out.stderr == (
        "error: AIDFLOW_SQLITE_BUSY_TIMEOUT_MS='2s' is not a whole number of milliseconds\n"
        "  hint: write e.g. 30000 for 30 seconds\n"
    )


# -- SQLite: disk full ---------------------------------------------------------------------------

LIMIT_SCRIPT = """
import os, sys
from sqlalchemy import Engine, event
pages = int(os.environ["TEST_MAX_PAGE_COUNT"])

@event.listens_for(Engine, "connect")
def limit(dbapi_conn, _record):
    dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

from aidflow.cli.main import main
sys.argv[0] = "aidflow"
main()
"""


@pytest.fixture
def small_dir(tmp_path: Path) -> Iterator[Path | None]:
    """A 2 MB tmpfs, or None where mounting is not permitted."""
    target = tmp_path / "small"
    target.mkdir()
    try:
        mounted = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(target)],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )
    except OSError:  # no mount command
        mounted = False
    if not mounted:
        yield None
        return
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_disk_full_is_a_clear_error_and_the_next_run_completes(
    calendar: WorkCalendar, tmp_path: Path, small_dir: Path | None
) -> None:
    w = escalating_world(f"sqlite:///{tmp_path / 'big.db'}", calendar, 40)
    w.engine.dispose()
    ref = tmp_path / "reference.db"
    shutil.copy(tmp_path / "big.db", ref)
    assert aidflow(f"sqlite:///{ref}", "scheduler", "tick", now=TICK).returncode == 0
    expected = _escalations(ref)
    assert len(expected) > 80

    argv_prefix: list[str] = []
    env = base_env()
    if small_dir is not None:  # a real full disk: fill the tmpfs up to a few pages
        db = small_dir / "aidflow.db"
        shutil.copy(tmp_path / "big.db", db)
        filler = small_dir / "filler"
        free = shutil.disk_usage(small_dir).free
        filler.write_bytes(b"\0" * max(free - 48 * 1024, 0))
    else:  # the equivalent: SQLite's own size limit, a few pages above the current size
        db = tmp_path / "aidflow.db"
        shutil.copy(tmp_path / "big.db", db)
        pages = _query(db, "PRAGMA page_count")[0][0]
        env = dict(env, TEST_MAX_PAGE_COUNT=str(pages + 8))
        argv_prefix = ["-c", LIMIT_SCRIPT]
    url = f"sqlite:///{db}"
    before = dump(db)

    argv = [
        sys.executable,
        *(argv_prefix or ["-m", "aidflow.cli.main"]),
        "--db",
        url,
        "--now",
        TICK,
        "scheduler",
        "tick",
    ]
    full = subprocess.run(
        argv, env=env, capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    assert full.returncode == 9, full.stderr
    assert full.stderr.startswith("error: database error: database or disk is full\n"), full.stderr
    assert "the disk is not full" in full.stderr
    assert dump(db) == before  # nothing half-written
    assert _query(db, "PRAGMA integrity_check") == [("ok",)]

    if small_dir is not None:
        (small_dir / "filler").unlink()  # free the space
    ok = aidflow(url, "scheduler", "tick", now=TICK)
    assert ok.returncode == 0, ok.stderr
    assert _escalations(db) == expected
    assert _outbox(db) == _outbox(ref)


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def _escalations(db: Path) -> list[tuple[Any, ...]]:
    return sorted(
        _query(db, "SELECT case_id, entry_seq, rung, repeat_no, recipient FROM escalations")
    )


def _outbox(db: Path) -> Counter[tuple[Any, ...]]:
    return Counter(_query(db, "SELECT to_addr, subject, status FROM outbox"))
