"""PostgreSQL restarted in the middle of `aidflow scheduler tick`: a clear error, then nothing lost.

A private PostgreSQL cluster (tests/pgcluster.py; the shared server on 5432 serves the rest
of the suite) holds one database of escalating dibao cases, built once and cloned per round
with CREATE DATABASE ... TEMPLATE. A clean tick on one clone, delivering to the test SMTP
server, is the reference. Each round starts the real `aidflow scheduler tick` on a fresh
clone and restarts the server (`pg_ctl restart`, fast or immediate, seeded at random) at a
point of one phase:

- sweep: another session holds a lock on the outbox, so the sweep stalls at its first insert
  there with its escalations written and not committed; the restart must roll all of it back;
- delivery: the tick stops itself at a failpoint (aidflow.failpoints) just after the "sent"
  mark of its k-th message commits (k seeded at random), the server restarts, the tick
  continues;
- anytime: a random 0.2-3 s after the start (start-up, sweep, care jobs or delivery), then a
  further random 0-100 ms.

The tick must then either finish (delivery reconnects per message) or exit 9 with an error
line and a hint that names the database, never a traceback or exit 1. A second tick after
the server is back must finish, and the database and the mailbox must match the reference:
the same escalations by natural key, one outbox row each, all sent, the same emails received
(by recipient and subject), each Message-ID at least once and at most once more per restart
(a message accepted by SMTP whose "sent" mark died with the server), no case or event
changed differently, and the audit chains verify.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.pool import NullPool

from aidflow.clock import FrozenClock
from aidflow.language.calendar import WorkCalendar
from aidflow.store.models import Case, Escalation, OutboxMessage

from .conftest import REPO, World, local, strip_banner
from .pgcluster import PG_BIN_CANDIDATES, PgCluster, binaries
from .smtp import SMTPServer
from .test_crashes import aidflow, base_env, escalating_world

pytestmark = pytest.mark.slow

CASES = 20
TICK = "2023-09-18T09:00"  # rungs 0 and 1 due for most cases (see test_crashes.escalating_world)
PHASES = ("sweep", "delivery", "anytime")
ROUNDS = 6  # PHASES in turn; restart modes drawn at random
SEED = 5


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    if binaries() is None:
        places = ", ".join(map(str, PG_BIN_CANDIDATES))
        pytest.skip(
            f"no PostgreSQL server binaries (initdb, pg_ctl) in {places}; "
            "set AIDFLOW_TEST_PG_BIN to their directory"
        )
    with PgCluster.start_new() as pg:
        yield pg


@dataclass(frozen=True)
class Outcome:
    """What one database and the mailbox hold after a tick (compared across runs, not ids)."""

    escalations: frozenset[tuple[int, int, int, int, str]]
    outbox_to: Counter[str]
    mail: Counter[tuple[tuple[str, ...], str]]  # (recipients, subject) per distinct Message-ID
    cases: tuple[tuple[int, str, int, int], ...]


def outcome(engine: Engine, smtp: SMTPServer, restarts: int) -> Outcome:
    """Check what must hold in any finished run and return what must equal the reference."""
    with engine.connect() as conn:
        keys = conn.execute(
            select(
                Escalation.id,
                Escalation.case_id,
                Escalation.entry_seq,
                Escalation.rung,
                Escalation.repeat_no,
                Escalation.recipient,
            )
        ).all()
        outbox = conn.execute(
            select(
                OutboxMessage.message_id,
                OutboxMessage.to_addr,
                OutboxMessage.status,
                OutboxMessage.escalation_id,
            )
        ).all()
        # one email per recipient and sweep: (recipient, fired_at) of every escalation
        group_of = {
            e: (who, at)
            for e, who, at in conn.execute(
                select(Escalation.id, Escalation.recipient, Escalation.fired_at)
            )
        }
        cases = tuple(
            tuple(r)
            for r in conn.execute(  # type: ignore[misc]
                select(Case.id, Case.state, Case.version, Case.last_seq).order_by(Case.id)
            )
        )
    natural = [k[1:] for k in keys]
    assert len(natural) == len(set(natural)), "an escalation rung fired twice"
    # nothing half-written: every recipient's escalations of a sweep have exactly one outbox
    # row (the escalation's own email, or their summary), every row is sent
    emailed = [group_of[e] for *_, e in outbox if e is not None]
    assert len(emailed) == len(set(emailed))
    assert set(emailed) == {group_of[k[0]] for k in keys}
    assert [r for r in outbox if r.status != "sent"] == []
    mids = [r.message_id for r in outbox]
    assert len(mids) == len(set(mids))

    received = Counter(m.message["Message-ID"] for m in smtp.messages)
    assert set(received) == set(mids)  # every row reached the server, nothing else did
    assert (
        max(received.values(), default=1) - 1 <= restarts
    )  # a resend only after a lost "sent" mark
    to_of = {r.message_id: r.to_addr for r in outbox}
    assert all(m.rcpt_tos == (to_of[m.message["Message-ID"]],) for m in smtp.messages)
    first = {m.message["Message-ID"]: m for m in reversed(smtp.messages)}
    return Outcome(
        frozenset(natural),
        Counter(to_of.values()),
        Counter((m.rcpt_tos, str(m.message["Subject"])) for m in first.values()),
        cases,
    )


def count(engine: Engine, stmt: object) -> int:
    with engine.connect() as conn:
        return conn.scalar(stmt) or 0  # type: ignore[call-overload,no-any-return]


def wait_for(proc: subprocess.Popen[str], cond: Callable[[], bool], budget: float = 60.0) -> bool:
    """Poll `cond` every 5 ms while `proc` runs; False if it ended first."""
    deadline = time.monotonic() + budget
    while proc.poll() is None:
        if cond():
            return True
        assert time.monotonic() < deadline, "the tick neither progressed nor ended"
        time.sleep(0.005)
    return False


def test_postgres_restart_mid_tick_recovers(
    cluster: PgCluster, calendar: WorkCalendar, smtp_server: SMTPServer
) -> None:
    template = escalating_world(cluster.create_database("template_world"), calendar, CASES)
    template.engine.dispose()  # CREATE DATABASE ... TEMPLATE needs it idle
    env = dict(
        base_env(),
        AIDFLOW_SMTP_HOST=smtp_server.host,
        AIDFLOW_SMTP_PORT=str(smtp_server.port),
        AIDFLOW_SMTP_SECURITY="none",
        AIDFLOW_SMTP_FROM="aidflow@county.example",
    )

    def tick(url: str) -> str:
        proc = subprocess.run(
            aidflow(url, TICK, "scheduler", "tick"),
            env=env,
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
            check=False,
        )
        # the world is a training database (its clock is simulated): the banner and nothing else
        banner = "[training database: simulated time 2023-09-18 09:00]\n"
        assert (proc.returncode, proc.stderr) == (0, banner), proc.stderr
        return proc.stdout

    ref_url = cluster.create_database("reference", template="template_world")
    assert tick(ref_url).endswith("0 pending\n")
    ref_engine = create_engine(ref_url, poolclass=NullPool)
    expected = outcome(ref_engine, smtp_server, restarts=0)
    ref_engine.dispose()
    total = sum(expected.outbox_to.values())
    assert len(expected.escalations) > 2 * CASES and len(expected.mail) == total

    rng = random.Random(SEED)
    seen: Counter[str] = Counter()
    for k in range(ROUNDS):
        smtp_server.reset()
        name = f"round{k}"
        url = cluster.create_database(name, template="template_world")
        engine = create_engine(url, poolclass=NullPool)  # the test's own eye on the database
        phase = PHASES[k % len(PHASES)]
        mode = rng.choice(["fast", "immediate"])
        sent_by = rng.randint(1, total // 2)
        escalations = select(func.count()).select_from(Escalation)
        sent = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
        blocked = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND wait_event_type = 'Lock'"
        ).bindparams(db=name)
        holder = None
        if phase == "sweep":
            # another session's lock on the outbox stalls the sweep at its first insert there,
            # inside its open transaction: the restart then lands mid-sweep every time
            holder = psycopg.connect(
                f"host=127.0.0.1 port={cluster.port} user=postgres dbname={name}"
            )
            holder.execute("LOCK TABLE outbox IN EXCLUSIVE MODE")  # plain reads still pass

        def in_phase(
            engine: Engine = engine,
            phase: str = phase,
            blocked: object = blocked,
            started: float = time.monotonic(),
            after: float = rng.uniform(0.2, 3.0),
        ) -> bool:
            if phase == "sweep":
                return count(engine, blocked) > 0
            return (
                time.monotonic() - started >= after
            )  # anytime: start-up, sweep, care jobs or delivery

        failpoint = {"delivery": f"delivery.message:{sent_by}"}.get(phase, "")
        proc = subprocess.Popen(
            aidflow(url, TICK, "scheduler", "tick"),
            env=dict(env, AIDFLOW_FAILPOINT=failpoint),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        if failpoint:
            _, status = os.waitpid(proc.pid, os.WUNTRACED)
            assert os.WIFSTOPPED(status), f"{failpoint} was not reached"
            hit, sent_at_restart = True, count(engine, sent)
            assert sent_at_restart == sent_by
            cluster.restart(mode)
            proc.send_signal(signal.SIGCONT)
        else:
            hit = wait_for(proc, in_phase)
            sent_at_restart = count(engine, sent)
            if hit:
                time.sleep(rng.uniform(0, 0.1))
                cluster.restart(mode)
        if holder is not None:
            holder.close()  # its session died with the restart
        out, err = proc.communicate(timeout=120)
        err = strip_banner(err)  # a training database (the tick's clock is simulated)

        assert "Traceback" not in err and "internal error" not in err, err
        if proc.returncode == 0:
            assert err == "" and out.endswith("0 pending\n"), (out, err)
        else:
            assert proc.returncode == 9, (
                proc.returncode,
                err,
            )  # ExitCode.UNAVAILABLE, in the README
            assert hit, err
            assert err.startswith("error: ") and err.count("\n") == 2, err  # message, hint
            assert f"/{name}" in err, err  # names the database, so an operator knows which one
        rolled_back = count(engine, escalations) == 0
        assert tick(url).endswith("0 pending\n")  # the server is back: the next tick does the rest
        got = outcome(engine, smtp_server, restarts=int(hit))
        assert got == expected, f"round {k} ({phase}, {mode}) differs from the reference"
        assert World(engine, FrozenClock(local(2023, 9, 18, 9, 0)), calendar).verify() == []
        engine.dispose()

        if phase == "sweep":
            assert hit and proc.returncode == 9 and rolled_back, (
                hit,
                proc.returncode,
                rolled_back,
                err,
            )
        if hit and phase == "delivery" and 0 < sent_at_restart < total:
            seen[f"delivery cut ({'exit 9' if proc.returncode else 'reconnected'})"] += 1
        seen[f"{phase}: restart {mode}" if hit else f"{phase}: finished before the restart"] += 1
    print(f"\npg restart: {ROUNDS} rounds, {total} emails each: {dict(sorted(seen.items()))}")
    cuts = seen["delivery cut (exit 9)"] + seen["delivery cut (reconnected)"]
    assert cuts == ROUNDS // len(PHASES), seen


def test_scheduler_run_rides_out_a_postgres_outage(
    cluster: PgCluster, calendar: WorkCalendar, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """`aidflow scheduler run` (the system clock, a round a second) keeps running while the server
    is down: each failed round is one log line naming the database, no traceback; once the
    server is back, the next rounds send everything, once per row plus at most one resend."""
    w = escalating_world(cluster.create_database("run_world"), calendar, 10)
    engine = w.engine
    env = dict(
        base_env(),
        AIDFLOW_SMTP_HOST=smtp_server.host,
        AIDFLOW_SMTP_PORT=str(smtp_server.port),
        AIDFLOW_SMTP_SECURITY="none",
        AIDFLOW_SMTP_FROM="aidflow@county.example",
    )
    url = engine.url.render_as_string(hide_password=False)
    out_file, err_file = tmp_path / "run.out", tmp_path / "run.err"
    sent = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
    pending = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
    engine.dispose()
    engine = create_engine(url, poolclass=NullPool)
    with out_file.open("w") as out, err_file.open("w") as err:
        argv = [
            sys.executable,
            "-m",
            "aidflow.cli.main",
            "--db",
            url,
            "scheduler",
            "run",
            "--every",
            "1",
        ]
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, cwd=REPO)
        try:
            assert wait_for(proc, lambda: count(engine, sent) > 0)  # the first round is delivering
            cluster.stop("fast")
            assert wait_for(proc, lambda: "round failed" in err_file.read_text(), budget=30)
            cluster.start()
            assert wait_for(proc, lambda: count(engine, pending) == 0 and count(engine, sent) > 0)
            rounds = out_file.read_text().count("delivery:")
            assert wait_for(
                proc, lambda: out_file.read_text().count("delivery:") > rounds
            )  # a clean round
        finally:
            if not cluster.running:
                cluster.start()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    log = err_file.read_text()
    assert proc.returncode == 0, log
    assert "Traceback" not in log, log
    failed = [line for line in log.splitlines() if "round failed" in line]
    assert failed and all("round failed, the next round retries: " in line for line in failed), (
        failed
    )
    assert "/run_world" in log  # the hint names the database
    got = outcome(
        engine, smtp_server, restarts=1
    )  # each row sent, each email once (one resend at most)
    print(
        f"\nscheduler run: {len(failed)} round(s) failed while the server was down, "
        f"{sum(got.outbox_to.values())} emails, {len(smtp_server.messages)} received"
    )
    assert World(engine, FrozenClock(local(2023, 9, 18, 9, 0)), calendar).verify() == []
    engine.dispose()
