"""Workflow validation as administrators meet it: a corpus of broken files, each with the
exact problems `aidflow workflow validate` must report, and the command itself.

Every file under workflows/broken/ is workflows/valid/minimal.yaml with one mistake (the
file name says which). The expected problems are written out in full: file:line:column,
the path in the document, the message and the hint.
"""

from __future__ import annotations

import difflib
import json
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from aidflow.cli.main import cli
from aidflow.policy.workflows import check_files

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path("tests/workflows")  # relative to REPO: problem strings carry the path as given
BROKEN = CORPUS / "broken"
MINIMAL = CORPUS / "valid" / "minimal.yaml"
SHIPPED = sorted((REPO / "src" / "aidflow" / "shipped" / "workflows").glob("*.yaml"))
FUNCTIONS = "abs, all, any, contains, days_between, int, len, lower, max, min, round, str, sum"
EMPTY = (
    "1:1: the file is empty; write a workflow: a mapping with keys workflow, version, labels, "
    "roles, states and transitions"
)
CLEAN_ENV = {
    k: None for k in ("AIDFLOW_USER", "AIDFLOW_LANG", "AIDFLOW_NOW", "AIDFLOW_DATABASE_URL")
}

# (file, [problems without the leading "tests/workflows/broken/<file>:"])
EXPECTED: list[tuple[str, list[str]]] = [
    # -- YAML: syntax, surprises, tags, aliases
    ("empty.yaml", [EMPTY]),
    ("document_marker_only.yaml", [EMPTY]),  # `---` alone is a null document, not a valid workflow
    (
        "syntax_bad_indentation.yaml",
        [
            "23:4: YAML syntax error: bad indentation: this line does not line up with the lines "
            "above it; "
            "indent it exactly like the other keys or items at its level (spaces only)",
        ],
    ),
    (
        "duplicate_state.yaml",
        [
            "27:3: states.review: duplicate key 'review' (first defined on line 20); remove or "
            "rename one of them",
        ],
    ),
    (
        "yaml11_yes_unquoted.yaml",
        [
            "17:14: states.draft.initial: ambiguous value yes: YAML 1.1 reads it as a boolean; "
            "write true or false, or quote it ('yes') if you mean the text",
        ],
    ),
    (
        "yaml11_on_off.yaml",
        [
            "39:20: transitions[0].note_required: ambiguous value on: YAML 1.1 reads it as a "
            "boolean; "
            "write true or false, or quote it ('on') if you mean the text",
        ],
    ),
    (
        "yaml11_sexagesimal.yaml",
        [
            "23:15: states.review.deadline: ambiguous value 1:30: YAML 1.1 reads it as a base-60 "
            "number; "
            "quote it ('1:30') if you mean the text",
        ],
    ),
    (
        "python_tag.yaml",
        [
            "12:11: fields.amount: YAML tag '!!python/object/apply:os.system' is not allowed; "
            "remove the tag; write plain values",
        ],
    ),
    (
        "alias_recursive.yaml",
        [
            "38:12: transitions[0].roles[1]: an alias (*name) of a list or mapping is not allowed; "
            "write the value out in full",
        ],
    ),
    # -- the schema
    (
        "unknown_top_level_key.yaml",
        [
            "34:1: trasitions: unknown key 'trasitions'; did you mean 'transitions'?",
        ],
    ),
    (
        "unknown_state_key.yaml",
        [
            "23:5: states.review.dealine: unknown key 'dealine'; did you mean 'deadline'?",
        ],
    ),
    (
        "missing_required_key.yaml",
        [
            "30:3: states.rejected.labels: missing required key 'labels'; add labels: to "
            "states.rejected",
        ],
    ),
    (
        "wrong_type_quoted_yes.yaml",
        [
            "17:14: states.draft.initial: expected true or false, got 'yes'; write true or false "
            "without quotes",
        ],
    ),
    (
        "guard_unquoted_colon.yaml",
        [
            "47:9: transitions[1].guards[0]: expected text, got a mapping; "
            "an unquoted ': ' inside a value starts a mapping; put the whole value in quotes",
        ],
    ),
    # -- the graph
    (
        "no_initial_state.yaml",
        [
            "14:1: states: no initial state; mark exactly one state with initial: true",
        ],
    ),
    (
        "two_initial_states.yaml",
        [
            "22:14: states.review.initial: more than one initial state ('draft' and 'review'); "
            "keep initial: true on one state only",
        ],
    ),
    (
        "unknown_dest_state.yaml",
        [
            "41:11: transitions[1].dest: unknown state 'aproved'; did you mean 'approved'?",
        ],
    ),
    (
        "unknown_source_state.yaml",
        [
            "36:13: transitions[0].source: unknown state 'drafft'; did you mean 'draft'?",
        ],
    ),
    (
        "source_empty_list.yaml",
        [
            "36:13: transitions[0].source: transition 'submit' has no source state; "
            "name the state (or list of states) it leaves",
        ],
    ),
    (
        "leaves_final_state.yaml",
        [
            "55:13: transitions[3].source: transition 'reopen' leaves final state 'rejected'; "
            "final states have no way out; make the state non-final or remove the transition",
        ],
    ),
    (
        "unreachable_state.yaml",
        [
            "30:3: states.archived: state 'archived' cannot be reached from the initial state "
            "'draft'; "
            "add a transition into it or remove it",
        ],
    ),
    (
        "trap_state.yaml",
        [
            "30:3: states.appeal: state 'appeal' has no way out; add a transition from it, or mark "
            "it final: true",
        ],
    ),
    (
        "cannot_reach_final.yaml",
        [
            "27:3: states.on_hold: state 'on_hold' can never reach a final state; add a transition "
            "towards an end state",
            "31:3: states.on_hold_too: state 'on_hold_too' can never reach a final state; "
            "add a transition towards an end state",
        ],
    ),
    (
        "duplicate_trigger_source.yaml",
        [
            "50:13: transitions[2].source: trigger 'approve' is already defined from 'review' "
            "(transitions[1]); "
            "to lead to different states by condition, give the one transition `routes:` "
            "(README, Workflow files); otherwise give each its own trigger name",
        ],
    ),
    (
        "state_name_not_snake_case.yaml",
        [
            "27:3: states.Approved: state 'Approved' must be snake_case (a-z, 0-9, _; starting "
            "with a letter); "
            "rename it to 'approved'",
        ],
    ),
    # -- duties: owners, deadlines, roles, dwell, votes
    (
        "no_deadline.yaml",
        [
            "20:3: states.review: state 'review' needs a deadline; add deadline: e.g. 3wd, 7d or "
            "24h",
        ],
    ),
    (
        "no_owner.yaml",
        [
            "20:3: states.review: state 'review' needs an owner role (who must act here); add "
            "owner: ROLE",
        ],
    ),
    (
        "undeclared_role_transition.yaml",
        [
            "38:13: transitions[0].roles[0]: role 'case_worker' is not declared under roles; did "
            "you mean 'caseworker'?",
        ],
    ),
    (
        "undeclared_role_owner.yaml",
        [
            "22:12: states.review.owner: role 'offcer' is not declared under roles; did you mean "
            "'officer'?",
        ],
    ),
    (
        "undeclared_role_voters.yaml",
        [
            "26:20: states.review.vote.voters: role 'villagers' is not declared under roles; did "
            "you mean 'village_rep'?",
        ],
    ),
    (
        "bad_duration.yaml",
        [
            "23:15: states.review.deadline: invalid duration '7 days': write a whole number "
            "followed by h (hours), "
            "d (days), wd (working days) or mo (months), e.g. 24h, 7d, 10wd, 12mo; did you mean "
            "'7d'?",
        ],
    ),
    (
        "separate_from_unknown_trigger.yaml",
        [
            "48:21: transitions[1].separate_from[0]: separate_from names unknown trigger 'sumbit'; "
            "did you mean 'submit'?",
        ],
    ),
    (
        "dwell_exception_not_outgoing.yaml",
        [
            "25:24: states.review.dwell_exceptions[0]: 'submit' is not a transition out of "
            "'review'; "
            "transitions out of 'review': approve, reject",
        ],
    ),
    (
        "on_timeout_not_outgoing.yaml",
        [
            "24:17: states.review.on_timeout: 'submit' is not a transition out of 'review'; "
            "transitions out of 'review': approve, reject",
        ],
    ),
    (
        "requires_vote_without_vote.yaml",
        [
            "39:20: transitions[0].requires_vote: requires_vote but state 'draft' holds no vote; "
            "add a vote: block to the state or remove requires_vote",
        ],
    ),
    (
        "vote_threshold_above_one.yaml",
        [
            "26:55: states.review.vote.threshold: threshold '3/2' must be a fraction between 0 and "
            "1; "
            "write it like 1/2 or 2/3",
        ],
    ),
    (
        "undeclared_transition_field.yaml",
        [
            "46:15: transitions[1].fields.reason: field 'reason' is not declared under fields; "
            "declare it with its type under fields",
        ],
    ),
    # -- guards
    (
        "guard_unknown_person_field.yaml",
        [
            "47:9: transitions[1].guards[0]: guard 'case.amount > 0 and person.agee >= 18': "
            "unknown field 'person.agee'; did you mean 'person.age'?",
        ],
    ),
    (
        "guard_unknown_function.yaml",
        [
            "47:9: transitions[1].guards[0]: guard 'float(case.amount) > 0 and person.age >= 18': "
            f"unknown function 'float': allowed functions are {FUNCTIONS} (column 1)",
        ],
    ),
    (
        "guard_hostile.yaml",
        [
            "47:9: transitions[1].guards[0]: guard \"__import__('os').system('echo pwned')\": "
            f"unknown function '__import__': allowed functions are {FUNCTIONS} (column 1)",
            "48:9: transitions[1].guards[1]: guard 'person.__class__.__mro__': dunder/private "
            "attribute '__class__' "
            "is not allowed in 'person.__class__' (column 8); names starting with '_' can never be "
            "read",
            "49:9: transitions[1].guards[2]: guard '().__class__.__bases__[0].__subclasses__()': "
            "dunder/private "
            "attribute '__class__' is not allowed in '().__class__' (column 4); names starting "
            "with '_' can never be read",
            "50:9: transitions[1].guards[3]: guard '(lambda: 1)()': lambda is not allowed: "
            "'lambda: 1' (column 2)",
            "51:9: transitions[1].guards[4]: guard '9**9**9': the exponent in '9**9**9' must be a "
            "constant number "
            "(at most 10) (column 4)",
        ],
    ),
]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def _full(name: str, lines: list[str]) -> list[str]:
    return [f"{BROKEN / name}:{line}" for line in lines]


@pytest.mark.parametrize(("name", "expected"), EXPECTED, ids=[name for name, _ in EXPECTED])
def test_broken_file_reports_exactly(name: str, expected: list[str]) -> None:
    problems = check_files([BROKEN / name])
    assert [str(p) for p in problems] == _full(name, expected)


def test_corpus_is_complete_and_derived_from_minimal() -> None:
    on_disk = sorted(p.name for p in (REPO / BROKEN).glob("*.yaml"))
    assert on_disk == sorted(name for name, _ in EXPECTED), (
        "every corpus file needs expected problems"
    )
    assert len(on_disk) >= 20

    def body(path: Path) -> list[str]:
        return [
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if not line.startswith("#")
        ]

    base = body(REPO / MINIMAL)
    for name in on_disk:
        if name in ("empty.yaml", "document_marker_only.yaml"):
            continue
        assert (
            (REPO / BROKEN / name).read_text(encoding="utf-8").startswith("# Broken on purpose")
        ), name
        changed = [d for d in difflib.ndiff(base, body(REPO / BROKEN / name)) if d[:1] in "+-"]
        assert 0 < len(changed) <= 20, f"{name} strays from minimal.yaml: {changed}"


def test_minimal_and_shipped_workflows_are_valid() -> None:
    assert SHIPPED, "no shipped workflows found"
    assert check_files([MINIMAL, *SHIPPED]) == []
    result = CliRunner().invoke(
        cli, ["workflow", "validate", str(MINIMAL), *map(str, SHIPPED)], env=CLEAN_ENV
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{1 + len(SHIPPED)} file(s) valid\n"
    # a directory argument validates every *.yaml in it
    result = CliRunner().invoke(
        cli, ["workflow", "validate", str(SHIPPED[0].parent), str(MINIMAL.parent)], env=CLEAN_ENV
    )
    assert result.exit_code == 0, result.output


def test_cli_reports_every_problem_of_every_file_in_one_run() -> None:
    files = ["unknown_dest_state.yaml", "guard_hostile.yaml"]
    expected = dict(EXPECTED)
    lines = [line for name in files for line in _full(name, expected[name])]
    result = CliRunner().invoke(
        cli, ["workflow", "validate", *(str(BROKEN / f) for f in files)], env=CLEAN_ENV
    )
    assert result.exit_code == 3, result.output
    assert result.stdout.splitlines() == lines
    assert result.stderr == f"{len(lines)} problems in 2 of 2 file(s)\n"


def test_cli_mixes_valid_and_broken_files() -> None:
    result = CliRunner().invoke(
        cli, ["workflow", "validate", str(MINIMAL), str(BROKEN / "no_owner.yaml")], env=CLEAN_ENV
    )
    assert result.exit_code == 3
    assert result.stdout.splitlines() == _full("no_owner.yaml", dict(EXPECTED)["no_owner.yaml"])
    assert result.stderr == "1 problem in 1 of 2 file(s)\n"


def test_cli_reports_problems_in_chinese() -> None:
    """An administrator working in Chinese reads each problem in Chinese, still located by
    file:line:column, and the count; the exit code is the same."""
    files = [str(MINIMAL), str(BROKEN / "no_owner.yaml"), str(BROKEN / "duplicate_state.yaml")]
    result = CliRunner().invoke(
        cli, ["--lang", "zh", "workflow", "validate", *files], env=CLEAN_ENV
    )
    assert result.exit_code == 3, result.output
    assert result.stdout.splitlines() == [
        f"{BROKEN / 'no_owner.yaml'}:20:3: states.review: 状态“review”需要一个办理角色 owner"
        "（由谁在此办理）; 加上 owner: 角色",
        f"{BROKEN / 'duplicate_state.yaml'}:27:3: states.review: 键“review”重复"
        "（第一次出现在第 20 行）; 请删去其中一个或改名",
    ]
    assert result.stderr == "3 个文件中有 2 个有问题，共 2 个问题\n"
    result = CliRunner().invoke(cli, ["workflow", "validate", str(MINIMAL)], env=CLEAN_ENV)
    assert result.stdout == "1 file(s) valid\n"
    env = {**CLEAN_ENV, "AIDFLOW_LANG": "zh"}
    result = CliRunner().invoke(cli, ["workflow", "validate", str(MINIMAL)], env=env)
    assert result.stdout == "1 个文件全部有效\n"


@pytest.mark.parametrize(
    ("name", "chinese"),
    [
        (
            "unknown_dest_state.yaml",
            "41:11: transitions[1].dest: 未知的状态“aproved”; 是不是要输入“approved”？",
        ),
        ("yaml11_yes_unquoted.yaml", "YAML 1.1 会把它读成布尔值"),
        ("syntax_bad_indentation.yaml", "YAML 语法错误：缩进不对"),
        (
            "wrong_type_quoted_yes.yaml",
            "应为 true 或 false，实际是 'yes'; 写 true 或 false，不要加引号",
        ),
        ("unknown_top_level_key.yaml", "未知的键"),
        ("trap_state.yaml", "没有出路"),
    ],
)
def test_problems_read_in_chinese(name: str, chinese: str) -> None:
    from aidflow.i18n import use_language

    with use_language("zh"):
        problems = [str(p) for p in check_files([BROKEN / name])]
    assert any(chinese in p for p in problems), problems
    assert all(p.startswith(f"{BROKEN / name}:") for p in problems)


def test_validate_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CliRunner.isolated_filesystem is deprecated in click 8.5 (and warnings are errors here):
    # an empty tmp_path as the working directory is the same thing.
    runner = CliRunner()
    paths = [
        str(REPO / MINIMAL),
        str(REPO / BROKEN / "python_tag.yaml"),
        str(REPO / BROKEN / "empty.yaml"),
    ]
    monkeypatch.chdir(tmp_path)
    env = {**CLEAN_ENV, "AIDFLOW_DATABASE_URL": f"sqlite:///{tmp_path}/named.db"}
    assert runner.invoke(cli, ["workflow", "validate", paths[0]], env=env).exit_code == 0
    assert runner.invoke(cli, ["workflow", "validate", *paths], env=env).exit_code == 3
    assert (
        runner.invoke(cli, ["workflow", "validate", paths[0]], env=CLEAN_ENV).exit_code == 0
    )  # default ./aidflow.db
    assert runner.invoke(cli, ["workflow", "validate", *paths], env=CLEAN_ENV).exit_code == 3
    assert list(tmp_path.iterdir()) == []  # no aidflow.db, no journal, nothing


HOSTILE_TAGS = [
    pytest.param(
        'fields:\n  amount: !!python/object/apply:os.system ["touch {m}"]\n',
        "2:11: fields.amount: YAML tag '!!python/object/apply:os.system' is not allowed",
        id="value",
    ),
    pytest.param(
        '!!python/object/apply:os.system ["touch {m}"]\n',
        "1:1: YAML tag '!!python/object/apply:os.system' is not allowed",
        id="document",
    ),
    pytest.param(
        "fields:\n  amount: !!python/object/new:subprocess.call [[touch, {m}]]\n",
        "2:11: fields.amount: YAML tag '!!python/object/new:subprocess.call' is not allowed",
        id="new",
    ),
    pytest.param(
        'fields:\n  ? !!python/object/apply:os.system ["touch {m}"]\n  : 1\n',
        "2:5: fields: keys must be plain text (no lists, maps or '<<' merges)",
        id="key",
    ),
]


@pytest.mark.parametrize(("template", "first"), HOSTILE_TAGS)
def test_python_tags_are_refused_and_never_executed(
    tmp_path: Path, template: str, first: str
) -> None:
    marker = tmp_path / "pwned"
    wf = tmp_path / "hostile.yaml"
    wf.write_text(template.format(m=marker), encoding="utf-8")
    problems = [str(p) for p in check_files([wf])]
    assert any(p.startswith(f"{wf}:{first}") for p in problems), problems
    result = CliRunner().invoke(cli, ["workflow", "validate", str(wf)], env=CLEAN_ENV)
    assert result.exit_code == 3
    assert not marker.exists()


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)
    ]  # 10**10 items if expanded
    wf = tmp_path / "bomb.yaml"
    wf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    start = time.perf_counter()
    problems = check_files([wf])
    assert time.perf_counter() - start < 2
    aliases = [str(p) for p in problems if "alias" in p.message]
    assert len(aliases) == 90  # each *name refused once, nothing expanded
    assert aliases[0] == (
        f"{wf}:2:5: a1[0]: an alias (*name) of a list or mapping is not allowed; "
        "write the value out in full"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("~\n", EMPTY, id="null-document"),
        pytest.param(
            "workflow: x\nversion: " + "9" * 5000 + "\n",
            "2:10: version: number too long (5000 digits); write a smaller number",
            id="huge-number",
        ),
        pytest.param(
            "workflow: x\nversion: 'a\x00'\n",
            "2:12: character #x0000 is not allowed in YAML; "
            "remove it (control characters cannot appear in a workflow file)",
            id="nul",
        ),
        pytest.param(
            "workflow: x\n\tversion: 1\n",
            "2:1: YAML syntax error: found character '\\t' that cannot start any token; "
            "indent with spaces, not tabs",
            id="tab",
        ),
    ],
)
def test_unusual_yaml_is_a_problem_not_a_crash(tmp_path: Path, text: str, expected: str) -> None:
    wf = tmp_path / "odd.yaml"
    wf.write_text(text, encoding="utf-8")
    assert f"{wf}:{expected}" in [str(p) for p in check_files([wf])]


def test_union_item_error_points_at_the_item(tmp_path: Path) -> None:
    text = (
        (REPO / MINIMAL)
        .read_text(encoding="utf-8")
        .replace("    source: draft\n", "    source: [draft, 5]\n")
    )
    wf = tmp_path / "wf.yaml"
    wf.write_text(text, encoding="utf-8")
    assert [str(p) for p in check_files([wf])] == [
        f"{wf}:37:21: transitions[0].source[1]: expected text, got 5"
    ]


def test_schema_is_json_for_editors() -> None:
    result = CliRunner().invoke(cli, ["workflow", "schema"], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    props = schema["properties"]
    assert {"states", "transitions"} <= set(props)
    assert schema["additionalProperties"] is False
    assert {"workflow", "labels", "roles", "states", "transitions"} <= set(schema["required"])
    # deploy numbers the versions: a file may leave `version:` out (tests/test_version_key.py)
    assert "version" in props and "version" not in schema["required"]
    state_ref = props["states"]["additionalProperties"]["$ref"]
    state = schema["$defs"][state_ref.rsplit("/", 1)[-1]]
    assert state["additionalProperties"] is False
    assert {"initial", "final", "owner", "deadline", "vote"} <= set(state["properties"])
    try:
        import jsonschema
    except ImportError:
        return
    minimal = yaml.safe_load((REPO / MINIMAL).read_text(encoding="utf-8"))
    jsonschema.validate(minimal, schema)
