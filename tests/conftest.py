"""Fixtures per seam: clock, calendar, database (SQLite file and PostgreSQL), service, CLI runner.

PostgreSQL tests run against AIDFLOW_TEST_PG_URL (default: the local server, database
`test`), each in a schema of its own that is dropped afterwards. If the server does not
answer the tests fail loudly; set AIDFLOW_TEST_SKIP_PG=1 to skip them on purpose.
"""

from __future__ import annotations

import functools
import os
import pwd
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from aidflow.clock import FrozenClock
from aidflow.language.calendar import WorkCalendar
from aidflow.policy.standards import Policy, load_policy
from aidflow.policy.workflows import load_workflow_file
from aidflow.services.cases import Service
from aidflow.store.database import make_engine, upgrade

from .smtp import SMTPServer

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / "src" / "aidflow" / "shipped" / "workflows"
TZ = ZoneInfo("Asia/Shanghai")
PG_URL = os.environ.get("AIDFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START = datetime(2023, 8, 1, 9, 0, tzinfo=TZ)  # a Tuesday
# the operating-system account running the tests: the fixtures' admin is bound to it, so the
# CLI in local mode acts as that admin, entering for the user a test names with --as
OS_LOGIN = pwd.getpwuid(os.getuid()).pw_name
# the area registry of the fixtures' county
AREAS = [("城关镇", "东村"), ("城关镇", "西村"), ("河西镇", "南村"), ("新城镇", "")]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture(scope="session")
def calendar() -> WorkCalendar:
    return WorkCalendar.from_file(WORKFLOWS / "policy" / "calendar.yaml")


def _pg_schema_url() -> Iterator[str]:
    if os.environ.get("AIDFLOW_TEST_SKIP_PG"):
        pytest.skip("AIDFLOW_TEST_SKIP_PG is set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL at {PG_URL} is not usable ({exc}); start it (.ci/run does) "
            "or set AIDFLOW_TEST_SKIP_PG=1"
        )
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text("SET lock_timeout = '20s'"))  # a leaked session must not hang the run
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind (the test creates the schema if it needs one)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'aidflow.db'}"
    else:
        yield from _pg_schema_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'aidflow.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _pg_schema_url()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    upgrade(eng, training=True)  # the tests move the clock (--now) on what they write
    yield eng
    eng.dispose()


@functools.cache
def shipped_policy() -> Policy:
    """The shipped standards (amount rules, exclusivity), loaded when a Service first needs them."""
    return load_policy(WORKFLOWS / "policy")


@dataclass
class World:
    """A database with users, persons and the shipped workflows; `svc()` opens a transaction."""

    engine: Engine
    clock: FrozenClock
    calendar: WorkCalendar

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def verify(self) -> list[str]:
        from aidflow.store import audit

        with Session(self.engine) as s:
            return [str(f) for f in audit.verify(s)[2]]

    def verify_log(self) -> list[str]:
        """What a check of the global audit log finds (aidflow.store.auditlog)."""
        from aidflow.store import auditlog

        with Session(self.engine) as s:
            return [str(f) for f in auditlog.check(s).findings]

    def run(self, fn: Callable[[Service], Any]) -> Any:
        """Run `fn` in one transaction, committed if it returns, rolled back if it raises."""
        with self.session() as s, s.begin():
            return fn(Service(s, self.clock, self.calendar, shipped_policy))

    def fire(
        self, user: str, case_id: int, trigger: str, note: str | None = None, **fields: str
    ) -> Any:
        return self.run(lambda svc: svc.fire(svc.actor(user), case_id, trigger, fields, note))


USERS = [
    ("admin", ["admin"], "*"),
    ("li", ["township_caseworker"], "城关镇"),
    ("zhao", ["township_caseworker"], "城关镇"),
    ("wu", ["township_caseworker"], "河西镇"),
    ("chen", ["village_officer"], "城关镇/东村"),
    ("sun", ["county_officer"], "*"),
] + [(f"rep{i}", ["village_rep"], "城关镇/东村") for i in range(1, 8)]

PERSON_ID = "11010519491231002X"  # born 1949-12-31, female


def bootstrap(svc: Service, *, deploy: bool = True) -> None:
    """The first user `admin` (bound to this OS login), the area registry and (with `deploy`)
    the shipped workflows: what a database needs before any other user can be added."""
    from aidflow.services import users

    svc.add_user(None, "admin", ["admin"], "*", "admin@county.example", os_login=OS_LOGIN)
    users.import_areas(svc.session, svc.clock.now(), "admin", AREAS)
    if deploy:
        for f in sorted(WORKFLOWS.glob("*.yaml")):
            svc.deploy("admin", load_workflow_file(f))


@pytest.fixture
def world(engine: Engine, clock: FrozenClock, calendar: WorkCalendar) -> World:
    w = World(engine, clock, calendar)
    populate(w)
    return w


def populate(w: World) -> None:
    """The users, the shipped workflows and one person (PERSON_ID)."""

    def setup(svc: Service) -> None:
        bootstrap(svc)
        for name, roles, area in USERS[1:]:
            svc.add_user("admin", name, roles, area, f"{name}@county.example")
        svc.register_person(
            PERSON_ID,
            "王秀英",
            "城关镇",
            "东村",
            "rural",
            disability_grade=2,
            related_users=["rep7"],
        )

    w.run(setup)


@dataclass
class Cli:
    """Runs the real `aidflow` command in-process against one database.

    The tests run at a simulated time (--now), so their databases are training databases
    (`db upgrade --training`). The banner such a command prints first on stderr is taken
    off the result unless `banner` is set (tests/test_training_clock.py checks it), so
    that the other tests compare a command's own output.
    """

    url: str
    now: str = "2023-08-01T09:00"
    banner: bool = False

    def __call__(
        self, *args: str, user: str | None = None, now: str | None = None, input: str | None = None
    ) -> Result:
        from aidflow.cli.main import cli

        argv = ["--db", self.url, "--now", now or self.now]
        if user:
            argv += ["--as", user]
        env = {
            k: None for k in ("AIDFLOW_USER", "AIDFLOW_LANG", "AIDFLOW_NOW", "AIDFLOW_DATABASE_URL")
        }
        result = CliRunner().invoke(
            cli, argv + list(args), input=input, env=env, catch_exceptions=False
        )
        return result if self.banner else without_banner(result)


def strip_banner(stderr: str) -> str:
    """A command's stderr without the training database's banner (its first line)."""
    first, newline, rest = stderr.partition("\n")
    banner = first.startswith("[training database") or first.startswith("[训练数据库")
    return rest if banner and newline else stderr


def without_banner(result: Result) -> Result:
    """`result` with the training database's banner (the first line on stderr) taken off."""
    first, _, rest = result.stderr_bytes.partition(b"\n")
    if not (first.startswith(b"[training database") or first.startswith("[训练数据库".encode())):
        return result
    line = first + b"\n"
    return Result(
        result.runner,
        result.stdout_bytes,
        rest,
        result.output_bytes.replace(line, b"", 1),
        result.return_value,
        result.exit_code,
        result.exception,
        result.exc_info,
    )


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server on loopback (aiosmtpd) that records what it receives."""
    with SMTPServer() as server:
        yield server


@pytest.fixture
def run_cli(db_url: str) -> Cli:
    return Cli(db_url)


@pytest.fixture(autouse=True)
def _english_after_each_test() -> Iterator[None]:
    """A command run in process sets its language for the rest of the thread (as the CLI
    does for its one command); the next test starts in English, as a new process would."""
    yield
    from aidflow.i18n import set_language

    set_language("en")


@pytest.fixture(autouse=True)
def _operations_speak_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every operation a command calls in process takes and gives exactly what JSON carries,
    so a command prints the same in local mode and in client mode (where the values cross
    HTTP as JSON): no tuple, datetime, Decimal or integer key slips into either."""
    import json

    from aidflow.cli.app import App

    call = App.call

    def checked(self: App, name: str, key: str | None = None, **params: Any) -> Any:
        assert json.loads(json.dumps(params)) == params, f"{name}: parameters are not JSON"
        result = call(self, name, key, **params)
        assert json.loads(json.dumps(result)) == result, f"{name}: result is not JSON"
        return result

    monkeypatch.setattr(App, "call", checked)
