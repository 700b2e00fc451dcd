"""Kill -9 at random points: the scheduler, a payment run and a bulk import recover with nothing lost.

Each test starts the real `aidflow` command as an OS process and SIGKILLs it after a random
delay of 0-300 ms (start-up takes about 130 ms), at least KILLS times, then runs it once more
to completion and checks the database against a reference: nothing missing, nothing
duplicated, nothing half-written. A phase that takes longer than 300 ms and commits once
(the sweep, a payment run, the first import batch) would be killed forever, so after a kill
that found no progress the next 300 ms window starts 100 ms later (reset after progress).
The delays are seeded (the timing of the work itself is not).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
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
from aidflow.store.models import Escalation, ImportRun, OutboxMessage, Payment, Person, PersonSource

from .conftest import REPO, USERS, WORKFLOWS, World, local
from .smtp import SMTPServer
from .test_import import CIVIL_HEADER, make_id, write_csv
from .test_payments import POLICY, TZ, County, at, county  # noqa: F401 - county is a fixture
from .test_simulated_month import SUPERVISORS, id_number

pytestmark = pytest.mark.slow

KILLS = 20
MAX_DELAY = 0.3  # seconds after start
OFFSET_STEP = 0.1  # see kill_repeatedly
BUDGET = 60.0  # seconds per kill loop, a bound that a hang would break


@dataclass
class Kills:
    """What a kill loop did: kills, runs that finished before their kill, progress seen at each kill."""

    killed: int = 0
    finished: int = 0
    progress: list[int] = field(default_factory=list)


def base_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    for key in (
        "AIDFLOW_USER",
        "AIDFLOW_NOW",
        "AIDFLOW_DATABASE_URL",
        "AIDFLOW_LANG",
        "AIDFLOW_SMTP_HOST",
        "AIDFLOW_PAYMENT_DAY",
    ):
        env.pop(key, None)
    return env


def kill_repeatedly(
    argv: list[str], env: dict[str, str], seed: int, progress: Callable[[], int]
) -> Kills:
    """Start `argv` and SIGKILL it after offset + U(0, MAX_DELAY) s, until KILLS kills.

    Runs that end before their kill must succeed. `progress` counts what is committed (or sent).
    """
    rng = random.Random(seed)
    out = Kills()
    deadline = time.monotonic() + BUDGET
    offset, seen = 0.0, progress()
    while out.killed < KILLS:
        assert time.monotonic() < deadline, f"kill loop over budget: {out}"
        proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO
        )
        try:
            proc.wait(timeout=offset + rng.uniform(0, MAX_DELAY))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.stderr is not None
            proc.stderr.close()
            out.killed += 1
            now_seen = progress()
            out.progress.append(now_seen)
            # a phase longer than MAX_DELAY that commits once (a sweep, a payment run) would be
            # killed forever: after a kill that saw no progress the next window starts later, and
            # the step grows, so a loaded machine (slow start-up) still gets kills past the first
            # commit; after progress, half back, so kills keep landing early too
            offset = offset * 1.5 + OFFSET_STEP if now_seen == seen else offset / 2
            seen = now_seen
        else:
            offset, seen = 0.0, progress()
            assert proc.stderr is not None
            err = proc.stderr.read().decode()
            proc.stderr.close()
            assert proc.returncode == 0, err
            out.finished += 1
    return out


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


def count(engine: Engine, model: object) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[arg-type]


# -- (a) the scheduler ------------------------------------------------------------------------

CASES = 60
TICK = "2023-09-18T09:00"  # rung 0 to li and zhao (12d), rung 1 to tsup (15d) for most cases


def escalating_world(url: str, calendar: WorkCalendar, cases: int) -> World:
    """`cases` dibao cases entering investigation an hour apart from 2023-09-01 00:00 (escalations due by TICK)."""
    engine = make_engine(url)
    upgrade(engine)
    w = World(engine, FrozenClock(local(2023, 9, 1, 0, 0)), calendar)

    def setup(svc: Service) -> None:
        for name, roles, area in USERS + SUPERVISORS:
            svc.add_user(
                None if name == "admin" else "admin", name, roles, area, f"{name}@county.example"
            )
        svc.deploy("admin", load_workflow_file(WORKFLOWS / "dibao.yaml"))
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
    assert count(engine, Escalation) == 0
    assert len(expected) > 2 * CASES

    env = dict(
        base_env(),
        AIDFLOW_SMTP_HOST=smtp_server.host,
        AIDFLOW_SMTP_PORT=str(smtp_server.port),
        AIDFLOW_SMTP_SECURITY="none",
        AIDFLOW_SMTP_FROM="aidflow@county.example",
    )
    argv = aidflow(sqlite_url, TICK, "scheduler", "tick")
    kills = kill_repeatedly(
        argv, env, seed=1, progress=lambda: count(engine, Escalation) + len(smtp_server.messages)
    )
    out = final_run(argv, env)
    assert out.endswith("0 pending\n"), out

    with engine.connect() as conn:
        outbox = conn.execute(
            select(
                OutboxMessage.message_id,
                OutboxMessage.to_addr,
                OutboxMessage.status,
                OutboxMessage.escalation_id,
            )
        ).all()
    assert _escalations(engine) == expected  # none missing, none twice
    assert (
        _mail(engine) == expected_mail
    )  # one email per escalation (and per visit notice), none queued twice
    assert {status for _, _, status, _ in outbox} == {"sent"}

    received = Counter(m.message["Message-ID"] for m in smtp_server.messages)
    assert set(received) == {
        mid for mid, *_ in outbox
    }  # every row reached the server, nothing else did
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= kills.killed  # at most one per crash between SMTP accept and commit
    to_of = {mid: to for mid, to, *_ in outbox}
    assert all(m.rcpt_tos == (to_of[m.message["Message-ID"]],) for m in smtp_server.messages)
    assert w.verify() == []
    assert kills.killed == KILLS
    sent_at_kill = [p - len(expected) for p in kills.progress if p >= len(expected)]
    assert any(0 < n < len(expected) for n in sent_at_kill), kills  # some kills landed mid-delivery
    print(
        f"scheduler: {kills.killed} kills, {kills.finished} finished runs, {duplicates} duplicate(s), "
        f"emails received at each kill {kills.progress}"
    )
    engine.dispose()


# -- (b) a payment run ------------------------------------------------------------------------

PAID_CASES = 300


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
    kills = kill_repeatedly(
        argv, base_env(), seed=2, progress=lambda: count(county.engine, Payment)
    )
    final_run(argv, base_env())
    got = _payments(county.engine)
    assert sorted(got) == expected
    assert len({(case, kind, period) for case, kind, period, _ in got}) == len(got)
    assert set(kills.progress) <= {0, len(expected)}  # all or nothing: never a half-written run
    assert kills.killed == KILLS
    print(
        f"payments ({db_url.split(':')[0]}): {kills.killed} kills, {kills.finished} finished runs, "
        f"{len(expected)} payments"
    )


# -- (c) a bulk import ------------------------------------------------------------------------

ROWS = 3000


def test_import_killed_imports_every_person_once(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        svc = Service(
            s,
            FrozenClock(local(2023, 8, 1, 9, 0)),
            WorkCalendar.from_file(WORKFLOWS / "policy" / "calendar.yaml"),
        )
        svc.add_user(None, "admin", ["admin"], "*", "admin@county.example")
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
        "10",
        user="li",
    )
    kills = kill_repeatedly(argv, base_env(), seed=3, progress=lambda: count(engine, PersonSource))
    final_run(argv, base_env())

    with Session(engine) as s:
        people = list(s.scalars(select(Person.id_number)))
        sources = s.execute(select(PersonSource.line, PersonSource.source)).all()
        runs = s.execute(select(ImportRun.status, ImportRun.rows_imported)).all()
    assert sorted(people) == sorted(ids)
    assert len(sources) == len(set(sources)) == ROWS
    assert sorted(line for line, _ in sources) == list(range(2, ROWS + 2))
    assert ("done", ROWS) in runs
    assert all(status == "done" for status, _ in runs), runs
    assert kills.killed == KILLS
    assert any(0 < p < ROWS for p in kills.progress), kills  # some kills landed mid-import
    print(
        f"import: {kills.killed} kills, {kills.finished} finished runs, rows at each kill {kills.progress}"
    )
    engine.dispose()
