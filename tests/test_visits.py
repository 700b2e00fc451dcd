"""Care visits: the policy file, `visit log`, `visit due` and the monthly check job
(SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from aidflow.clock import FrozenClock
from aidflow.errors import WorkflowInvalidError
from aidflow.language.calendar import WorkCalendar
from aidflow.language.loader import load_workflow_text
from aidflow.notify.email import SMTPMailer
from aidflow.policy.care import CarePolicy, load_policy_file
from aidflow.services import delivery
from aidflow.services.cases import Service
from aidflow.services.visits import Month, check_visits
from aidflow.store.models import CaseEvent, Escalation, OutboxMessage, Visit, VisitAlert

from .conftest import PERSON_ID, USERS, WORKFLOWS, Cli, World, bootstrap, local
from .smtp import SMTPServer

CARE_WF = """\
workflow: carework
version: 1
labels: {zh: 特困供养（测试）, en: Care test}
roles:
  township_caseworker: {zh: 乡镇经办人, en: Township caseworker}
  village_officer: {zh: 社会救助协理员, en: Village assistance officer}
  village_rep: {zh: 村民代表, en: Village representative}
  county_officer: {zh: 县民政局审核人, en: County civil-affairs officer}
  township_supervisor: {zh: 乡镇分管领导, en: Township supervisor}
  county_supervisor: {zh: 县民政局分管领导, en: County supervisor}
  care_provider: {zh: 照料服务人员, en: Care provider}
fields:
  support_mode:
    type: str
    choices: [centralized, dispersed]
    labels: {zh: 供养方式, en: Support mode}
states:
  applied:
    labels: {zh: 已申请, en: Applied}
    initial: true
    owner: township_caseworker
    deadline: 15wd
  supported:
    labels: {zh: 供养中, en: Receiving support}
    owner: township_caseworker
    deadline: 12mo
  exited:
    labels: {zh: 已终止, en: Exited}
    final: true
transitions:
  - trigger: confirm
    source: applied
    dest: supported
    roles: [township_caseworker]
    fields:
      support_mode: {required: true}
  - trigger: exit
    source: supported
    dest: exited
    roles: [township_caseworker]
"""

POLICY = """\
applies_to:
  - workflow: carework
    states: [supported]
    when: "case.support_mode == 'dispersed'"
log_roles: [township_caseworker, village_officer, care_provider]
kinds:
  visit: {labels: {zh: 上门探访（含清洁）, en: Home visits (with cleaning)}, monthly_minimum: 2}
  cleaning: {labels: {zh: 清洁服务, en: Cleaning}, monthly_minimum: 0}
  haircut: {labels: {zh: 理发, en: Haircuts}, monthly_minimum: 1}
warning: {from_day: 20, to: assigned_caseworker}
escalation: {to: township_supervisor}
"""

SECOND_ID = "110105194912310046"  # a second person in 东村, centralized support: no obligation
OTHER_TOWN_ID = "110105195001010012"
SUPERVISORS = [
    ("tsup", ["township_supervisor"], "城关镇"),
    ("hsup", ["township_supervisor"], "河西镇"),
    ("csup", ["county_supervisor"], "*"),
    ("carer", ["care_provider"], "城关镇/东村"),
]


@pytest.fixture
def policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "care_visits.yaml"
    path.write_text(POLICY, encoding="utf-8")
    monkeypatch.setenv("AIDFLOW_CARE_VISITS", str(path))
    return path


@pytest.fixture
def policy(policy_file: Path) -> CarePolicy:
    return load_policy_file(policy_file)


@pytest.fixture
def cworld(engine: Engine, clock: FrozenClock, calendar: WorkCalendar) -> World:
    """Users, supervisors, only the test workflow (independent of the shipped ones), and three
    cases confirmed in July 2023: case 1 dispersed (城关镇/东村, li), case 2 centralized,
    case 3 dispersed in 河西镇 (wu)."""
    world = World(engine, clock, calendar)
    world.clock.set(local(2023, 7, 3, 9, 0))

    def setup(svc: Service) -> None:
        bootstrap(svc, deploy=False)
        svc.deploy("admin", load_workflow_text(CARE_WF, "carework.yaml"))
        for name, roles, area in (USERS + SUPERVISORS)[1:]:
            svc.add_user("admin", name, roles, area, f"{name}@county.example")
        svc.register_person(PERSON_ID, "王秀英", "城关镇", "东村", "rural")
        svc.register_person(SECOND_ID, "赵德福", "城关镇", "东村", "rural")
        svc.register_person(OTHER_TOWN_ID, "刘桂兰", "河西镇", "南村", "rural")

    world.run(setup)
    for user, id_number, mode in (
        ("li", PERSON_ID, "dispersed"),
        ("li", SECOND_ID, "centralized"),
        ("wu", OTHER_TOWN_ID, "dispersed"),
    ):
        cid = world.run(
            lambda svc, u=user, i=id_number: svc.open_case(svc.actor(u), i, "carework").id
        )
        world.fire(user, cid, "confirm", support_mode=mode)
    world.clock.set(local(2023, 8, 1, 9, 0))
    return world


def cli_for(world: World) -> Cli:
    return Cli(world.engine.url.render_as_string(hide_password=False))


def counts(world: World) -> tuple[int, int, int, int, int]:
    with world.session() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(m)) or 0  # type: ignore[return-value]
            for m in (Visit, CaseEvent, VisitAlert, Escalation, OutboxMessage)
        )


# -- the policy file -----------------------------------------------------------------------


def test_the_shipped_policy_targets_dispersed_tekun() -> None:
    p = load_policy_file(WORKFLOWS / "policy" / "care_visits.yaml")
    (sel,) = p.applies_to
    assert (sel.workflow, sel.states) == ("tekun", ("supported",))
    assert sel.when is not None and sel.when.text == "case.support_mode == 'dispersed'"
    assert p.required == {"visit": 2, "haircut": 1}
    assert (p.warning_from_day, p.escalation_role) == (20, "township_supervisor")


def test_policy_problems_are_listed_with_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(
        POLICY.replace("states: [supported]", "state: [supported]")
        .replace("== 'dispersed'", "= 'dispersed'")
        .replace("monthly_minimum: 1}", "monthly_minimum: '1'}")
        .replace("from_day: 20", "from_day: 31")
        .replace("escalation: {to:", "escalation: {too:"),
        encoding="utf-8",
    )
    with pytest.raises(WorkflowInvalidError) as info:
        load_policy_file(bad)
    assert [str(p) for p in info.value.problems] == [
        f"{bad}:3:5: applies_to[0].state: unknown key 'state'; did you mean 'states'?",
        f"{bad}:4:11: applies_to[0].when: invalid expression syntax: invalid syntax; compare with "
        "'==', not '='",
        f"{bad}:9:62: kinds.haircut.monthly_minimum: expected a whole number from 0 to 31, got '1'",
        f"{bad}:10:21: warning.from_day: 31 is out of range; write a whole number from 1 to 28",
        f"{bad}:11:14: escalation.too: unknown key 'too'; did you mean 'to'?",
    ]


# -- visit log -----------------------------------------------------------------------------


def test_visit_log_writes_a_visit_and_a_chained_note(cworld: World, policy_file: Path) -> None:
    cli = cli_for(cworld)
    r = cli(
        "visit",
        "log",
        "1",
        "--kind",
        "visit",
        "--at",
        "2023-07-31T15:00",
        "--note",
        "扫地，送米",
        user="li",
    )
    assert r.exit_code == 0, r.output
    assert r.stdout == "case 1: visit on 2023-07-31 15:00 by li logged (visit 1, note #3)\n"
    with cworld.session() as s:
        v = s.get_one(Visit, 1)
        assert (v.case_id, v.kind, v.at, v.by_user, v.note, v.logged_by) == (
            1,
            "visit",
            local(2023, 7, 31, 15, 0),
            "li",
            "扫地，送米",
            "li",
        )
        ev = s.scalars(select(CaseEvent).where(CaseEvent.case_id == 1, CaseEvent.seq == 3)).one()
        assert (ev.kind, ev.actor, ev.note) == (
            "note",
            "li",
            "Home visits (with cleaning) on 2023-07-31 15:00 by li: 扫地，送米",
        )
        assert ev.fields == {
            "visit_id": 1,
            "visit_kind": "visit",
            "visit_at": "2023-07-31T07:00:00+00:00",
            "visit_by": "li",
        }
    assert cworld.verify() == []


def test_the_same_idempotency_key_is_applied_once(cworld: World, policy_file: Path) -> None:
    cli = cli_for(cworld)
    args = ("visit", "log", "1", "--kind", "haircut", "--by", "carer", "--idempotency-key", "k-1")
    first = cli(*args, user="li")
    assert (
        first.stdout == "case 1: haircut on 2023-08-01 09:00 by carer logged (visit 1, note #3)\n"
    )
    before = counts(cworld)
    again = cli(*args, user="li", now="2023-08-01T09:05")
    assert again.exit_code == 0
    assert again.stdout == (
        "case 1: already logged as visit 1 (haircut on 2023-08-01 09:00 by carer); "
        "nothing changed\n"
    )
    assert counts(cworld) == before
    other = cli("visit", "log", "2", "--kind", "haircut", "--idempotency-key", "k-1", user="li")
    assert other.exit_code == 3
    assert other.stderr == (
        "error: idempotency key 'k-1' was already used for case 1\n"
        "  hint: use a new key for each distinct command\n"
    )


@pytest.mark.parametrize(
    ("args", "user", "code", "message"),
    [
        (
            ("1", "--kind", "hairkut"),
            "li",
            3,
            "error: unknown visit kind 'hairkut' (kinds: visit, cleaning, haircut)\n"
            "  hint: did you mean 'haircut'?\n",
        ),
        (
            ("1", "--kind", "visit", "--at", "2023-08-01T09:01"),
            "li",
            3,
            (
                "error: --at 2023-08-01 09:01 is in the future (now 2023-08-01 09:00)\n"
                "  hint: log a visit after it happened\n"
            ),
        ),
        (
            ("1", "--kind", "visit", "--at", "2023-07-03T08:59"),
            "li",
            3,
            "error: --at 2023-07-03 08:59 is before case 1 was opened (2023-07-03 09:00)\n",
        ),
        (
            ("1", "--kind", "visit"),
            "wu",
            5,
            "error: case 1 is in 城关镇/东村, outside wu's area (河西镇)\n",
        ),
        (
            ("1", "--kind", "visit"),
            "tsup",
            5,
            (
                "error: logging a visit needs one of the roles township_caseworker, "
                "village_officer, care_provider; "
                "tsup has township_supervisor\n"
            ),
        ),
        (
            ("2", "--kind", "visit"),
            "li",
            6,
            (
                "error: case 2 (carework, state 'supported') carries no care-visit obligation\n"
                "  hint: the cases under obligation are set in {policy}\n"
            ),
        ),
        (
            ("9", "--kind", "visit"),
            "li",
            4,
            "error: no case 9\n  hint: `aidflow case list` shows the cases you can see\n",
        ),
        (
            ("1", "--kind", "visit", "--by", "nobody"),
            "li",
            4,
            "error: no user named 'nobody'\n  hint: --by names the user who made the visit\n",
        ),
    ],
)
def test_visit_log_refusals_change_nothing(
    cworld: World, policy_file: Path, args: tuple[str, ...], user: str, code: int, message: str
) -> None:
    before = counts(cworld)
    r = cli_for(cworld)("visit", "log", *args, user=user)
    assert r.exit_code == code, r.output
    assert r.stderr == message.format(policy=policy_file)
    assert counts(cworld) == before


# -- visit due -----------------------------------------------------------------------------


def log(
    world: World, policy: CarePolicy, case_id: int, kind: str, at: datetime, user: str = "li"
) -> None:
    from aidflow.services.visits import log_visit

    world.run(
        lambda svc: log_visit(
            svc.session, world.clock, world.calendar, policy, svc.actor(user), case_id, kind, at=at
        )
    )


def test_visit_due_lists_who_is_behind_per_township(cworld: World, policy: CarePolicy) -> None:
    log(cworld, policy, 1, "visit", local(2023, 7, 31, 23, 59))  # July: not August
    log(cworld, policy, 1, "visit", local(2023, 8, 1, 0, 0))
    log(cworld, policy, 1, "cleaning", local(2023, 8, 1, 8, 0))
    log(cworld, policy, 3, "visit", local(2023, 8, 1, 8, 0), user="wu")
    cli = cli_for(cworld)
    r = cli("visit", "due", "--month", "2023-08", user="admin")
    assert r.exit_code == 0, r.output
    assert r.stdout == (
        "2023-08 城关镇: 1 case(s) behind\n"
        "  case 1      东村       王秀英 (110***********002X)  caseworker li  Home visits (with "
        "cleaning) 1/2, Haircuts 0/1\n"
        "2023-08 河西镇: 1 case(s) behind\n"
        "  case 3      南村       刘桂兰 (110***********0012)  caseworker wu  Home visits (with "
        "cleaning) 1/2, Haircuts 0/1\n"
    )
    r = cli("visit", "due", "--json", user="li")  # this month, li's area only
    assert json.loads(r.stdout) == [
        {
            "township": "城关镇",
            "village": "东村",
            "case_id": 1,
            "person_name": "王秀英",
            "person_id_masked": "110***********002X",
            "caseworker": "li",
            "month": "2023-08",
            "kinds": {"visit": {"done": 1, "required": 2}, "haircut": {"done": 0, "required": 1}},
        }
    ]
    # July: the cases entered `supported` during July, so July carries no obligation
    assert (
        cli("visit", "due", "--month", "2023-07", user="li").stdout
        == "2023-07: no case in your area is behind\n"
    )
    bad = cli("visit", "due", "--month", "2023-13", user="li")
    assert bad.exit_code == 3
    assert bad.stderr == "error: --month '2023-13' is not a month\n  hint: write it like 2023-08\n"


def test_month_arithmetic() -> None:
    assert (
        str(Month(2023, 12).next()),
        str(Month(2023, 1).previous()),
        str(Month(2023, 8).previous()),
    ) == ("2024-01", "2022-12", "2023-07")


# -- the monthly check job -----------------------------------------------------------------


def tick(world: World, policy: CarePolicy) -> tuple[int, int]:
    return world.run(lambda svc: check_visits(svc.session, world.clock, world.calendar, policy))  # type: ignore[no-any-return]


def alerts(world: World) -> list[tuple[int, str, str, str, dict[str, object]]]:
    with world.session() as s:
        return [
            (a.case_id, a.month, a.kind, a.recipient, a.shortfall)
            for a in s.scalars(select(VisitAlert).order_by(VisitAlert.id))
        ]


def test_a_simulated_month_warns_from_the_20th_and_escalates_once_after_month_end(
    cworld: World, policy: CarePolicy, smtp_server: SMTPServer
) -> None:
    results = {}
    day = local(2023, 8, 1, 9, 0)
    while day < local(2023, 9, 3, 9, 0):
        cworld.clock.set(day)
        if day == local(2023, 8, 10, 9, 0):
            log(cworld, policy, 1, "visit", local(2023, 8, 10, 8, 0))
        if day == local(2023, 8, 25, 9, 0):  # case 3 catches up after its warning
            for kind in ("visit", "visit", "haircut"):
                log(cworld, policy, 3, kind, local(2023, 8, 25, 8, 0), user="wu")
        results[f"{day:%m-%d %H}"] = tick(cworld, policy)
        assert tick(cworld, policy) == (0, 0)  # running the job twice sends nothing twice
        day += timedelta(hours=12)
    busy = {d: r for d, r in results.items() if r != (0, 0)}
    assert busy == {"08-20 09": (2, 0), "09-01 09": (0, 1)}
    half = {"visit": {"done": 1, "required": 2}, "haircut": {"done": 0, "required": 1}}
    none = {"visit": {"done": 0, "required": 2}, "haircut": {"done": 0, "required": 1}}
    assert alerts(cworld) == [
        (1, "2023-08", "warning", "li", half),
        (3, "2023-08", "warning", "wu", none),
        (1, "2023-08", "escalation", "tsup", half),
    ]
    with cworld.session() as s:
        (esc,) = s.scalars(select(Escalation)).all()
        assert (
            esc.case_id,
            esc.ladder,
            esc.rung,
            esc.repeat_no,
            esc.role,
            esc.recipient,
            esc.template,
            esc.due_at,
        ) == (
            1,
            "care_visits",
            -1,
            202308,
            "township_supervisor",
            "tsup",
            "visit_missing",
            local(2023, 9, 1, 0, 0),
        )
    cworld.run(
        lambda svc: delivery.deliver_outbox(
            svc.session,
            cworld.clock,
            SMTPMailer(
                smtp_server.host, smtp_server.port, security="none", sender="aidflow@county.example"
            ),
        )
    )
    got = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    assert sorted(got) == ["li@county.example", "tsup@county.example", "wu@county.example"]
    warning, escalation = got["li@county.example"], got["tsup@county.example"]
    assert warning["Subject"] == (
        "[Care visits due] Case #1: care visits below the monthly minimum; "
        "the month ends in 11 days 15 hours"
    )
    text = warning.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    html = warning.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for part in (text, html):
        assert "110***********002X" in part and PERSON_ID not in part
        assert "aidflow visit log 1 --kind visit" in part
        assert "aidflow --as li case show 1" in part
    assert "Home visits (with cleaning) 1 of 2, Haircuts 0 of 1" in text
    assert escalation["Subject"] == (
        "[Care visits missing] 城关镇/东村 case #1: below the monthly minimum in August 2023"
    )
    text = escalation.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    html = escalation.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for part in (text, html):
        assert "110***********002X" in part and PERSON_ID not in part
        assert f"aidflow --as tsup escalation ack {esc.id} --note" in part
    assert "  - Home visits (with cleaning): 1 done, at least 2 a month, 1 missing\n" in text
    assert "  - Haircuts: 0 done, at least 1 a month, 1 missing\n" in text
    assert "August 2023 ended 9 hours ago" in text
    # the supervisor acknowledges as the email says
    r = cli_for(cworld)(
        "escalation", "ack", str(esc.id), "--note", "called li", user="tsup", now="2023-09-01T10:00"
    )
    assert r.stdout == f"escalation {esc.id} on case 1 acknowledged by tsup\n"
    assert cworld.verify() == []


def test_a_case_that_left_the_obligation_is_not_escalated(
    cworld: World, policy: CarePolicy
) -> None:
    cworld.clock.set(local(2023, 8, 20, 9, 0))
    assert tick(cworld, policy) == (2, 0)
    cworld.clock.set(local(2023, 8, 30, 9, 0))
    cworld.fire("wu", 3, "exit")
    cworld.clock.set(local(2023, 9, 1, 9, 0))
    assert tick(cworld, policy) == (0, 1)  # case 1 only
    assert [a[:4] for a in alerts(cworld)] == [
        (1, "2023-08", "warning", "li"),
        (3, "2023-08", "warning", "wu"),
        (1, "2023-08", "escalation", "tsup"),
    ]


def test_scheduler_tick_runs_the_visit_check(
    cworld: World, policy_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIDFLOW_SMTP_HOST", raising=False)
    r = cli_for(cworld)("scheduler", "tick", now="2023-08-21T09:00")
    assert r.exit_code == 0, r.output
    assert "visits: 2 warning(s), 0 escalation(s)\n" in r.stdout


def test_the_readme_care_visit_commands_run(cworld: World, policy_file: Path) -> None:
    import shlex

    from .test_readme import fenced, section

    (block,) = fenced(section("Care visits and the daily digest"))
    cli = cli_for(cworld)
    outputs = []
    for line in filter(str.strip, block.splitlines()):
        argv = shlex.split(line, comments=True)
        assert argv[:3] == ["aidflow", "--as", "li"], line
        result = cli(*argv[3:], user="li", now="2023-08-04T09:00")
        assert result.exit_code == 0, f"README command failed: {line}\n{result.output}"
        outputs.append(result.stdout)
    assert outputs[0] == "case 1: haircut on 2023-08-03 10:00 by li logged (visit 1, note #3)\n"
    assert outputs[1].endswith("caseworker li  Home visits (with cleaning) 0/2, Haircuts 1/1\n")
