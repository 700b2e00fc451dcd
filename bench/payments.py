"""A monthly payment run over N active dibao cases against raw Core baselines, same run.

    python bench/payments.py [--cases N] [--db URL] [--repeat K]

Setup (not timed): N persons, N dibao cases in state `active` and N approval events
(county_review -> active, amount 650.00 + a few fen per case) written with Core
executemany; the shipped dibao workflow deployed; no payment run before. The database is a
fresh SQLite file in a temporary directory, or with `--db postgresql+psycopg://...` a fresh
schema in that database; either is removed at the end.

Timed:
- aidflow: `payments.run_payments` for 2023-09, one transaction, as `aidflow payments run`
  does: keyset pages of 1,000 cases; per page the cases' state-changing events (with the
  month of each computed in SQL) and their existing payments, read by id range; amounts
  worked out once per distinct value; one INSERT ... ON CONFLICT DO NOTHING executemany.
- executemany: the same N rows (read back from `payments`, not timed) inserted with one
  Core executemany into a copy of the table (`payments_raw`, same columns and unique key),
  one transaction: the cost of writing the rows and nothing else.
- INSERT ... SELECT: one statement computing the same rows inside the database from
  cases and the approval event (no arrears, no policy, no per-month logic).
- a second aidflow run of the same period (creates nothing: the idempotence check).

Each line gives wall time and, on SQLite, where all the work is in this process, CPU time
too: on a shared machine the CPU ratio is the steadier one. `--repeat K` times the three
K times, interleaved (the payments and the run are deleted in between, not timed), and
reports the best wall and the best CPU time of each. Peak RSS is the process maximum
(ru_maxrss) after setup and after the first aidflow run (before the baseline, which holds
all N rows in memory at once).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    Integer,
    MetaData,
    Numeric,
    Table,
    UniqueConstraint,
    cast,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aidflow.clock import FrozenClock  # noqa: E402
from aidflow.policy.standards import load_policy  # noqa: E402
from aidflow.policy.workflows import load_workflow_file  # noqa: E402
from aidflow.services.cases import Service  # noqa: E402
from aidflow.services.payments import run_payments  # noqa: E402
from aidflow.store.database import make_engine, upgrade  # noqa: E402
from aidflow.store.models import Case, CaseEvent, Payment, PaymentRun, Person  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(engine: object, n: int) -> None:
    now = datetime(2023, 7, 1, 1, 0, tzinfo=UTC)
    clock = FrozenClock(now)
    from aidflow.language.calendar import WorkCalendar

    with Session(engine) as s, s.begin():  # type: ignore[call-overload]
        svc = Service(s, clock, WorkCalendar("Asia/Shanghai"))
        svc.add_user(None, "admin", ["admin"], "*", "admin@county.example")
        wv, _ = svc.deploy(
            "admin",
            load_workflow_file(ROOT / "src" / "aidflow" / "shipped" / "workflows" / "dibao.yaml"),
        )
        svc.add_user("admin", "sun", ["county_officer"], "*", "sun@county.example")
        vid = wv.id
    approved = datetime(2023, 7, 20, 2, 0, tzinfo=UTC)
    step = 10_000
    with engine.begin() as conn:  # type: ignore[attr-defined]
        for lo in range(1, n + 1, step):
            ids = range(lo, min(lo + step, n + 1))
            conn.execute(
                insert(Person),
                [
                    {
                        "id": i,
                        "id_number": f"X{i:017d}",
                        "name": f"居民{i}",
                        "birth_date": datetime(1950, 1, 1).date(),
                        "sex": "F",
                        "township": "城关镇",
                        "village": "东村",
                        "hukou": "rural",
                        "mental_illness": False,
                        "registered_poor": False,
                        "related_users": [],
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(Case),
                [
                    {
                        "id": i,
                        "person_id": i,
                        "workflow_version_id": vid,
                        "workflow_name": "dibao",
                        "state": "active",
                        "state_entered_at": approved,
                        "entry_seq": 2,
                        "deadline_at": None,
                        "assigned_to": "sun",
                        "township": "城关镇",
                        "village": "东村",
                        "data": {"amount": f"650.{i % 100:02d}"},
                        "emergency": False,
                        "opened_at": now,
                        "closed_at": None,
                        "last_seq": 2,
                        "head_hash": "x",
                        "version": 3,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(CaseEvent),
                [
                    {
                        "case_id": i,
                        "seq": 2,
                        "at": approved,
                        "actor": "sun",
                        "kind": "transition",
                        "trigger": "approve",
                        "from_state": "county_review",
                        "to_state": "active",
                        "fields": {"amount": f"650.{i % 100:02d}"},
                        "note": None,
                        "prev_hash": "x",
                        "hash": "y",
                    }
                    for i in ids
                ],
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    ap.add_argument(
        "--repeat", type=int, default=1, help="time each side this many times, report the best"
    )
    args = ap.parse_args()
    schema = tmp = None
    if args.db and args.db.startswith("postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:10]}"  # never the database's own tables
        admin = make_engine(args.db)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{args.db}{'&' if '?' in args.db else '?'}options=-csearch_path%3D{schema}"
    else:
        if not args.db:
            tmp = tempfile.mkdtemp()
        url = args.db or f"sqlite:///{tmp}/bench.db"
    engine = make_engine(url)
    try:
        _bench(engine, args.cases, args.repeat)
    finally:
        engine.dispose()
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        if tmp is not None:
            shutil.rmtree(tmp)  # a million cases take about a gigabyte


class Timer:
    """Wall and CPU (this process) seconds of a block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    @staticmethod
    def best(timers: list[Timer]) -> Timer:
        t = Timer()
        t.wall, t.cpu = min(x.wall for x in timers), min(x.cpu for x in timers)
        return t


def _bench(engine: Any, n: int, repeat: int) -> None:
    upgrade(engine)
    setup(engine, n)
    rss_setup = rss_mb()
    policy = load_policy(ROOT / "src" / "aidflow" / "shipped" / "workflows" / "policy")
    clock = FrozenClock(datetime(2023, 9, 1, 1, 0, tzinfo=UTC))
    cols = [c._copy() for c in Payment.__table__.columns]  # type: ignore[attr-defined]
    raw = Table("payments_raw", MetaData(), *cols, UniqueConstraint("case_id", "kind", "period"))
    raw.create(engine)
    runs: list[Timer] = []
    manys: list[Timer] = []
    selects: list[Timer] = []
    rows: list[dict[str, Any]] = []
    rss_run = 0.0
    for i in range(repeat):  # interleaved, so that a busy minute slows both sides alike
        if i:  # not timed: back to no payments and no run, as before the first
            with engine.begin() as conn:
                conn.execute(Payment.__table__.delete())  # type: ignore[attr-defined]
                conn.execute(PaymentRun.__table__.delete())  # type: ignore[attr-defined]
        with Timer() as t_run, Session(engine) as s, s.begin():
            result = run_payments(s, clock, policy, "2023-09", actor="sun", tz=TZ)
        runs.append(t_run)
        assert result.created == n, result
        if not i:
            rss_run = rss_mb()
            with Session(engine) as s:  # not timed
                rows = [
                    dict(r._mapping)
                    for r in s.execute(
                        select(
                            Payment.case_id,
                            Payment.person_id,
                            Payment.run_id,
                            Payment.kind,
                            Payment.period,
                            Payment.amount_fen,
                            Payment.basis,
                            Payment.status,
                            Payment.created_at,
                        )
                    )
                ]

        with engine.begin() as conn:
            conn.execute(raw.delete())
        with Timer() as t_many, engine.begin() as conn:
            conn.execute(insert(raw), rows)
        manys.append(t_many)

        with engine.begin() as conn:
            conn.execute(raw.delete())
        amount = cast(
            func.round(cast(Case.data["amount"].as_string(), Numeric(12, 2)) * 100), Integer
        )
        sel = (
            select(
                Case.id,
                Case.person_id,
                literal(result.run_id),
                literal("dibao"),
                literal("2023-09"),
                amount,
                literal({}, JSON),
                literal("pending"),
                literal(clock.now().replace(tzinfo=None)),
            )
            .join(CaseEvent, (CaseEvent.case_id == Case.id) & (CaseEvent.to_state == "active"))
            .where(Case.workflow_name == "dibao", Case.state.in_(("active", "periodic_review")))
        )
        with Timer() as t_select, engine.begin() as conn:
            conn.execute(
                raw.insert().from_select(
                    [
                        "case_id",
                        "person_id",
                        "run_id",
                        "kind",
                        "period",
                        "amount_fen",
                        "basis",
                        "status",
                        "created_at",
                    ],
                    sel,
                )
            )
        selects.append(t_select)
    del rows

    with Timer() as t_again, Session(engine) as s, s.begin():
        again = run_payments(s, clock, policy, "2023-09", actor="sun", tz=TZ)
    assert again.created == 0
    t_run, t_many, t_select = (Timer.best(ts) for ts in (runs, manys, selects))

    local = (
        engine.dialect.name == "sqlite"
    )  # all the work in this process: CPU time means something

    def line(name: str, t: Timer, base: Timer | None = None, rate: bool = True) -> str:
        out = f"  {name:<21s}{t.wall:8.2f} s  " + (
            f"{n / t.wall:10,.0f} rows/s" if rate else " " * 17
        )
        if local:
            out += f"  cpu {t.cpu:7.2f} s"
        if base is not None:
            out += f"   aidflow = {t_run.wall / base.wall:.2f}x"
            if local:
                out += f" (cpu {t_run.cpu / base.cpu:.2f}x)"
        return out

    best = f", best of {repeat}" if repeat > 1 else ""
    print(f"{engine.dialect.name}, {n:,} active dibao cases{best}")
    print(line("aidflow run", t_run))
    print(line("raw executemany", t_many, t_many))
    print(line("raw INSERT ... SELECT", t_select, t_select))
    print(line("second run (no-op)", t_again, rate=False))
    print(f"  peak RSS: {rss_setup:.0f} MB after setup, {rss_run:.0f} MB after the run")


if __name__ == "__main__":
    main()
