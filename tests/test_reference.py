"""The workflow-language reference: the committed docs are the generator's output, every
key of the schema is in them, every example loads, and every check of the loader is shown
with the message it really gives."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from aidflow.cli.main import cli
from aidflow.errors import WorkflowInvalidError
from aidflow.language import definition, loader, reference, yamlfile
from aidflow.language.loader import load_workflow_text
from aidflow.language.reference import corpus, text
from aidflow.language.yamlfile import Document

from .conftest import REPO

DOCS = {lang: REPO / "docs" / f"workflow-reference.{lang}.md" for lang in text.LANGS}
CLEAN_ENV = {k: None for k in ("AIDFLOW_LANG", "AIDFLOW_CONFIG", "AIDFLOW_USER")}

# Checks the reference does not show, and why.
NOT_SHOWN = {
    # a number of more than 4300 digits: showing one would fill a page
    ("yamlfile.py", "number too long"),
}


def _section(markdown: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def _yaml_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```$", markdown, re.M | re.S)


@pytest.mark.parametrize("lang", text.LANGS)
def test_committed_reference_is_the_generated_one(lang: text.Lang) -> None:
    committed = DOCS[lang].read_text(encoding="utf-8")
    assert committed == reference.render(lang), (
        f"{DOCS[lang].relative_to(REPO)} is out of date; run `{reference.REGENERATE}`"
    )


@pytest.mark.parametrize("lang", text.LANGS)
def test_every_schema_key_is_in_the_reference(lang: text.Lang) -> None:
    doc = DOCS[lang].read_text(encoding="utf-8")
    keys = _section(doc, text.pick(text.KEYS_TITLE, lang))
    tables = dict(re.findall(r"^### (\w+)\n(.*?)(?=^### |\Z)", keys, re.M | re.S))
    schema = definition.json_schema()
    objects: dict[str, Any] = {"Workflow": schema, **schema["$defs"]}
    assert set(tables) == set(objects)
    for name, node in objects.items():
        for key in node["properties"]:
            assert f"| `{key}` |" in tables[name], f"{name}.{key} is not in the {lang} reference"


def test_an_undescribed_key_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = dict(text.KEY_DOCS["State"])
    del docs["pauses"]
    monkeypatch.setitem(text.KEY_DOCS, "State", docs)
    with pytest.raises(KeyError, match="State.pauses has no description"):
        reference.render("en")


@pytest.mark.parametrize("lang", text.LANGS)
def test_every_example_in_the_reference_loads(lang: text.Lang) -> None:
    doc = DOCS[lang].read_text(encoding="utf-8")
    (base,) = _yaml_blocks(_section(doc, text.pick(text.BASE_TITLE, lang)))
    load_workflow_text(base, "base.yaml")
    examples = _yaml_blocks(_section(doc, text.pick(text.EXAMPLES_TITLE, lang)))
    assert len(examples) == len(corpus.EXAMPLES)
    for fragment in examples:
        loaded = corpus.load_example(fragment)
        # what the fragment adds is in the loaded workflow, not dropped by the merge
        added, wf = yaml.safe_load(fragment), loaded.definition
        assert set(added.get("states", {})) <= set(wf.states)
        triggers = {t.trigger for t in wf.transitions}
        assert {t["trigger"] for t in added.get("transitions", [])} <= triggers
        for key in ("fields", "clocks", "escalations", "settings", "roles"):
            assert set(added.get(key, {})) <= set(getattr(wf, key))
        assert added.get("version", wf.version) == wf.version


def test_a_broken_example_would_be_caught() -> None:
    with pytest.raises(WorkflowInvalidError, match="unknown state 'aproved'"):
        corpus.load_example(
            "transitions:\n  - {trigger: approve, source: review, dest: aproved, roles: [officer]}"
        )


def test_every_check_of_the_loader_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each place the loader reports a problem is reached by a mistake in the reference."""
    reached: set[tuple[str, int]] = set()
    report = Document.problem

    def recording(self: Document, *args: Any, **kwargs: Any) -> None:
        caller = sys._getframe(1)
        reached.add((Path(caller.f_code.co_filename).name, caller.f_lineno))
        report(self, *args, **kwargs)

    monkeypatch.setattr(Document, "problem", recording)
    for _, mistakes in corpus.MISTAKES:
        for mistake in mistakes:
            assert mistake.output(), mistake.what
    checks: dict[tuple[str, int], str] = {}
    for module in (loader, yamlfile):
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "problem":
                message = ast.get_source_segment(source, node.args[1]) or ""
                checks[(Path(module.__file__ or "").name, node.lineno)] = message
    assert len(checks) > 50  # the walk found the loader's checks
    not_shown = {(f, message) for (f, line), message in checks.items() if (f, line) not in reached}
    assert {
        (f, m) for f, m in not_shown if not any(f == nf and n in m for nf, n in NOT_SHOWN)
    } == set()


def test_a_mistake_the_loader_accepts_is_refused() -> None:
    harmless = corpus.Mistake(("x", "x"), "deadline: 10wd", "deadline: 12wd")
    with pytest.raises(ValueError, match="is not refused by the loader"):
        harmless.output()


@pytest.mark.parametrize("lang", text.LANGS)
def test_cli_prints_the_reference(lang: str) -> None:
    result = CliRunner().invoke(cli, ["workflow", "reference", "--lang", lang], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    assert result.output == DOCS[lang].read_text(encoding="utf-8")


def test_cli_language_comes_from_the_setting(tmp_path: Path) -> None:
    env = {**CLEAN_ENV, "AIDFLOW_LANG": "zh"}
    result = CliRunner().invoke(cli, ["workflow", "reference"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# aidflow 流程定义语言参考\n")
    result = CliRunner().invoke(cli, ["--lang", "zh", "workflow", "reference"], env=CLEAN_ENV)
    assert result.output.startswith("# aidflow 流程定义语言参考\n")
    out = tmp_path / "ref.md"
    result = CliRunner().invoke(cli, ["workflow", "reference", "--output", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == DOCS["zh"].read_text(encoding="utf-8")


def test_cli_refuses_an_unknown_language() -> None:
    result = CliRunner().invoke(cli, ["workflow", "reference", "--lang", "fr"], env=CLEAN_ENV)
    assert result.exit_code == 2
    assert "'fr' is not one of 'en', 'zh'" in result.output


def test_readme_points_to_the_reference() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "`aidflow workflow reference [--lang en|zh] [--output FILE]`" in readme
    for path in DOCS.values():
        name = path.relative_to(REPO).as_posix()
        assert f"]({name})" in readme, f"README does not link {name}"


# A name each namespace holds in the examples, and a fragment that puts an expression at
# each place READABLE names.
_NAME = {
    "person": "person.age > 1",
    "case": "case.emergency == True",
    "vote": "vote.passed == True",
    "policy": "policy.urban_dibao_standard > 1",
    "setting": "setting.level == 'a'",
}
_PLACES = {
    "guards": "transitions:\n  - {trigger: approve, source: review, dest: approved, "
    'roles: [officer], guards: ["EXPR"]}\n',
    "routes[].when": "transitions:\n  - {trigger: approve, source: review, roles: [officer], "
    'routes: [{dest: approved, when: "EXPR"}, {dest: rejected}]}\n',
    "deadline_when[].when": 'states:\n  review:\n    deadline_when: [{when: "EXPR", '
    "deadline: 5wd}]\n",
    "duration_when[].when": "clocks:\n  c: {duration: 30wd, starts_at: review, stops_at: "
    '[approved, rejected], duration_when: [{when: "EXPR", duration: 20wd}]}\n',
    "computes": "fields:\n  flag: {type: bool}\ntransitions:\n  - {trigger: submit, "
    'source: draft, dest: review, roles: [caseworker], computes: {flag: "EXPR"}}\n',
}


@pytest.mark.parametrize("place", text.READABLE)
@pytest.mark.parametrize("namespace", text.NAMESPACES)
def test_the_namespace_table_is_what_the_loader_allows(place: str, namespace: str) -> None:
    fragment = _PLACES[place].replace("EXPR", _NAME[namespace])
    fragment += "settings:\n  level: {value: a, choices: [a, b]}\n"
    if namespace in text.READABLE[place]:
        corpus.load_example(fragment)
    else:
        with pytest.raises(WorkflowInvalidError, match=f"unknown name '{namespace}'"):
            corpus.load_example(fragment)
