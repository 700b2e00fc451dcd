"""Guards get a static cost bound (issue 14).

Sizes and integers that must exceed the evaluator's limits are refused when a guard is
compiled, so at `workflow validate` and deploy with the file's line and column; a guard that
still fails on some case's data blocks its transition with the reason and never stops the
case from being shown.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aidflow.errors import ExpressionError, WorkflowInvalidError
from aidflow.language.expressions import compile_expression
from aidflow.policy.workflows import load_workflow_file

from .conftest import PERSON_ID, REPO, Cli, World

SHIPPED = REPO / "src" / "aidflow" / "shipped" / "workflows"
DIBAO = (SHIPPED / "dibao.yaml").read_text(encoding="utf-8")
GUARDED = "      - len(case.investigators) >= 2     # at least 2 investigators (L21 §16)\n"


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("case.x < 1e308 ** 2", "cannot evaluate '1e308 ** 2': result too large", 10),
        (
            "case.x < (-8) ** 0.5",
            "cannot evaluate '(-8) ** 0.5': the result is not a real number",
            10,
        ),
    ],
)
def test_constant_powers_that_fail_are_refused_when_compiled(
    text: str, message: str, column: int
) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    assert (caught.value.message, caught.value.column) == (message, column)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        (
            "'a' * 10**10 == case.x",
            "\"'a' * 10**10\" can build a string of 10,000,000,000 characters; the limit is 10,000",
            1,
        ),
        (
            "case.x in [1, 2] * 10**4",
            "'[1, 2] * 10**4' can build a list of 20,000 items (nested ones included); "
            "the limit is 10,000",
            11,
        ),
        (
            "case.x > (10**10)**10",
            "'(10**10)**10' can build an integer of 340 bits; the limit is 256 bits",
            10,
        ),
        (  # nested: each part is within the limits, the whole is not
            "case.x in [['x'] * 100] * 100",
            "\"[['x'] * 100] * 100\" can build a list of 20,100 items (nested ones included); "
            "the limit is 10,000",
            11,
        ),
        (
            "case.x == ('a' * 100) * 101",
            "\"('a' * 100) * 101\" can build a string of 10,100 characters; the limit is 10,000",
            11,
        ),
        (  # built around case data: at least one item per copy whatever the data
            "contains([case.x] * 100000, 1)",
            "'[case.x] * 100000' can build a list of 100,000 items (nested ones included); "
            "the limit is 10,000",
            10,
        ),
        (
            "case.name + 'a' * 9999 + 'bb' == case.x",
            "\"case.name + 'a' * 9999 + 'bb'\" can build a string of 10,001 characters; "
            "the limit is 10,000",
            1,
        ),
        (
            "case.x == ('a' if case.y else 'bb') * 10001",
            "\"('a' if case.y else 'bb') * 10001\" can build a string of 10,001 characters; "
            "the limit is 10,000",
            11,
        ),
    ],
)
def test_dangerous_sizes_are_refused_when_compiled(text: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    assert (caught.value.message, caught.value.column) == (message, column)


@pytest.mark.parametrize(
    "text",
    [
        "'a' * 10000 == case.x",  # exactly the limit
        "case.name * 20000 == case.x",  # the size depends on the data: checked when run
        "case.x ** 10 > 1",
        "len('ab' * 100) > case.n",
        "case.x in [1, 2] * 5000",
    ],
)
def test_sizes_within_the_limits_or_set_by_data_compile(text: str) -> None:
    assert compile_expression(text).text == text


def edited(tmp_path: Path, guard: str) -> Path:
    """dibao.yaml with `guard` in place of start_investigation's guard, as version 2."""
    directory = tmp_path / "edited"
    shutil.copytree(SHIPPED / "policy", directory / "policy")
    assert DIBAO.count(GUARDED) == 1
    path = directory / "dibao.yaml"
    text = DIBAO.replace(GUARDED, f"      - {guard}\n").replace("version: 1\n", "version: 2\n")
    path.write_text(text, encoding="utf-8")
    return path


def test_validation_names_the_guard_and_its_place(tmp_path: Path) -> None:
    line = DIBAO[: DIBAO.index(GUARDED)].count("\n") + 1
    path = edited(tmp_path, "\"'a' * 10**10 == case.investigators\"")
    with pytest.raises(WorkflowInvalidError) as caught:
        load_workflow_file(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:{line}:9: transitions[2].guards[0]: guard \"'a' * 10**10 == "
        'case.investigators": "\'a\' * 10**10" can build a string of 10,000,000,000 '
        "characters; the limit is 10,000 (column 1)"
    ]


def test_cli_validate_refuses_a_big_exponent(run_cli: Cli, tmp_path: Path) -> None:
    path = edited(tmp_path, "len(case.investigators) > (10**10)**10")
    line = DIBAO[: DIBAO.index(GUARDED)].count("\n") + 1
    result = run_cli("workflow", "validate", str(path))
    assert result.exit_code == 3
    assert result.stdout == (
        f"{path}:{line}:9: transitions[2].guards[0]: guard "
        "'len(case.investigators) > (10**10)**10': '(10**10)**10' can build an integer of "
        "340 bits; the limit is 256 bits (column 27)\n"
    )
    assert result.stderr == "1 problem in 1 of 1 file(s)\n"


def test_a_guard_failing_on_case_data_is_shown_as_blocked(
    world: World, run_cli: Cli, tmp_path: Path
) -> None:
    # 'rural' - 1 is a type error on every case: start_investigation is blocked with the
    # reason, while the case still shows and its other actions still list.
    path = edited(tmp_path, "person.hukou - 1 > 0")
    world.run(lambda svc: svc.deploy("admin", load_workflow_file(path)))
    cid = world.run(lambda svc: svc.open_case(svc.actor("li"), PERSON_ID, "dibao").id)
    world.fire("li", cid, "accept")
    reason = (
        "condition cannot be checked: cannot evaluate 'person.hukou - 1': "
        "unsupported operand types for -: 'str' and 'int'"
    )
    view = world.run(lambda svc: svc.view(svc.actor("li"), cid))
    actions = {a.transition.trigger: a.reasons for a in view.actions}
    assert actions["start_investigation"] == [reason]
    assert actions["withdraw"] == []
    shown = run_cli("case", "show", str(cid), user="li")
    assert shown.exit_code == 0, shown.stderr
    assert reason in shown.stdout
    listed = run_cli("case", "list", user="li")
    assert listed.exit_code == 0, listed.stderr
    # firing it is refused with the same reason, and changes nothing
    from aidflow.errors import RefusedError

    with pytest.raises(RefusedError) as caught:
        world.fire("li", cid, "start_investigation", investigators="wang,zhao")
    assert reason in str(caught.value)
    assert world.run(lambda svc: svc.case(cid).state) == "accepted"
