"""Kill -9 at named points: the scheduler, a payment run and an import recover, nothing lost.

Each test starts the real `aidflow` command as an OS process with a failpoint armed
(aidflow.failpoints, env AIDFLOW_FAILPOINT=NAME:K), waits until the process has stopped
itself at the K-th pass of that point, and SIGKILLs it. The points and counts are fixed
here, so every run kills at the same places whatever the machine's load: the first, a
middle and the last batch or message, inside a transaction and just after its commit.
After each kill the database holds exactly what that point implies (nothing of an
uncommitted batch, all of a committed one). A last run completes the work, and the
database is compared with a reference: nothing missing, nothing doubled, nothing
half-written.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aidflow.clock import FrozenClock
from aidflow.language.calendar import WorkCalendar
from aidflow.policy.workflows import load_workflow_file
from aidflow.services.cases import Service
from aidflow.services.payments import run_payments
from aidflow.store.database import make_engine, upgrade
from aidflow.store.models import (
    Escalation,
    ImportRun,
    OutboxMessage,
    Payment,
    PaymentRun,
    Person,
    PersonSource,
)

from .conftest import REPO, USERS, WORKFLOWS, World, bootstrap, local
from .smtp import Received, SMTPServer
from .test_import import CIVIL_HEADER, make_id, write_csv
from .test_payments import POLICY, TZ, County, at, county  # noqa: F401 - county is a fixture
from .test_simulated_month import SUPERVISORS, id_number

pytestmark = pytest.mark.slow


def base_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    for key in (
        "AIDFLOW_USER",
        "AIDFLOW_NOW",
        "AIDFLOW_DATABASE_URL",
        "AIDFLOW_LANG",
        "AIDFLOW_SMTP_HOST",
        "AIDFLOW_PAYMENT_DAY",
        "AIDFLOW_FAILPOINT",
    ):
        env.pop(key, None)
    return env


def kill_at(argv: list[str], env: dict[str, str], point: str) -> None:
    """Run `argv` until it stops itself at the failpoint `point` (NAME:K), then SIGKILL it.

    A command that ends without reaching the point fails the test: the kill it was meant
    for did not happen.
    """
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv,
            env={**env, "AIDFLOW_FAILPOINT": point},
            stdout=subprocess.DEVNULL,
            stderr=err,  # a file, not a pipe: a full pipe would block the command before the point
            cwd=REPO,
        )
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        if os.WIFSTOPPED(status):
            proc.send_signal(signal.SIGKILL)
            assert proc.wait() == -signal.SIGKILL
            return
        proc.returncode = os.waitstatus_to_exitcode(status)  # waitpid has reaped it
        err.seek(0)
        raise AssertionError(
            f"{point} was not reached; exit {proc.returncode}: {err.read().decode()}"
        )


def final_run(argv: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(
        argv, env=env, capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def aidflow(url: str, now: str, *args: str, user: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "aidflow.cli.main", "--db", url, "--now", now]
    if user:
        argv += ["--as", user]
    return argv + list(args)


def count(engine: Engine, model: object, *where: object) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return conn.scalar(stmt) or 0


# -- (a) the scheduler ------------------------------------------------------------------------

CASES = 60
TICK = "2023-09-18T09:00"  # rung 0 to li and zhao (12d), rung 1 to tsup (15d) for most cases


def escalating_world(url: str, calendar: WorkCalendar, cases: int) -> World:
    """`cases` dibao cases entering investigation an hour apart from 2023-09-01 00:00.

    Their escalations are due by TICK."""
    engine = make_engine(url)
    upgrade(engine)
    w = World(engine, FrozenClock(local(2023, 9, 1, 0, 0)), calendar)

    def setup(svc: Service) -> None:
        bootstrap(svc, deploy=False)
        svc.deploy("admin", load_workflow_file(WORKFLOWS / "dibao.yaml"))
        for name, roles, area in (USERS + SUPERVISORS)[1:]:
            svc.add_user("admin", name, roles, area, f"{name}@county.example")
        for i in range(cases):
            svc.register_person(
                id_number(date(1940, 1, 1) + timedelta(days=i), 10 + i),
                f"申请人{i}",
                "城关镇",
                "东村",
                "rural",
                disability_grade=1,
            )

    w.run(setup)
    for i in range(cases):
        w.clock.set(local(2023, 9, 1, 0, 0) + timedelta(hours=i))
        number = id_number(date(1940, 1, 1) + timedelta(days=i), 10 + i)

        def open_case(svc: Service, n: str = number) -> int:
            return svc.open_case(svc.actor("li"), n, "dibao").id

        cid = w.run(open_case)
        w.fire("li", cid, "accept")
        w.fire("li", cid, "start_investigation", investigators="li,zhao")

    return w


def _escalations(engine: Engine) -> list[tuple[int, int, int, int, str]]:
    with engine.connect() as conn:
        return sorted(
            tuple(r)
            for r in conn.execute(
                select(  # type: ignore[misc]
                    Escalation.case_id,
                    Escalation.entry_seq,
                    Escalation.rung,
                    Escalation.repeat_no,
                    Escalation.recipient,
                )
            )
        )


def _mail(engine: Engine) -> Counter[tuple[object, ...]]:
    """Each queued email by address and what it is about: its escalation's key and template (the
    sweep queues those unrendered; delivery renders them), else its subject."""
    with engine.connect() as conn:
        return Counter(
            (to, case_id, entry, rung, rep, template or subject)
            for to, case_id, entry, rung, rep, template, subject in conn.execute(
                select(
                    OutboxMessage.to_addr,
                    Escalation.case_id,
                    Escalation.entry_seq,
                    Escalation.rung,
                    Escalation.repeat_no,
                    OutboxMessage.template,
                    OutboxMessage.subject,
                ).outerjoin(Escalation, Escalation.id == OutboxMessage.escalation_id)
            )
        )


def _text_of(received: Received) -> str:
    body = received.message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def test_scheduler_killed_sends_every_escalation_once(
    sqlite_url: str, calendar: WorkCalendar, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    w = escalating_world(sqlite_url, calendar, CASES)
    engine = w.engine
    # the reference: one clean tick, without SMTP, on a copy of the database
    engine.dispose()
    copy = tmp_path / "reference.db"
    shutil.copy(sqlite_url.removeprefix("sqlite:///"), copy)
    ref_url = f"sqlite:///{copy}"
    final_run(aidflow(ref_url, TICK, "scheduler", "tick"), base_env())
    ref_engine = make_engine(ref_url)
    expected, expected_mail = _escalations(ref_engine), _mail(ref_engine)
    ref_engine.dispose()
    total = sum(expected_mail.values())
    assert count(engine, Escalation) == 0
    assert len(expected) > 2 * CASES

    env = dict(
        base_env(),
        AIDFLOW_SMTP_HOST=smtp_server.host,
        AIDFLOW_SMTP_PORT=str(smtp_server.port),
        AIDFLOW_SMTP_FROM="aidflow@county.example",
        AIDFLOW_SMTP_SECURITY="none",
    )
    argv = aidflow(sqlite_url, TICK, "scheduler", "tick")

    def sent() -> int:
        return count(engine, OutboxMessage, OutboxMessage.status == "sent")

    # the sweep's escalations and their outbox rows commit together, or not at all
    kill_at(argv, env, "sweep.batch:1")
    assert count(engine, Escalation) == count(engine, OutboxMessage) == 0
    kill_at(argv, env, "sweep.commit:1")
    assert _escalations(engine) == expected
    assert sent() == len(smtp_server.messages) == 0

    # delivery: killed just after a message's "sent" mark commits (nothing is sent twice), and
    # with a message accepted by the server but not yet marked (the next run sends it again:
    # one duplicate); at the first, a middle and the last pending message
    middle = (total - 1) // 2
    kills = [
        ("delivery.sent", 1),
        ("delivery.message", 1),  # the first message again, now marked
        ("delivery.message", middle),
        ("delivery.sent", total - 1 - middle),  # the last message
        ("delivery.message", 1),  # the last message again, now marked
    ]
    for point, k in kills:
        received_before, sent_before = len(smtp_server.messages), sent()
        kill_at(argv, env, f"{point}:{k}")
        assert len(smtp_server.messages) == received_before + k
        assert sent() == sent_before + k - (point == "delivery.sent")
    assert sent() == total

    out = final_run(argv, env)
    assert out.endswith("delivery: 0 sent, 0 failed, 0 pending\n"), out
    with engine.connect() as conn:
        outbox = conn.execute(
            select(OutboxMessage.message_id, OutboxMessage.to_addr, OutboxMessage.status)
        ).all()
    assert _escalations(engine) == expected  # none missing, none twice
    assert _mail(engine) == expected_mail  # one email per escalation (and visit notice)
    assert {status for *_, status in outbox} == {"sent"}

    received = Counter(m.message["Message-ID"] for m in smtp_server.messages)
    assert set(received) == {mid for mid, *_ in outbox}  # every row reached the server, only they
    # one duplicate per kill between the server's acceptance and the "sent" mark, the same
    # message again: its Message-ID, recipient, subject and text
    twice = [mid for mid, n in received.items() if n > 1]
    assert Counter(received.values()) == {1: total - 2, 2: 2}, received
    for mid in twice:
        copies = {
            (m.rcpt_tos, str(m.message["Subject"]), _text_of(m))
            for m in smtp_server.messages
            if m.message["Message-ID"] == mid
        }
        assert len(copies) == 1, copies
    to_of = {mid: to for mid, to, _ in outbox}
    assert all(m.rcpt_tos == (to_of[m.message["Message-ID"]],) for m in smtp_server.messages)
    assert w.verify() == []
    engine.dispose()


# -- (b) a payment run ------------------------------------------------------------------------

PAID_CASES = 300
PAYMENT_BATCHES = 2  # one page of cases per programme (dibao, tekun)


def _payments(engine: Engine) -> list[tuple[int, str, str, int]]:
    with Session(engine) as s:
        return [
            (p.case_id, p.kind, p.period, p.amount_fen)
            for p in s.scalars(
                select(Payment).order_by(Payment.case_id, Payment.kind, Payment.period)
            )
        ]


def test_payment_run_killed_pays_each_case_once(county: County, db_url: str) -> None:  # noqa: F811
    created = [
        county.case("dibao", at(2023, 8, 1, 9, 0), "approve", amount=f"{500 + i % 7}.50")
        for i in range(PAID_CASES // 2)
    ]
    created += [
        county.case(
            "tekun", at(2023, 8, 1, 9, 0), "confirm", self_care=("full", "partial", "none")[i % 3]
        )
        for i in range(PAID_CASES - len(created))
    ]

    # the reference: the same run in a transaction that is rolled back
    county.clock.set(at(2023, 9, 2, 9, 0))
    with Session(county.engine, expire_on_commit=False) as s:
        s.begin()
        run_payments(s, county.clock, POLICY, "2023-09", actor="sun", tz=TZ)
        s.flush()
        expected = sorted(
            (p.case_id, p.kind, p.period, p.amount_fen) for p in s.scalars(select(Payment))
        )
        s.rollback()
    assert _payments(county.engine) == []
    assert {case for case, *_ in expected} == set(created)

    argv = aidflow(db_url, "2023-09-02T09:00", "payments", "run", "--period", "2023-09", user="sun")
    # all or nothing: a run killed after any batch leaves no payment and no run behind
    for k in range(1, PAYMENT_BATCHES + 1):
        kill_at(argv, base_env(), f"payments.batch:{k}")
        assert count(county.engine, Payment) == count(county.engine, PaymentRun) == 0
    # armed one past the last batch, the run is not stopped: PAYMENT_BATCHES was the last
    final_run(argv, dict(base_env(), AIDFLOW_FAILPOINT=f"payments.batch:{PAYMENT_BATCHES + 1}"))
    got = _payments(county.engine)
    assert sorted(got) == expected
    assert len({(case, kind, period) for case, kind, period, _ in got}) == len(got)
    assert count(county.engine, PaymentRun) == 1


# -- (c) a bulk import ------------------------------------------------------------------------

ROWS = 3000
BATCH = 10  # rows per batch: 300 batches, then one that marks the run done
# (point, pass) in turn, and the rows committed after that kill: the first batch, in the
# middle, the last rows (uncommitted, then committed), then the closing batch
IMPORT_KILLS = [
    ("import.merge", 1, 0),
    ("import.batch", 1, 10),
    ("import.batch", 150, 1510),
    ("import.merge", 149, 2990),
    ("import.batch", 1, 3000),
]


def test_import_killed_imports_every_person_once(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        svc = Service(
            s,
            FrozenClock(local(2023, 8, 1, 9, 0)),
            WorkCalendar.from_file(WORKFLOWS / "policy" / "calendar.yaml"),
        )
        bootstrap(svc)
        svc.add_user("admin", "li", ["township_caseworker"], "城关镇", "li@county.example")
    born = [date(1930, 1, 1) + timedelta(days=i) for i in range(ROWS // 3)]
    ids = [make_id(d.strftime("%Y%m%d"), seq) for d in born for seq in (11, 22, 33)]
    lines = [CIVIL_HEADER] + [
        f"{idn},人{i},城关镇,东村,农业,,否,是,否" for i, idn in enumerate(ids)
    ]
    f = write_csv(tmp_path / "big.csv", lines)

    argv = aidflow(
        sqlite_url,
        "2023-08-01T09:00",
        "person",
        "import",
        str(f),
        "--source",
        "civil_affairs",
        "--batch-size",
        str(BATCH),
        user="li",
    )

    def state() -> tuple[int, int, list[tuple[str, int]]]:
        with Session(engine) as s:
            runs = s.execute(select(ImportRun.status, ImportRun.rows_imported)).all()
        return count(engine, Person), count(engine, PersonSource), [tuple(r) for r in runs]

    for point, k, rows in IMPORT_KILLS:
        kill_at(argv, base_env(), f"{point}:{k}")
        assert state() == (rows, rows, [("running", rows)]), (point, k)  # resumed, one run
    kill_at(argv, base_env(), "import.batch:1")  # the closing batch: nothing left to write
    assert state() == (ROWS, ROWS, [("done", ROWS)])
    final_run(argv, base_env())  # a finished import is not repeated

    with Session(engine) as s:
        people = list(s.scalars(select(Person.id_number)))
        sources = s.execute(select(PersonSource.line, PersonSource.source)).all()
        runs = s.execute(select(ImportRun.status, ImportRun.rows_imported)).all()
    assert sorted(people) == sorted(ids)
    assert len(sources) == len(set(sources)) == ROWS
    assert sorted(line for line, _ in sources) == list(range(2, ROWS + 2))
    assert {source for _, source in sources} == {"civil_affairs"}
    assert runs == [("done", ROWS)]
    engine.dispose()
