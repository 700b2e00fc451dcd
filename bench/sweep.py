"""One deadline sweep over many open cases against a raw indexed Core baseline, on SQLite.

    python bench/sweep.py [--cases 100000] [--overdue 0.01] [--deliver 2000] [--db-dir DIR]

Setup (not timed): a SQLite file made by `aidflow.db.make_engine` + the migrations, the
dibao workflow deployed, one township caseworker and one supervisor, and N open cases in
`investigation`, inserted with Core in chunks. A fraction `--overdue` of them entered the
state 13 days before "now" (past the 12-day reminder rung of the `investigation_late`
ladder, not yet at the 15-day rung); the rest entered one day before.

Timed, in one process and on the same file:
- baseline: one indexed SELECT of the due rows (ix_cases_version_state_entered),
  streamed, and one `INSERT INTO escalations ... ON CONFLICT DO NOTHING` per row, in one
  transaction; then the same again, which finds nothing new. The baseline's rows are
  deleted afterwards.
- aidflow: `jobs.sweep` (timed transitions + escalations: candidates by the same index,
  in keyset batches of 500 cases; per batch one multi-row INSERT ... ON CONFLICT DO NOTHING
  RETURNING of the escalations and one executemany INSERT of their outbox rows, queued
  unrendered) in one transaction; then a second sweep that finds nothing new.
- delivery, apart and not in the ratio: the sweep no longer renders the emails, delivery
  does, so `delivery.deliver_outbox` sends the first `--deliver` (2,000) queued messages to a
  MemoryMailer as the scheduler does (each row claimed, rendered with Jinja from the
  escalation, case and person, stored, sent and committed in its own transaction); then
  the same rows are queued again as they are, already rendered, and delivered once more,
  so the difference is what rendering at delivery (and storing the rendered text on the
  row) costs per message.
Printed: seconds and rows/s of each, aidflow/baseline time ratios, the delivery's time per
message, and the peak RSS of the process (resource.getrusage; includes the setup) after
each phase.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2023, 9, 20, 9, 0, tzinfo=TZ)
CHUNK = 20000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def build(url: str, cases: int, overdue: float) -> int:
    """The database; returns the number of overdue cases."""
    from sqlalchemy.orm import Session

    from aidflow.clock import FrozenClock
    from aidflow.language.calendar import WorkCalendar
    from aidflow.policy.workflows import load_workflow_file
    from aidflow.services.cases import Service
    from aidflow.store.database import make_engine, upgrade
    from aidflow.store.models import Case

    engine = make_engine(url)
    upgrade(engine)
    clock = FrozenClock(NOW - timedelta(days=30))
    calendar = WorkCalendar.from_file(
        ROOT / "src" / "aidflow" / "shipped" / "workflows" / "policy" / "calendar.yaml"
    )
    with Session(engine) as s, s.begin():
        svc = Service(s, clock, calendar)
        from aidflow.services.users import import_areas

        svc.add_user(None, "admin", ["admin"], "*", "admin@county.example")
        wv, _ = svc.deploy(
            "admin",
            load_workflow_file(ROOT / "src" / "aidflow" / "shipped" / "workflows" / "dibao.yaml"),
        )
        import_areas(s, clock.now(), "admin", [("城关镇", "东村")])
        svc.add_user("admin", "li", ["township_caseworker"], "城关镇", "li@county.example")
        svc.add_user("admin", "tsup", ["township_supervisor"], "城关镇", "tsup@county.example")
        person = svc.register_person("11010519491231002X", "王秀英", "城关镇", "东村", "rural")
        wv_id, person_id = wv.id, person.id
    every = max(round(1 / overdue), 1) if overdue > 0 else 0
    late, fresh = NOW - timedelta(days=13), NOW - timedelta(days=1)
    table = Case.__table__
    n_late = 0
    with engine.begin() as conn:
        for start in range(0, cases, CHUNK):
            rows = []
            for i in range(start, min(start + CHUNK, cases)):
                is_late = every and i % every == 0
                n_late += bool(is_late)
                entered = late if is_late else fresh
                rows.append(
                    {
                        "person_id": person_id,
                        "workflow_version_id": wv_id,
                        "workflow_name": "dibao",
                        "state": "investigation",
                        "state_entered_at": entered,
                        "entry_seq": 3,
                        "deadline_at": NOW + timedelta(days=30),
                        "assigned_to": "li",
                        "township": "城关镇",
                        "village": "东村",
                        "data": {},
                        "clocks": {},
                        "emergency": False,
                        "opened_at": entered,
                        "last_seq": 3,
                        "head_hash": "",
                        "version": 3,
                    }
                )
            conn.execute(table.insert(), rows)
    engine.dispose()
    return n_late


def baseline(url: str) -> tuple[int, float]:
    """Indexed SELECT of due rows, streamed, + one INSERT ... ON CONFLICT DO NOTHING each."""
    from sqlalchemy import select
    from sqlalchemy.dialects.sqlite import insert

    from aidflow.store.database import make_engine
    from aidflow.store.models import Case, Escalation, WorkflowVersion

    engine = make_engine(url)
    cases, esc = Case.__table__, Escalation.__table__
    t0 = time.perf_counter()
    inserted = 0
    with engine.begin() as conn:
        (wv_id,) = conn.execute(
            select(WorkflowVersion.id).where(WorkflowVersion.name == "dibao")
        ).one()
        due = NOW - timedelta(days=12)
        stmt = select(cases.c.id, cases.c.entry_seq, cases.c.state_entered_at).where(
            cases.c.workflow_version_id == wv_id,
            cases.c.state == "investigation",
            cases.c.state_entered_at <= due,
            cases.c.closed_at.is_(None),
        )
        ins = insert(esc).on_conflict_do_nothing()
        for cid, entry_seq, entered in conn.execution_options(
            stream_results=True, yield_per=2000
        ).execute(stmt):
            result = conn.execute(
                ins,
                {
                    "case_id": cid,
                    "entry_seq": entry_seq,
                    "state": "investigation",
                    "ladder": "investigation_late",
                    "rung": 0,
                    "repeat_no": 0,
                    "role": "township_caseworker",
                    "recipient": "li",
                    "template": "deadline_reminder",
                    "due_at": entered + timedelta(days=12),
                    "fired_at": NOW,
                },
            )
            inserted += result.rowcount
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return inserted, elapsed


def clear(url: str) -> None:
    from aidflow.store.database import make_engine
    from aidflow.store.models import Escalation, OutboxMessage

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(OutboxMessage.__table__.delete())
        conn.execute(Escalation.__table__.delete())
    engine.dispose()


def aidflow_sweep(url: str) -> tuple[int, float]:
    from sqlalchemy.orm import Session

    from aidflow.clock import FrozenClock
    from aidflow.language.calendar import WorkCalendar
    from aidflow.services import escalations as jobs
    from aidflow.store.database import make_engine

    engine = make_engine(url)
    calendar = WorkCalendar.from_file(
        ROOT / "src" / "aidflow" / "shipped" / "workflows" / "policy" / "calendar.yaml"
    )
    t0 = time.perf_counter()
    with Session(engine) as s, s.begin():
        result = jobs.sweep(s, FrozenClock(NOW), calendar)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return result.total, elapsed


def resend(url: str) -> None:
    """Put the sent rows back in the queue, rendered as they are
    (to time delivery without Jinja)."""
    from aidflow.store.database import make_engine
    from aidflow.store.models import OutboxMessage

    engine = make_engine(url)
    table = OutboxMessage.__table__
    with engine.begin() as conn:
        conn.execute(
            table.update()
            .where(table.c.status == "sent")
            .values(status="pending", attempts=0, sent_at=None)
        )
    engine.dispose()


def deliver(url: str, limit: int) -> tuple[int, int, float]:
    """Deliver up to `limit` queued messages to a MemoryMailer, one transaction per message."""
    from sqlalchemy.orm import Session

    from aidflow.clock import FrozenClock
    from aidflow.notify.memory import MemoryMailer
    from aidflow.services.delivery import deliver_outbox
    from aidflow.store.database import make_engine

    engine = make_engine(url)
    mailer = MemoryMailer()
    t0 = time.perf_counter()
    with Session(engine) as s:  # no transaction open: deliver_outbox commits per message
        sent, failed = deliver_outbox(s, FrozenClock(NOW), mailer, limit=limit)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    if any(not m.text or not m.subject for m in mailer.sent):
        raise SystemExit("error: a delivered message has no text")
    return sent, failed, elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument(
        "--overdue", type=float, default=0.01, help="fraction of cases past the first rung"
    )
    ap.add_argument(
        "--deliver",
        type=int,
        default=2000,
        help="how many queued messages to deliver (timed apart)",
    )
    ap.add_argument(
        "--db-dir", type=Path, help="where the SQLite file goes (default: a temporary directory)"
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        url = f"sqlite:///{Path(tmp) / 'sweep.db'}"
        t0 = time.perf_counter()
        n_late = build(url, args.cases, args.overdue)
        print(
            f"setup: {args.cases} open cases, {n_late} overdue, {time.perf_counter() - t0:.1f} s; "
            f"peak RSS {peak_rss_mb():.0f} MB"
        )
        b_new, b_time = baseline(url)
        b2_new, b2_time = baseline(url)
        print(
            f"baseline  sweep 1: {b_new:>8} escalations in {b_time:8.3f} s "
            f"({b_new / b_time:,.0f}/s); sweep 2: {b2_new} new in {b2_time:.3f} s; "
            f"peak RSS {peak_rss_mb():.0f} MB"
        )
        clear(url)
        a_new, a_time = aidflow_sweep(url)
        a2_new, a2_time = aidflow_sweep(url)
        print(
            f"aidflow   sweep 1: {a_new:>8} escalations in {a_time:8.3f} s "
            f"({a_new / a_time:,.0f}/s); sweep 2: {a2_new} new in {a2_time:.3f} s; "
            f"peak RSS {peak_rss_mb():.0f} MB"
        )
        print(
            f"ratio aidflow/baseline: sweep 1 {a_time / b_time:.2f}x, sweep 2 "
            f"{a2_time / b2_time:.2f}x "
            f"(goal <= 2x); peak RSS {peak_rss_mb():.0f} MB (goal < 200 MB)"
        )
        d_sent, d_failed, d_time = deliver(url, args.deliver) if args.deliver > 0 else (0, 0, 0.0)
        if d_sent:
            resend(url)
            r_sent, r_failed, r_time = deliver(url, args.deliver)
            print(
                f"delivery (not in the ratio): {d_sent} queued messages rendered and sent to a "
                f"MemoryMailer in {d_time:.3f} s ({d_time / d_sent * 1000:.2f} ms each, "
                "one commit each); the same "
                f"{r_sent} again, already rendered, {r_time / max(r_sent, 1) * 1000:.2f} ms each: "
                f"rendering at delivery (and storing the text on the row) costs "
                f"{(d_time - r_time) / d_sent * 1000:.2f} ms per message; "
                f"peak RSS {peak_rss_mb():.0f} MB"
            )
            d_failed += r_failed
        if d_failed or d_sent != min(args.deliver, n_late):
            print(f"error: delivery sent {d_sent}, failed {d_failed}", file=sys.stderr)
            return 1
        if (b_new, b2_new, a2_new) != (n_late, 0, 0) or a_new != n_late:
            print(
                f"error: expected {n_late} escalations once, got baseline {b_new}/{b2_new}, "
                f"aidflow {a_new}/{a2_new}",
                file=sys.stderr,
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
