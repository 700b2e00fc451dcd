"""Named clocks (start, pause, resume on the PRC calendar, extend, stop) and timed transitions."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from sqlalchemy import Engine, select

from aidflow.clock import FrozenClock
from aidflow.engine import clocks
from aidflow.errors import WorkflowInvalidError
from aidflow.language.calendar import WorkCalendar
from aidflow.language.loader import load_workflow_text
from aidflow.policy.workflows import load_workflow_file
from aidflow.services import escalations as jobs
from aidflow.services.cases import Service
from aidflow.store.models import Case, CaseEvent

from .conftest import PERSON_ID, USERS, WORKFLOWS, Cli, World, bootstrap, local

DIBAO = WORKFLOWS / "dibao.yaml"


@pytest.fixture
def dworld(engine: Engine, calendar: WorkCalendar) -> World:
    """Users, one person and only the dibao workflow, from Friday 2023-09-01 09:00."""
    w = World(engine, FrozenClock(local(2023, 9, 1, 9, 0)), calendar)

    def setup(svc: Service) -> None:
        bootstrap(svc, deploy=False)
        svc.deploy("admin", load_workflow_file(DIBAO))
        for name, roles, area in USERS[1:]:
            svc.add_user("admin", name, roles, area, f"{name}@county.example")
        svc.register_person(
            PERSON_ID,
            "王秀英",
            "城关镇",
            "东村",
            "rural",
            disability_grade=2,
            related_users=["rep7"],
        )

    w.run(setup)
    return w


def iso(*args: int) -> str:
    """A county-time instant as the clocks store it (ISO, UTC)."""
    return local(*args).astimezone(UTC).isoformat()


def at(w: World, *args: int) -> None:
    w.clock.set(local(*args))


def case(w: World, cid: int) -> Case:
    return w.run(lambda svc: svc.session.get_one(Case, cid))  # type: ignore[no-any-return]


def statutory(w: World, cid: int) -> dict[str, object]:
    return case(w, cid).clocks["statutory"]  # type: ignore[no-any-return]


# -- the statutory clock on a real case ---------------------------------------------------


def test_statutory_clock_pauses_for_missing_materials_across_national_day(dworld: World) -> None:
    w = dworld
    cid = w.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    assert case(w, cid).clocks == {}  # starts at acceptance, not at discovery
    at(w, 2023, 9, 4, 10, 0)  # Monday
    w.fire("li", cid, "accept")
    # 30 WD from Mon 09-04: Sep 5-28 are 18 (29th is Mid-Autumn), the working weekend Oct 7-8,
    # then Oct 9-20 -> the last day is Fri 10-20, due at 00:00 on 10-21
    c = statutory(w, cid)
    assert c == {
        "status": "running",
        "started_at": iso(2023, 9, 4, 10, 0),
        "due_at": iso(2023, 10, 21, 0, 0),
    }
    at(w, 2023, 9, 5, 9, 0)
    w.fire("li", cid, "start_investigation", investigators="li,zhao")
    at(w, 2023, 9, 26, 10, 0)  # Tuesday; Sep 27-28, Oct 7-8 and 9-20 remain: 14 WD
    w.fire("li", cid, "request_materials", note="bank statements missing")
    assert statutory(w, cid) == {
        "status": "paused",
        "started_at": iso(2023, 9, 4, 10, 0),
        "paused_at": iso(2023, 9, 26, 10, 0),
        "left": {"wd": 14},
    }
    at(w, 2023, 10, 9, 9, 0)  # the holiday passed while paused: it cost the county nothing
    w.fire("li", cid, "materials_received")
    # 14 WD after Mon 10-09: Oct 10-13 (4), 16-20 (9), 23-27 (14) -> due 00:00 on Sat 10-28
    assert statutory(w, cid) == {
        "status": "running",
        "started_at": iso(2023, 9, 4, 10, 0),
        "due_at": iso(2023, 10, 28, 0, 0),
    }
    assert case(w, cid).state == "investigation"
    assert w.verify() == []


def test_case_show_reports_running_and_paused_clocks(dworld: World, db_url: str) -> None:
    w = dworld
    cid = w.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    at(w, 2023, 9, 4, 10, 0)
    w.fire("li", cid, "accept")
    run = Cli(db_url)
    shown = run("case", "show", str(cid), user="li", now="2023-09-25T15:00")
    assert shown.exit_code == 0, shown.output
    # after Mon 09-25: Sep 26-28 (3), Oct 7-8 (2), Oct 9-20 (10)
    assert (
        "Clock statutory (Statutory time limit, 30wd): running, due 2023-10-20 (Fri) end of day "
        "(15 working days left)\n"
    ) in shown.output
    at(w, 2023, 9, 25, 16, 0)
    w.fire("li", cid, "start_investigation", investigators="li,zhao")
    w.fire("li", cid, "request_materials", note="bank statements missing")
    shown = run("case", "show", str(cid), user="li", now="2023-10-03T09:00")
    assert (
        "Clock statutory (Statutory time limit, 30wd): PAUSED "
        "(15 working days left)\n" in shown.output
    )
    data = json.loads(
        run("case", "show", str(cid), "--json", user="li", now="2023-10-03T09:00").output
    )
    assert data["clocks"] == [
        {
            "name": "statutory",
            "duration": "30wd",
            "status": "paused",
            "due_at": None,
            "left_seconds": None,
            "working_days_left": 15,
            "overdue": False,
        }
    ]
    zh = run("--lang", "zh", "case", "show", str(cid), user="li", now="2023-10-03T09:00")
    assert "计时 法定办理时限（30 个工作日）: 已暂停 (剩余 15 个工作日)\n" in zh.output


def test_public_notice_closes_itself_after_seven_days_as_the_system(dworld: World) -> None:
    w = dworld
    cid = w.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    w.fire("li", cid, "accept")
    w.fire("li", cid, "start_investigation", investigators="li,zhao")
    w.fire(
        "li", cid, "submit_findings", note="visited", monthly_income="120.50", income_stable="no"
    )
    for i in range(1, 6):
        w.run(lambda svc, i=i: svc.vote(svc.actor(f"rep{i}"), cid, "yes"))
    w.fire("chen", cid, "review_passed")
    assert case(w, cid).deadline_at == local(2023, 9, 8, 9, 0)  # 7 calendar days

    def sweep() -> jobs.SweepResult:
        with w.session() as s, s.begin():
            return jobs.sweep(s, w.clock, w.calendar)

    at(w, 2023, 9, 8, 8, 59)
    assert sweep().timeouts == 0
    at(w, 2023, 9, 8, 9, 0)
    assert sweep().timeouts == 1
    assert sweep().timeouts == 0  # once
    c = case(w, cid)
    assert (c.state, c.state_entered_at) == ("county_review", local(2023, 9, 8, 9, 0))
    with w.session() as s:
        last = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == cid).order_by(CaseEvent.seq.desc())
        ).first()
        assert last is not None
        assert (last.actor, last.kind, last.trigger, last.from_state, last.to_state) == (
            "system",
            "transition",
            "close_notice",
            "public_notice",
            "county_review",
        )
    assert w.verify() == []


# -- the clock rules, without a database --------------------------------------------------


@pytest.fixture(scope="module")
def dibao() -> object:
    return load_workflow_file(DIBAO).definition


def test_objection_extends_once_even_while_paused_and_a_stop_freezes(
    dibao: object, calendar: WorkCalendar
) -> None:
    wf = dibao
    c = clocks.start(wf, "accepted", local(2023, 9, 4, 10, 0), calendar)  # type: ignore[arg-type]
    c = clocks.advance(wf, c, "object", "investigation", local(2023, 9, 20, 9, 0), calendar)  # type: ignore[arg-type]
    # +15 WD after the last day Fri 10-20: Oct 23-27, Oct 30-Nov 3, Nov 6-10
    assert c["statutory"]["due_at"] == iso(2023, 11, 11, 0, 0)
    assert c["statutory"]["extended"] == ["object"]
    again = clocks.advance(wf, c, "object", "investigation", local(2023, 9, 21, 9, 0), calendar)  # type: ignore[arg-type]
    assert again["statutory"]["due_at"] == iso(2023, 11, 11, 0, 0)  # once only
    paused = clocks.advance(
        wf,
        c,
        "request_materials",
        "awaiting_materials",
        local(2023, 11, 10, 9, 0),  # type: ignore[arg-type]
        calendar,
    )
    assert paused["statutory"]["left"] == {"wd": 0}  # paused on its last working day
    resumed = clocks.advance(
        wf,
        paused,
        "materials_received",
        "investigation",  # type: ignore[arg-type]
        local(2023, 11, 13, 14, 0),
        calendar,
    )
    assert resumed["statutory"]["due_at"] == iso(2023, 11, 14, 0, 0)  # the rest of that day
    stopped = clocks.advance(
        wf, paused, "withdraw", "withdrawn", local(2023, 11, 20, 9, 0), calendar
    )  # type: ignore[arg-type]
    assert stopped["statutory"]["status"] == "stopped"
    assert stopped["statutory"]["due_at"] == iso(2023, 11, 21, 0, 0)
    assert clocks.advance(wf, stopped, "x", "accepted", local(2023, 12, 1), calendar) == stopped  # type: ignore[arg-type]


def test_an_overdue_clock_keeps_its_due_date_through_a_pause(
    dibao: object, calendar: WorkCalendar
) -> None:
    wf = dibao
    c = clocks.start(wf, "accepted", local(2023, 9, 4, 10, 0), calendar)  # type: ignore[arg-type]
    late = local(2023, 10, 24, 9, 0)
    paused = clocks.advance(wf, c, "request_materials", "awaiting_materials", late, calendar)  # type: ignore[arg-type]
    assert paused["statutory"] == {
        "status": "paused",
        "started_at": iso(2023, 9, 4, 10, 0),
        "paused_at": iso(2023, 10, 24, 9, 0),
        "due_at": iso(2023, 10, 21, 0, 0),
    }
    (r,) = clocks.report(wf, paused, late, calendar)  # type: ignore[arg-type]
    assert (r.status, r.left_wd, r.overdue) == ("paused", -2, True)  # Mon 10-23 and Tue 10-24
    back = clocks.advance(
        wf, paused, "materials_received", "investigation", local(2023, 10, 30), calendar
    )  # type: ignore[arg-type]
    assert back["statutory"]["due_at"] == iso(2023, 10, 21, 0, 0)


def test_hour_clocks_keep_seconds(calendar: WorkCalendar) -> None:
    wf = load_workflow_text(
        _with_clocks(
            "{help: {duration: 24h, starts_at: b, stops_at: [done]}}",
            b_pauses="[]",
            c_pauses="[help]",
        ),
        "w.yaml",
    ).definition
    c = clocks.start(wf, "b", local(2023, 9, 1, 9, 0), calendar)
    c = clocks.advance(wf, c, "go", "c", local(2023, 9, 1, 15, 0), calendar)
    assert c["help"]["left"] == {"seconds": 18 * 3600}
    c = clocks.advance(wf, c, "back", "b", local(2023, 9, 3, 15, 0), calendar)
    assert c["help"]["due_at"] == iso(2023, 9, 4, 9, 0)
    (r,) = clocks.report(wf, c, local(2023, 9, 4, 8, 0), calendar)
    assert (r.status, r.left.total_seconds() if r.left else None) == ("running", 3600.0)


# -- validation ---------------------------------------------------------------------------


def _with_clocks(clocks_yaml: str, b_pauses: str = "[]", c_pauses: str = "[]") -> str:
    return f"""workflow: w
version: 1
labels: {{zh: 流程, en: Flow}}
roles:
  worker: {{zh: 经办, en: Worker}}
clocks: {clocks_yaml}
states:
  a: {{labels: {{zh: 甲, en: A}}, initial: true, owner: worker, deadline: 1d}}
  b: {{labels: {{zh: 乙, en: B}}, owner: worker, deadline: 1d, pauses: {b_pauses}}}
  c: {{labels: {{zh: 丙, en: C}}, owner: worker, deadline: 1d, pauses: {c_pauses}}}
  done: {{labels: {{zh: 完, en: Done}}, final: true}}
transitions:
  - {{trigger: start, source: a, dest: b, roles: [worker]}}
  - {{trigger: go, source: b, dest: c, roles: [worker]}}
  - {{trigger: back, source: c, dest: b, roles: [worker]}}
  - {{trigger: finish, source: [b, c], dest: done, roles: [worker]}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(WorkflowInvalidError) as info:
        load_workflow_text(text, "w.yaml")
    return [str(p) for p in info.value.problems]


def test_clock_definitions_are_checked_strictly() -> None:
    bad = (
        "{Slow: {duration: 30 days, starts_at: bb, stops_at: [dne, b], extended_by: {objet: 2d}},"
        " late: {duration: 10wd, starts_at: done, stops_at: [], extended_by: {go: 5d}}}"
    )
    assert problems(_with_clocks(bad, b_pauses="[slow, Slow]", c_pauses="[late]")) == [
        (
            "w.yaml:6:10: clocks.Slow: clock 'Slow' must be snake_case (a-z, 0-9, _; starting with "
            "a letter); rename it to 'slow'"
        ),
        (
            "w.yaml:6:27: clocks.Slow.duration: invalid duration '30 days': write a whole number "
            "followed by h (hours), d (days), wd (working days) or mo (months), e.g. 24h, 7d, "
            "10wd, 12mo; did you mean '30d'?"
        ),
        "w.yaml:6:47: clocks.Slow.starts_at: unknown state 'bb'; did you mean 'b'?",
        "w.yaml:6:62: clocks.Slow.stops_at[0]: unknown state 'dne'; did you mean 'done'?",
        "w.yaml:6:85: clocks.Slow.extended_by.objet: extended_by names unknown trigger 'objet'",
        (
            "w.yaml:6:132: clocks.late.starts_at: clock 'late' starts at final state 'done'; start "
            "it at the state where the clock begins, e.g. accepted"
        ),
        (
            "w.yaml:6:148: clocks.late.stops_at: clock 'late' never stops; list the states that "
            "stop it, e.g. [active, rejected]"
        ),
        (
            "w.yaml:6:170: clocks.late.extended_by.go: extension '5d' is not in the clock's unit "
            "(wd, from duration '10wd'); write it in wd, e.g. 15wd"
        ),
        "w.yaml:9:69: states.b.pauses[0]: pauses unknown clock 'slow'; did you mean 'Slow'?",
        (
            "w.yaml:9:75: states.b.pauses[1]: state 'b' starts or stops clock 'Slow', so it cannot "
            "pause it; remove 'Slow' from pauses"
        ),
    ]


def test_unknown_clock_keys_are_refused() -> None:
    assert problems(_with_clocks("{t: {duration: 2d, starts_at: b, stop_at: [done]}}")) == [
        "w.yaml:6:42: clocks.t.stop_at: unknown key 'stop_at'; did you mean 'stops_at'?",
    ]


def test_the_shipped_dibao_clock(dibao: object) -> None:
    spec = dibao.clocks["statutory"]  # type: ignore[attr-defined]
    assert (spec.duration, spec.starts_at, spec.stops_at, spec.extended_by) == (
        "30wd",
        "accepted",
        ("active", "rejection_notice", "withdrawn"),
        {"object": "15wd", "object_to_review": "15wd"},
    )
    assert dibao.states["awaiting_materials"].pauses == ("statutory",)  # type: ignore[attr-defined]
    assert dibao.states["public_notice"].on_timeout == "close_notice"  # type: ignore[attr-defined]
