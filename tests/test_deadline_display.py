"""How deadlines and time left are shown (engine.deadlines), across National Day 2023 and a weekend.

National Day 2023: Fri Sep 29 - Fri Oct 6 off, Sat Oct 7 and Sun Oct 8 adjusted working days.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine

from aidflow.clock import FrozenClock
from aidflow.engine.deadlines import Due, counts_working_days, describe, show_due, show_left
from aidflow.language.calendar import WorkCalendar, parse_duration
from aidflow.notify.render import format_datetime, format_duration
from aidflow.policy.workflows import load_workflow_file
from aidflow.services.cases import Service

from .conftest import PERSON_ID, USERS, WORKFLOWS, Cli, World, bootstrap, local

END_OF_FRI_OCT_20 = local(2023, 10, 21, 0, 0)  # how a working-day deadline is stored


def texts(due: Due, calendar: WorkCalendar) -> tuple[str, str, str, str]:
    tz = calendar.tz
    return (
        show_due(due, "en", tz),
        show_left(due, "en"),
        show_due(due, "zh", tz),
        show_left(due, "zh"),
    )


def test_a_working_day_deadline_is_its_last_day_and_counts_working_days_over_the_holiday(
    calendar: WorkCalendar,
) -> None:
    # Thu Sep 28: the holiday's 6 weekdays do not count, its 2 adjusted weekend days do
    due = describe(END_OF_FRI_OCT_20, local(2023, 9, 28, 10, 0), calendar, working_days=True)
    assert texts(due, calendar) == (
        "2023-10-20 (Fri) end of day",
        "12 working days left",  # Oct 7, 8, 9-13, 16-20
        "2023-10-20（周五）当日",
        "剩余 12 个工作日",
    )
    # on its last day, and still before its midnight
    today = describe(END_OF_FRI_OCT_20, local(2023, 10, 20, 23, 59), calendar, working_days=True)
    assert texts(today, calendar)[1::2] == ("due by the end of today", "今日截止")
    assert not today.overdue


def test_one_working_day_from_the_eve_of_the_holiday_ends_on_the_adjusted_saturday(
    calendar: WorkCalendar,
) -> None:
    at = calendar.add(local(2023, 9, 28, 10, 0), parse_duration("1wd"))
    assert at == local(2023, 10, 8, 0, 0)
    due = describe(at, local(2023, 9, 30, 10, 0), calendar, working_days=True)
    assert texts(due, calendar) == (
        "2023-10-07 (Sat) end of day",
        "1 working day left",
        "2023-10-07（周六）当日",
        "剩余 1 个工作日",
    )
    # overdue from Sun Oct 8 (a working day) on; Oct 9 is the second
    late = describe(at, local(2023, 10, 9, 10, 0), calendar, working_days=True)
    assert late.overdue
    assert texts(late, calendar)[1::2] == ("overdue by 2 working days", "已超期 2 个工作日")


def test_over_a_weekend_only_working_days_count(calendar: WorkCalendar) -> None:
    end_of_monday = local(2023, 10, 24, 0, 0)
    friday = describe(end_of_monday, local(2023, 10, 20, 15, 0), calendar, working_days=True)
    assert texts(friday, calendar)[:2] == ("2023-10-23 (Mon) end of day", "1 working day left")
    # past the end of Friday, on Saturday: late, though no working day has gone by
    saturday = describe(END_OF_FRI_OCT_20, local(2023, 10, 21, 9, 0), calendar, working_days=True)
    assert saturday.overdue
    assert texts(saturday, calendar)[1::2] == (
        "overdue by 9 hours",
        "已超期 9 小时",
    )
    monday = describe(END_OF_FRI_OCT_20, local(2023, 10, 23, 9, 0), calendar, working_days=True)
    assert show_left(monday, "en") == "overdue by 1 working day"


def test_other_deadlines_show_their_time_and_days_and_hours(calendar: WorkCalendar) -> None:
    due = describe(
        local(2023, 10, 20, 17, 0), local(2023, 10, 6, 3, 0), calendar, working_days=False
    )
    assert texts(due, calendar) == (
        "2023-10-20 (Fri) 17:00",
        "14 days 14 hours left",
        "2023-10-20（周五）17:00",
        "剩余 14 天 14 小时",
    )
    late = describe(
        local(2023, 10, 20, 17, 0), local(2023, 10, 21, 18, 0), calendar, working_days=False
    )
    assert texts(late, calendar)[1::2] == ("overdue by 1 day 1 hour", "已超期 1 天 1 小时")


def test_a_stopped_clock_counts_nothing(calendar: WorkCalendar) -> None:
    due = describe(
        END_OF_FRI_OCT_20, local(2023, 11, 1, 9, 0), calendar, working_days=True, stopped=True
    )
    assert not due.overdue
    assert texts(due, calendar)[1::2] == ("clock stopped", "计时已停止")
    assert due.to_json("en", calendar.tz)["left_text"] == "clock stopped"


def test_emails_use_the_same_rule(calendar: WorkCalendar) -> None:
    due = describe(END_OF_FRI_OCT_20, local(2023, 9, 28, 10, 0), calendar, working_days=True)
    assert format_datetime(due, "zh", calendar.tz) == "2023-10-20（周五）当日"
    assert format_duration(due, "en") == "12 working days"
    assert format_duration(due, "zh") == "12 个工作日"


def test_which_deadlines_count_working_days(calendar: WorkCalendar) -> None:
    wf = load_workflow_file(WORKFLOWS / "dibao.yaml").definition
    tz = calendar.tz
    assert counts_working_days(wf, "investigation", END_OF_FRI_OCT_20, tz)  # 10wd
    assert not counts_working_days(wf, "public_notice", END_OF_FRI_OCT_20, tz)  # 7d
    assert not counts_working_days(wf, "active", END_OF_FRI_OCT_20, tz)  # 12mo or 6mo


@pytest.fixture
def holiday_world(engine: Engine, calendar: WorkCalendar) -> World:
    """The dibao workflow; a case opened on Thu 2023-09-28 10:00, the eve of National Day."""
    w = World(engine, FrozenClock(local(2023, 9, 28, 10, 0)), calendar)

    def setup(svc: Service) -> None:
        bootstrap(svc, deploy=False)
        svc.deploy("admin", load_workflow_file(WORKFLOWS / "dibao.yaml"))
        for name, roles, area in USERS[1:]:
            svc.add_user("admin", name, roles, area, f"{name}@county.example")
        svc.register_person(PERSON_ID, "王秀英", "城关镇", "东村", "rural")
        svc.open_case(svc.actor("li"), PERSON_ID, "dibao")

    w.run(setup)
    return w


def test_case_show_and_list_show_the_last_working_day(holiday_world: World, db_url: str) -> None:
    run = Cli(db_url)
    # discovery: 3wd from Thu Sep 28 = Sat Oct 7, Sun Oct 8, Mon Oct 9
    shown = run("case", "show", "1", user="li", now="2023-10-07T10:00")
    assert shown.exit_code == 0, shown.output
    assert "Deadline: 2023-10-09 (Mon) end of day (2 working days left)\n" in shown.output
    assert "2023-10-10 00:00" not in shown.output
    zh = run("--lang", "zh", "case", "show", "1", user="li", now="2023-10-07T10:00")
    assert "时限: 2023-10-09（周一）当日 (剩余 2 个工作日)\n" in zh.output
    listed = run("case", "list", user="li", now="2023-10-03T10:00")
    assert listed.exit_code == 0, listed.output
    assert listed.output.rstrip().endswith("(3 working days left)")  # the holiday counts nothing
    rows = json.loads(run("case", "list", "--json", user="li", now="2023-10-10T10:00").output)
    assert rows[0]["due"] == "2023-10-09 (Mon) end of day"
    assert rows[0]["time_left"] == "overdue by 1 working day"
    assert rows[0]["deadline"]["left_wd"] == -1
