"""A monthly payment run over N active dibao cases against raw Core baselines, same run.

    python bench/payments.py [--cases N] [--db URL]

Setup (not timed): N persons, N dibao cases in state `active` and N approval events
(county_review -> active, amount 650.00 + a few fen per case) written with Core
executemany; the shipped dibao workflow deployed; no payment run before.

Timed:
- aidflow: `payments.run_payments` for 2023-09 (keyset pages of 1,000 cases, their
  events and existing payments per page, INSERT ... ON CONFLICT DO NOTHING RETURNING),
  one transaction, as `aidflow payments run` does.
- executemany: the same N rows (read back from `payments`) inserted with one Core
  executemany into a copy of the table (`payments_raw`), one transaction: the cost of
  writing the rows and nothing else.
- INSERT ... SELECT: one statement computing the same rows inside the database from
  cases and the approval event (no arrears, no policy, no per-month logic).
- a second aidflow run of the same period (creates nothing: the idempotence check).

Peak RSS is the process maximum (ru_maxrss) after setup and after the run.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Integer, MetaData, Numeric, Table, UniqueConstraint, cast, func, insert, literal, select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aidflow.clock import FrozenClock  # noqa: E402
from aidflow.db import make_engine, upgrade  # noqa: E402
from aidflow.loader import load_workflow_file  # noqa: E402
from aidflow.models import Case, CaseEvent, Payment, Person  # noqa: E402
from aidflow.payments import run_payments  # noqa: E402
from aidflow.policy import load_policy  # noqa: E402
from aidflow.service import Service  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(engine: object, n: int) -> None:
    now = datetime(2023, 7, 1, 1, 0, tzinfo=timezone.utc)
    clock = FrozenClock(now)
    from aidflow.calendar import WorkCalendar

    with Session(engine) as s, s.begin():  # type: ignore[call-overload]
        svc = Service(s, clock, WorkCalendar("Asia/Shanghai"))
        svc.add_user(None, "admin", ["admin"], "*", "admin@county.example")
        svc.add_user("admin", "sun", ["county_officer"], "*", "sun@county.example")
        wv, _ = svc.deploy("admin", load_workflow_file(ROOT / "workflows" / "dibao.yaml"))
        vid = wv.id
    approved = datetime(2023, 7, 20, 2, 0, tzinfo=timezone.utc)
    step = 10_000
    with engine.begin() as conn:  # type: ignore[attr-defined]
        for lo in range(1, n + 1, step):
            ids = range(lo, min(lo + step, n + 1))
            conn.execute(insert(Person), [{
                "id": i, "id_number": f"X{i:017d}", "name": f"居民{i}", "birth_date": datetime(1950, 1, 1).date(),
                "sex": "F", "township": "城关镇", "village": "东村", "hukou": "rural", "mental_illness": False,
                "registered_poor": False, "related_users": [], "created_at": now} for i in ids])
            conn.execute(insert(Case), [{
                "id": i, "person_id": i, "workflow_version_id": vid, "workflow_name": "dibao", "state": "active",
                "state_entered_at": approved, "entry_seq": 2, "deadline_at": None, "assigned_to": "sun",
                "township": "城关镇", "village": "东村", "data": {"amount": f"650.{i % 100:02d}"},
                "emergency": False, "opened_at": now, "closed_at": None, "last_seq": 2, "head_hash": "x",
                "version": 3} for i in ids])
            conn.execute(insert(CaseEvent), [{
                "case_id": i, "seq": 2, "at": approved, "actor": "sun", "kind": "transition",
                "trigger": "approve", "from_state": "county_review", "to_state": "active",
                "fields": {"amount": f"650.{i % 100:02d}"}, "note": None, "prev_hash": "x", "hash": "y"}
                for i in ids])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = ap.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine = make_engine(url)
    upgrade(engine)
    setup(engine, args.cases)
    rss_setup = rss_mb()
    policy = load_policy(ROOT / "workflows" / "policy")
    clock = FrozenClock(datetime(2023, 9, 1, 1, 0, tzinfo=timezone.utc))

    t0 = time.perf_counter()
    with Session(engine) as s, s.begin():
        result = run_payments(s, clock, policy, "2023-09", actor="sun", tz=TZ)
    t_run = time.perf_counter() - t0
    rss_run = rss_mb()
    assert result.created == args.cases, result

    cols = [c._copy() for c in Payment.__table__.columns]  # type: ignore[attr-defined]
    raw = Table("payments_raw", MetaData(), *cols, UniqueConstraint("case_id", "kind", "period"))
    raw.create(engine)
    with Session(engine) as s:
        rows = [dict(r._mapping) for r in s.execute(select(
            Payment.case_id, Payment.person_id, Payment.run_id, Payment.kind, Payment.period, Payment.amount_fen,
            Payment.basis, Payment.status, Payment.created_at))]
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(raw), rows)
    t_many = time.perf_counter() - t0
    del rows

    with engine.begin() as conn:
        conn.execute(raw.delete())
    amount = cast(func.round(cast(Case.data["amount"].as_string(), Numeric(12, 2)) * 100), Integer)
    sel = select(Case.id, Case.person_id, literal(result.run_id), literal("dibao"), literal("2023-09"), amount,
                 literal({}, JSON), literal("pending"), literal(clock.now().replace(tzinfo=None))) \
        .join(CaseEvent, (CaseEvent.case_id == Case.id) & (CaseEvent.to_state == "active")) \
        .where(Case.workflow_name == "dibao", Case.state.in_(("active", "periodic_review")))
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(raw.insert().from_select(["case_id", "person_id", "run_id", "kind", "period", "amount_fen",
                                               "basis", "status", "created_at"], sel))
    t_select = time.perf_counter() - t0

    t0 = time.perf_counter()
    with Session(engine) as s, s.begin():
        again = run_payments(s, clock, policy, "2023-09", actor="sun", tz=TZ)
    t_again = time.perf_counter() - t0
    assert again.created == 0

    n = args.cases
    print(f"{engine.dialect.name}, {n:,} active dibao cases")
    print(f"  aidflow run          {t_run:8.2f} s  {n / t_run:10,.0f} rows/s")
    print(f"  raw executemany      {t_many:8.2f} s  {n / t_many:10,.0f} rows/s   aidflow = {t_run / t_many:.2f}x")
    print(f"  raw INSERT ... SELECT{t_select:8.2f} s  {n / t_select:10,.0f} rows/s   aidflow = {t_run / t_select:.2f}x")
    print(f"  second run (no-op)   {t_again:8.2f} s")
    print(f"  peak RSS: {rss_setup:.0f} MB after setup, {rss_run:.0f} MB after the run")
    engine.dispose()


if __name__ == "__main__":
    main()
