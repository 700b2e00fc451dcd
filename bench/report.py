"""The county report over many cases against raw SQL aggregates of the same figures, on SQLite.

    python bench/report.py [--cases 100000] [--townships 12] [--runs 3] [--db-dir DIR]

Setup (not timed): a SQLite file made by `aidflow.store.database.make_engine` + the
migrations, the shipped workflows deployed, K townships with 5 villages each, and N cases
inserted with Core in chunks, one person per case: 40% tekun (two thirds of them supported,
with a self-care category and a support mode; a few still in the procedure, some overdue),
40% dibao (active, rejected, or in the procedure), 20% temporary assistance (an emergency
report helped first after 1 to 48 hours, then closed). Each case has its opening event
(a third of the tekun and dibao ones opened by the look-back, with its note) and the
transition that decided it; dispersed supported cases get 0-3 care visits a month in
July-September; supported and active cases one payment per kind for September.

Timed, in one process, on the same file, alternating, best of --runs:
- aidflow: `services.report.build_report` for the whole county (every figure, per township
  and in total) over July-September 2023, as of 2023-10-09, with the shipped policy files;
- baseline: the same figures as hand-written SQL (GROUP BY, the same window functions for
  the percentiles), run with `Connection.exec_driver_sql` and folded into the same totals.
The two results are compared (the benchmark fails if they differ). Printed: seconds of
each, aidflow / baseline (goal <= 2x), and the peak RSS.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "aidflow" / "shipped" / "workflows"
TZ = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
START = datetime(2023, 7, 1, tzinfo=TZ)
END = datetime(2023, 10, 1, tzinfo=TZ)
NOW = datetime(2023, 10, 9, 9, 0, tzinfo=TZ)
CHUNK = 20_000
TOWNS = (
    "城关", "河西", "东岗", "南湖", "北山", "柳园", "青石", "白马",
    "红旗", "新庄", "古城", "双桥", "杨柳", "石门", "长乐", "永安",
)  # fmt: skip


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stored(at: datetime) -> str:
    """A time as the models store it on SQLite (naive UTC)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def build(url: str, n: int, townships: int) -> None:
    from sqlalchemy.orm import Session

    from aidflow.clock import FrozenClock
    from aidflow.language.calendar import WorkCalendar
    from aidflow.policy.workflows import load_workflow_file
    from aidflow.services.cases import Service
    from aidflow.services.users import import_areas
    from aidflow.store.database import make_engine, upgrade
    from aidflow.store.tables import CASES, EVENTS, PAYMENTS, PERSONS
    from aidflow.store.visits import VISITS

    engine = make_engine(url)
    upgrade(engine, training=True)
    clock = FrozenClock(START - timedelta(days=30))
    calendar = WorkCalendar.from_file(SHIPPED / "policy" / "calendar.yaml")
    towns = [f"{t}镇" for t in TOWNS[:townships]]
    areas = [(t, f"{v}村") for t in towns for v in "东西南北中"]
    with Session(engine) as s, s.begin():
        svc = Service(s, clock, calendar)
        svc.add_user(None, "admin", ["admin"], "*", "admin@county.example")
        versions = {}
        for name in ("dibao", "tekun", "temporary_assistance"):
            wv, _ = svc.deploy("admin", load_workflow_file(SHIPPED / f"{name}.yaml"))
            versions[name] = wv.id
        import_areas(s, clock.now(), "admin", areas)
    rng = random.Random(1)
    span = (END - START).total_seconds()
    with engine.begin() as conn:
        for first in range(1, n + 1, CHUNK):
            persons, cases, events, visits, payments = [], [], [], [], []
            for i in range(first, min(first + CHUNK, n + 1)):
                town, village = areas[rng.randrange(len(areas))]
                opened = START + timedelta(seconds=rng.random() * span * 0.8)
                persons.append(
                    {
                        "id": i,
                        "id_number": f"{i:018d}",
                        "name": "某",
                        "birth_date": datetime(1950, 1, 1).date(),
                        "sex": "F",
                        "township": town,
                        "village": village,
                        "hukou": "rural",
                        "mental_illness": False,
                        "registered_poor": False,
                        "related_users": [],
                        "created_at": opened,
                    }
                )
                x = rng.random()
                wf = "tekun" if x < 0.4 else "dibao" if x < 0.8 else "temporary_assistance"
                note = (
                    "look-back: target group"
                    if wf != "temporary_assistance" and rng.random() < 1 / 3
                    else None
                )
                ev = [(opened, "open", None, None, wf_initial(wf), note)]
                data: dict[str, Any] = {}
                closed = None
                decided = opened + timedelta(days=rng.uniform(10, 40))
                deadline = None
                y = rng.random()
                if wf == "tekun" and y < 2 / 3:
                    state = "supported"
                    care = rng.choice(("full", "partial", "none"))
                    mode = "centralized" if rng.random() < 0.45 else "dispersed"
                    data = {"self_care": care, "support_mode": mode}
                    ev.append(
                        (decided, "transition", "confirm", "county_confirmation", state, None)
                    )
                    deadline = decided + timedelta(days=365)
                    if mode == "dispersed":
                        for month in (7, 8, 9):
                            for _ in range(rng.randint(0, 3)):
                                at = datetime(2023, month, rng.randint(1, 28), 10, tzinfo=TZ)
                                visits.append(
                                    {
                                        "case_id": i,
                                        "kind": rng.choice(("visit", "visit", "haircut")),
                                        "at": at,
                                        "by_user": "cp",
                                        "logged_at": at,
                                        "logged_by": "cp",
                                    }
                                )
                    payments.append((i, "basic_living_allowance", 102000))
                    payments.append(
                        (
                            i,
                            "care_allowance",
                            {"full": 10000, "partial": 40000, "none": 80000}[care],
                        )
                    )
                elif wf == "dibao" and y < 0.6:
                    state = "active"
                    ev.append((decided, "transition", "approve", "county_review", state, None))
                    deadline = decided + timedelta(days=365)
                    payments.append((i, "dibao", rng.randint(150, 560) * 100))
                elif wf == "dibao" and y < 0.7:
                    state = "rejected"
                    closed = decided
                    ev.append(
                        (decided, "transition", "send_reasons", "rejection_notice", state, None)
                    )
                elif wf == "temporary_assistance":
                    helped = opened + timedelta(hours=rng.uniform(1, 48))
                    ev.append((helped, "transition", "assist_first", "reported", "assisted", None))
                    state, closed = "closed", helped + timedelta(days=10)
                    ev.append((closed, "transition", "close", "approved", state, None))
                else:
                    state = "investigation" if wf == "dibao" else "accepted"
                    deadline = opened + timedelta(days=rng.uniform(5, 120))
                    decided = opened
                entered = ev[-1][0]
                cases.append(
                    {
                        "id": i,
                        "person_id": i,
                        "workflow_version_id": versions[wf],
                        "workflow_name": wf,
                        "state": state,
                        "state_entered_at": entered,
                        "entry_seq": len(ev),
                        "deadline_at": deadline,
                        "assigned_to": "li",
                        "township": town,
                        "village": village,
                        "data": data,
                        "clocks": {},
                        "emergency": wf == "temporary_assistance",
                        "opened_at": opened,
                        "closed_at": closed,
                        "last_seq": len(ev),
                        "head_hash": "",
                        "version": len(ev),
                    }
                )
                for seq, (at, kind, trigger, src, dest, text) in enumerate(ev, 1):
                    events.append(
                        {
                            "case_id": i,
                            "seq": seq,
                            "at": at,
                            "actor": "li",
                            "kind": kind,
                            "trigger": trigger,
                            "from_state": src,
                            "to_state": dest,
                            "fields": {},
                            "note": text,
                            "prev_hash": "",
                            "hash": "",
                        }
                    )
            conn.execute(PERSONS.insert(), persons)
            conn.execute(CASES.insert(), cases)
            conn.execute(EVENTS.insert(), events)
            if visits:
                conn.execute(VISITS.insert(), visits)
            conn.execute(
                PAYMENTS.insert(),
                [
                    {
                        "case_id": c,
                        "person_id": c,
                        "kind": k,
                        "period": "2023-09",
                        "amount_fen": fen,
                        "basis": {},
                        "status": "paid" if c % 10 else "pending",
                        "created_at": NOW,
                    }
                    for c, k, fen in payments
                ],
            )
    engine.dispose()


def wf_initial(wf: str) -> str:
    return "reported" if wf == "temporary_assistance" else "discovery"


def aidflow_report(url: str) -> tuple[float, dict[str, Any]]:
    from sqlalchemy.orm import Session

    from aidflow.engine.access import Actor
    from aidflow.language.calendar import WorkCalendar
    from aidflow.policy.care import load_policy_file
    from aidflow.policy.report import load_report_policy
    from aidflow.services.report import build_report
    from aidflow.store.database import make_engine

    engine = make_engine(url)
    calendar = WorkCalendar.from_file(SHIPPED / "policy" / "calendar.yaml")
    t0 = time.perf_counter()
    with Session(engine) as s:
        report = build_report(
            s,
            Actor("csup", ("county_supervisor",), "*"),
            calendar,
            load_policy_file(SHIPPED / "policy" / "care_visits.yaml"),
            load_report_policy(SHIPPED / "policy" / "report.yaml"),
            NOW,
            start=START.date(),
            end=(END - timedelta(days=1)).date(),
        )
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed, report["total"]


APPROVED = (
    "((c.workflow_name = 'dibao' AND e.trigger = 'approve') OR "
    "(c.workflow_name = 'tekun' AND e.trigger = 'confirm') OR "
    "(c.workflow_name = 'temporary_assistance' AND e.trigger = 'approve'))"
)
REJECTED = (
    "(c.workflow_name IN ('dibao', 'tekun', 'temporary_assistance') AND e.to_state = 'rejected')"
)
RANKED = """
WITH r AS (
  SELECT {group} AS t, (julianday(e.at) - julianday(c.opened_at)) * 86400.0 AS s
  FROM case_events e JOIN cases c ON c.id = e.case_id
  WHERE c.workflow_name = 'temporary_assistance' AND e.kind = 'transition'
    AND e.trigger = 'assist_first' AND c.opened_at >= :s AND c.opened_at < :e
), ranked AS (
  SELECT t, s, row_number() OVER (PARTITION BY t ORDER BY s) AS rn,
         count(*) OVER (PARTITION BY t) AS n FROM r
)
SELECT t, max(n), avg(CASE WHEN rn IN ((n + 1) / 2, (n + 2) / 2) THEN s END),
       max(CASE WHEN rn = (9 * n + 9) / 10 THEN s END), sum(s > 86400) FROM ranked GROUP BY t
"""


def baseline(url: str) -> tuple[float, dict[str, Any]]:
    from aidflow.store.database import make_engine

    engine = make_engine(url)
    p = {"s": stored(START), "e": stored(END), "now": stored(NOW)}

    def q(conn: Any, sql: str, args: tuple[Any, ...]) -> list[Any]:
        """Run `sql` on the driver, its :names bound in order from `args`."""
        return list(conn.exec_driver_sql(re.sub(r":[a-z]+\b", "?", sql), args))

    t0 = time.perf_counter()
    total: dict[str, Any] = {}
    with engine.connect() as conn:
        states: dict[str, dict[str, int]] = {}
        for _, wf, st, n in q(
            conn,
            "SELECT township, workflow_name, state, count(*) FROM cases GROUP BY 1, 2, 3",
            args=(),
        ):
            states.setdefault(wf, {})[st] = states.get(wf, {}).get(st, 0) + n
        total["cases_by_state"] = states
        for name, col in (("opened", "opened_at"), ("closed", "closed_at")):
            rows = q(
                conn,
                f"SELECT township, count(*) FROM cases WHERE {col} >= :s AND {col} < :e GROUP BY 1",
                args=(p["s"], p["e"]),
            )
            total[name] = sum(r[1] for r in rows)
        for name, cond in (("approved", APPROVED), ("rejected", REJECTED)):
            rows = q(
                conn,
                "SELECT c.township, count(*) FROM case_events e JOIN cases c ON c.id = e.case_id "
                f"WHERE e.kind = 'transition' AND e.at >= :s AND e.at < :e AND {cond} GROUP BY 1",
                args=(p["s"], p["e"]),
            )
            total[name] = sum(r[1] for r in rows)
        rows = q(
            conn,
            "SELECT township, workflow_name, state, count(*), min(deadline_at) FROM cases "
            "WHERE closed_at IS NULL AND deadline_at < :now GROUP BY 1, 2, 3",
            args=(p["now"],),
        )
        total["overdue"] = sum(r[3] for r in rows)
        for group in ("c.township", "'*'"):  # per township, then the county (kept)
            rows = q(conn, RANKED.format(group=group), args=(p["s"], p["e"]))
        ((_, n, median, p90, over),) = rows
        total["emergency_response"] = {
            "count": n,
            "median_hours": median / 3600,
            "p90_hours": p90 / 3600,
            "over_goal": over,
        }
        visit = haircut = case_months = 0
        for month in (7, 8, 9):
            ms, me = datetime(2023, month, 1, tzinfo=TZ), datetime(2023, month + 1, 1, tzinfo=TZ)
            rows = q(
                conn,
                """
                SELECT c.township, count(*),
                  sum(CASE WHEN coalesce(v.kv, 0) < 2 THEN coalesce(v.kv, 0) ELSE 2 END),
                  sum(CASE WHEN coalesce(v.kh, 0) < 1 THEN coalesce(v.kh, 0) ELSE 1 END)
                FROM cases c LEFT JOIN (
                  SELECT case_id, sum(kind = 'visit') AS kv, sum(kind = 'haircut') AS kh
                  FROM visits WHERE at >= :ms AND at < :me GROUP BY case_id) v ON v.case_id = c.id
                WHERE c.workflow_name = 'tekun' AND c.state = 'supported' AND c.closed_at IS NULL
                  AND c.state_entered_at < :ms
                  AND json_extract(c.data, '$.support_mode') = 'dispersed'
                GROUP BY 1""",
                args=(stored(ms), stored(me), stored(ms)),
            )
            case_months += sum(r[1] for r in rows)
            visit += sum(r[2] or 0 for r in rows)
            haircut += sum(r[3] or 0 for r in rows)
        total["care_visits"] = {"case_months": case_months, "visit": visit, "haircut": haircut}
        rows = q(
            conn,
            "SELECT township, count(*), sum(json_extract(data, '$.support_mode') = 'centralized') "
            "FROM cases WHERE workflow_name = 'tekun' AND state IN ('supported', 'reassessment', "
            "'periodic_review') AND closed_at IS NULL AND json_extract(data, '$.self_care') IN "
            "('partial', 'none') GROUP BY 1",
            args=(),
        )
        total["centralized_support"] = (sum(r[1] for r in rows), sum(r[2] for r in rows))
        rows = q(
            conn,
            "SELECT c.township, count(*), sum(c.closed_at IS NOT NULL OR EXISTS ("
            "SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.kind = 'transition' AND "
            f"{APPROVED})) FROM case_events o JOIN cases c ON c.id = o.case_id "
            "WHERE o.kind = 'open' "
            "AND o.note LIKE 'look-back: %' AND o.at >= :s AND o.at < :e GROUP BY 1",
            args=(p["s"], p["e"]),
        )
        total["lookback"] = {"found": sum(r[1] for r in rows), "closed": sum(r[2] for r in rows)}
        rows = q(
            conn,
            "SELECT c.township, p.kind, count(*), sum(p.amount_fen), sum(CASE WHEN p.status = "
            "'paid' THEN p.amount_fen ELSE 0 END) FROM payments p JOIN cases c ON c.id = p.case_id "
            "WHERE p.period >= '2023-07' AND p.period <= '2023-09' GROUP BY 1, 2",
            args=(),
        )
        pay: dict[str, list[int]] = {}
        for _, kind, n, fen, paid in rows:
            acc = pay.setdefault(kind, [0, 0, 0])
            acc[0] += n
            acc[1] += fen
            acc[2] += paid
        total["payments"] = pay
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed, total


def same(ours: dict[str, Any], raw: dict[str, Any]) -> list[str]:
    """Where the two disagree (empty when the figures are equal)."""
    out = []
    checks = {
        "cases_by_state": ours["cases_by_state"],
        "opened": ours["opened"],
        "closed": ours["closed"],
        "approved": ours["approved"],
        "rejected": ours["rejected"],
        "overdue": ours["overdue"]["count"],
        "care_visits": {
            "case_months": ours["care_visits"]["case_months"],
            "visit": ours["care_visits"]["by_kind"]["visit"]["made"],
            "haircut": ours["care_visits"]["by_kind"]["haircut"]["made"],
        },
        "centralized_support": (
            ours["centralized_support"]["unable_self_care"],
            ours["centralized_support"]["centralized"],
        ),
        "lookback": ours["lookback"],
        "payments": {
            k: [v["count"], v["amount_fen"], v["paid_fen"]] for k, v in ours["payments"].items()
        },
    }
    for name, value in checks.items():
        if value != raw[name]:
            out.append(f"{name}: aidflow {value} != raw {raw[name]}")
    em, rem = ours["emergency_response"], raw["emergency_response"]
    for key in ("count", "over_goal"):
        if em[key] != rem[key]:
            out.append(f"emergency {key}: {em[key]} != {rem[key]}")
    for key in ("median_hours", "p90_hours"):
        if abs(em[key] - rem[key]) > 1e-6:
            out.append(f"emergency {key}: {em[key]} != {rem[key]}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--townships", type=int, default=12)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db-dir", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        url = f"sqlite:///{Path(tmp) / 'report.db'}"
        t0 = time.perf_counter()
        build(url, args.cases, args.townships)
        print(
            f"setup: {args.cases:,} cases, {args.townships} townships "
            f"in {time.perf_counter() - t0:.1f} s"
            f" (file {Path(tmp, 'report.db').stat().st_size / 2**20:.0f} MB)"
        )
        ours_t, raw_t = [], []
        for _ in range(args.runs):
            t, ours = aidflow_report(url)
            ours_t.append(t)
            t, raw = baseline(url)
            raw_t.append(t)
        diff = same(ours, raw)
        if diff:
            print("the figures differ:\n  " + "\n  ".join(diff))
            return 2
        best, base = min(ours_t), min(raw_t)
        ratio = best / base
        print(
            f"aidflow report (every figure, per township and in total): {best:.2f} s "
            f"(runs: {', '.join(f'{x:.2f}' for x in ours_t)})"
        )
        print(
            f"raw SQL aggregates of the same figures: {base:.2f} s "
            f"(runs: {', '.join(f'{x:.2f}' for x in raw_t)})"
        )
        print(f"ratio aidflow / raw: {ratio:.2f}x (goal <= 2x){'' if ratio <= 2 else ' MISSED'}")
        print(f"figures equal: yes; peak RSS {peak_rss_mb():.0f} MB")
        return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
