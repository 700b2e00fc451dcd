"""Migrating N running dibao cases to a new version against a raw SQL UPDATE, same run.

    python bench/migrate.py [--cases N] [--db URL] [--repeat K]

Setup (not timed): N persons and N dibao cases on version 1, a third each in discovery,
accepted and investigation, with their events (open, accept, start_investigation) hashed
onto their chains and the statutory clock running from acceptance, written with Core
executemany; version 2 deployed (tests/workflows/migrate/dibao.yaml: a step added before the
investigation, whose deadline goes from 10 to 15 WD). The database is a fresh SQLite file
in a temporary directory, or with `--db postgresql+psycopg://...` a fresh schema in that
database; either is removed at the end.

Timed:
- aidflow: `services.migration.migrate` with a plan (skip the new step, with a reason), one
  transaction, as `aidflow workflow migrate` does: the running cases and the states they
  have been in read, the plan checked against both versions, each case's deadline and
  clocks recomputed, one "migrated" event per case hashed onto its chain, the moves
  inserted into a temporary table and the cases updated from it by one UPDATE ... FROM,
  the events inserted and appended to the audit log in bulk (COPY on PostgreSQL).
- raw executemany UPDATE: the same N rows of a copy of the cases table (`cases_raw`, same
  columns and indexes, as they were before the migration) set to the values aidflow wrote
  (read back, not timed), one `UPDATE ... WHERE id = ? AND version = ?` executemany, one
  transaction: the cost of writing the cases and nothing else. The goal is aidflow <= 3x.
- raw single UPDATE: one statement setting the version of all the copy's rows (no per-case
  value at all), reported for scale.

Afterwards the migrated cases' event chains and the global audit log are checked. Each line
gives wall time and, on SQLite, CPU time too. `--repeat K` times both sides K times (the
database rebuilt in between, not timed) and reports the best of each.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aidflow.clock import FrozenClock  # noqa: E402
from aidflow.language.calendar import WorkCalendar  # noqa: E402
from aidflow.policy.workflows import load_workflow_file  # noqa: E402
from aidflow.services import migration  # noqa: E402
from aidflow.services.cases import Service  # noqa: E402
from aidflow.store import audit, auditlog  # noqa: E402
from aidflow.store.database import make_engine, upgrade  # noqa: E402
from aidflow.store.models import Case, CaseEvent, Person  # noqa: E402

SHIPPED = ROOT / "src" / "aidflow" / "shipped" / "workflows"
V2 = ROOT / "tests" / "workflows" / "migrate" / "dibao.yaml"
PLAN = """\
workflow: dibao
to: 2
states: {public_notice: notice}
skips:
  - {state: info_matching, reason: "accepted before the county's data check was a step"}
"""
STEPS = [  # (trigger, state) of each event, in order
    (None, "discovery"),
    ("accept", "accepted"),
    ("start_investigation", "investigation"),
]
GOAL = 3.0


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


def calendar() -> WorkCalendar:
    return WorkCalendar.from_file(SHIPPED / "policy" / "calendar.yaml")


def setup(engine: Any, n: int) -> None:
    """The cases on version 1 and version 2 deployed (see the module docstring)."""
    start = datetime(2023, 8, 1, 1, 0, tzinfo=UTC)
    cal = calendar()
    with Session(engine) as s, s.begin():
        svc = Service(s, FrozenClock(start), cal)
        svc.add_user(None, "admin", ["admin"], "*", "admin@county.example")
        vid = svc.deploy("admin", load_workflow_file(SHIPPED / "dibao.yaml"))[0].id
    step = 10_000
    with engine.begin() as conn:
        for lo in range(1, n + 1, step):
            ids = range(lo, min(lo + step, n + 1))
            persons, cases, events = [], [], []
            for i in ids:
                opened = start + timedelta(minutes=i % 5000)
                depth = i % 3  # 0: discovery, 1: accepted, 2: investigation
                prev = audit.GENESIS
                at = opened
                for seq, (trigger, state) in enumerate(STEPS[: depth + 1], start=1):
                    at = opened + timedelta(hours=seq - 1)
                    kind = "open" if trigger is None else "transition"
                    fields: dict[str, Any] = {} if trigger else {"workflow": "dibao"}
                    before = STEPS[seq - 2][1] if seq > 1 else None
                    digest = audit.event_hash(
                        i, seq, at, "li", kind, trigger, before, state, fields, None, prev
                    )
                    events.append(
                        {
                            "case_id": i,
                            "seq": seq,
                            "at": at,
                            "actor": "li",
                            "kind": kind,
                            "trigger": trigger,
                            "from_state": before,
                            "to_state": state,
                            "fields": fields,
                            "note": None,
                            "prev_hash": prev,
                            "hash": digest,
                        }
                    )
                    prev = digest
                state = STEPS[depth][1]
                deadline = cal.add(at, migration_duration(state))
                clocks = {}
                if depth:  # the statutory 30 WD run from acceptance
                    accepted = opened + timedelta(hours=1)
                    clocks["statutory"] = {
                        "status": "running",
                        "started_at": accepted.isoformat(),
                        "due_at": cal.add(accepted, parse("30wd")).isoformat(),
                    }
                persons.append(
                    {
                        "id": i,
                        "id_number": f"X{i:017d}",
                        "name": f"居民{i}",
                        "birth_date": date(1950, 1, 1),
                        "sex": "F",
                        "township": "城关镇",
                        "village": "东村",
                        "hukou": "rural",
                        "mental_illness": False,
                        "registered_poor": False,
                        "related_users": [],
                        "created_at": start,
                    }
                )
                cases.append(
                    {
                        "id": i,
                        "person_id": i,
                        "workflow_version_id": vid,
                        "workflow_name": "dibao",
                        "state": state,
                        "state_entered_at": at,
                        "entry_seq": depth + 1,
                        "deadline_at": deadline,
                        "assigned_to": "li",
                        "township": "城关镇",
                        "village": "东村",
                        "data": {"investigators": ["li", "zhao"]} if depth == 2 else {},
                        "clocks": clocks,
                        "emergency": False,
                        "opened_at": opened,
                        "closed_at": None,
                        "last_seq": depth + 1,
                        "head_hash": prev,
                        "version": depth + 1,
                    }
                )
            conn.execute(insert(Person), persons)
            conn.execute(insert(Case), cases)
            conn.execute(insert(CaseEvent), events)
    with Session(engine) as s, s.begin():
        svc = Service(s, FrozenClock(start + timedelta(days=10)), cal)
        svc.deploy("admin", load_workflow_file(V2))


def parse(text: str) -> Any:
    from aidflow.language.calendar import parse_duration

    return parse_duration(text)


def migration_duration(state: str) -> Any:
    return parse({"discovery": "3wd", "accepted": "3wd", "investigation": "10wd"}[state])


COLUMNS = (
    "workflow_version_id",
    "state",
    "entry_seq",
    "deadline_at",
    "clocks",
    "last_seq",
    "head_hash",
)


def raw_table(engine: Any) -> Table:
    """A copy of the cases table, its indexes renamed (index names are per schema)."""
    meta = MetaData()
    raw = Case.__table__.to_metadata(meta, name="cases_raw")  # type: ignore[attr-defined]
    for index in raw.indexes:
        index.name = f"{index.name}_raw"
    for constraint in list(raw.foreign_key_constraints):
        raw.constraints.discard(constraint)
    raw.create(engine)
    return raw


def _bench(url: str, n: int, repeat: int) -> bool:
    migrated: list[Timer] = []
    manys: list[Timer] = []
    singles: list[Timer] = []
    plan = migration.load_plan(PLAN, "plan.yaml")
    dialect = ""
    for _ in range(repeat):  # a fresh database each time (not timed)
        engine, cleanup = fresh(url)
        try:
            dialect = engine.dialect.name
            upgrade(engine)
            setup(engine, n)
            raw = raw_table(engine)
            with engine.begin() as conn:  # the copy, as the cases were before
                conn.execute(raw.insert().from_select(list(Case.__table__.c.keys()), select(Case)))  # type: ignore[attr-defined]
            clock = FrozenClock(datetime(2023, 8, 20, 1, 0, tzinfo=UTC))
            with Timer() as t, Session(engine) as s, s.begin():
                report = migration.migrate(
                    Service(s, clock, calendar()), "dibao", 2, plan, actor="admin", dry_run=False
                )
            migrated.append(t)
            assert len(report.moves) == n and not report.problems, report.problems[:3]
            with engine.connect() as conn:  # not timed: the values aidflow wrote
                cols = [Case.__table__.c[c] for c in ("id", "version", *COLUMNS)]  # type: ignore[attr-defined]
                values = [
                    {f"b_{k}": v for k, v in zip(("id", "version", *COLUMNS), row, strict=True)}
                    for row in conn.execute(select(*cols))
                ]
            for v in values:
                v["b_version"] -= 1  # as before the migration
            stmt = (
                update(raw)
                .where(raw.c.id == bindparam("b_id"), raw.c.version == bindparam("b_version"))
                .values(
                    **{c: bindparam(f"b_{c}") for c in COLUMNS},
                    version=raw.c.version + 1,
                )
            )
            with Timer() as t, engine.begin() as conn:
                done = conn.execute(stmt, values).rowcount
            manys.append(t)
            assert done == n, done
            with Timer() as t, engine.begin() as conn:
                conn.execute(
                    update(raw)
                    .where(raw.c.workflow_name == "dibao", raw.c.closed_at.is_(None))
                    .values(workflow_version_id=1, version=raw.c.version + 1)
                )
            singles.append(t)
            with Session(engine) as s:  # not timed: the chains and the log still verify
                checked, _, findings = audit.verify(s, [1, n // 2, n])
                assert checked == 3 and not findings, findings
                # the setup wrote its persons and events behind the log's back, not the migration
                log = [
                    f
                    for f in auditlog.check(s).findings
                    if not f.where.startswith("person ")
                    and (f.case_id is None or f.seq is None or f.seq > f.case_id % 3 + 1)
                ]
                assert not log, [str(f) for f in log[:3]]
        finally:
            engine.dispose()
            cleanup()
    t_mig, t_many, t_single = (Timer.best(ts) for ts in (migrated, manys, singles))
    local = dialect == "sqlite"

    def line(name: str, t: Timer, base: Timer | None = None) -> str:
        out = f"  {name:<26s}{t.wall:8.2f} s  {n / t.wall:10,.0f} cases/s"
        if local:
            out += f"  cpu {t.cpu:7.2f} s"
        if base is not None:
            out += f"   aidflow = {t_mig.wall / base.wall:.2f}x"
            if local:
                out += f" (cpu {t_mig.cpu / base.cpu:.2f}x)"
        return out

    best = f", best of {repeat}" if repeat > 1 else ""
    print(f"{dialect}, {n:,} running dibao cases migrated to version 2{best}")
    print(line("aidflow migrate", t_mig))
    print(line("raw executemany UPDATE", t_many, t_many))
    print(line("raw single UPDATE", t_single, t_single))
    ratio = t_mig.wall / t_many.wall
    verdict = "met" if ratio <= GOAL else "MISSED"
    print(f"  goal: aidflow <= {GOAL:.0f}x the executemany UPDATE: {ratio:.2f}x, {verdict}")
    return ratio <= GOAL


def fresh(url: str | None) -> tuple[Any, Any]:
    """A fresh database and how to remove it."""
    if url and url.startswith("postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:10]}"  # never the database's own tables
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))

        def drop() -> None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        sep = "&" if "?" in url else "?"
        return make_engine(f"{url}{sep}options=-csearch_path%3D{schema}"), drop
    tmp = tempfile.mkdtemp()
    return make_engine(f"sqlite:///{tmp}/bench.db"), lambda: shutil.rmtree(tmp)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    ap.add_argument(
        "--repeat", type=int, default=1, help="time each side this many times, report the best"
    )
    args = ap.parse_args()
    return 0 if _bench(args.db, args.cases, args.repeat) else 1


if __name__ == "__main__":
    sys.exit(main())
