"""The shipped programmes (tekun, temporary assistance) and guards that read policy values.

Every case test runs on SQLite and PostgreSQL through the `world` fixture, with a Service
that has the shipped policy standards (workflows/policy/standards.yaml).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aidflow.engine import rules
from aidflow.engine.access import Actor
from aidflow.errors import RefusedError, UnavailableError, WorkflowInvalidError
from aidflow.language.loader import load_workflow_text
from aidflow.policy.standards import load_policy, policy_names
from aidflow.policy.workflows import check_files, load_workflow_file
from aidflow.services import escalations as jobs
from aidflow.services.cases import Service
from aidflow.store.models import Case, CaseEvent, Escalation, Person

from .conftest import WORKFLOWS, Cli, World, local

POLICY = load_policy(WORKFLOWS / "policy")


def id_number(birth: str, seq: str) -> str:
    """A valid ID number in region 110105 born on `birth` (YYYYMMDD); odd `seq` = male."""
    body = "110105" + birth + seq
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(body))
    return body + "10X98765432"[total % 11]


def run(world: World, fn: Any) -> Any:
    with world.session() as s, s.begin():
        return fn(Service(s, world.clock, world.calendar, POLICY))


def fire(
    world: World, user: str, cid: int, trigger: str, note: str | None = None, **fields: str
) -> Any:
    return run(world, lambda svc: svc.fire(svc.actor(user), cid, trigger, fields, note))


def refused(
    world: World, user: str, cid: int, trigger: str, note: str | None = None, **fields: str
) -> str:
    with pytest.raises(RefusedError) as info:
        fire(world, user, cid, trigger, note, **fields)
    return info.value.message


def case(world: World, cid: int) -> Case:
    return run(world, lambda svc: svc.session.get_one(Case, cid))  # type: ignore[no-any-return]


def add_person(world: World, number: str, *, hukou: str = "rural", **attrs: Any) -> str:
    def register(svc: Service) -> None:
        svc.register_person(number, "张三", "城关镇", "东村", hukou, **attrs)

    run(world, register)
    return number


def open_case(world: World, number: str, workflow: str, emergency: bool = False) -> int:
    return int(
        run(
            world,
            lambda svc: svc.open_case(svc.actor("li"), number, workflow, emergency=emergency).id,
        )
    )


@pytest.fixture
def county(world: World) -> World:
    """The world plus supervisors and a county leader."""

    def setup(svc: Service) -> None:
        svc.add_user("admin", "ma", ["township_supervisor"], "城关镇", "ma@county.example")
        svc.add_user("admin", "qian", ["county_supervisor"], "*", "qian@county.example")
        svc.add_user("admin", "lin", ["county_leader"], "*", "lin@county.example")

    run(world, setup)
    return world


# -- validation ----------------------------------------------------------------------------


def test_the_shipped_workflows_validate(run_cli: Cli) -> None:
    result = run_cli("workflow", "validate", str(WORKFLOWS))
    files = len(list(WORKFLOWS.glob("*.yaml")))
    assert (result.exit_code, result.output) == (0, f"{files} file(s) valid\n")
    for name in ("tekun.yaml", "temporary_assistance.yaml"):
        assert load_workflow_file(WORKFLOWS / name).definition.name == name.removesuffix(".yaml")


GUARDED = """\
workflow: small
version: 1
labels: {zh: 小, en: Small}
roles:
  clerk: {zh: 经办, en: Clerk}
fields:
  amount: {type: decimal}
states:
  open: {labels: {zh: 开, en: Open}, initial: true, owner: clerk, deadline: 3wd}
  done: {labels: {zh: 完, en: Done}, final: true}
transitions:
  - trigger: pay
    source: open
    dest: done
    roles: [clerk]
    guards:
      - case.amount <= 3 * policy.urban_dibao_standrd
"""


def test_an_unknown_policy_name_is_a_validation_error_with_did_you_mean() -> None:
    with pytest.raises(WorkflowInvalidError) as info:
        load_workflow_text(GUARDED, "small.yaml", policy=policy_names(WORKFLOWS / "policy"))
    assert [str(p) for p in info.value.problems] == [
        (
            "small.yaml:17:9: transitions[0].guards[0]: "
            "guard 'case.amount <= 3 * policy.urban_dibao_standrd': "
            "unknown field 'policy.urban_dibao_standrd'; "
            "did you mean 'policy.urban_dibao_standard'?"
        )
    ]
    fixed = GUARDED.replace("standrd", "standard")
    loaded = load_workflow_text(fixed, "small.yaml", policy=policy_names(WORKFLOWS / "policy"))
    assert loaded.definition.transitions[0].guards == (
        "case.amount <= 3 * policy.urban_dibao_standard",
    )


def test_policy_names_come_from_the_policy_directory_next_to_the_workflow(tmp_path: Path) -> None:
    fixed = GUARDED.replace("standrd", "standard")
    (tmp_path / "small.yaml").write_text(fixed, encoding="utf-8")
    missing = check_files([tmp_path / "small.yaml"])
    assert [str(p) for p in missing] == [
        (
            f"{tmp_path / 'small.yaml'}:17:9: transitions[0].guards[0]: guard 'case.amount <= 3 * "
            "policy.urban_dibao_standard': cannot check 'policy.urban_dibao_standard': "
            f"no policy file {tmp_path / 'policy' / 'standards.yaml'}; "
            "put policy/standards.yaml next to the workflow file"
        )
    ]

    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "standards.yaml").write_text(
        "standards:\n  urban_dibao_standard:\n    unit: yuan_per_month\n    source: county notice\n"
        "    values:\n      - {from: 2023-01-01, value: 780.00}\n",
        encoding="utf-8",
    )
    (tmp_path / "other.yaml").write_text(fixed, encoding="utf-8")
    bad = [str(p) for p in check_files([tmp_path / "small.yaml", tmp_path / "other.yaml"])]
    policy_file = tmp_path / "policy" / "standards.yaml"
    assert len(bad) == 3  # the guard in each of the two files, the policy file's problem once
    assert (
        bad[0]
        == bad[2].replace("other.yaml", "small.yaml")
        == (
            f"{tmp_path / 'small.yaml'}:17:9: transitions[0].guards[0]: guard 'case.amount <= 3 * "
            "policy.urban_dibao_standard': cannot check 'policy.urban_dibao_standard': "
            f"the policy file {policy_file} is invalid; "
            "fix the policy file (its problems are listed below)"
        )
    )
    assert bad[1] == (
        f"{policy_file}:6:35: standards.urban_dibao_standard.values[0].value: unquoted number "
        '780.0 would be read as a floating-point number; quote it, e.g. value: "780.00" '
        "(money is an exact decimal)"
    )

    policy_file.write_text(
        policy_file.read_text(encoding="utf-8").replace("780.00", '"780.00"'), encoding="utf-8"
    )
    assert check_files([tmp_path / "small.yaml"]) == []
    # an explicit directory wins over the one next to the file
    assert [
        p.message for p in check_files([tmp_path / "small.yaml"], policy_dir=tmp_path / "none")
    ] == [
        (
            "guard 'case.amount <= 3 * policy.urban_dibao_standard': cannot check "
            f"'policy.urban_dibao_standard': no policy file {tmp_path / 'none' / 'standards.yaml'}"
        )
    ]


# -- tekun ---------------------------------------------------------------------------------


ELDERLY = id_number("19490315", "011")  # 74 on 2023-08-01
DISABLED = id_number("19830611", "022")  # 40
MENTALLY_ILL = id_number("19750102", "031")  # 48
YOUNG = id_number("19660920", "041")  # 56


def to_notice(world: World, cid: int, group: str, **accept: str) -> None:
    fire(world, "li", cid, "accept", eligibility_group=group, **accept)
    fire(world, "li", cid, "start_investigation", investigators="li,zhao")
    fire(
        world,
        "li",
        cid,
        "submit_opinion",
        "meets the plan's conditions",
        preliminary_opinion="eligible",
    )


def to_supported(world: World, number: str, group: str, **accept: str) -> int:
    cid = open_case(world, number, "tekun")
    to_notice(world, cid, group, **accept)
    world.clock.advance(timedelta(days=7))
    fire(world, "li", cid, "close_notice")
    fire(
        world,
        "sun",
        cid,
        "confirm",
        spot_checked="true",
        sample_seed="2023-08-county-7f3a",
        adl_not_done="2",
        self_care="partial",
        support_mode="dispersed",
        care_card_no="ZL-0001",
    )
    return cid


@pytest.mark.parametrize(
    ("number", "group", "attrs", "accept"),
    [
        (ELDERLY, "elderly", {"supporter_able": False}, {}),
        (
            DISABLED,
            "severely_disabled",
            {"disability_grade": 3, "disability_type": "intellectual"},
            {},
        ),
        (MENTALLY_ILL, "mentally_ill", {"mental_illness": True, "dibao_status": "active"}, {}),
        (MENTALLY_ILL, "mentally_ill", {"mental_illness": True}, {"psychiatric_diagnosis": "true"}),
    ],
)
def test_each_eligibility_group_reaches_supported(
    world: World, number: str, group: str, attrs: dict[str, Any], accept: dict[str, str]
) -> None:
    add_person(world, number, **attrs)
    cid = to_supported(world, number, group, **accept)
    c = case(world, cid)
    assert c.state == "supported"
    assert c.data == {
        "eligibility_group": group,
        **({"psychiatric_diagnosis": True} if accept else {}),
        "investigators": ["li", "zhao"],
        "preliminary_opinion": "eligible",
        "spot_checked": True,
        "sample_seed": "2023-08-county-7f3a",
        "adl_not_done": 2,
        "self_care": "partial",
        "support_mode": "dispersed",
        "care_card_no": "ZL-0001",
    }
    # confirmed 2023-08-08 09:00; the yearly review falls due 12 months later
    assert c.state_entered_at == local(2023, 8, 8, 9, 0)
    assert c.deadline_at == local(2024, 8, 8, 9, 0)


def test_refusals_name_the_condition_a_person_fails(world: World) -> None:
    add_person(
        world,
        YOUNG,
        hukou="urban",
        supporter_able=True,
        disability_grade=3,
        disability_type="physical",
    )
    cid = open_case(world, YOUNG, "tekun")
    assert refused(world, "li", cid, "accept", eligibility_group="elderly") == (
        "cannot accept case 1: not allowed yet: "
        "if Target group is 'elderly', Age must be at least 60 (now 56), "
        "Hukou must be 'rural' (now 'urban') and Supporter able to support must be no (now yes)"
    )
    assert refused(world, "li", cid, "accept", eligibility_group="severely_disabled") == (
        "cannot accept case 1: not allowed yet: "
        "if Target group is 'severely_disabled', Disability grade must be one of 1, 2 (now 3), "
        "or Disability type must be one of 'intellectual', 'mental' (now 'physical')"
    )
    assert refused(world, "li", cid, "accept", eligibility_group="mentally_ill") == (
        "cannot accept case 1: not allowed yet: "
        "if Target group is 'mentally_ill', Mental illness must be yes (now no)"
    )
    with pytest.raises(Exception) as info:
        fire(world, "li", cid, "accept", eligibility_group="orphan")
    assert str(info.value) == (
        "field eligibility_group='orphan': must be one of elderly, severely_disabled, "
        "mentally_ill\n  hint: write it like --field eligibility_group=text"
    )
    c = case(world, cid)
    assert (c.state, c.data, c.last_seq) == ("discovery", {}, 1)  # refusals change nothing
    fire(world, "li", cid, "screen_out", "not in a target group; referred to the dibao survey")
    assert case(world, cid).state == "not_accepted"


def test_a_mentally_ill_person_needs_one_of_the_plans_conditions(world: World) -> None:
    add_person(world, MENTALLY_ILL, mental_illness=True)
    cid = open_case(world, MENTALLY_ILL, "tekun")
    assert refused(world, "li", cid, "accept", eligibility_group="mentally_ill") == (
        "cannot accept case 1: not allowed yet: "
        "if Target group is 'mentally_ill', Registered as poor must be yes (now no), "
        "or Dibao status must be 'active' (now not recorded), "
        "or Tekun status must be 'active' (now not recorded), "
        "or Disability grade must be filled in, "
        "or Diagnosed by a county-level psychiatric institution must be yes (now not recorded)"
    )
    fire(world, "li", cid, "accept", eligibility_group="mentally_ill", psychiatric_diagnosis="yes")
    assert case(world, cid).state == "accepted"


def test_investigation_needs_two_investigators(world: World) -> None:
    add_person(world, ELDERLY, supporter_able=False)
    cid = open_case(world, ELDERLY, "tekun")
    fire(world, "li", cid, "accept", eligibility_group="elderly")
    assert refused(world, "li", cid, "start_investigation", investigators="li") == (
        "cannot start_investigation case 1: not allowed yet: "
        "Investigators must number at least 2 (now 1)"
    )
    fire(world, "li", cid, "start_investigation", investigators="li,zhao")
    # investigation + preliminary opinion within 15 WD of Tue 2023-08-01: to the end of Tue 08-22
    assert case(world, cid).deadline_at == local(2023, 8, 23, 0, 0)


def test_self_care_category_must_match_the_daily_activities(world: World) -> None:
    add_person(world, ELDERLY, supporter_able=False)
    cid = open_case(world, ELDERLY, "tekun")
    to_notice(world, cid, "elderly")
    world.clock.advance(timedelta(days=7))
    fire(world, "li", cid, "close_notice")
    base = {
        "spot_checked": "false",
        "sample_seed": "s1",
        "support_mode": "centralized",
        "care_card_no": "ZL-9",
    }
    assert refused(world, "sun", cid, "confirm", adl_not_done="4", self_care="partial", **base) == (
        "cannot confirm case 1: not allowed yet: Daily activities not done (of 6) must be less "
        "than 4 (now 4), "
        "or Self-care capacity must be 'none' (now 'partial')"
    )
    assert refused(world, "sun", cid, "confirm", adl_not_done="0", self_care="partial", **base) == (
        "cannot confirm case 1: not allowed yet: if Daily activities not done (of 6) is 0, "
        "Self-care capacity must be 'full' (now 'partial')"
    )
    assert refused(world, "sun", cid, "confirm", adl_not_done="3", self_care="none", **base) == (
        "cannot confirm case 1: not allowed yet: Daily activities not done (of 6) must be less "
        "than 1 (now 3), "
        "or Daily activities not done (of 6) must be more than 3 (now 3), "
        "or Self-care capacity must be 'partial' (now 'none')"
    )
    assert refused(world, "sun", cid, "confirm", adl_not_done="7", self_care="none", **base) == (
        "cannot confirm case 1: not allowed yet: Daily activities not done (of 6) must be at most "
        "6 (now 7)"
    )
    # the township caseworker who proposed it may not confirm it, and lacks the role anyway
    assert refused(world, "li", cid, "confirm", adl_not_done="6", self_care="none", **base) == (
        "cannot confirm case 1: needs role county_officer; li has township_caseworker; "
        "li fired 'submit_opinion' on this case; 'confirm' must be done by someone else "
        "(separation of duties)"
    )
    for adl, care in (
        ("0", "full"),
        ("1", "partial"),
        ("3", "partial"),
        ("4", "none"),
        ("6", "none"),
    ):
        # every consistent pair passes the guards (checked without firing)
        snap = run(world, lambda svc: svc.snapshot(svc.session.get_one(Case, cid)))
        t = snap.workflow.transition("county_confirmation", "confirm")
        fields = {
            "adl_not_done": int(adl),
            "self_care": care,
            "spot_checked": False,
            "sample_seed": "s1",
            "support_mode": "centralized",
            "care_card_no": "ZL-9",
        }
        assert (
            rules.blocks(snap, t, Actor("sun", ("county_officer",), "*"), world.clock.now(), fields)
            == []
        )
    fire(world, "sun", cid, "confirm", adl_not_done="5", self_care="none", **base)
    c = case(world, cid)
    assert (c.state, c.data["self_care"], c.data["support_mode"]) == (
        "supported",
        "none",
        "centralized",
    )

    fire(world, "li", cid, "report_change", "fell and broke a hip")
    assert case(world, cid).state == "reassessment"
    assert refused(world, "sun", cid, "reassess", adl_not_done="6", self_care="partial") == (
        "cannot reassess case 1: not allowed yet: Daily activities not done (of 6) must be less "
        "than 4 (now 6), "
        "or Self-care capacity must be 'none' (now 'partial')"
    )
    fire(world, "sun", cid, "reassess", adl_not_done="6", self_care="none")
    assert case(world, cid).data["adl_not_done"] == 6


def test_an_objection_sends_the_case_back_and_a_new_notice_runs_seven_days(world: World) -> None:
    add_person(world, ELDERLY, supporter_able=False)
    cid = open_case(world, ELDERLY, "tekun")
    to_notice(world, cid, "elderly")
    world.clock.advance(timedelta(days=3))
    run(
        world,
        lambda svc: svc.object(svc.actor("chen"), cid, "a son in the city is said to support her"),
    )
    c = case(world, cid)
    assert (c.state, c.deadline_at) == (
        "reinvestigation",
        local(2023, 8, 26, 0, 0),
    )  # 15 WD from Fri 08-04
    world.clock.advance(timedelta(days=4))  # Tue 08-08
    fire(
        world,
        "li",
        cid,
        "submit_opinion",
        "the son has no income; opinion stands",
        preliminary_opinion="eligible",
    )
    world.clock.advance(timedelta(days=6))
    assert refused(world, "li", cid, "close_notice") == (
        "cannot close_notice case 1: 'public_notice' must run until 2023-08-15 09:00 (7d minimum); "
        "before then only object is allowed"
    )
    world.clock.advance(timedelta(days=1))
    fire(world, "li", cid, "close_notice")
    events = run(
        world,
        lambda svc: [
            (e.kind, e.trigger, e.to_state)
            for e in svc.session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == cid).order_by(CaseEvent.seq)
            )
        ],
    )
    assert events == [
        ("open", None, "discovery"),
        ("transition", "accept", "accepted"),
        ("transition", "start_investigation", "investigation"),
        ("transition", "submit_opinion", "public_notice"),
        ("objection", "object", "reinvestigation"),
        ("transition", "submit_opinion", "public_notice"),
        ("transition", "close_notice", "county_confirmation"),
    ]
    assert case(world, cid).deadline_at == local(2023, 9, 6, 0, 0)  # 15 WD from Tue 08-15


def test_a_negative_opinion_is_rejected_with_written_reasons(world: World) -> None:
    add_person(world, ELDERLY, supporter_able=False)
    cid = open_case(world, ELDERLY, "tekun")
    fire(world, "li", cid, "accept", eligibility_group="elderly")
    fire(world, "li", cid, "start_investigation", investigators="li,zhao")
    assert refused(
        world, "li", cid, "submit_opinion", "has a pension", preliminary_opinion="ineligible"
    ) == (
        "cannot submit_opinion case 1: not allowed yet: "
        "Preliminary opinion must be 'eligible' (now 'ineligible')"
    )
    fire(world, "li", cid, "reject", rejection_reason="income above the limit")
    assert case(world, cid).deadline_at == local(2023, 8, 5, 0, 0)  # 3 WD
    fire(world, "li", cid, "send_reasons", "delivered in person")
    c = case(world, cid)
    assert (c.state, c.closed_at) == ("rejected", local(2023, 8, 1, 9, 0))


def test_termination_has_its_own_notice_objection_and_referral_check(world: World) -> None:
    add_person(world, ELDERLY, supporter_able=False)
    cid = to_supported(world, ELDERLY, "elderly")
    world.clock.advance(timedelta(days=30))  # Thu 2023-09-07
    fire(
        world,
        "li",
        cid,
        "propose_termination",
        "her son came back and supports her",
        termination_reason="supporter_able",
    )
    world.clock.advance(timedelta(days=2))  # Sat 09-09
    assert refused(world, "li", cid, "close_notice") == (
        "cannot close_notice case 1: 'termination_notice' must run until 2023-09-14 09:00 (7d "
        "minimum); before then only object is allowed"
    )
    run(
        world, lambda svc: svc.object(svc.actor("chen"), cid, "the son works away most of the year")
    )
    c = case(world, cid)
    # 15 WD from Sat 09-09 over the National Day holiday (09-29 to 10-06): the adjusted working
    # Saturday 10-07 is the 15th
    assert (c.state, c.deadline_at) == ("termination_objection", local(2023, 10, 8, 0, 0))
    world.clock.advance(timedelta(days=5))  # Thu 09-14
    fire(world, "sun", cid, "uphold_termination", "the son has a stable local job")
    world.clock.advance(timedelta(days=6, hours=23))
    assert refused(world, "li", cid, "close_notice") == (
        "cannot close_notice case 1: 'termination_notice' must run until 2023-09-21 09:00 (7d "
        "minimum); before then only object is allowed"
    )
    world.clock.advance(timedelta(hours=1))
    fire(world, "li", cid, "close_notice")
    assert case(world, cid).state == "referral_check"
    assert refused(world, "li", cid, "record_referral", referral="dibao") == (
        "cannot record_referral case 1: 'record_referral' needs a note: add --note TEXT"
    )
    fire(
        world, "li", cid, "record_referral", "dibao case opened for the household", referral="dibao"
    )
    c = case(world, cid)
    assert (c.state, c.data["termination_reason"], c.data["referral"]) == (
        "terminated",
        "supporter_able",
        "dibao",
    )
    assert c.closed_at == local(2023, 9, 21, 9, 0)


def test_a_termination_objection_can_restore_support(world: World) -> None:
    add_person(world, ELDERLY, supporter_able=False)
    cid = to_supported(world, ELDERLY, "elderly")
    fire(
        world,
        "li",
        cid,
        "propose_termination",
        "reported income",
        termination_reason="income_above_limit",
    )
    run(world, lambda svc: svc.object(svc.actor("chen"), cid, "the income was a one-off gift"))
    fire(world, "sun", cid, "cancel_termination", "one-off gift, not income")
    c = case(world, cid)
    assert (c.state, c.deadline_at) == ("supported", local(2024, 8, 8, 9, 0))


def test_the_yearly_review_falls_due_and_is_fired_by_the_scheduler(world: World) -> None:
    add_person(world, ELDERLY, supporter_able=False)
    cid = to_supported(world, ELDERLY, "elderly")
    world.clock.set(local(2024, 8, 8, 9, 1))
    fired = run(world, lambda svc: jobs.fire_timeouts(svc.session, world.clock, world.calendar))
    assert fired == 1
    assert case(world, cid).state == "periodic_review"
    fire(
        world,
        "li",
        cid,
        "adjust",
        "now needs help with bathing and dressing",
        adl_not_done="2",
        self_care="partial",
        support_mode="centralized",
    )
    c = case(world, cid)
    assert (c.state, c.data["support_mode"], c.deadline_at) == (
        "supported",
        "centralized",
        local(2025, 8, 8, 9, 1),
    )


# -- temporary assistance ------------------------------------------------------------------


PATIENT = id_number("19700405", "051")


def escalations(world: World, cid: int) -> list[tuple[int, int, str, str]]:
    return run(
        world,
        lambda svc: [
            (e.rung, e.repeat_no, e.recipient, e.template)
            for e in svc.session.scalars(
                select(Escalation).where(Escalation.case_id == cid).order_by(Escalation.id)
            )
        ],
    )


def test_the_emergency_ladder_is_the_sharpest(county: World) -> None:
    world = county
    add_person(world, PATIENT)
    cid = open_case(world, PATIENT, "temporary_assistance", emergency=True)
    assert case(world, cid).deadline_at == local(2023, 8, 2, 9, 0)  # 24 hours

    def sweep() -> int:
        return int(run(world, lambda svc: jobs.escalate(svc.session, world.clock, world.calendar)))

    world.clock.advance(timedelta(hours=11, minutes=59))
    assert sweep() == 0
    world.clock.advance(timedelta(minutes=1))
    assert sweep() == 2  # both caseworkers of the township
    world.clock.advance(timedelta(hours=8))
    assert sweep() == 1
    world.clock.advance(timedelta(hours=4))
    assert sweep() == 1
    world.clock.advance(timedelta(hours=24))
    assert sweep() == 1
    assert escalations(world, cid) == [
        (0, 0, "li", "deadline_reminder"),
        (0, 0, "zhao", "deadline_reminder"),
        (1, 0, "ma", "emergency_escalation"),
        (2, 0, "qian", "emergency_escalation"),
        (2, 1, "qian", "emergency_escalation"),
    ]


def test_an_emergency_is_assisted_first_then_reviewed(county: World) -> None:
    world = county
    add_person(world, PATIENT)
    cid = open_case(world, PATIENT, "temporary_assistance", emergency=True)
    world.clock.advance(timedelta(hours=5))
    # 3x the urban standard in force on 2023-08-01 (780.00) is 2340.00
    assert refused(
        world,
        "li",
        cid,
        "assist_first",
        emergency_reason="house fire",
        cause="fire",
        tier_multiple="2",
        amount="1500",
    ) == (
        "cannot assist_first case 1: not allowed yet: Tier (multiple of the urban dibao standard) "
        "must be at least "
        "Lowest temporary-assistance multiple = 3 (now 2)"
    )
    assert refused(
        world,
        "li",
        cid,
        "assist_first",
        emergency_reason="house fire",
        cause="fire",
        tier_multiple="3",
        amount="2340.01",
    ) == (
        "cannot assist_first case 1: not allowed yet: Amount (yuan) must be at most "
        "Tier (multiple of the urban dibao standard) × Urban dibao standard = 2340.00 (now 2340.01)"
    )
    fire(
        world,
        "li",
        cid,
        "assist_first",
        "cash from the township reserve",
        emergency_reason="house fire",
        cause="fire",
        tier_multiple="3",
        amount="2340.00",
    )
    c = case(world, cid)
    assert (c.state, c.deadline_at) == (
        "assisted",
        local(2023, 8, 9, 0, 0),
    )  # paperwork within 5 WD
    world.clock.advance(timedelta(hours=24))
    assert (
        run(world, lambda svc: jobs.escalate(svc.session, world.clock, world.calendar)) == 0
    )  # left in time

    fire(world, "li", cid, "complete_paperwork", "signatures and photos filed")
    fire(world, "li", cid, "approve")
    assert case(world, cid).state == "approved"
    fire(world, "li", cid, "close", referral="dibao")
    c = case(world, cid)
    assert (c.state, c.data) == (
        "closed",
        {
            "emergency_reason": "house fire",
            "cause": "fire",
            "tier_multiple": 3,
            "amount": "2340.00",
            "referral": "dibao",
        },
    )
    events = run(
        world,
        lambda svc: [
            e.trigger
            for e in svc.session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == cid).order_by(CaseEvent.seq)
            )
        ],
    )
    assert events == [None, "assist_first", "complete_paperwork", "approve", "close"]


def to_decision(world: World, number: str) -> int:
    cid = open_case(world, number, "temporary_assistance")
    fire(world, "chen", cid, "register_application", cause="medical_expense")
    fire(
        world,
        "li",
        cid,
        "submit_findings",
        "hospital bills of 41,000 yuan",
        investigators="li,zhao",
    )
    assert case(world, cid).state == "township_decision"
    return cid


def test_the_township_approves_up_to_its_ceiling_and_the_county_above(county: World) -> None:
    world = county
    add_person(world, PATIENT)
    cid = to_decision(world, PATIENT)
    assert refused(world, "li", cid, "approve", tier_multiple="5", amount="3900.00") == (
        "cannot approve case 1: not allowed yet: Tier (multiple of the urban dibao standard) must "
        "be at most "
        "Highest multiple a township may approve = 3 (now 5)"
    )
    assert refused(world, "li", cid, "approve") == (
        "cannot approve case 1: not allowed yet: Tier (multiple of the urban dibao standard) must "
        "be filled in; "
        "Amount (yuan) must be filled in"
    )
    fire(
        world,
        "li",
        cid,
        "refer_to_county",
        "above the township ceiling",
        tier_multiple="5",
        amount="3900.00",
    )
    assert refused(world, "sun", cid, "approve", "approved", tier_multiple="13") == (
        "cannot approve case 1: not allowed yet: Tier (multiple of the urban dibao standard) must "
        "be at most "
        "Highest temporary-assistance multiple = 12 (now 13)"
    )
    fire(
        world,
        "sun",
        cid,
        "approve",
        "second illness this year; county override",
        override_once_a_year="true",
    )
    c = case(world, cid)
    assert (c.state, c.data["amount"], c.data["override_once_a_year"]) == (
        "approved",
        "3900.00",
        True,
    )


def test_beyond_the_top_tier_a_county_leader_decides_one_by_one(county: World) -> None:
    world = county
    add_person(world, PATIENT)
    cid = to_decision(world, PATIENT)
    fire(
        world, "li", cid, "refer_to_county", "major illness", tier_multiple="12", amount="20000.00"
    )
    assert refused(world, "sun", cid, "approve", "approved") == (
        "cannot approve case 1: not allowed yet: Amount (yuan) must be at most "
        "Tier (multiple of the urban dibao standard) × Urban dibao standard = 9360.00 (now "
        "20000.00)"
    )
    assert refused(world, "sun", cid, "refer_to_leader", "within tiers", amount="9360.00") == (
        "cannot refer_to_leader case 1: not allowed yet: Amount (yuan) must be more than "
        "Highest temporary-assistance multiple × Urban dibao standard = 9360.00 (now 9360.00)"
    )
    fire(world, "sun", cid, "refer_to_leader", "beyond 12x: 一事一议")
    assert case(world, cid).state == "leader_approval"
    assert refused(world, "sun", cid, "approve", "ok") == (
        "cannot approve case 1: needs role county_leader; sun has county_officer"
    )
    fire(world, "lin", cid, "approve", "approved one by one at the leaders' meeting")
    c = case(world, cid)
    assert (c.state, c.data["amount"]) == ("approved", "20000.00")


def test_guards_use_the_standard_in_force_on_the_day(county: World) -> None:
    world = county
    add_person(world, PATIENT)
    world.clock.set(local(2024, 1, 10, 9, 0))
    cid = open_case(world, PATIENT, "temporary_assistance", emergency=True)
    # 3x the 2024 standard (820.00) is 2460.00; in 2023 this amount was refused
    fire(
        world,
        "li",
        cid,
        "assist_first",
        emergency_reason="flood",
        cause="natural_disaster",
        tier_multiple="3",
        amount="2460.00",
    )
    assert case(world, cid).state == "assisted"


def test_without_policy_a_guard_reading_policy_is_an_error_and_changes_nothing(
    world: World,
) -> None:
    add_person(world, PATIENT)
    cid = open_case(world, PATIENT, "temporary_assistance", emergency=True)
    fields = {
        "emergency_reason": "fire",
        "cause": "fire",
        "tier_multiple": "3",
        "amount": "100",
    }
    with pytest.raises(UnavailableError) as info, world.session() as s, s.begin():
        bare = Service(s, world.clock, world.calendar)  # no standards loaded
        bare.fire(bare.actor("li"), cid, "assist_first", fields)
    assert info.value.message == (
        "a guard reads policy.temporary_assistance_multiplier_max, "
        "policy.temporary_assistance_multiplier_min, "
        "policy.urban_dibao_standard but no policy standards are loaded"
    )
    assert case(world, cid).state == "reported"


def test_the_cli_reads_policy_values(run_cli: Cli) -> None:
    from .test_cli import bootstrap_cli

    bootstrap_cli(run_cli, deploy=False)
    assert (
        run_cli(
            "workflow", "deploy", str(WORKFLOWS / "temporary_assistance.yaml"), user="admin"
        ).exit_code
        == 0
    )
    assert (
        run_cli(
            "user",
            "add",
            "li",
            "--role",
            "township_caseworker",
            "--area",
            "城关镇",
            "--email",
            "li@county.example",
            user="admin",
        ).exit_code
        == 0
    )
    assert (
        run_cli(
            "person",
            "add",
            PATIENT,
            "--name",
            "张三",
            "--township",
            "城关镇",
            "--village",
            "东村",
            "--hukou",
            "rural",
            user="li",
        ).exit_code
        == 0
    )
    assert (
        run_cli(
            "case", "open", PATIENT, "-w", "temporary_assistance", "--emergency", user="li"
        ).exit_code
        == 0
    )
    result = run_cli(
        "case",
        "fire",
        "1",
        "assist_first",
        "-f",
        "emergency_reason=fire",
        "-f",
        "cause=fire",
        "-f",
        "tier_multiple=3",
        "-f",
        "amount=2400",
        user="li",
    )
    assert result.exit_code == 6, result.output
    assert result.output == (
        "error: cannot assist_first case 1: not allowed yet: Amount (yuan) must be at most "
        "Tier (multiple of the urban dibao standard) × Urban dibao standard = 2340.00 (now 2400)\n"
    )
    result = run_cli(
        "case",
        "fire",
        "1",
        "assist_first",
        "-f",
        "emergency_reason=fire",
        "-f",
        "cause=fire",
        "-f",
        "tier_multiple=3",
        "-f",
        "amount=2340",
        user="li",
    )
    assert result.exit_code == 0, result.output


def test_persons_read_by_guards_exist_on_the_model() -> None:
    from aidflow.language.definition import PERSON_COLUMNS, PERSON_DERIVED, PERSON_FIELDS

    assert set(PERSON_COLUMNS) <= set(Person.__table__.columns.keys())
    assert (
        set(PERSON_FIELDS) - set(PERSON_COLUMNS) == set(PERSON_DERIVED) == {"age", "related_roles"}
    )
