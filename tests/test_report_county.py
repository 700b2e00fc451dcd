"""The county report on a seeded synthetic county: `aidflow demo --county` generates a county
from a seed, imports it, runs the look-back and three simulated months with the scheduler and
pays the quarter; the report's figures are then recounted here from the database's rows in
plain Python (no SQL aggregate, nothing from aidflow.services.figures or store.report),
including the emergency response times against 24 hours and the centralized-support rate
against 50%."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from aidflow.cli.main import cli as aidflow

from .test_readme import CLEAN_ENV

TZ = ZoneInfo("Asia/Shanghai")
START, END = datetime(2023, 7, 1, tzinfo=TZ), datetime(2023, 10, 1, tzinfo=TZ)
NOW = datetime(2023, 10, 9, 9, 0, tzinfo=TZ)


def _aware(value: Any) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # stored in UTC


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("county")
    db_file = tmp / "county.db"
    argv = ["demo", "--county", "--persons", "80", "--townships", "2", "--seed", "figures"]
    made = CliRunner().invoke(
        aidflow, [*argv, "--db-file", str(db_file)], env=CLEAN_ENV, catch_exceptions=False
    )
    assert made.exit_code == 0, made.output
    report = CliRunner().invoke(
        aidflow,
        [
            "--db",
            str(db_file),
            "--as",
            "csup",
            "--now",
            "2023-10-09T09:00",
            "report",
            "--from",
            "2023-07-01",
            "--to",
            "2023-09-30",
            "--format",
            "json",
        ],  # fmt: skip
        env=CLEAN_ENV,
    )
    assert report.exit_code == 0, report.output
    return db_file, json.loads(report.stdout)


def _rows(db_file: Path, sql: str) -> list[Any]:
    engine = create_engine(f"sqlite:///{db_file}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def test_cases_opened_and_overdue_recounted(county: tuple[Path, dict[str, Any]]) -> None:
    db_file, report = county
    cases = _rows(
        db_file, "SELECT workflow_name, state, opened_at, deadline_at, closed_at FROM cases"
    )
    by_state: dict[str, Counter[str]] = {}
    for workflow, state, *_ in cases:
        by_state.setdefault(workflow, Counter())[state] += 1
    assert report["total"]["cases_by_state"] == {w: dict(c) for w, c in by_state.items()}
    opened = sum(1 for c in cases if START <= _aware(c.opened_at) < END)
    assert report["total"]["opened"] == opened > 0
    overdue = [
        c for c in cases if c.closed_at is None and c.deadline_at and _aware(c.deadline_at) < NOW
    ]
    assert report["total"]["overdue"]["count"] == len(overdue)


def test_emergency_response_against_24_hours_recounted(
    county: tuple[Path, dict[str, Any]],
) -> None:
    db_file, report = county
    helped = _rows(
        db_file,
        "SELECT c.opened_at, e.at FROM case_events e JOIN cases c ON c.id = e.case_id "
        "WHERE c.workflow_name = 'temporary_assistance' AND e.trigger = 'assist_first'",
    )
    hours = sorted(
        (_aware(at) - _aware(opened)).total_seconds() / 3600
        for opened, at in helped
        if START <= _aware(opened) < END
    )
    assert hours, "the demo county helped no emergency"
    figure = report["total"]["emergency_response"]
    assert figure["count"] == len(hours)
    assert figure["median_hours"] == pytest.approx(statistics.median(hours), abs=1e-6)
    assert figure["p90_hours"] == pytest.approx(hours[math.ceil(0.9 * len(hours)) - 1], abs=1e-6)
    assert figure["over_goal"] == sum(1 for h in hours if h > 24)
    assert figure["goal_hours"] == 24


def test_centralized_support_rate_against_half_recounted(
    county: tuple[Path, dict[str, Any]],
) -> None:
    db_file, report = county
    tekun = _rows(
        db_file,
        "SELECT state, data FROM cases WHERE workflow_name = 'tekun' "
        "AND state IN ('supported', 'reassessment', 'periodic_review')",
    )
    unable = [
        d
        for d in (json.loads(data) if isinstance(data, str) else data for _, data in tekun)
        if d.get("self_care") in ("partial", "none")
    ]
    central = sum(1 for d in unable if d.get("support_mode") == "centralized")
    figure = report["total"]["centralized_support"]
    assert (figure["unable_self_care"], figure["centralized"]) == (len(unable), central)
    assert unable, "the demo county has no tekun person unable to care for themselves"
    assert figure["rate"] == pytest.approx(central / len(unable))
    assert figure["goal"] == 0.5 and figure["goal_met"] == (central / len(unable) >= 0.5)


def test_payments_of_the_quarter_recounted(county: tuple[Path, dict[str, Any]]) -> None:
    db_file, report = county
    rows = _rows(
        db_file,
        "SELECT kind, amount_fen, status FROM payments "
        "WHERE period BETWEEN '2023-07' AND '2023-09'",
    )
    expected: dict[str, dict[str, int]] = {}
    for kind, fen, status in rows:
        k = expected.setdefault(kind, {"count": 0, "amount_fen": 0, "paid_fen": 0})
        k["count"] += 1
        k["amount_fen"] += fen
        k["paid_fen"] += fen if status == "paid" else 0
    assert report["total"]["payments"] == expected
    assert expected, "the demo county paid nothing"
