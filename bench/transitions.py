"""Throughput of aidflow commands against a raw SQLAlchemy Core baseline, on SQLite files.

    python bench/transitions.py [--cases N] [--batch B] [--db-dir DIR] [--profile]

What runs (SQLite FILE databases in WAL mode, with the pragmas and BEGIN IMMEDIATE of
`aidflow.db.make_engine`; each engine and mode gets a fresh file of its own):

- aidflow, "single": N cases are opened, then every case goes through the whole dibao
  path, phase by phase (all cases accept, then all start_investigation, ...):
      accept, start_investigation (investigators=li,zhao),
      submit_findings (monthly_income, income_stable, note),
      5 votes yes by rep1..rep5, review_passed,
      [FrozenClock moved 8 days, past the 7-day notice], close_notice,
      approve (by county_officer sun; the amount computed from the findings' income)
  Each command is one `Service` call in a Session and transaction of its own (one
  COMMIT), the acting user looked up per command with `svc.actor(name)` as the CLI
  does. The hash-chained audit trail is always on.
- Core, "single": as many commands on another file: per command one
  `UPDATE cases SET state=?, version=version+1 WHERE id=? AND version=?` (rowcount
  checked) and one INSERT into events, one COMMIT each. No reads, rules or hashing.
- "batched": all of it again on fresh files with B commands per transaction (aidflow:
  a loop over Service.fire/vote in one Session; Core: a loop of execute() calls inside
  one connection.begin()).

aidflow and Core run interleaved in blocks (a block of aidflow commands, then the
same block for Core, alternating who goes first), so both see the same load on a
shared machine.

Counted:
- "commands"    = all engine commands after opening: 6 fires + 5 votes = 11 per case.
- "transitions" = the 6 state-changing fires per case (accept ... approve).
- "votes"       = the 5 votes per case (they append an event and bump the case
                  version, but leave the state alone).
- "open"        = Service.open_case, timed separately (Core: INSERT case + INSERT event).
Core runs the same two statements for every command whatever its kind, so its
per-kind rates differ only by noise. Ratio = aidflow rate / Core rate (goal >= 0.5).

Each command is timed on its own ("single": including Session, BEGIN and COMMIT);
in "batched" a batch's Session/BEGIN/COMMIT time is spread evenly over its commands.
`audit.verify` runs on both aidflow files after the timings and must find nothing.
"""

from __future__ import annotations

import os
import sys

# This file has the name of the `transitions` library, which aidflow.machine imports
# lazily; run as a script, bench/ comes first on sys.path and would shadow it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import date, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

from sqlalchemy import (  # noqa: E402
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    event,
    update,
)
from sqlalchemy.orm import Session  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from aidflow.clock import FrozenClock  # noqa: E402
from aidflow.language.calendar import WorkCalendar  # noqa: E402
from aidflow.policy.standards import load_policy  # noqa: E402
from aidflow.policy.workflows import load_workflow_file  # noqa: E402
from aidflow.services.cases import Service  # noqa: E402
from aidflow.store import audit  # noqa: E402
from aidflow.store.database import make_engine, upgrade  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / "src" / "aidflow" / "shipped" / "workflows"
POLICY = load_policy(WORKFLOWS / "policy")  # the amount rule and exclusivity, as the CLI's
TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2023, 8, 1, 9, 0, tzinfo=TZ)  # a Tuesday
BLOCK = 50  # commands per interleaving block in "single" mode

USERS = [
    ("admin", ["admin"], "*"),
    ("li", ["township_caseworker"], "城关镇"),
    ("zhao", ["township_caseworker"], "城关镇"),
    ("chen", ["village_officer"], "城关镇/东村"),
    ("sun", ["county_officer"], "*"),
] + [(f"rep{i}", ["village_rep"], "城关镇/东村") for i in range(1, 6)]


@dataclass(frozen=True)
class Step:
    kind: str  # "transition" or "vote"
    actor: str
    trigger: str  # the trigger, or the vote's choice
    from_state: str
    to_state: str
    fields: dict[str, str] = field(default_factory=dict)
    note: str | None = None
    advance: timedelta = timedelta(hours=1)  # the clock moves this much before the phase


PATH: list[Step] = [
    Step("transition", "li", "accept", "discovery", "accepted"),
    Step(
        "transition",
        "li",
        "start_investigation",
        "accepted",
        "investigation",
        {"investigators": "li,zhao"},
    ),
    Step(
        "transition",
        "li",
        "submit_findings",
        "investigation",
        "village_review",
        {"monthly_income": "120", "income_stable": "false"},
        note="household visit done; lives alone, small pension only",
        advance=timedelta(days=1),
    ),
    *[Step("vote", f"rep{i}", "yes", "village_review", "village_review") for i in range(1, 6)],
    Step("transition", "chen", "review_passed", "village_review", "public_notice"),
    Step(
        "transition",
        "li",
        "close_notice",
        "public_notice",
        "county_review",
        advance=timedelta(days=8),
    ),
    Step("transition", "sun", "approve", "county_review", "active", {}),
]
TRANSITIONS_PER_CASE = sum(1 for s in PATH if s.kind == "transition")
VOTES_PER_CASE = sum(1 for s in PATH if s.kind == "vote")


def id_number(i: int) -> str:
    """A valid 18-character resident ID number, distinct for each i (born 1950 on)."""
    born = date(1950, 1, 1) + timedelta(days=i // 500)
    body = f"110105{born:%Y%m%d}{(i % 500) * 2:03d}"  # even sequence digit: female
    return body + ric.calc_check_digit(body + "0")


@dataclass
class Timing:
    """Seconds and counts per kind of command ("open", "transition", "vote")."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    commits: int = 0

    def add(self, kind: str, seconds: float, n: int = 1) -> None:
        self.seconds[kind] += seconds
        self.count[kind] += n

    def rate(self, *kinds: str) -> float:
        secs = sum(self.seconds[k] for k in kinds)
        return sum(self.count[k] for k in kinds) / secs if secs else float("nan")

    def total(self) -> float:
        return sum(self.seconds.values())


Command = tuple[Step, int]  # (step, index of the case: 0..N-1)


class Runner:
    """One engine on one database file: opens cases and runs commands, timing each."""

    name = ""

    def __init__(self) -> None:
        self.clock = FrozenClock(START)
        self.case_ids: list[int] = []
        self.timing = Timing()
        self.profile: cProfile.Profile | None = None
        self.statements = 0  # SQL statements sent, counted only when count_statements() was called
        self.statements_by_kind: dict[str, int] = defaultdict(int)

    def count_statements(self, engine: Engine) -> None:
        """Count what SQLite itself runs (its trace hook), COMMIT aside: aidflow's hot path sends
        its statements on the DB-API cursor, past SQLAlchemy's before_cursor_execute event."""

        def bump(sql: str) -> None:
            if not sql.startswith("COMMIT"):
                self.statements += 1

        def on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            dbapi_conn.set_trace_callback(bump)

        event.listen(engine.pool, "checkout", on_checkout)

    def open_one(self, i: int) -> None:
        raise NotImplementedError

    def open_many(self, indexes: Sequence[int]) -> None:
        raise NotImplementedError

    def command_single(self, step: Step, case_id: int) -> None:
        raise NotImplementedError

    def command_batch(self, chunk: Sequence[Command]) -> None:
        raise NotImplementedError

    # timing wrappers --------------------------------------------------------------------

    def timed_single(self, fn: Callable[[], None], kind: str) -> None:
        before = self.statements
        if self.profile:
            self.profile.enable()
        t0 = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t0
        if self.profile:
            self.profile.disable()
        self.timing.add(kind, elapsed)
        self.timing.commits += 1
        self.statements_by_kind[kind] += self.statements - before

    def timed_batch(
        self,
        begin: Callable[[], Any],
        chunk: Sequence[Command],
        one: Callable[[Any, Step, int], None],
    ) -> None:
        """Run `chunk` in one transaction; per-kind time plus an even share of the overhead."""
        per_kind: dict[str, float] = defaultdict(float)
        t0 = time.perf_counter()
        with begin() as tx:
            for step, i in chunk:
                if i == 0:
                    self.clock.advance(step.advance)
                k0 = time.perf_counter()
                one(tx, step, self.case_ids[i])
                per_kind[step.kind] += time.perf_counter() - k0
        overhead = (time.perf_counter() - t0 - sum(per_kind.values())) / len(chunk)
        for kind, secs in per_kind.items():
            n = sum(1 for st, _ in chunk if st.kind == kind)
            self.timing.add(kind, secs + overhead * n, n)
        self.timing.commits += 1

    def dispose(self) -> None:
        pass


# -- aidflow ---------------------------------------------------------------------------


class Aidflow(Runner):
    name = "aidflow"

    def __init__(self, path: Path, calendar: WorkCalendar, n_cases: int) -> None:
        super().__init__()
        self.engine = make_engine(f"sqlite:///{path}")
        upgrade(self.engine)
        self.calendar = calendar
        self.ids = [id_number(i) for i in range(n_cases)]

        def setup(svc: Service) -> None:
            from aidflow.services.users import import_areas

            svc.add_user(None, "admin", ["admin"], "*", "admin@county.example")
            for f in sorted(WORKFLOWS.glob("*.yaml")):
                svc.deploy("admin", load_workflow_file(f))
            import_areas(
                svc.session, self.clock.now(), "admin", [("城关镇", "东村"), ("河西镇", "")]
            )
            for name, roles, area in USERS[1:]:
                svc.add_user("admin", name, roles, area, f"{name}@county.example")
            for idn in self.ids:
                svc.register_person(idn, "王秀英", "城关镇", "东村", "rural", disability_grade=2)

        self.run(setup)

    def run(self, fn: Callable[[Service], Any]) -> Any:
        """One transaction, as tests/conftest.py World.run and the CLI do it."""
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            return fn(Service(s, self.clock, self.calendar, POLICY))

    def _service(self) -> Any:
        engine, clock, calendar = self.engine, self.clock, self.calendar

        class Tx:
            def __enter__(self) -> Service:
                self.session = Session(engine, expire_on_commit=False)
                self.tx = self.session.begin()
                return Service(self.session, clock, calendar, POLICY)

            def __exit__(self, *exc: object) -> None:
                if exc[0] is None:
                    self.tx.commit()
                self.session.close()

        return Tx()

    @staticmethod
    def command(svc: Service, step: Step, case_id: int) -> None:
        actor = svc.actor(step.actor)
        if step.kind == "vote":
            svc.vote(actor, case_id, step.trigger)
        else:
            ev = svc.fire(actor, case_id, step.trigger, step.fields, step.note)
            assert ev.to_state == step.to_state, (ev.to_state, step)

    def open_one(self, i: int) -> None:
        idn = self.ids[i]
        self.timed_single(
            lambda: self.case_ids.append(
                self.run(lambda svc: svc.open_case(svc.actor("li"), idn, "dibao").id)
            ),
            "open",
        )

    def open_many(self, indexes: Sequence[int]) -> None:
        t0 = time.perf_counter()
        self.case_ids.extend(
            self.run(
                lambda svc: [
                    svc.open_case(svc.actor("li"), self.ids[i], "dibao").id for i in indexes
                ]
            )
        )
        self.timing.add("open", time.perf_counter() - t0, len(indexes))
        self.timing.commits += 1

    def command_single(self, step: Step, case_id: int) -> None:
        self.timed_single(lambda: self.run(lambda svc: self.command(svc, step, case_id)), step.kind)

    def command_batch(self, chunk: Sequence[Command]) -> None:
        self.timed_batch(self._service, chunk, self.command)

    def verify(self) -> tuple[int, int]:
        with Session(self.engine) as s:
            cases, events, findings = audit.verify(s)
        assert not findings, [str(f) for f in findings]
        return cases, events

    def dispose(self) -> None:
        self.engine.dispose()


# -- SQLAlchemy Core baseline ----------------------------------------------------------

core_meta = MetaData()
core_cases = Table(
    "cases",
    core_meta,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, nullable=False),
    Column("workflow_name", String(64), nullable=False),
    Column("state", String(64), nullable=False),
    Column("state_entered_at", DateTime, nullable=False),
    Column("deadline_at", DateTime),
    Column("township", String(100), nullable=False),
    Column("village", String(100), nullable=False),
    Column("data", JSON, nullable=False),
    Column("emergency", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Index("core_ix_cases_deadline", "deadline_at"),
    Index("core_ix_cases_area_state", "township", "state"),
)
core_events = Table(
    "events",
    core_meta,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("trigger", String(64)),
    Column("from_state", String(64)),
    Column("to_state", String(64)),
    Column("fields", JSON, nullable=False),
    Column("note", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("case_id", "seq", name="core_uq_event_seq"),
)
CORE_UPDATE = (
    update(core_cases)
    .where(core_cases.c.id == bindparam("cid"), core_cases.c.version == bindparam("expected"))
    .values(state=bindparam("new_state"), version=core_cases.c.version + 1)
)
CORE_INSERT_EVENT = core_events.insert()
CORE_INSERT_CASE = core_cases.insert()
NO_HASH = "0" * 64


class Core(Runner):
    name = "core"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.engine: Engine = make_engine(f"sqlite:///{path}")
        core_meta.create_all(self.engine)
        self.version: dict[int, int] = {}
        self.seq: dict[int, int] = {}

    def _now(self) -> datetime:
        return self.clock.now().replace(tzinfo=None)  # naive UTC, as aidflow stores it

    def open(self, conn: Any) -> int:
        now = self._now()
        cid = int(
            conn.execute(
                CORE_INSERT_CASE,
                {
                    "person_id": 1,
                    "workflow_name": "dibao",
                    "state": "discovery",
                    "state_entered_at": now,
                    "deadline_at": now,
                    "township": "城关镇",
                    "village": "东村",
                    "data": {},
                    "emergency": False,
                    "version": 1,
                },
            ).inserted_primary_key[0]
        )
        conn.execute(
            CORE_INSERT_EVENT,
            {
                "case_id": cid,
                "seq": 1,
                "at": now,
                "actor": "li",
                "kind": "open",
                "trigger": None,
                "from_state": None,
                "to_state": "discovery",
                "fields": {"workflow": "dibao"},
                "note": None,
                "prev_hash": NO_HASH,
                "hash": NO_HASH,
            },
        )
        self.version[cid] = 1
        self.seq[cid] = 1
        return cid

    def command(self, conn: Any, step: Step, cid: int) -> None:
        expected = self.version[cid]
        res = conn.execute(
            CORE_UPDATE, {"cid": cid, "expected": expected, "new_state": step.to_state}
        )
        if res.rowcount != 1:
            raise RuntimeError(f"case {cid} changed (expected version {expected})")
        self.version[cid] = expected + 1
        seq = self.seq[cid] = self.seq[cid] + 1
        conn.execute(
            CORE_INSERT_EVENT,
            {
                "case_id": cid,
                "seq": seq,
                "at": self._now(),
                "actor": step.actor,
                "kind": step.kind,
                "trigger": step.trigger if step.kind == "transition" else None,
                "from_state": step.from_state,
                "to_state": step.to_state,
                "fields": step.fields,
                "note": step.note,
                "prev_hash": NO_HASH,
                "hash": NO_HASH,
            },
        )

    def open_one(self, i: int) -> None:
        def go() -> None:
            with self.engine.begin() as conn:
                self.case_ids.append(self.open(conn))

        self.timed_single(go, "open")

    def open_many(self, indexes: Sequence[int]) -> None:
        t0 = time.perf_counter()
        with self.engine.begin() as conn:
            self.case_ids.extend(self.open(conn) for _ in indexes)
        self.timing.add("open", time.perf_counter() - t0, len(indexes))
        self.timing.commits += 1

    def command_single(self, step: Step, case_id: int) -> None:
        def go() -> None:
            with self.engine.begin() as conn:
                self.command(conn, step, case_id)

        self.timed_single(go, step.kind)

    def command_batch(self, chunk: Sequence[Command]) -> None:
        self.timed_batch(self.engine.begin, chunk, self.command)

    def dispose(self) -> None:
        self.engine.dispose()


# -- driver ----------------------------------------------------------------------------


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def run_single(runners: list[Runner], n_cases: int) -> None:
    assert all(not r.case_ids for r in runners), "run_single opens its own cases"
    flip = False
    for block in chunks(range(n_cases), BLOCK):
        for r in runners[::-1] if flip else runners:
            for i in block:
                r.open_one(i)
        flip = not flip
    for step in PATH:
        for r in runners:
            r.clock.advance(step.advance)
        for block in chunks(range(n_cases), BLOCK):
            for r in runners[::-1] if flip else runners:
                for i in block:
                    r.command_single(step, r.case_ids[i])
            flip = not flip


def run_batched(runners: list[Runner], n_cases: int, batch: int) -> None:
    assert all(not r.case_ids for r in runners), "run_batched opens its own cases"
    flip = False
    for block in chunks(range(n_cases), batch):
        for r in runners[::-1] if flip else runners:
            r.open_many(block)
        flip = not flip
    commands = [(step, i) for step in PATH for i in range(n_cases)]
    for chunk in chunks(commands, batch):
        for r in runners[::-1] if flip else runners:
            r.command_batch(chunk)
        flip = not flip


def report(n_cases: int, batch: int, runs: dict[str, tuple[Timing, Timing]]) -> bool:
    n_cmd = n_cases * (TRANSITIONS_PER_CASE + VOTES_PER_CASE)
    print(
        f"SQLite files, WAL, synchronous=NORMAL, BEGIN IMMEDIATE (aidflow.db.make_engine); "
        f"{n_cases} cases; batched = {batch} commands per transaction"
    )
    print(
        f"counted: commands = transitions + votes = {n_cmd} "
        f"({TRANSITIONS_PER_CASE} state-changing fires + {VOTES_PER_CASE} votes per case); "
        f"open = open_case, not in 'commands'"
    )
    print(
        "single: one Session + transaction + COMMIT per command; Core per command: "
        "UPDATE cases ... WHERE id=? AND version=? + INSERT events"
    )
    print()
    head = (
        f"{'mode':<8} {'counted':<12} {'n':>6} {'aidflow/s':>10} {'core/s':>9} "
        f"{'aidflow/core':>13} {'aidflow ms':>11} {'core ms':>8}  goal"
    )
    print(head)
    print("-" * len(head))
    ok = True
    rows = [
        ("commands", ("transition", "vote")),
        ("transitions", ("transition",)),
        ("votes", ("vote",)),
        ("open", ("open",)),
    ]
    for mode, (a, c) in runs.items():
        for label, kinds in rows:
            ra, rc = a.rate(*kinds), c.rate(*kinds)
            ratio = ra / rc
            goal = ""
            if label in ("commands", "transitions"):
                met = ratio >= 0.5
                ok &= met or label != "commands"
                goal = ">= 0.5 " + ("ok" if met else "MISSED")
            print(
                f"{mode:<8} {label:<12} {sum(a.count[k] for k in kinds):>6} {ra:>10.0f} {rc:>9.0f} "
                f"{ratio:>13.2f} {1000 / ra:>11.3f} {1000 / rc:>8.3f}  {goal}"
            )
        print(
            f"{'':<8} timed: aidflow {a.total():.2f}s in {a.commits} commits, "
            f"core {c.total():.2f}s in {c.commits} commits"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--cases", type=int, default=300, help="cases per run (default 300)")
    ap.add_argument(
        "--batch", type=int, default=500, help="commands per transaction in 'batched' (500)"
    )
    ap.add_argument(
        "--db-dir",
        type=Path,
        help="where the database files go (default: a temporary "
        "directory, removed afterwards); existing bench files there are replaced",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="profile the aidflow 'single' commands with cProfile and print the top costs",
    )
    args = ap.parse_args(argv)
    if args.cases < 1 or args.batch < 1:
        ap.error("--cases and --batch must be positive")

    tmp = None
    if args.db_dir is None:
        db_dir = tmp = Path(tempfile.mkdtemp(prefix="aidflow-bench-"))
    else:
        db_dir = args.db_dir
        db_dir.mkdir(parents=True, exist_ok=True)
    files = {
        n: db_dir / f"{n}.db"
        for n in (
            "warmup-aidflow",
            "warmup-core",
            "aidflow-single",
            "core-single",
            "aidflow-batched",
            "core-batched",
        )
    }
    for path in files.values():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    t_start = time.perf_counter()
    calendar = WorkCalendar.from_file(WORKFLOWS / "policy" / "calendar.yaml")
    try:
        # Warm-up on throwaway files: fills the process-wide caches (parsed definition,
        # compiled guards, SQLAlchemy statement caches, chinese_calendar) before timing.
        warm: list[Runner] = [
            Aidflow(files["warmup-aidflow"], calendar, 10),
            Core(files["warmup-core"]),
        ]
        for r in warm:
            r.count_statements(r.engine)  # type: ignore[attr-defined]
        run_single(warm, 5)
        per_cmd = {
            r.name: {
                k: r.statements_by_kind[k] / r.timing.count[k]
                for k in ("transition", "vote", "open")
            }
            for r in warm
        }
        for r in warm:
            r.case_ids.clear()  # the batched warm-up opens cases of its own (indexes 5..9)
            if isinstance(r, Aidflow):
                r.ids = r.ids[5:]
        run_batched(warm, 5, 20)
        for r in warm:
            r.dispose()

        runs: dict[str, tuple[Timing, Timing]] = {}
        af = Aidflow(files["aidflow-single"], calendar, args.cases)
        core = Core(files["core-single"])
        prof = af.profile = cProfile.Profile() if args.profile else None
        run_single([af, core], args.cases)
        af.profile = None
        runs["single"] = (af.timing, core.timing)
        if prof is not None:
            print(
                "note: --profile is on, so the aidflow 'single' rates below "
                "include cProfile's overhead"
            )
        core.dispose()

        afb = Aidflow(files["aidflow-batched"], calendar, args.cases)
        coreb = Core(files["core-batched"])
        run_batched([afb, coreb], args.cases, args.batch)
        runs["batched"] = (afb.timing, coreb.timing)
        coreb.dispose()

        print()
        ok = report(args.cases, args.batch, runs)
        print()
        print(
            "SQL statements per command in 'single' (counted in the warm-up; COMMIT not counted): "
            + "; ".join(
                f"{name} " + ", ".join(f"{k} {v:.1f}" for k, v in kinds.items())
                for name, kinds in per_cmd.items()
            )
        )
        for label, eng in (("single", af), ("batched", afb)):
            cases, events = eng.verify()
            expected = args.cases * (1 + TRANSITIONS_PER_CASE + VOTES_PER_CASE)
            assert cases == args.cases and events == expected, (cases, events, expected)
            print(f"audit.verify aidflow-{label}.db: clean ({cases} cases, {events} events)")
            eng.dispose()
        print(
            "goal (aidflow/core >= 0.5 per command, single and batched): "
            f"{'met' if ok else 'MISSED'}; total run {time.perf_counter() - t_start:.1f}s"
        )
        if prof is not None:
            out = io.StringIO()
            st = pstats.Stats(prof, stream=out).strip_dirs().sort_stats("cumulative")
            out.write(
                "\ncProfile of the aidflow 'single' commands (opens included), "
                "by cumulative time:\n"
            )
            st.print_stats(45)
            out.write("by own time:\n")
            st.sort_stats("tottime").print_stats(25)
            print(out.getvalue())
        return 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
