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

`docs/workflow-reference.{en,zh}.md` are this module's output, kept equal by a test;
`aidflow workflow reference` prints it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from aidflow.errors import WorkflowInvalidError
from aidflow.language import definition as d
from aidflow.language import expressions as x
from aidflow.language.calendar import UNITS
from aidflow.language.loader import LoadedWorkflow, PolicyNames, load_workflow_text

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")
REGENERATE = "python -m aidflow.language.reference --write"
EXAMPLE_FILE = "workflow.yaml"

# The names `policy.<name>` may read in the examples; a county's come from its standards file.
EXAMPLE_POLICY = PolicyNames(frozenset({"urban_dibao_standard"}), "the reference's examples")

T = tuple[str, str]  # (English, Chinese)


def _t(text: T, lang: Lang) -> str:
    return text[0] if lang == "en" else text[1]


# -- the base workflow every example and mistake starts from ----------------------------

BASE = """\
workflow: assistance
labels: {zh: 救助申请, en: Assistance application}

roles:
  caseworker: {zh: 经办人, en: Caseworker}
  officer: {zh: 审核人, en: Officer}

states:
  draft:
    labels: {zh: 草稿, en: Draft}
    initial: true
    owner: caseworker
    deadline: 3wd
  review:
    labels: {zh: 审核, en: Review}
    owner: officer
    deadline: 10wd
  approved:
    labels: {zh: 已批准, en: Approved}
    final: true
  rejected:
    labels: {zh: 不予批准, en: Rejected}
    final: true

transitions:
  - trigger: submit
    source: draft
    dest: review
    roles: [caseworker]
  - trigger: approve
    source: review
    dest: approved
    roles: [officer]
  - trigger: reject
    source: review
    dest: rejected
    roles: [officer]
"""


def _merge(base: Any, fragment: Any) -> Any:
    """`fragment` laid over `base`: mappings merge key by key; a transition replaces the
    base's one with the same trigger and is otherwise added at the end."""
    if isinstance(base, dict) and isinstance(fragment, dict):
        out = dict(base)
        for key, value in fragment.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(fragment, list):
        merged = list(base)
        for item in fragment:
            trigger = item.get("trigger") if isinstance(item, dict) else None
            at = [i for i, old in enumerate(merged) if old.get("trigger") == trigger]
            if trigger is not None and at:
                merged[at[0]] = item
            else:
                merged.append(item)
        return merged
    return fragment


def example_workflow(fragment: str) -> str:
    """The base workflow with a construct's YAML fragment laid over it, as YAML text."""
    import yaml

    data = _merge(copy.deepcopy(yaml.safe_load(BASE)), yaml.safe_load(fragment) or {})
    text: str = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return text


def load_example(fragment: str) -> LoadedWorkflow:
    """Load an example (the base plus `fragment`) with the real loader."""
    return load_workflow_text(example_workflow(fragment), EXAMPLE_FILE, policy=EXAMPLE_POLICY)


# -- the keys: walked from the JSON Schema ---------------------------------------------


@dataclass(frozen=True)
class Section:
    """One object of the schema and where it sits in a file, e.g. State at states.NAME."""

    name: str  # the $defs name, or "Workflow" for the top level
    where: str
    schema: dict[str, Any]


def sections() -> list[Section]:
    """Every object of the workflow schema in the order a file meets them."""
    schema = d.json_schema()
    defs: dict[str, Any] = schema["$defs"]
    found: dict[str, Section] = {}

    def visit(name: str, node: dict[str, Any], where: str) -> None:
        if name in found:
            return
        found[name] = Section(name, where, node)
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
    return _t(_SCALARS[str(kind)], lang)


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
                f"{section.name}.{key} has no description in reference.KEY_DOCS; "
                "describe it in English and Chinese"
            )
        cells = (f"`{key}`", type_text(prop, lang), default_text(key, section, lang))
        out.append("| " + " | ".join(cells) + " | " + _t(docs[key], lang) + " |")
    return out


# -- examples and mistakes ---------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A construct shown as a fragment added to the base workflow."""

    title: T
    text: T
    fragment: str


@dataclass(frozen=True)
class Mistake:
    """One mistake made in the base workflow: `old` (found once in BASE) replaced by `new`,
    and `append` added at the end (after the transitions: more transitions or sections).
    An empty `old` changes nothing but appends; WHOLE_FILE means `new` is the whole file."""

    what: T
    old: str
    new: str
    append: str = ""

    def source(self) -> str:
        if self.old == WHOLE_FILE:
            return self.new
        if not self.old:
            return BASE + self.append
        if BASE.count(self.old) != 1:
            raise ValueError(f"{self.old!r} must occur exactly once in the base workflow")
        return BASE.replace(self.old, self.new) + self.append

    def shown(self) -> str:
        """The changed lines, as the reference shows them."""
        new = self.new
        if self.old and self.old != WHOLE_FILE and not new:  # a removal: show what went
            new = "".join(f"# removed: {line.strip()}\n" for line in self.old.splitlines())
        parts = [p.strip("\n") for p in (new, self.append) if p.strip()]
        return "\n...\n".join(parts)

    def output(self) -> list[str]:
        """What `aidflow workflow validate` prints for it (the loader's own problems)."""
        try:
            load_workflow_text(self.source(), EXAMPLE_FILE, policy=EXAMPLE_POLICY)
        except WorkflowInvalidError as exc:
            return [str(p) for p in exc.problems]
        raise ValueError(f"mistake {self.what[0]!r} is not refused by the loader")


WHOLE_FILE = "<the whole file>"


# -- rendering ---------------------------------------------------------------------------


def _fence(text: str, lang: str = "yaml") -> list[str]:
    return [f"```{lang}", *text.rstrip("\n").split("\n"), "```"]


def render(lang: Lang) -> str:
    """The whole reference as Markdown."""
    out: list[str] = []
    out += [f"# {_t(TITLE, lang)}", "", _t(GENERATED, lang).format(cmd=REGENERATE), ""]
    out += [_t(INTRO, lang), ""]
    out += _render_base(lang)
    out += _render_keys(lang)
    out += _render_examples(lang)
    out += _render_expressions(lang)
    out += _render_durations(lang)
    out += _render_mistakes(lang)
    return "\n".join(out).rstrip("\n") + "\n"


def _render_base(lang: Lang) -> list[str]:
    return [f"## {_t(BASE_TITLE, lang)}", "", _t(BASE_TEXT, lang), "", *_fence(BASE), ""]


def _render_keys(lang: Lang) -> list[str]:
    out = [f"## {_t(KEYS_TITLE, lang)}", "", _t(KEYS_TEXT, lang), ""]
    for section in sections():
        where = f"`{section.where}`" if section.where else _t(TOP_LEVEL, lang)
        out += [f"### {section.name}", ""]
        intro = (
            section.schema.get("description", "")
            if lang == "en"
            else _t(SECTION_DOCS[section.name], lang)
        )
        at = "Where: {}." if lang == "en" else "位置：{}。"
        out += [at.format(where), "", re.sub(r"(?<!\n)\n(?!\n)", " ", intro), ""]
        out += _key_table(section, lang) + [""]
    return out


def _render_examples(lang: Lang) -> list[str]:
    out = [f"## {_t(EXAMPLES_TITLE, lang)}", "", _t(EXAMPLES_TEXT, lang), ""]
    for ex in EXAMPLES:
        out += [f"### {_t(ex.title, lang)}", "", _t(ex.text, lang), "", *_fence(ex.fragment), ""]
    return out


def _render_expressions(lang: Lang) -> list[str]:
    out = [f"## {_t(EXPR_TITLE, lang)}", "", _t(EXPR_TEXT, lang), ""]
    head = ("Namespace", "Names") if lang == "en" else ("命名空间", "可读的名称")
    out += ["| " + " | ".join(head) + " |", "|---|---|"]
    names: dict[str, str] = {
        "person": ", ".join(f"`{n}`" for n in d.PERSON_FIELDS),
        "case": _t(CASE_NAMES, lang) + ", ".join(f"`{n}`" for n in d.CASE_BUILTINS),
        "vote": ", ".join(f"`{n}`" for n in d.VOTE_FIELDS),
        "setting": _t(SETTING_NAMES, lang),
        "policy": _t(POLICY_NAMES, lang),
    }
    for ns, text in names.items():
        out.append(f"| `{ns}.` | {text} |")
    out += ["", f"### {_t(WHERE_TITLE, lang)}", ""]
    corner = "Expression" if lang == "en" else "表达式"
    out += [f"| {corner} | " + " | ".join(f"`{ns}.`" for ns in NAMESPACES) + " |"]
    out += ["|---" * (len(NAMESPACES) + 1) + "|"]
    for place, readable in READABLE.items():
        marks = ("✓" if ns in readable else "" for ns in NAMESPACES)
        out.append(f"| `{place}` | " + " | ".join(marks) + " |")
    out += ["", f"### {_t(FUNCTIONS_TITLE, lang)}", ""]
    for fname in x.FUNCTIONS:
        if fname not in FUNCTION_DOCS:
            raise KeyError(f"function {fname} has no description in reference.FUNCTION_DOCS")
        out.append(f"- {_t(FUNCTION_DOCS[fname], lang)}")
    out += ["", f"### {_t(LIMITS_TITLE, lang)}", ""]
    limits = {
        "length": x.MAX_LENGTH,
        "depth": x.MAX_DEPTH,
        "string": x.MAX_STRING,
        "int": f"{x.MAX_INT:,}",
        "exponent": x.MAX_EXPONENT,
        "items": f"{x.MAX_ITEMS:,}",
        "bits": x.MAX_INT_BITS,
    }
    out += [_t(LIMITS_TEXT, lang).format(**limits), ""]
    return out


def _render_durations(lang: Lang) -> list[str]:
    out = [f"## {_t(DURATIONS_TITLE, lang)}", "", _t(DURATIONS_TEXT, lang), ""]
    for unit in UNITS:
        if unit not in UNIT_DOCS:
            raise KeyError(f"duration unit {unit} has no description in reference.UNIT_DOCS")
        out.append(f"- `{unit}`: {_t(UNIT_DOCS[unit], lang)}")
    return [*out, ""]


def _render_mistakes(lang: Lang) -> list[str]:
    out = [f"## {_t(MISTAKES_TITLE, lang)}", "", _t(MISTAKES_TEXT, lang), ""]
    for group, mistakes in MISTAKES:
        out += [f"### {_t(group, lang)}", ""]
        for mistake in mistakes:
            out += [f"- {_t(mistake.what, lang)}", ""]
            out += ["  " + line for line in _fence(mistake.shown())]
            out += [""]
            out += ["  " + line for line in _fence("\n".join(mistake.output()), "text")]
            out += [""]
    return out


# -- the text ----------------------------------------------------------------------------

TITLE: T = ("aidflow workflow language reference", "aidflow 流程定义语言参考")
GENERATED: T = (
    "Generated from the schema and the validator; do not edit by hand "
    "(regenerate with `{cmd}`). `aidflow workflow reference --lang en` prints it.",
    "本文由流程定义的结构（schema）和校验器自动生成，请勿手工修改（重新生成：`{cmd}`）。"
    "`aidflow workflow reference --lang zh` 可打印本文。",
)
INTRO: T = (
    "A county's procedures are YAML files, one per workflow, under `workflows/`. "
    "`aidflow workflow validate FILE` checks a file and lists every problem as "
    "file:line:column with a hint; `aidflow workflow deploy FILE` stores it as the next "
    "version; `aidflow workflow schema` prints a JSON Schema for editors. Parsing is strict "
    "YAML 1.2: unknown keys, duplicate keys, `yes`/`on` as booleans and `1:30` as a number "
    "are errors, never silent conversions.",
    "每个县的办事流程写成 YAML 文件，一个流程一个文件，放在 `workflows/` 目录下。"
    "`aidflow workflow validate 文件` 检查文件，逐条列出所有问题（文件:行:列）及修改提示；"
    "`aidflow workflow deploy 文件` 把它部署为新版本；`aidflow workflow schema` "
    "输出供编辑器使用的 JSON Schema。解析严格按 YAML 1.2：未知的键、重复的键、"
    "把 `yes`/`on` 当作布尔值、把 `1:30` 当作数字，都按错误报告，绝不悄悄转换。",
)
BASE_TITLE: T = ("A complete small workflow", "一个完整的小流程")
BASE_TEXT: T = (
    "Every example and every mistake below starts from this workflow: an application is "
    "drafted by a caseworker, reviewed by an officer, then approved or rejected. Each "
    "waiting state names who must act (`owner`) and by when (`deadline`); final states "
    "end the case.",
    "下文的每个示例和每个错误都以这个流程为基础：经办人起草申请，审核人审核，然后批准或"
    "不予批准。每个等待办理的状态都写明由谁办理（`owner`）和办理期限（`deadline`）；"
    "终结状态（`final`）表示案件办结。",
)
KEYS_TITLE: T = ("Keys", "全部键")
KEYS_TEXT: T = (
    "Every key a workflow file may contain, section by section. A key marked required "
    "must be written; the others may be left out and take the default shown. Durations "
    "are text such as `10wd` (see Durations); expressions are text in the guard language "
    "(see Expressions); names of states, roles, fields, clocks, ladders and settings are "
    "snake_case (a-z, 0-9, _, starting with a letter).",
    "按部分列出流程文件中可以出现的每个键。标为必填的键必须写；其余的键可以省略，"
    "省略时取表中的默认值。期限写成 `10wd` 这样的文本（见“期限”）；条件表达式按条件语言书写"
    "（见“条件表达式”）；状态、角色、字段、计时、催办阶梯和县级选项的名称一律使用"
    "小写加下划线（a-z、0-9、_，以字母开头）。",
)
TOP_LEVEL: T = ("the top level of the file", "文件顶层")
EXAMPLES_TITLE: T = ("Constructs, with an example each", "各项功能及示例")
EXAMPLES_TEXT: T = (
    "Each example is a fragment laid over the base workflow above (mappings merge; a "
    "transition replaces the base's one with the same trigger). Every one is loaded by the "
    "validator when this reference is tested.",
    "每个示例都是叠加在上面基础流程之上的片段（映射逐键合并；与基础流程触发名相同的操作"
    "会替换原操作）。测试本参考时，每个示例都由校验器实际加载过。",
)
EXPR_TITLE: T = ("Expressions (guards and conditions)", "条件表达式")
EXPR_TEXT: T = (
    "Guards, route conditions, `deadline_when`, `duration_when` and `computes` are "
    "expressions such as `person.age >= 60 and person.hukou == 'rural'`. They are never run "
    "as code: they are checked against a small grammar when the file is validated. Allowed: "
    "constants (numbers, 'text', true/false/None as `True`, `False`, `None`, lists), "
    "`namespace.name` one level deep, an index with a constant (`case.members[0]`), "
    "comparisons `== != < <= > >= in not in`, `and or not`, arithmetic `+ - * / // %` and "
    "`**` with a constant exponent, `a if condition else b`, and calls to the functions "
    "below. Missing data reads as None, and a comparison with None is false, so "
    "`person.age >= 60` is simply false when the age is not recorded.",
    "操作条件（guards）、分流条件（routes 的 when）、`deadline_when`、`duration_when` 和 "
    "`computes` 都用条件表达式书写，例如 `person.age >= 60 and person.hukou == 'rural'`。"
    "表达式绝不会被当作程序执行：校验文件时按一套很小的语法检查。允许：常量（数字、"
    "'文本'、`True`、`False`、`None`、列表），一层的 `命名空间.名称`，用常量取下标"
    "（`case.members[0]`），比较 `== != < <= > >= in not in`，`and or not`，算术 "
    "`+ - * / // %` 以及指数为常量的 `**`，`甲 if 条件 else 乙`，以及调用下列函数。"
    "缺少的数据按 None 处理，与 None 比大小的结果为假，所以未登记年龄时 "
    "`person.age >= 60` 就是假。",
)
CASE_NAMES: T = (
    "the workflow's own `fields`, and ",
    "本流程 `fields` 中声明的字段，以及 ",
)
SETTING_NAMES: T = (
    "the workflow's own `settings` (each reads as its chosen value, a text)",
    "本流程 `settings` 中声明的县级选项（读到的是所选的值，为文本）",
)
POLICY_NAMES: T = (
    "the county's standards in `policy/standards.yaml` next to the workflow file, as in "
    "force on the day the action is taken",
    "流程文件旁 `policy/standards.yaml` 中的本县标准，取办理当天有效的数值",
)
WHERE_TITLE: T = ("Where each namespace may be read", "各处可读的命名空间")
# What each kind of expression may read (the loader decides; tests/test_reference.py
# loads every pair to check this table against it).
READABLE: dict[str, tuple[str, ...]] = {
    "guards": ("person", "case", "vote", "policy", "setting"),
    "routes[].when": ("person", "case", "vote", "policy", "setting"),
    "deadline_when[].when": ("case",),
    "duration_when[].when": ("setting",),
    "computes": ("person", "case"),
}
NAMESPACES = ("person", "case", "vote", "policy", "setting")
FUNCTIONS_TITLE: T = ("Functions", "函数")
LIMITS_TITLE: T = ("Limits (the static cost bound)", "上限（静态开销限制）")
LIMITS_TEXT: T = (
    "An expression is at most {length} characters and {depth} levels deep; a text "
    "constant at most {string} characters; an integer constant at most {int}; an exponent "
    "at most {exponent}. While a guard is evaluated, texts and lists may hold at most "
    "{items} characters or items and integers must stay below 2**{bits}. What would exceed "
    "these limits whatever the case data is (`'a' * 10**10`) is refused when the file is "
    "validated, with its line and column; what only some case data can make too big fails "
    "on that case alone and `case show` gives the reason.",
    "一个表达式最多 {length} 个字符、嵌套最多 {depth} 层；文本常量最多 {string} 个字符；"
    "整数常量最大 {int}；指数最大 {exponent}。计算时，文本和列表最多 {items} 个字符或元素，"
    "整数必须小于 2**{bits}。无论案件数据如何都必然超限的写法（如 `'a' * 10**10`）在校验"
    "文件时即被拒绝，并指出行和列；只有个别案件数据才会超限的，只影响该案件，"
    "`case show` 会显示原因。",
)
DURATIONS_TITLE: T = ("Durations and working days", "期限与工作日")
DURATIONS_TEXT: T = (
    "A duration is a whole number followed by a unit, without spaces: `24h`, `7d`, `10wd`, "
    "`12mo`. Working days follow the State Council's holiday notices (the `chinesecalendar` "
    "package) and the county's `workflows/policy/calendar.yaml`; a `wd` deadline that "
    "reaches a year with no calendar data is an error, never a weekends-only guess.",
    "期限写成整数加单位，中间不留空格：`24h`、`7d`、`10wd`、`12mo`。工作日按国务院"
    "节假日安排（`chinesecalendar` 软件包）和本县的 `workflows/policy/calendar.yaml` 计算；"
    "以 `wd` 计的期限如果落到没有日历数据的年份，按错误处理，绝不按“只休周末”推测。",
)
UNIT_DOCS: dict[str, T] = {
    "h": ("elapsed hours.", "小时，按实际经过的小时数计算。"),
    "d": (
        "calendar days on the county's local clock (same time of day N days later).",
        "自然日，按本县当地时间计算（N 天后的同一时刻）。",
    ),
    "wd": (
        "working days, counted statutorily: the starting day does not count, and the "
        "deadline is the end of the Nth working day (00:00 of the next day).",
        "工作日，按法定方式计算：起始当日不计入，期限为第 N 个工作日结束时（即次日 0 时）。",
    ),
    "mo": (
        "calendar months (same time of day N months later; Jan 31 + 1mo is the month's last day).",
        "自然月（N 个月后的同一时刻；1 月 31 日加 1mo 为该月最后一天）。",
    ),
}
MISTAKES_TITLE: T = ("Errors the validator gives", "校验器给出的错误")
MISTAKES_TEXT: T = (
    "Each item is one mistake made in the base workflow: the changed lines, then exactly "
    "what `aidflow workflow validate` prints for them (file:line:column: where in the file: "
    "the problem; the fix). The validator lists every problem in a file at once; nothing is "
    "deployed while any remains. Expression messages are shown for a few typical mistakes; "
    "every message names the expression and the column.",
    "每一项是在基础流程中犯的一个错误：先列出改动的行，再列出 `aidflow workflow validate` "
    "对它实际输出的内容（文件:行:列: 在文件中的位置: 问题; 修改办法）。校验器的提示目前为英文，"
    "下面按实际输出原样列出。校验器一次列出文件中"
    "的所有问题；只要还有问题，就不会部署。条件表达式的错误只列举几个典型例子；"
    "每条都会指出是哪个表达式、第几列。",
)

FUNCTION_DOCS: dict[str, T] = {
    "abs": ("`abs(x)`: the absolute value.", "`abs(x)`：绝对值。"),
    "all": ("`all(list)`: true when every item is true.", "`all(列表)`：所有元素都为真时为真。"),
    "any": ("`any(list)`: true when some item is true.", "`any(列表)`：任一元素为真时为真。"),
    "contains": (
        "`contains(list, item)`: true when the list holds the item.",
        "`contains(列表, 元素)`：列表中含有该元素时为真。",
    ),
    "days_between": (
        "`days_between(start, end)`: days from one date to another (negative when end is "
        "earlier); dates or 'YYYY-MM-DD' texts.",
        "`days_between(开始, 结束)`：两个日期相差的天数（结束早于开始时为负数）；"
        "参数为日期或 'YYYY-MM-DD' 文本。",
    ),
    "int": ("`int(x)`: a whole number.", "`int(x)`：转为整数。"),
    "len": ("`len(x)`: the length of a text or list.", "`len(x)`：文本或列表的长度。"),
    "lower": ("`lower(text)`: the text in lower case.", "`lower(文本)`：转为小写。"),
    "max": (
        "`max(a, b, ...)` or `max(list)`: the largest.",
        "`max(a, b, ...)` 或 `max(列表)`：最大值。",
    ),
    "min": (
        "`min(a, b, ...)` or `min(list)`: the smallest.",
        "`min(a, b, ...)` 或 `min(列表)`：最小值。",
    ),
    "round": (
        "`round(x)` or `round(x, digits)`: rounded (half to even).",
        "`round(x)` 或 `round(x, 位数)`：舍入（逢五取偶，即“四舍六入五成双”）。",
    ),
    "str": ("`str(x)`: as text.", "`str(x)`：转为文本。"),
    "sum": ("`sum(list)`: the total.", "`sum(列表)`：合计。"),
}

# What each object of the schema is, in Chinese (the English is the dataclass's docstring).
SECTION_DOCS: dict[str, T] = {
    "Workflow": ("", "一个流程文件。"),
    "Labels": ("", "中文和英文的显示名称。"),
    "State": (
        "",
        "流程中的一个环节：由谁办理（`owner`）、何时之前办理（`deadline`），或者是办结。"
        "除终结状态外，每个状态都在等待某人办理；终结状态表示案件办结。",
    ),
    "VoteRule": (
        "",
        "离开该状态取决于记录的表决结果（村级民主评议）。当参加表决的合格表决人数不少于 "
        "`quorum`，且赞成票占所投票数的比例按 `rule`（`more_than` 超过 / `at_least` 不少于）"
        '达到 `threshold`（分数，如 "1/2"、"2/3"）时，表决通过。',
    ),
    "DeadlineWhen": (
        "",
        "进入该状态时若 `when`（关于 case.* 的表达式）为真，则改用此期限。例如收入不稳定的"
        "家庭 6 个月复核一次，而不是该状态的 12 个月。",
    ),
    "Transition": (
        "",
        "一项操作：从 `source` 到 `dest`，或者到 `routes` 中第一个 `when` 成立的目的状态。",
    ),
    "Route": (
        "",
        "分流操作的一个去向：`when`（条件表达式）成立时前往。按顺序逐个判断，取第一个成立的；"
        "最后一个不写 `when`（即“其他情况”），因此总是恰好取一个去向。",
    ),
    "TransitionField": (
        "",
        "操作接收的一个字段；`required` 为 true 的字段办理时必须用 `--field` 填写。",
    ),
    "OncePerPerson": (
        "",
        "同一人在 `within`（期限）之内，对案件字段 `field` 的同一取值最多批准一次；"
        "除非案件的布尔字段 `unless` 为真（例如临时救助：同一原因一年一次，县里特批的除外）。",
    ),
    "FieldSpec": ("", "案件的一个有类型的数据字段，在办理操作时填写。"),
    "Rung": (
        "",
        "催办阶梯的一级：经过 `after` 时长后通知角色 `to`。`after` 从 `relative_to` 指定的"
        "时点起算：`entry`（进入该状态时，默认，如“12 小时提醒”）或 `deadline`（该状态的期限，"
        "如“超期 1 天通知县级”）。写了 `repeat` 时，首次通知后每隔 `repeat` 再通知一次，"
        "直到有人确认（`stop_on_ack` 为 true 时）或案件离开该状态。",
    ),
    "ClockSpec": (
        "",
        "跨越多个状态的命名计时，例如低保审核审批的法定 30 个工作日。案件进入 `starts_at` "
        "时开始计时，进入 `stops_at` 中任一状态时终止；案件处于在 `pauses` 中列出该计时的"
        "状态时暂停；计时期间某个操作首次办理时，按 `extended_by[操作]` 延长。延长时间使用"
        "与计时相同的单位。",
    ),
    "DurationWhen": (
        "",
        "计时开始时若 `when`（关于 setting.* 的表达式）为真，则改用此时长，例如乡镇审批时为 "
        "20 个工作日而不是 30 个。",
    ),
    "Setting": (
        "",
        "县级选项，例如村级民主评议是否必须进行。`value` 必须是 `choices` 之一；"
        "条件表达式以 `setting.名称` 读取（文本）。",
    ),
}

# What each key is for. `render` refuses to run while a key of the schema has no entry.
KEY_DOCS: dict[str, dict[str, T]] = {
    "Workflow": {
        "workflow": (
            "The workflow's name (snake_case); cases and commands refer to it.",
            "流程名称（小写加下划线）；案件和命令都用它指代流程。",
        ),
        "version": (
            "Optional. When written, it must be the version number deploy assigns "
            "(1, 2, 3... per workflow); deploy refuses a mismatch and names the right one.",
            "可不写。如果写了，必须等于部署时分配的版本号（每个流程按 1、2、3……编号）；"
            "不一致时部署会拒绝，并给出正确的版本号。",
        ),
        "labels": ("The workflow's display name.", "流程的显示名称。"),
        "roles": (
            "The roles that act in this workflow, with their display names.",
            "参与本流程的角色及其显示名称。",
        ),
        "states": (
            "The states, by name. Exactly one is `initial`; at least one is `final`.",
            "各个状态，以名称为键。恰好一个 `initial`，至少一个 `final`。",
        ),
        "transitions": (
            "The actions that move a case from state to state.",
            "使案件从一个状态转到另一个状态的操作。",
        ),
        "fields": (
            "The case's typed data fields, by name.",
            "案件的数据字段及其类型，以名称为键。",
        ),
        "escalations": (
            "Escalation ladders, by name; a state uses one with `escalation:`.",
            "催办阶梯，以名称为键；状态用 `escalation:` 引用。",
        ),
        "clocks": (
            "Clocks that run over several states (statutory time limits).",
            "跨越多个状态的计时（法定办理时限）。",
        ),
        "settings": (
            "County choices that expressions read as `setting.NAME`.",
            "县级选项，表达式以 `setting.名称` 读取。",
        ),
        "description": ("Free text for readers of the file.", "说明文字，供阅读文件的人参考。"),
    },
    "Labels": {
        "zh": ("The Chinese name.", "中文名称。"),
        "en": ("The English name.", "英文名称。"),
    },
    "State": {
        "labels": ("The state's display name.", "状态的显示名称。"),
        "initial": (
            "`true` for the state a new case starts in (exactly one).",
            "新案件的起始状态设为 `true`（恰好一个）。",
        ),
        "final": (
            "`true` for a state that ends the case; nothing may leave it.",
            "办结状态设为 `true`；办结后不能再有任何操作。",
        ),
        "owner": (
            "The role that must act here (required on every state that is not final).",
            "在此环节必须办理的角色（非终结状态必填）。",
        ),
        "deadline": (
            "How long the owner has (a duration; required on every state that is not final).",
            "办理期限（期限文本；非终结状态必填）。",
        ),
        "on_timeout": (
            "A trigger out of this state that the scheduler fires when the deadline passes.",
            "期限届满时由系统自动办理的操作（必须是离开此状态的操作）。",
        ),
        "min_dwell": (
            "The shortest time a case must stay here (e.g. a 7-day public notice).",
            "案件在此状态的最短停留时间（例如 7 天公示期）。",
        ),
        "dwell_exceptions": (
            "Triggers that may leave before `min_dwell` has passed (e.g. an objection).",
            "可以在最短停留时间届满前办理的操作（例如异议）。",
        ),
        "vote": ("A vote that decides how the case leaves.", "决定案件去向的表决。"),
        "escalation": (
            "The name of a ladder under `escalations` that reminds and escalates here.",
            "在此状态使用的催办阶梯名称（须在 `escalations` 下声明）。",
        ),
        "pauses": (
            "Clocks that stand still while the case is here.",
            "案件处于此状态时暂停的计时。",
        ),
        "deadline_when": (
            "Deadlines that replace `deadline` when their `when` holds on entry; the first "
            "true one wins.",
            "进入状态时按条件替换 `deadline` 的期限；取第一个条件成立的。",
        ),
    },
    "VoteRule": {
        "voters": ("The role whose members vote.", "参加表决的角色。"),
        "quorum": (
            "How many eligible voters must vote (1 to 10,000).",
            "至少需要多少名合格表决人参加表决（1 至 10,000）。",
        ),
        "threshold": (
            "The yes share needed, a fraction such as 1/2 or 2/3.",
            "通过所需的赞成比例，写成分数，如 1/2 或 2/3。",
        ),
        "rule": (
            "`more_than` (strictly more than the threshold) or `at_least`.",
            "`more_than`（超过该比例）或 `at_least`（不少于该比例）。",
        ),
        "exclude_related": (
            "Voters related to the applicant may not vote.",
            "与申请人有关联的表决人回避，不参加表决。",
        ),
    },
    "DeadlineWhen": {
        "when": ("An expression over `case.*`.", "关于 `case.*` 的表达式。"),
        "deadline": ("The deadline that then applies.", "条件成立时适用的期限。"),
    },
    "Transition": {
        "trigger": (
            "The action's name (snake_case), as caseworkers type it.",
            "操作名称（小写加下划线），经办人办理时输入此名称。",
        ),
        "source": (
            "The state, or list of states, the action leaves.",
            "操作的起始状态，可以是一个或多个。",
        ),
        "dest": (
            "The state it leads to (or write `routes` instead).",
            "操作后的状态（或改写 `routes`）。",
        ),
        "routes": (
            "Several destinations tried in order; the first whose `when` holds is taken and "
            "the last has no `when`.",
            "按顺序判断的多个去向；取第一个 `when` 成立的，最后一个不写 `when`。",
        ),
        "labels": ("The action's display name.", "操作的显示名称。"),
        "roles": (
            "The roles that may take the action (required unless `system`).",
            "可以办理该操作的角色（`system` 操作以外必填）。",
        ),
        "guards": (
            "Expressions that must all hold for the action to be allowed.",
            "办理前必须全部成立的条件表达式。",
        ),
        "fields": (
            "Case fields the action accepts (`--field name=value`).",
            "办理时可填写的案件字段（`--field 名称=值`）。",
        ),
        "note_required": (
            "The person acting must write a note (a reason).",
            "办理人必须填写说明（理由）。",
        ),
        "separate_from": (
            "Triggers whose actor may not take this action on the same case "
            "(separation of duties).",
            "办理过这些操作的人不得在同一案件中办理本操作（不相容职务分离）。",
        ),
        "requires_vote": (
            "`passed` or `failed`: allowed only when the source state's vote has that result.",
            "`passed` 或 `failed`：仅当起始状态的表决结果相符时才能办理。",
        ),
        "objection": (
            "`true` for an objection by the applicant or the public.",
            "申请人或群众提出异议的操作设为 `true`。",
        ),
        "system": (
            "`true` when only the scheduler takes it (then `roles` may be empty).",
            "仅由系统自动办理时设为 `true`（此时可不写 `roles`）。",
        ),
        "computes": (
            "Case fields the engine sets when the action is taken: field → expression over "
            "`person.*` and `case.*`.",
            "办理时由系统计算并写入的案件字段：字段 → 关于 `person.*` 和 `case.*` 的表达式。",
        ),
        "once_per_person": (
            "At most one such approval per person and cause within a period.",
            "同一人同一原因在一定期间内最多批准一次。",
        ),
    },
    "Route": {
        "dest": ("The state this route leads to.", "此去向的目的状态。"),
        "when": (
            "The condition (an expression); left out on the last route only.",
            "条件（表达式）；只有最后一个去向不写。",
        ),
    },
    "TransitionField": {
        "required": (
            "Whether the field must be given when the action is taken.",
            "办理时是否必须填写该字段。",
        ),
    },
    "OncePerPerson": {
        "field": ("The case field that names the cause.", "表示救助原因的案件字段。"),
        "within": ("The period (a duration).", "期间（期限文本）。"),
        "unless": (
            "A bool case field that, when true, allows another approval.",
            "布尔类型的案件字段，为真时允许再次批准。",
        ),
    },
    "FieldSpec": {
        "type": ("The value's type.", "取值的类型。"),
        "labels": ("The field's display name.", "字段的显示名称。"),
        "choices": (
            "The allowed values (fields of type `str` only).",
            "允许的取值（仅限 `str` 类型的字段）。",
        ),
    },
    "Rung": {
        "after": ("How long after the start point it fires.", "从起算时点起经过多久发出。"),
        "to": ("The role notified.", "接收通知的角色。"),
        "template": (
            "The notice: " + ", ".join(f"`{t}`" for t in d.ESCALATION_TEMPLATES) + ".",
            "通知模板：" + "、".join(f"`{t}`" for t in d.ESCALATION_TEMPLATES) + "。",
        ),
        "repeat": (
            "Fire again every this long until acknowledged or the case leaves.",
            "每隔多久再次通知，直到有人确认或案件离开该状态。",
        ),
        "stop_on_ack": (
            "Stop repeating once someone acknowledges.",
            "有人确认后停止重复通知。",
        ),
        "relative_to": (
            "`entry` (entering the state) or `deadline` (the state's deadline).",
            "`entry`（进入状态时）或 `deadline`（该状态的期限）。",
        ),
    },
    "ClockSpec": {
        "duration": ("The time limit (a duration).", "时限（期限文本）。"),
        "starts_at": ("The state whose entry starts the clock.", "进入后开始计时的状态。"),
        "stops_at": ("States whose entry stops it for good.", "进入后终止计时的状态。"),
        "labels": ("The clock's display name.", "计时的显示名称。"),
        "extended_by": (
            "trigger → extra time, given the first time that trigger is taken while the "
            "clock runs; in the clock's unit.",
            "操作 → 延长的时间，计时期间该操作首次办理时延长；单位须与计时相同。",
        ),
        "duration_when": (
            "Durations that replace `duration` when their `when` (over `setting.*`) holds "
            "as the clock starts; the first true one wins.",
            "计时开始时按条件（关于 `setting.*`）替换 `duration` 的时长；取第一个成立的。",
        ),
    },
    "DurationWhen": {
        "when": ("An expression over `setting.*`.", "关于 `setting.*` 的表达式。"),
        "duration": ("The duration that then applies.", "条件成立时适用的时长。"),
    },
    "Setting": {
        "value": ("The county's choice: one of `choices`.", "本县的选择：`choices` 之一。"),
        "choices": ("The values allowed.", "允许的取值。"),
        "labels": ("The setting's display name.", "选项的显示名称。"),
        "source": (
            "Where the rule comes from (a regulation, a county decision).",
            "依据（法规条款、县里的决定）。",
        ),
    },
}

# -- the constructs ------------------------------------------------------------------------

EXAMPLES: tuple[Example, ...] = (
    Example(
        ("Fields, notes and several source states", "字段、说明和多个起始状态"),
        (
            "`fields` declares the case's typed data; a transition lists the fields it "
            "accepts (`--field amount=1200`) and whether each is required. `note_required` "
            "makes the person acting write a reason. `source` may list several states.",
            "`fields` 声明案件的数据字段及类型；操作列出办理时可填写的字段"
            "（`--field amount=1200`）以及是否必填。`note_required` 要求办理人填写理由。"
            "`source` 可以列出多个起始状态。",
        ),
        """\
fields:
  amount: {type: decimal, labels: {zh: 救助金额, en: Amount}}
  cause: {type: str, choices: [illness, accident, disaster]}
states:
  withdrawn:
    labels: {zh: 已撤回, en: Withdrawn}
    final: true
transitions:
  - trigger: approve
    source: review
    dest: approved
    roles: [officer]
    fields:
      amount: {required: true}
      cause: {required: false}
  - trigger: withdraw
    source: [draft, review]
    dest: withdrawn
    roles: [caseworker]
    note_required: true
""",
    ),
    Example(
        ("Guards", "办理条件（guards）"),
        (
            "Every guard must hold for the action to be allowed; a refused action says which "
            "guard failed and on what value. `policy.NAME` reads a county standard.",
            "所有条件都成立时才能办理；不能办理时会说明是哪个条件、因为什么值未满足。"
            "`policy.名称` 读取本县标准。",
        ),
        """\
fields:
  amount: {type: decimal}
transitions:
  - trigger: approve
    source: review
    dest: approved
    roles: [officer]
    fields:
      amount: {required: true}
    guards:
      - person.hukou == 'rural' or person.age >= 60
      - case.amount <= 3 * policy.urban_dibao_standard
""",
    ),
    Example(
        ("Guarded routing (`routes`)", "按条件分流（`routes`）"),
        (
            "One action, several destinations: the routes are tried in order and the first "
            "whose `when` holds is taken; the last has no `when` and is taken otherwise, so "
            "exactly one is. Roles, guards and fields stay the transition's. `case show` says "
            "where the case's current data would go.",
            "一项操作，多个去向：按顺序判断，取第一个 `when` 成立的去向；最后一个不写 "
            "`when`，其他情况都走它，因此总是恰好取一个。角色、条件和字段仍写在操作上。"
            "`case show` 会显示按案件当前数据将去往哪个状态。",
        ),
        """\
fields:
  amount: {type: decimal}
states:
  county_review:
    labels: {zh: 县级审批, en: County review}
    owner: officer
    deadline: 10wd
transitions:
  - trigger: submit
    source: draft
    roles: [caseworker]
    fields:
      amount: {required: true}
    routes:
      - dest: county_review
        when: case.amount > 5000
      - dest: review
  - trigger: county_approve
    source: county_review
    dest: approved
    roles: [officer]
""",
    ),
    Example(
        ("Votes, public notice and objections", "民主评议表决、公示和异议"),
        (
            "A state with `vote` records votes; `requires_vote` lets an action through only "
            "on that result. `min_dwell` keeps the case in the state (a 7-day notice) except "
            "for the triggers under `dwell_exceptions`. `objection: true` marks an objection.",
            "带 `vote` 的状态记录表决票；`requires_vote` 只在表决结果相符时允许办理。"
            "`min_dwell` 规定最短停留时间（如公示 7 天），`dwell_exceptions` 中的操作除外。"
            "`objection: true` 表示异议。",
        ),
        """\
roles:
  village_rep: {zh: 村民代表, en: Villager representative}
states:
  review:
    min_dwell: 7d
    dwell_exceptions: [object]
    vote: {voters: village_rep, quorum: 5, threshold: 1/2, rule: more_than}
transitions:
  - trigger: approve
    source: review
    dest: approved
    roles: [officer]
    requires_vote: passed
  - trigger: reject
    source: review
    dest: rejected
    roles: [officer]
    requires_vote: failed
  - trigger: object
    source: review
    dest: draft
    roles: [caseworker]
    objection: true
    note_required: true
""",
    ),
    Example(
        ("Separation of duties and timeouts", "不相容职务分离和超期自动办理"),
        (
            "`separate_from` forbids the person who took those actions on the case from "
            "taking this one. `on_timeout` names an action the scheduler takes when the "
            "deadline passes; `system: true` marks an action only the scheduler takes.",
            "`separate_from`：在本案件中办理过所列操作的人，不得办理本操作。`on_timeout`："
            "期限届满时由系统自动办理的操作；`system: true` 表示只由系统办理的操作。",
        ),
        """\
states:
  review:
    on_timeout: expire
transitions:
  - trigger: approve
    source: review
    dest: approved
    roles: [officer, caseworker]
    separate_from: [submit]
  - trigger: expire
    source: review
    dest: rejected
    system: true
""",
    ),
    Example(
        ("Escalation ladders", "催办阶梯"),
        (
            "A ladder is a list of rungs; a state uses it with `escalation:`. Each rung "
            "notifies a role `after` a time from entering the state, or from its deadline "
            "with `relative_to: deadline`, and with `repeat` again until acknowledged.",
            "催办阶梯由若干级组成；状态用 `escalation:` 引用。每一级在进入状态后（或写 "
            "`relative_to: deadline` 时在期限届满后）经过 `after` 时长通知一个角色；"
            "写了 `repeat` 的，重复通知直到有人确认。",
        ),
        """\
roles:
  supervisor: {zh: 分管领导, en: Supervisor}
escalations:
  review_late:
    - {after: 8wd, to: officer, template: deadline_reminder}
    - {after: 1d, to: supervisor, template: escalation, relative_to: deadline, repeat: 2d}
states:
  review:
    escalation: review_late
""",
    ),
    Example(
        ("Clocks (statutory time limits)", "计时（法定办理时限）"),
        (
            "A clock runs across states: it starts on entering `starts_at`, stops for good "
            "on entering a state of `stops_at`, stands still in a state that lists it under "
            "`pauses`, and is extended once per trigger under `extended_by`.",
            "计时跨越多个状态：进入 `starts_at` 时开始，进入 `stops_at` 中的状态时终止，"
            "在 `pauses` 中列出它的状态里暂停，`extended_by` 中的操作每种延长一次。",
        ),
        """\
states:
  awaiting_materials:
    labels: {zh: 补充材料, en: Awaiting materials}
    owner: caseworker
    deadline: 15d
    pauses: [statutory]
clocks:
  statutory:
    labels: {zh: 法定办理时限, en: Statutory time limit}
    duration: 30wd
    starts_at: review
    stops_at: [approved, rejected]
    extended_by: {ask_materials: 10wd}
transitions:
  - trigger: ask_materials
    source: review
    dest: awaiting_materials
    roles: [officer]
  - trigger: materials_in
    source: awaiting_materials
    dest: review
    roles: [caseworker]
""",
    ),
    Example(
        ("County settings", "县级选项（settings）"),
        (
            "A setting is a county choice with its allowed values; expressions read it as "
            "`setting.NAME`. Here it shortens the statutory clock with `duration_when` when "
            "the township approves.",
            "县级选项是本县的一项选择及其允许的取值；表达式以 `setting.名称` 读取。"
            "本例中，由乡镇审批时用 `duration_when` 缩短法定计时。",
        ),
        """\
settings:
  approval_level:
    labels: {zh: 审核确认层级, en: Who approves}
    value: county
    choices: [county, township]
    source: county decision
clocks:
  statutory:
    duration: 30wd
    starts_at: review
    stops_at: [approved, rejected]
    duration_when:
      - {when: "setting.approval_level == 'township'", duration: 20wd}
""",
    ),
    Example(
        (
            "Deadlines that depend on the case (`deadline_when`)",
            "随案件变化的期限（`deadline_when`）",
        ),
        (
            "On entering the state the first `when` that holds replaces `deadline`.",
            "进入状态时，第一个成立的 `when` 对应的期限替换 `deadline`。",
        ),
        """\
states:
  review:
    deadline: 10wd
    deadline_when:
      - {when: case.emergency == True, deadline: 24h}
""",
    ),
    Example(
        ("Once per person (`once_per_person`)", "同一人限批一次（`once_per_person`）"),
        (
            "At most one approval per person for the same cause within the period, unless a "
            "bool field of the case allows another.",
            "同一人同一原因在期间内最多批准一次，除非案件的布尔字段允许再次批准。",
        ),
        """\
fields:
  cause: {type: str, choices: [illness, accident, disaster]}
  override_once_a_year: {type: bool}
transitions:
  - trigger: approve
    source: review
    dest: approved
    roles: [officer]
    fields:
      cause: {required: true}
      override_once_a_year: {required: false}
    once_per_person: {field: cause, within: 12mo, unless: override_once_a_year}
""",
    ),
    Example(
        ("Computed fields (`computes`)", "系统计算的字段（`computes`）"),
        (
            "The engine sets these fields when the action is taken; nobody types them.",
            "办理操作时由系统计算并写入这些字段，无需人工填写。",
        ),
        """\
fields:
  related_to_staff: {type: bool}
transitions:
  - trigger: submit
    source: draft
    dest: review
    roles: [caseworker]
    computes:
      related_to_staff: contains(person.related_roles, 'caseworker')
""",
    ),
    Example(
        ("The version key", "版本号（`version`）"),
        (
            "Deploy numbers each workflow's versions 1, 2, 3...; the file's `version:` may be "
            "left out, and when written it must be the number deploy will assign, or deploy "
            "refuses and names the right one.",
            "部署时每个流程的版本按 1、2、3……编号；文件中的 `version:` 可以不写，"
            "写了就必须等于本次部署将分配的版本号，否则部署会拒绝并给出正确的版本号。",
        ),
        "version: 1\n",
    ),
)

# -- the mistakes, one per check of the loader (tests/test_reference.py checks the cover) --

_REVIEW = "    labels: {zh: 审核, en: Review}\n"
_APPROVE = "    dest: approved\n    roles: [officer]\n"
_REJECT = "    dest: rejected\n    roles: [officer]\n"
_SUBMIT = "    dest: review\n    roles: [caseworker]\n"
_CLOCK = "clocks:\n  statutory:\n    duration: 30wd\n"

MISTAKES: tuple[tuple[T, tuple[Mistake, ...]], ...] = (
    (
        ("YAML", "YAML 格式"),
        (
            Mistake(
                ("The file is not a mapping of keys.", "文件不是键值映射。"),
                WHOLE_FILE,
                "- workflow: assistance\n",
            ),
            Mistake(
                ("`yes` for true (YAML 1.1).", "用 `yes` 表示真（YAML 1.1 写法）。"),
                "    initial: true\n",
                "    initial: yes\n",
            ),
            Mistake(
                ("A time of day where a duration belongs.", "期限处写成了钟点。"),
                "deadline: 10wd",
                "deadline: 1:30",
            ),
            Mistake(
                ("A hexadecimal number.", "十六进制数。"),
                "deadline: 3wd",
                "deadline: 0x10",
            ),
            Mistake(
                ("A YAML tag.", "YAML 标签。"),
                "deadline: 3wd",
                "deadline: !duration 3wd",
            ),
            Mistake(
                ("An alias (`*name`) of a mapping.", "对映射使用别名（`*名称`）。"),
                "  caseworker: {zh: 经办人, en: Caseworker}\n"
                "  officer: {zh: 审核人, en: Officer}\n",
                "  caseworker: &person {zh: 经办人, en: Caseworker}\n  officer: *person\n",
            ),
            Mistake(
                ("A key written twice.", "同一个键写了两次。"),
                "    deadline: 10wd\n",
                "    deadline: 10wd\n    deadline: 15wd\n",
            ),
        ),
    ),
    (
        ("Keys and types", "键和类型"),
        (
            Mistake(
                ("A misspelt key.", "键名拼写错误。"),
                "    deadline: 10wd\n",
                "    dedline: 10wd\n",
            ),
            Mistake(
                ("A required key left out.", "缺少必填的键。"),
                "  - trigger: reject\n",
                "  - labels: {zh: 不予批准, en: Reject}\n",
            ),
            Mistake(
                ("A quoted `true`.", "`true` 加了引号。"),
                "    initial: true\n",
                "    initial: 'true'\n",
            ),
            Mistake(
                ("A value outside the allowed ones.", "取值不在允许范围内。"),
                _REVIEW,
                _REVIEW + "    vote: {voters: officer, quorum: 3, rule: majority}\n",
            ),
            Mistake(
                ("A name that is not snake_case.", "名称不是小写加下划线。"),
                "workflow: assistance",
                "workflow: Assistance-Application",
            ),
            Mistake(
                ("A role that is not declared.", "使用了未声明的角色。"),
                "    owner: officer\n",
                "    owner: oficer\n",
            ),
        ),
    ),
    (
        ("States", "状态"),
        (
            Mistake(("No initial state.", "没有起始状态。"), "    initial: true\n", ""),
            Mistake(
                ("Two initial states.", "有两个起始状态。"),
                _REVIEW,
                _REVIEW + "    initial: true\n",
            ),
            Mistake(
                ("A state both initial and final.", "一个状态既是起始又是终结。"),
                "    initial: true\n",
                "    initial: true\n    final: true\n",
            ),
            Mistake(
                ("A waiting state without an owner.", "等待办理的状态没有写办理角色。"),
                "    owner: officer\n",
                "",
            ),
            Mistake(
                ("A waiting state without a deadline.", "等待办理的状态没有写期限。"),
                "    deadline: 10wd\n",
                "",
            ),
            Mistake(
                ("A final state with a deadline.", "终结状态写了期限。"),
                "    labels: {zh: 已批准, en: Approved}\n",
                "    labels: {zh: 已批准, en: Approved}\n    deadline: 10d\n",
            ),
            Mistake(
                ("A duration in words.", "期限用文字书写。"),
                "deadline: 10wd",
                "deadline: 10 working days",
            ),
            Mistake(
                (
                    "`on_timeout` names an action that does not leave the state.",
                    "`on_timeout` 指定的操作不是从该状态出发的。",
                ),
                _REVIEW,
                _REVIEW + "    on_timeout: submit\n",
            ),
            Mistake(
                (
                    "`dwell_exceptions` without `min_dwell`.",
                    "写了 `dwell_exceptions` 却没有 `min_dwell`。",
                ),
                _REVIEW,
                _REVIEW + "    dwell_exceptions: [reject]\n",
            ),
            Mistake(
                (
                    "A dwell exception that does not leave the state.",
                    "最短停留的例外操作不是从该状态出发的。",
                ),
                _REVIEW,
                _REVIEW + "    min_dwell: 7d\n    dwell_exceptions: [withdraw]\n",
            ),
        ),
    ),
    (
        ("Votes", "表决"),
        (
            Mistake(
                ("A quorum of 0.", "法定人数为 0。"),
                _REVIEW,
                _REVIEW + "    vote: {voters: officer, quorum: 0}\n",
            ),
            Mistake(
                ("A quorum with extra digits.", "法定人数多写了几位。"),
                _REVIEW,
                _REVIEW + "    vote: {voters: officer, quorum: 30000}\n",
            ),
            Mistake(
                ("A threshold above 1.", "通过比例大于 1。"),
                _REVIEW,
                _REVIEW + "    vote: {voters: officer, quorum: 3, threshold: 3/2}\n",
            ),
            Mistake(
                (
                    "`requires_vote` where no vote is held.",
                    "状态没有表决，操作却写了 `requires_vote`。",
                ),
                _APPROVE,
                _APPROVE + "    requires_vote: passed\n",
            ),
        ),
    ),
    (
        ("Transitions", "操作"),
        (
            Mistake(
                ("An action nobody may take.", "操作没有可办理的角色。"),
                _REJECT,
                "    dest: rejected\n",
            ),
            Mistake(
                ("An empty list of source states.", "起始状态列表为空。"),
                "    source: draft\n",
                "    source: []\n",
            ),
            Mistake(
                ("A misspelt destination.", "目的状态拼写错误。"),
                _SUBMIT,
                "    dest: reveiw\n    roles: [caseworker]\n",
            ),
            Mistake(
                ("A misspelt source.", "起始状态拼写错误。"),
                "    source: draft\n",
                "    source: drafts\n",
            ),
            Mistake(
                ("An action out of a final state.", "从终结状态出发的操作。"),
                "",
                "",
                "  - trigger: reopen\n    source: approved\n"
                "    dest: review\n    roles: [officer]\n",
            ),
            Mistake(
                (
                    "The same action twice from one state (use `routes`).",
                    "同一状态下同名操作写了两次（应改用 `routes`）。",
                ),
                "",
                "",
                "  - trigger: approve\n    source: review\n"
                "    dest: rejected\n    roles: [officer]\n",
            ),
            Mistake(
                ("No destination.", "没有目的状态。"),
                "    source: review\n    dest: approved\n",
                "    source: review\n",
            ),
            Mistake(
                ("`separate_from` names an unknown action.", "`separate_from` 中的操作不存在。"),
                _APPROVE,
                _APPROVE + "    separate_from: [submitt]\n",
            ),
            Mistake(
                ("A field that is not declared.", "使用了未声明的字段。"),
                _APPROVE,
                _APPROVE + "    fields:\n      amount: {required: true}\n",
            ),
            Mistake(
                ("`choices` on a field that is not text.", "非文本字段写了 `choices`。"),
                "",
                "",
                "fields:\n  amount: {type: decimal, choices: ['100', '200']}\n",
            ),
            Mistake(
                ("A computed field that is not declared.", "计算的字段未声明。"),
                _SUBMIT,
                _SUBMIT + "    computes:\n      related: len(person.related_users) > 0\n",
            ),
            Mistake(
                ("A field both given and computed.", "同一字段既由人填写又由系统计算。"),
                _SUBMIT,
                _SUBMIT
                + "    fields:\n      related: {required: false}\n"
                + "    computes:\n      related: len(person.related_users) > 0\n",
                "fields:\n  related: {type: bool}\n",
            ),
            Mistake(
                (
                    "`once_per_person` on an undeclared field.",
                    "`once_per_person` 使用了未声明的字段。",
                ),
                _APPROVE,
                _APPROVE + "    once_per_person: {field: cause, within: 12mo}\n",
            ),
            Mistake(
                ("An `unless` field that is not declared.", "`unless` 字段未声明。"),
                _APPROVE,
                _APPROVE + "    once_per_person: {field: cause, within: 12mo, unless: override}\n",
                "fields:\n  cause: {type: str}\n",
            ),
            Mistake(
                ("An `unless` field that is not true/false.", "`unless` 字段不是布尔类型。"),
                _APPROVE,
                _APPROVE + "    once_per_person: {field: cause, within: 12mo, unless: cause}\n",
                "fields:\n  cause: {type: str}\n",
            ),
        ),
    ),
    (
        ("Guarded routing", "按条件分流"),
        (
            Mistake(
                ("Both `dest` and `routes`.", "同时写了 `dest` 和 `routes`。"),
                _APPROVE,
                "    dest: approved\n    routes:\n      - dest: rejected\n    roles: [officer]\n",
            ),
            Mistake(
                ("A route to an unknown state.", "分流去向的状态不存在。"),
                "    source: review\n    dest: approved\n",
                "    source: review\n    routes:\n      - dest: aproved\n",
            ),
            Mistake(
                ("A route without a condition before the last.", "不是最后一个的去向没有写条件。"),
                "    source: review\n    dest: approved\n",
                "    source: review\n    routes:\n      - dest: approved\n"
                "      - dest: rejected\n        when: person.age < 18\n",
            ),
            Mistake(
                ("Routes that are not exhaustive.", "分流没有覆盖所有情况。"),
                "    source: review\n    dest: approved\n",
                "    source: review\n    routes:\n      - dest: approved\n"
                "        when: person.age >= 18\n",
            ),
        ),
    ),
    (
        ("Expressions", "条件表达式"),
        (
            Mistake(
                ("A misspelt name.", "名称拼写错误。"),
                _APPROVE,
                _APPROVE + "    guards: [person.agee >= 18]\n",
            ),
            Mistake(
                ("A function that is not allowed.", "调用了不允许的函数。"),
                _APPROVE,
                _APPROVE + "    guards: [\"__import__('os')\"]\n",
            ),
            Mistake(
                ("A guard that must exceed the limits.", "必然超出上限的条件。"),
                _APPROVE,
                _APPROVE + "    guards: [\"'a' * 10**10 == ''\"]\n",
            ),
            Mistake(
                ("A namespace that is not readable there.", "在此处不能读取的命名空间。"),
                _REVIEW,
                _REVIEW + "    deadline_when: [{when: person.age > 80, deadline: 5wd}]\n",
            ),
        ),
    ),
    (
        ("Escalation ladders", "催办阶梯"),
        (
            Mistake(
                ("A state names an unknown ladder.", "状态引用的催办阶梯不存在。"),
                _REVIEW,
                _REVIEW + "    escalation: review_late\n",
            ),
            Mistake(
                ("A ladder without rungs.", "催办阶梯没有任何一级。"),
                _REVIEW,
                _REVIEW + "    escalation: review_late\n",
                "escalations:\n  review_late: []\n",
            ),
            Mistake(
                ("A ladder no state uses.", "没有状态使用的催办阶梯。"),
                "",
                "",
                "escalations:\n  review_late:\n    - {after: 8wd, to: officer, "
                "template: deadline_reminder}\n",
            ),
            Mistake(
                ("An unknown notice template.", "通知模板不存在。"),
                _REVIEW,
                _REVIEW + "    escalation: review_late\n",
                "escalations:\n  review_late:\n"
                "    - {after: 8wd, to: officer, template: reminder}\n",
            ),
        ),
    ),
    (
        ("Settings", "县级选项"),
        (
            Mistake(
                ("A value that is not one of the choices.", "取值不在可选范围内。"),
                "",
                "",
                "settings:\n  approval_level: {value: towship, choices: [county, township]}\n",
            ),
        ),
    ),
    (
        ("Clocks", "计时"),
        (
            Mistake(
                ("A clock that starts at an unknown state.", "计时开始的状态不存在。"),
                "",
                "",
                _CLOCK + "    starts_at: reviews\n    stops_at: [approved]\n",
            ),
            Mistake(
                ("A clock that never stops.", "计时永不终止。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: []\n",
            ),
            Mistake(
                ("A clock that starts at a final state.", "计时从终结状态开始。"),
                "",
                "",
                _CLOCK + "    starts_at: approved\n    stops_at: [rejected]\n",
            ),
            Mistake(
                ("A clock that stops at an unknown state.", "计时终止的状态不存在。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: [aproved]\n",
            ),
            Mistake(
                ("A clock that starts and stops at one state.", "计时在同一状态开始又终止。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: [review, approved]\n",
            ),
            Mistake(
                ("A state pauses an unknown clock.", "状态暂停的计时不存在。"),
                _REVIEW,
                _REVIEW + "    pauses: [statutory]\n",
            ),
            Mistake(
                ("A state pauses the clock it starts.", "状态暂停由它自己开始的计时。"),
                _REVIEW,
                _REVIEW + "    pauses: [statutory]\n",
                _CLOCK + "    starts_at: review\n    stops_at: [approved, rejected]\n",
            ),
            Mistake(
                ("An extension by an unknown action.", "延长时限的操作不存在。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: [approved, rejected]\n"
                "    extended_by: {objection: 15wd}\n",
            ),
            Mistake(
                ("An extension in another unit.", "延长时间的单位与计时不同。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: [approved, rejected]\n"
                "    extended_by: {reject: 15d}\n",
            ),
            Mistake(
                ("A `duration_when` in another unit.", "`duration_when` 的单位与计时不同。"),
                "",
                "",
                _CLOCK + "    starts_at: review\n    stops_at: [approved, rejected]\n"
                "    duration_when: [{when: \"setting.level == 'township'\", duration: 1mo}]\n"
                "settings:\n  level: {value: county, choices: [county, township]}\n",
            ),
        ),
    ),
    (
        ("The whole procedure", "整个流程"),
        (
            Mistake(
                ("A state nothing leads to.", "没有操作通往的状态。"),
                "  approved:\n",
                "  archived:\n    labels: {zh: 归档, en: Archived}\n    owner: officer\n"
                "    deadline: 5d\n  approved:\n",
                "  - trigger: close\n    source: archived\n"
                "    dest: approved\n    roles: [officer]\n",
            ),
            Mistake(
                ("A waiting state with no way out.", "等待办理的状态没有出路。"),
                "  approved:\n",
                "  on_hold:\n    labels: {zh: 暂缓, en: On hold}\n    owner: officer\n"
                "    deadline: 5d\n  approved:\n",
                "  - trigger: hold\n    source: review\n    dest: on_hold\n    roles: [officer]\n",
            ),
            Mistake(
                ("States that can never reach an end.", "永远无法办结的状态。"),
                "  approved:\n",
                "  on_hold:\n    labels: {zh: 暂缓, en: On hold}\n    owner: officer\n"
                "    deadline: 5d\n  paused:\n    labels: {zh: 中止, en: Paused}\n"
                "    owner: officer\n    deadline: 5d\n  approved:\n",
                "  - trigger: hold\n    source: [review, paused]\n    dest: on_hold\n"
                "    roles: [officer]\n  - trigger: pause\n    source: on_hold\n"
                "    dest: paused\n    roles: [officer]\n",
            ),
            Mistake(
                ("No final state.", "没有终结状态。"),
                "    labels: {zh: 已批准, en: Approved}\n    final: true\n"
                "  rejected:\n    labels: {zh: 不予批准, en: Rejected}\n    final: true\n",
                "    labels: {zh: 已批准, en: Approved}\n    owner: officer\n    deadline: 5d\n"
                "  rejected:\n    labels: {zh: 不予批准, en: Rejected}\n    owner: officer\n"
                "    deadline: 5d\n",
            ),
        ),
    ),
)


def main() -> None:
    """`python -m aidflow.language.reference --write`: regenerate the docs files."""
    import sys
    from pathlib import Path

    docs = Path(__file__).resolve().parents[3] / "docs"
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: {REGENERATE}")
    docs.mkdir(exist_ok=True)
    for lang in LANGS:
        (docs / f"workflow-reference.{lang}.md").write_text(render(lang), encoding="utf-8")


if __name__ == "__main__":
    main()
