"""The engine's refusals in the reader's language: guards said in words with the workflow's
labels (the expression itself kept as the detail), roles, dwell and duties by their labels
in Chinese, and the detail printed under an error only with --verbose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from click.testing import CliRunner

from aidflow.cli.root import VERBOSE, AidflowGroup
from aidflow.engine import access, rules
from aidflow.engine.deadlines import Due, show_due, show_left
from aidflow.errors import RefusedError
from aidflow.i18n import use_language
from aidflow.language.calendar import duration_words
from aidflow.language.definition import Workflow
from aidflow.language.expressions import compile_expression
from aidflow.language.loader import load_workflow_text
from aidflow.policy.standards import policy_names

from .conftest import WORKFLOWS

NOW = datetime(2023, 8, 1, 2, 0, tzinfo=UTC)
LI = access.Actor("li", ("township_caseworker",), "城关镇")


def shipped(name: str) -> Workflow:
    path = WORKFLOWS / f"{name}.yaml"
    text = path.read_text(encoding="utf-8")
    return load_workflow_text(text, str(path), policy=policy_names(WORKFLOWS / "policy")).definition


def dibao() -> Workflow:
    return shipped("dibao")


def snapshot(wf: Workflow, state: str, **case: object) -> rules.Snapshot:
    return rules.Snapshot(
        workflow=wf,
        state=state,
        township="城关镇",
        village="东村",
        entered_at=NOW,
        dwell_until=None,
        person={"age": 70},
        case=dict(case),
    )


def test_a_failed_guard_is_said_in_words_with_the_expression_as_its_detail() -> None:
    wf = dibao()
    t = wf.transition("accepted", "start_investigation")
    assert t is not None
    snap = snapshot(wf, "accepted")
    fields = {"investigators": ["li"]}
    reasons = rules.blocks(snap, t, LI, NOW, fields)
    assert reasons == ["not allowed yet: Investigators must number at least 2 (now 1)"]
    assert rules.detail_of(reasons) == (
        "len(case.investigators) >= 2 is false (len(case.investigators) = 1)"
    )
    with use_language("zh"):
        assert rules.blocks(snap, t, LI, NOW, fields) == [
            "条件不满足：调查人员的数量应不少于 2（现为 1）"
        ]


def test_a_missing_field_is_an_input_problem_in_either_language() -> None:
    wf = dibao()
    t = wf.transition("accepted", "start_investigation")
    assert t is not None
    snap = snapshot(wf, "accepted")
    reasons = rules.blocks(snap, t, LI, NOW)
    assert reasons == ["missing field --field investigators=..."]
    assert all(rules.is_input_problem(r) for r in reasons)
    with use_language("zh"):
        reasons = rules.blocks(snap, t, LI, NOW)
    assert reasons == ["缺少字段：调查人员（--field investigators=...）"]
    assert all(rules.is_input_problem(r) for r in reasons)


def test_roles_areas_and_duties_are_named_by_their_labels_in_chinese() -> None:
    wf = dibao()
    t = wf.transition("accepted", "start_investigation")
    assert t is not None
    zhao = access.Actor("zhao", ("village_officer",), "河西乡")
    snap = snapshot(wf, "accepted")
    fields = {"investigators": ["li", "zhao"]}
    assert rules.blocks(snap, t, zhao, NOW, fields) == [
        "needs role township_caseworker; zhao has village_officer",
        "case is in 城关镇/东村, outside zhao's area (河西乡)",
    ]
    with use_language("zh"):
        assert rules.blocks(snap, t, zhao, NOW, fields) == [
            "需要角色：乡镇经办人；zhao 的角色是：社会救助协理员",
            "案件在 城关镇/东村，不在 zhao 的辖区（河西乡）内",
        ]


def test_a_dwell_is_said_with_the_states_label_and_the_duration_in_words() -> None:
    wf = dibao()
    t = wf.transition("public_notice", "close_notice")
    assert t is not None
    snap = snapshot(wf, "public_notice")
    snap.dwell_until = NOW + timedelta(days=7)
    assert rules.blocks(snap, t, LI, NOW) == [
        "'public_notice' must run until 2023-08-08 02:00 (7d minimum); "
        "before then only object is allowed"
    ]
    with use_language("zh"):
        assert rules.blocks(snap, t, LI, NOW) == [
            "“公示”须持续到 2023-08-08 02:00（至少 7 天）；在此之前只能“提出异议”"
        ]
    assert duration_words("10wd") == "10wd"
    with use_language("zh"):
        assert duration_words("10wd") == "10 个工作日"


def test_requirements_under_the_same_condition_are_said_once() -> None:
    wf = shipped("tekun")
    t = wf.transition("discovery", "accept")
    assert t is not None
    snap = snapshot(wf, "discovery")
    snap.person = {"age": 56, "hukou": "urban", "supporter_able": True}
    fields = {"eligibility_group": "elderly"}
    assert rules.blocks(snap, t, LI, NOW, fields) == [
        "not allowed yet: if Target group is 'elderly', Age must be at least 60 (now 56), "
        "Hukou must be 'rural' (now 'urban') and Supporter able to support must be no (now yes)"
    ]
    with use_language("zh"):
        assert rules.blocks(snap, t, LI, NOW, fields) == [
            "条件不满足：对象类别为老年人时，年龄应不少于 60（现为 56），户籍应为农村（现为城市），"
            "并且法定义务人有赡养扶养能力应为否（现为是）"
        ]


def test_an_implication_a_choice_and_a_missing_value_read_as_sentences() -> None:
    expr = compile_expression(
        "case.group != 'elderly' or (person.age >= 60 and person.hukou == 'rural')",
        namespaces=("person", "case"),
    )
    scope = {"case": {"group": "elderly"}, "person": {"age": None, "hukou": "urban"}}
    labels = {"case.group": "Target group", "person.age": "Age", "person.hukou": "Hukou"}
    assert expr.describe(scope, labels) == [
        "if Target group is 'elderly', Age must be filled in and Hukou must be 'rural' "
        "(now 'urban')"
    ]
    zh = {
        "case.group": "对象类别",
        "case.group=elderly": "老年人",
        "person.age": "年龄",
        "person.hukou": "户籍",
        "=rural": "农村",
        "=urban": "城市",
    }
    with use_language("zh"):
        assert expr.describe(scope, zh) == [
            "对象类别为老年人时，年龄尚未填写，并且户籍应为农村（现为城市）"
        ]
    assert expr.describe({"case": {"group": "other"}}, labels) == []


def test_deadlines_speak_through_the_catalog() -> None:
    due = Due(datetime(2023, 10, 20, 16, 0, tzinfo=UTC), True, left_wd=3)
    tz = UTC
    assert show_due(due, "en", tz) == "2023-10-20 (Fri) end of day"
    assert show_due(due, "zh", tz) == "2023-10-20（周五）当日"
    assert show_left(due, "en") == "3 working days left"
    assert show_left(due, "zh") == "剩余 3 个工作日"
    late = Due(datetime(2023, 10, 20, 16, 0, tzinfo=UTC), False, left=-timedelta(days=2, hours=1))
    assert show_left(late, "en") == "overdue by 2 days 1 hour"
    assert show_left(late, "zh") == "已超期 2 天 1 小时"


def test_the_detail_of_an_error_is_printed_with_verbose_only() -> None:
    @click.group(cls=AidflowGroup)
    @click.option("--verbose", "-v", is_flag=True)
    @click.pass_context
    def root(ctx: click.Context, verbose: bool) -> None:
        ctx.meta[VERBOSE] = verbose

    @root.command()
    def fire() -> None:
        raise RefusedError("cannot fire: not allowed yet", detail="len(case.x) >= 2 is false")

    quiet = CliRunner().invoke(root, ["fire"])
    assert quiet.exit_code == 6
    assert quiet.output == "error: cannot fire: not allowed yet\n"
    loud = CliRunner().invoke(root, ["-v", "fire"])
    assert loud.exit_code == 6
    assert loud.output == (
        "error: cannot fire: not allowed yet\n  detail: len(case.x) >= 2 is false\n"
    )
