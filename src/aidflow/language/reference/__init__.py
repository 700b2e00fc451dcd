"""The workflow-language reference, generated in English and Chinese.

Nothing here restates a rule the code already holds. The keys, their types, defaults and
whether they are required come from the JSON Schema that `definition` derives
(`json_schema`); the expression language's names, functions and limits from `definition`
and `expressions`; the duration units from `calendar`. Each construct's example is a
fragment added to one small base workflow, and each error is a one-line mistake made in
that base workflow: the reference loads both with the real loader and prints what the
loader says, so an example cannot drift into invalid and an error message cannot drift from
what `aidflow workflow validate` prints. The prose (what a key is for, in two languages) is
the only thing written here, and `render` refuses to run if a key has none.

`docs/workflow-reference.{en,zh}.md` are this package's output, kept equal by a test;
`aidflow workflow reference` prints it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aidflow.i18n import _, use_language
from aidflow.language import definition as d
from aidflow.language import expressions as x
from aidflow.language.calendar import UNITS
from aidflow.language.reference.corpus import BASE, EXAMPLES, MISTAKES
from aidflow.language.reference.text import (
    BASE_TEXT,
    BASE_TITLE,
    CASE_NAMES,
    DURATIONS_TEXT,
    DURATIONS_TITLE,
    EXAMPLES_TEXT,
    EXAMPLES_TITLE,
    EXPR_TEXT,
    EXPR_TITLE,
    FUNCTION_DOCS,
    FUNCTIONS_TITLE,
    GENERATED,
    INTRO,
    KEY_DOCS,
    KEYS_TEXT,
    KEYS_TITLE,
    LIMITS_TEXT,
    LIMITS_TITLE,
    MISTAKES_TEXT,
    MISTAKES_TITLE,
    NAMESPACES,
    POLICY_NAMES,
    READABLE,
    SECTION_DOCS,
    SETTING_NAMES,
    TITLE,
    TOP_LEVEL,
    UNIT_DOCS,
    WHERE_TITLE,
    Lang,
    T,
    pick,
)

REGENERATE = "python -m aidflow.language.reference --write"

# -- the keys: walked from the JSON Schema ---------------------------------------------


@dataclass(frozen=True)
class Section:
    """One object of the schema and where it sits in a file, e.g. State at states.NAME."""

    name: str  # the $defs name, or "Workflow" for the top level
    places: list[str]  # every path it appears at ("" for the top level)
    schema: dict[str, Any]


def sections() -> list[Section]:
    """Every object of the workflow schema in the order a file meets them."""
    schema = d.json_schema()
    defs: dict[str, Any] = schema["$defs"]
    found: dict[str, Section] = {}

    def visit(name: str, node: dict[str, Any], where: str) -> None:
        if name in found:
            found[name].places.append(where)
            return
        found[name] = Section(name, [where], node)
        for key, prop in node.get("properties", {}).items():
            for ref, suffix in _refs(prop):
                visit(ref, defs[ref], f"{where}.{key}{suffix}".lstrip("."))

    visit("Workflow", schema, "")
    return list(found.values())


def _refs(prop: dict[str, Any], suffix: str = "") -> Iterator[tuple[str, str]]:
    """The $defs a property leads to, with the path suffix to reach them."""
    if "$ref" in prop:
        yield prop["$ref"].rsplit("/", 1)[1], suffix
    for member in prop.get("anyOf", ()):
        yield from _refs(member, suffix)
    if isinstance(prop.get("items"), dict):
        yield from _refs(prop["items"], suffix + "[]")
    if isinstance(prop.get("additionalProperties"), dict):
        yield from _refs(prop["additionalProperties"], suffix + ".NAME")


_SCALARS: dict[str, T] = {
    "string": ("text", "文本"),
    "integer": ("whole number", "整数"),
    "boolean": ("true or false", "true 或 false"),
    "null": ("nothing", "空"),
}


def type_text(prop: dict[str, Any], lang: Lang) -> str:
    """A schema property's type in words: `list of text`, `mapping NAME -> State`."""
    if "$ref" in prop:
        ref = prop["$ref"].rsplit("/", 1)[1]
        return f"[{ref}](#{ref.lower()})"
    if "enum" in prop:
        values = (", " if lang == "en" else "、").join(f"`{v}`" for v in prop["enum"])
        return ("one of " if lang == "en" else "取值之一：") + values
    if "anyOf" in prop:
        members = [m for m in prop["anyOf"] if m.get("type") != "null"]
        joiner = " or " if lang == "en" else " 或 "
        return joiner.join(type_text(m, lang) for m in members)
    kind = prop.get("type")
    if kind == "array":
        inner = type_text(prop.get("items", {}), lang)
        return f"list of {inner}" if lang == "en" else f"{inner}列表"
    if kind == "object":
        inner = type_text(prop.get("additionalProperties", {}), lang)
        return f"mapping NAME → {inner}" if lang == "en" else f"映射 名称 → {inner}"
    return pick(_SCALARS[str(kind)], lang)


def default_text(key: str, section: Section, lang: Lang) -> str:
    if key in section.schema.get("required", ()):
        return "**required**" if lang == "en" else "**必填**"
    prop = section.schema["properties"][key]
    if "default" not in prop or prop["default"] in ([], {}):  # a default factory: empty
        return "empty" if lang == "en" else "空"
    value = prop["default"]
    if value is None:
        return "—"
    return f"`{value if isinstance(value, str) else json.dumps(value)}`"


def _key_table(section: Section, lang: Lang) -> list[str]:
    docs = KEY_DOCS.get(section.name, {})
    head = ("Key", "Type", "Default", "Meaning") if lang == "en" else ("键", "类型", "默认", "含义")
    out = ["| " + " | ".join(head) + " |", "|---|---|---|---|"]
    for key, prop in section.schema["properties"].items():
        if key not in docs:
            raise KeyError(
                _(
                    "{key} has no description in reference.KEY_DOCS; "
                    "describe it in English and Chinese",
                    key=section.name + "." + key,
                )
            )
        cells = (f"`{key}`", type_text(prop, lang), default_text(key, section, lang))
        out.append("| " + " | ".join(cells) + " | " + pick(docs[key], lang) + " |")
    return out


# -- rendering ---------------------------------------------------------------------------


def _fence(text: str, lang: str = "yaml") -> list[str]:
    return [f"```{lang}", *text.rstrip("\n").split("\n"), "```"]


def render(lang: Lang) -> str:
    """The whole reference as Markdown, the loader's messages in `lang` too."""
    with use_language(lang):
        return _render(lang)


def _render(lang: Lang) -> str:
    out: list[str] = []
    out += [f"# {pick(TITLE, lang)}", "", pick(GENERATED, lang).format(cmd=REGENERATE), ""]
    out += [pick(INTRO, lang), ""]
    out += _render_base(lang)
    out += _render_keys(lang)
    out += _render_examples(lang)
    out += _render_expressions(lang)
    out += _render_durations(lang)
    out += _render_mistakes(lang)
    return "\n".join(out).rstrip("\n") + "\n"


def _render_base(lang: Lang) -> list[str]:
    return [f"## {pick(BASE_TITLE, lang)}", "", pick(BASE_TEXT, lang), "", *_fence(BASE), ""]


def _render_keys(lang: Lang) -> list[str]:
    out = [f"## {pick(KEYS_TITLE, lang)}", "", pick(KEYS_TEXT, lang), ""]
    for section in sections():
        places = (f"`{p}`" if p else pick(TOP_LEVEL, lang) for p in section.places)
        where = (", " if lang == "en" else "、").join(places)
        out += [f"### {section.name}", ""]
        intro = (
            section.schema.get("description", "")
            if lang == "en"
            else pick(SECTION_DOCS[section.name], lang)
        )
        at = "Where: {}." if lang == "en" else "位置：{}。"
        out += [at.format(where), "", re.sub(r"(?<!\n)\n(?!\n)", " ", intro), ""]
        out += _key_table(section, lang) + [""]
    return out


def _render_examples(lang: Lang) -> list[str]:
    out = [f"## {pick(EXAMPLES_TITLE, lang)}", "", pick(EXAMPLES_TEXT, lang), ""]
    for ex in EXAMPLES:
        out += [
            f"### {pick(ex.title, lang)}",
            "",
            pick(ex.text, lang),
            "",
            *_fence(ex.fragment),
            "",
        ]
    return out


def _render_expressions(lang: Lang) -> list[str]:
    out = [f"## {pick(EXPR_TITLE, lang)}", "", pick(EXPR_TEXT, lang), ""]
    head = ("Namespace", "Names") if lang == "en" else ("命名空间", "可读的名称")
    out += ["| " + " | ".join(head) + " |", "|---|---|"]
    names: dict[str, str] = {
        "person": ", ".join(f"`{n}`" for n in d.PERSON_FIELDS),
        "case": pick(CASE_NAMES, lang) + ", ".join(f"`{n}`" for n in d.CASE_BUILTINS),
        "vote": ", ".join(f"`{n}`" for n in d.VOTE_FIELDS),
        "setting": pick(SETTING_NAMES, lang),
        "policy": pick(POLICY_NAMES, lang),
    }
    for ns, text in names.items():
        out.append(f"| `{ns}.` | {text} |")
    out += ["", f"### {pick(WHERE_TITLE, lang)}", ""]
    corner = "Expression" if lang == "en" else "表达式"
    out += [f"| {corner} | " + " | ".join(f"`{ns}.`" for ns in NAMESPACES) + " |"]
    out += ["|---" * (len(NAMESPACES) + 1) + "|"]
    for place, readable in READABLE.items():
        marks = ("✓" if ns in readable else "" for ns in NAMESPACES)
        out.append(f"| `{place}` | " + " | ".join(marks) + " |")
    out += ["", f"### {pick(FUNCTIONS_TITLE, lang)}", ""]
    for fname in x.FUNCTIONS:
        if fname not in FUNCTION_DOCS:
            raise KeyError(
                _("function {name} has no description in reference.FUNCTION_DOCS", name=fname)
            )
        out.append(f"- {pick(FUNCTION_DOCS[fname], lang)}")
    out += ["", f"### {pick(LIMITS_TITLE, lang)}", ""]
    limits = {
        "length": x.MAX_LENGTH,
        "depth": x.MAX_DEPTH,
        "string": x.MAX_STRING,
        "int": f"{x.MAX_INT:,}",
        "exponent": x.MAX_EXPONENT,
        "items": f"{x.MAX_ITEMS:,}",
        "bits": x.MAX_INT_BITS,
    }
    out += [pick(LIMITS_TEXT, lang).format(**limits), ""]
    return out


def _render_durations(lang: Lang) -> list[str]:
    out = [f"## {pick(DURATIONS_TITLE, lang)}", "", pick(DURATIONS_TEXT, lang), ""]
    for unit in UNITS:
        if unit not in UNIT_DOCS:
            raise KeyError(
                _("duration unit {unit} has no description in reference.UNIT_DOCS", unit=unit)
            )
        out.append(f"- `{unit}`: {pick(UNIT_DOCS[unit], lang)}")
    return [*out, ""]


def _render_mistakes(lang: Lang) -> list[str]:
    out = [f"## {pick(MISTAKES_TITLE, lang)}", "", pick(MISTAKES_TEXT, lang), ""]
    for group, mistakes in MISTAKES:
        out += [f"### {pick(group, lang)}", ""]
        for mistake in mistakes:
            out += [f"- {pick(mistake.what, lang)}", ""]
            out += ["  " + line for line in _fence(mistake.shown(lang))]
            out += [""]
            out += ["  " + line for line in _fence("\n".join(mistake.output()), "text")]
            out += [""]
    return out
