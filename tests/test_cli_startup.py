"""Start-up work a command does not need is not done: the working-day calendar file is read
at its first use, so a command that computes no deadline neither reads nor trips over it.
Timing is measured by bench/cli_startup.py, not here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aidflow.errors import WorkflowInvalidError
from aidflow.language.calendar import WorkCalendar, parse_duration

from .conftest import PERSON_ID, Cli, World

CALENDAR_FILE = (
    "timezone: Asia/Urumqi\ncovered_years: [2099]\ndays:\n  2023-09-25: off\n  2023-09-23: work\n"
)


def test_calendar_read_when_needed_equals_read_at_once(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(CALENDAR_FILE, encoding="utf-8")
    now, later = WorkCalendar.from_file(path), WorkCalendar.from_file_when_needed(path)
    start = datetime(2023, 9, 20, 10, 0, tzinfo=UTC)
    assert later.tz == now.tz == ZoneInfo("Asia/Urumqi")
    days = [date(2023, 9, 20) + timedelta(days=i) for i in range(20)] + [
        date(2099, 5, 1),
        date(2099, 5, 2),
    ]
    assert [later.is_workday(d) for d in days] == [now.is_workday(d) for d in days]
    for spec in ("24h", "3d", "1mo", "1wd", "10wd"):
        assert later.add(start, parse_duration(spec)) == now.add(start, parse_duration(spec))
    end = datetime(2023, 10, 20, tzinfo=UTC)
    assert later.working_days_between(start, end) == now.working_days_between(start, end)


def test_calendar_file_is_read_at_first_use(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(CALENDAR_FILE, encoding="utf-8")
    cal = WorkCalendar.from_file_when_needed(path)
    path.write_text("days: {2027-01-01: maybe}\n", encoding="utf-8")  # broken before the first use
    with pytest.raises(WorkflowInvalidError) as lazily:
        _ = cal.tz
    with pytest.raises(WorkflowInvalidError) as at_once:
        WorkCalendar.from_file(path)
    assert lazily.value.problems == at_once.value.problems
    path.write_text(CALENDAR_FILE, encoding="utf-8")  # mended: the next use reads it
    assert cal.tz == ZoneInfo("Asia/Urumqi")
    path.unlink()  # read once: the file is not needed any more
    assert cal.is_workday(date(2023, 9, 23)) is True
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        cal.nonsense  # type: ignore[attr-defined]  # noqa: B018


def test_a_command_without_deadlines_does_not_read_the_calendar(
    world: World, run_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "calendar.yaml"
    bad.write_text("timezone: Mars/Olympus_Mons\n", encoding="utf-8")
    monkeypatch.setenv("AIDFLOW_CALENDAR", str(bad))
    listed = run_cli("case", "list", user="li")
    assert (listed.exit_code, listed.stderr) == (0, "")
    opened = run_cli(
        "case", "open", PERSON_ID, "--workflow", "dibao", user="li"
    )  # computes a deadline
    with pytest.raises(WorkflowInvalidError) as at_once:
        WorkCalendar.from_file(bad)
    assert (opened.exit_code, opened.stderr) == (3, f"error: {at_once.value}\n")
    assert f"{bad}:1:11: timezone: unknown time zone 'Mars/Olympus_Mons'" in opened.stderr
