"""`aidflow workflow simulate`: the "what if" report is what deploying, migrating and running
the scheduler over the same days then does, and the database it reads stays as it was.

The caseload: relief cases (tests/workflows/simulate/relief.yaml) in intake, checking and
notice, entered at different times before T0, and one withdrawn. The edit shortens the
intake's deadline and its escalation, renames `checking` and shortens the notice. The test
simulates 6 days in rounds 6 hours apart, then does it for real (deploy, migrate, a
scheduler tick every 6 hours) and compares the report with the database, counted here in
SQL of its own.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from aidflow.clock import FrozenClock
from aidflow.language.calendar import WorkCalendar
from aidflow.policy.workflows import load_workflow_file
from aidflow.services.cases import Service

from .conftest import REPO, Cli, World, bootstrap, local

FILES = REPO / "tests" / "workflows" / "simulate"
BASE = FILES / "relief.yaml"
EDITED = FILES / "relief_edited.yaml"
PLAN = REPO / "tests" / "data" / "simulate_plan.yaml"
T0 = local(2023, 8, 1, 9, 0)  # a Tuesday
STEP = timedelta(hours=6)
DAYS = 6


def _id_number(serial: int) -> str:
    """A valid resident ID (Dongcheng, Beijing, born 1950-01-01) with its check digit."""
    from stdnum.cn import ric

    body = f"11010119500101{serial:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum reads 18 characters


# (hours before T0 the case was opened, the triggers fired after it, hours before T0 each)
CASELOAD: list[tuple[int, list[tuple[str, int]]]] = [
    (96, []),  # intake 4 days: past the 3-day rung already
    (60, []),
    (36, []),
    (6, []),
    (144, [("accept", 120)]),  # checking
    (72, [("accept", 48)]),
    (30, [("accept", 24)]),
    (216, [("accept", 192), ("findings", 144)]),  # notice 6 days: edited 5d is past
    (120, [("accept", 96), ("findings", 72)]),
    (30, [("accept", 20), ("findings", 1)]),
    (48, [("withdraw", 24)]),  # final: never touched
]


def _setup(engine: Engine, calendar: WorkCalendar) -> dict[int, int]:
    """The caseload; the case id of each CASELOAD entry by its index."""
    clock = FrozenClock(T0 - timedelta(days=30))
    w = World(engine, clock, calendar)

    def users(svc: Service) -> None:
        bootstrap(svc, deploy=False)
        svc.deploy("admin", load_workflow_file(BASE))
        svc.add_user("admin", "li", ["township_caseworker"], "城关镇", "li@county.example")
        svc.add_user("admin", "tsup", ["township_supervisor"], "城关镇", "tsup@county.example")

    w.run(users)
    steps: list[tuple[int, int | None, str]] = []  # (hours before T0, case index, trigger)
    for i, (opened, fired) in enumerate(CASELOAD):
        steps.append((opened, None, str(i)))
        steps.extend((before, i, trigger) for trigger, before in fired)
    ids: dict[int, int] = {}
    for before, index, what in sorted(steps, key=lambda s: -s[0]):
        clock.set(T0 - timedelta(hours=before))
        if index is None:
            n = int(what)

            def open_(svc: Service, n: int = n) -> int:
                number = _id_number(n + 1)
                svc.register_person(number, f"张{n}", "城关镇", "东村", "rural")
                return svc.open_case(svc.actor("li"), number, "relief").id

            ids[n] = w.run(open_)
        else:
            w.fire("li", ids[index], what)
    return ids


def _snapshot(engine: Engine) -> dict[str, Any]:
    """What a simulation must not change: row counts and the last audit entry."""
    with engine.connect() as conn:
        out: dict[str, Any] = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in (
                "cases",
                "case_events",
                "escalations",
                "outbox",
                "workflow_versions",
                "audit_log",
            )
        }
        out["cases_rows"] = conn.execute(
            text(
                "SELECT id, state, workflow_version_id, deadline_at, version FROM cases ORDER BY id"
            )
        ).all()
        out["audit_head"] = conn.execute(
            text("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        ).scalar()
    return out


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


def _iso(value: Any) -> str | None:
    """A stored time (aware or naive UTC, by backend) as the report writes it."""
    if value is None:
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if at.tzinfo is None:
        from datetime import UTC

        at = at.replace(tzinfo=UTC)
    return at.astimezone(T0.tzinfo).isoformat()


def _actual(engine: Engine) -> dict[str, Any]:
    """The figures the report predicts, counted from the database after the real run."""
    with engine.connect() as conn:
        escalations = Counter()
        for state, ladder, rung, role, fired in conn.execute(
            text(
                "SELECT e.state, e.ladder, e.rung, e.role, e.fired_at FROM escalations e "
                "JOIN cases c ON c.id = e.case_id WHERE c.workflow_name = 'relief'"
            )
        ):
            if _iso(fired) > T0.isoformat():  # type: ignore[operator]
                escalations[(state, ladder, rung, role)] += 1
        timed = Counter()
        for source, trigger, dest, at in conn.execute(
            text(
                'SELECT from_state, "trigger", to_state, at FROM case_events '
                "WHERE actor = 'system' AND kind = 'transition'"
            )
        ):
            if _iso(at) > T0.isoformat():  # type: ignore[operator]
                timed[(source, trigger, dest)] += 1
        emails = sum(
            1
            for (at,) in conn.execute(text("SELECT created_at FROM outbox"))
            if _iso(at) > T0.isoformat()  # type: ignore[operator]
        )
        states = Counter(
            state
            for (state,) in conn.execute(
                text("SELECT state FROM cases WHERE workflow_name = 'relief'")
            )
        )
    return {"escalations": escalations, "timed": timed, "emails": emails, "states": states}


@pytest.fixture
def relief(engine: Engine, calendar: WorkCalendar, db_url: str) -> tuple[Cli, dict[int, int]]:
    ids = _setup(engine, calendar)
    return Cli(db_url, now=_when(T0)), ids


def _simulate(cli: Cli, *extra: str) -> dict[str, Any]:
    r = cli(
        "workflow",
        "simulate",
        str(EDITED),
        "--against-database",
        "--days",
        str(DAYS),
        "--step-hours",
        "6",
        *extra,
        "--json",
    )
    assert r.exit_code == 0, r.output
    report: dict[str, Any] = json.loads(r.stdout)
    return report


def test_the_report_is_what_deploying_migrating_and_ticking_then_does(
    relief: tuple[Cli, dict[int, int]], engine: Engine, calendar: WorkCalendar
) -> None:
    cli, ids = relief
    before = _snapshot(engine)
    report = _simulate(cli, "--plan", str(PLAN))
    assert _snapshot(engine) == before  # the database was only read

    assert report["deployed_version"] == 1 and report["edited_version"] == 2
    assert report["open_cases"] == 10
    assert report["stranded"] == []
    assert {(m["from"], m["to"]): m["count"] for m in report["migrated"]} == {
        ("intake", "intake"): 4,
        ("checking", "verification"): 3,
        ("notice", "notice"): 3,
    }
    # deadlines as the edit counts them from when each case entered its state
    moved = {m["case"]: m for m in report["deadlines_moved"]}
    assert len(moved) == 10
    latest_intake = moved[ids[3]]  # opened 6 hours before T0: 5 days became 2
    assert latest_intake["before"] == (T0 - timedelta(hours=6) + timedelta(days=5)).isoformat()
    assert latest_intake["after"] == (T0 - timedelta(hours=6) + timedelta(days=2)).isoformat()
    # accepted on Sunday 2023-07-30: 3 working days are Mon 31, Tue 1 and Wed 2 (it was 5)
    checking = moved[ids[5]]
    assert checking["state_after"] == "verification"
    assert checking["after"] == "2023-08-03T00:00:00+08:00"
    assert checking["before"] == "2023-08-05T00:00:00+08:00"

    # now for real, over the same days
    assert cli("workflow", "deploy", str(EDITED)).exit_code == 0
    migrated = cli("workflow", "migrate", "relief", "--to", "2", "--plan", str(PLAN))
    assert migrated.exit_code == 0, migrated.output
    at = T0
    while at < T0 + timedelta(days=DAYS):
        at += STEP
        tick = cli("scheduler", "tick", now=_when(at))
        assert tick.exit_code == 0, tick.output
    actual = _actual(engine)

    edited = report["edited"]
    assert {
        (e["state"], e["ladder"], e["rung"], e["role"]): e["count"] for e in edited["escalations"]
    } == dict(actual["escalations"])
    assert edited["escalations_total"] == sum(actual["escalations"].values()) > 0
    assert {
        (t["from"], t["trigger"], t["to"]): t["count"] for t in edited["timed_transitions"]
    } == dict(actual["timed"])
    assert actual["timed"][("notice", "close_notice", "granted")] == 3
    assert edited["emails"] == actual["emails"]
    assert edited["end_states"] == dict(actual["states"] - Counter({"withdrawn": 1}))
    # the notice entered an hour before T0 ends within the 6 days under the edit's 5-day
    # notice, not under the 7-day one; the cases in `checking` end in `verification`, the
    # same place renamed, which is not a difference
    assert report["outcomes_differ"] == [
        {"case": ids[9], "baseline": "notice", "edited": "granted"}
    ]
    # the edit escalates sooner and more often than the deployed version would
    assert report["edited"]["escalations_total"] > report["baseline"]["escalations_total"]
    verify = cli("audit", "verify")
    assert verify.exit_code == 0, verify.output


def test_without_a_plan_a_renamed_state_strands_its_cases(
    relief: tuple[Cli, dict[int, int]], db_url: str
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the stranding rule is the same on both; the copy is tested above")
    cli, ids = relief
    report = _simulate(cli)
    stranded = {s["case"]: s for s in report["stranded"]}
    # the cases in `checking` have no state to go to; those in the notice went through
    # `checking`, which the edit calls `verification`, so without the plan's mapping they
    # would land past a mandatory step they never took
    checking, notice = [ids[i] for i in (4, 5, 6)], [ids[i] for i in (7, 8, 9)]
    assert sorted(stranded) == sorted(checking + notice)
    for case in checking:
        assert stranded[case]["state"] == "checking"
        assert "'checking' is not in version 2" in stranded[case]["reason"]
    for case in notice:
        assert "skips mandatory step(s) verification" in stranded[case]["reason"]
    assert sum(m["count"] for m in report["migrated"]) == 4
    text_report = cli("workflow", "simulate", str(EDITED), "--against-database", "--days", "1")
    assert text_report.exit_code == 0, text_report.output
    assert "stranded (would stay on their version): 6" in text_report.stdout
    assert "escalations" in text_report.stdout


def test_bad_requests_are_refused_and_change_nothing(
    relief: tuple[Cli, dict[int, int]], engine: Engine, db_url: str, tmp_path: Path
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("argument checks do not depend on the database")
    cli = relief[0]
    before = _snapshot(engine)
    no_flag = cli("workflow", "simulate", str(EDITED))
    assert no_flag.exit_code == 3 and "--against-database" in no_flag.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(EDITED.read_text().replace("deadline: 2d", "deadline: 2 days"))
    bad = cli("workflow", "simulate", str(broken), "--against-database")
    assert bad.exit_code == 3 and "broken.yaml:" in bad.output
    days = cli("workflow", "simulate", str(EDITED), "--against-database", "--days", "0")
    assert days.exit_code == 3 and "--days" in days.stderr
    not_admin = cli("workflow", "simulate", str(EDITED), "--against-database", user="li")
    assert not_admin.exit_code != 0 and "administrator" in not_admin.stderr
    assert _snapshot(engine) == before
