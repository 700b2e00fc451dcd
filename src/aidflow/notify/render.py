"""Render notification emails (subject, plain text, HTML) from Jinja templates.

Each message is three files, `notifications/<template>/<lang>/subject.txt`, `body.txt` and
`body.html`; bodies may extend a shared layout under `notifications/_layouts/` (see
notifications/README.md). One environment renders all three: `StrictUndefined`, so a
variable the code did not provide is an error and never an empty string, and autoescape on
for `.html` only, so a person's name is escaped in the HTML part and verbatim in the text.

`TEMPLATE_VARIABLES` is the contract between the code and the templates: what the code
provides to each template. `check_templates` holds a directory of templates against it, and
`render` refuses a context that lacks a variable the template uses. The code passes ID
numbers already masked; `render` refuses any value that looks like a full ID number.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import traceback
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    meta,
    nodes,
    select_autoescape,
)

from aidflow.errors import InvalidInputError
from aidflow.idnumber import mask
from aidflow.notify.messageid import check_message_id as _check_message_id
from aidflow.notify.messageid import (
    make_message_id as make_message_id,
)  # re-exported: producers import it from here

LANGS: tuple[str, ...] = ("zh", "en")
PARTS: tuple[str, ...] = ("subject.txt", "body.txt", "body.html")
LAYOUTS_DIR = "_layouts"  # shared files; any top-level name starting with "_" is shared

_RECIPIENT = frozenset({"recipient_name", "recipient_user"})
_CASE = frozenset(
    {
        "case_id",
        "workflow_label",
        "person_name",
        "person_id_masked",
        "area",
        "step",
        "expected_next",
    }
)
_ESCALATION = frozenset({"escalation_id", "caseworker", "overdue"})

TEMPLATE_VARIABLES: dict[str, frozenset[str]] = {
    "deadline_reminder": _RECIPIENT | _CASE | {"due_at", "due_in", "actions"},
    "escalation": _RECIPIENT | _CASE | _ESCALATION | {"due_at"},
    "emergency_escalation": _RECIPIENT
    | _CASE
    | _ESCALATION
    | {"emergency_reason", "reported_at", "limit"},
    "visit_missing": _RECIPIENT | _CASE | _ESCALATION | {"month", "shortfalls"},
    "daily_digest": _RECIPIENT | {"area", "day", "overdue_cases", "open_cases"},
}
"""What the code provides to each template (top-level names; see LIST_ITEM_KEYS for lists)."""

LIST_ITEM_KEYS: dict[str, frozenset[str]] = {
    "actions": frozenset({"trigger", "label"}),
    "shortfalls": frozenset({"label", "done", "required"}),
    "overdue_cases": frozenset(
        {
            "case_id",
            "person_name",
            "person_id_masked",
            "caseworker",
            "step",
            "due_at",
            "overdue",
        }
    ),
    "open_cases": frozenset(
        {
            "case_id",
            "person_name",
            "person_id_masked",
            "caseworker",
            "step",
            "due_at",
            "due_in",
        }
    ),
}
"""The keys (or attributes) each item of a list-valued variable must have."""

# 18-character numbers (the last may be X) and old 15-digit ones, not inside longer digit runs.
_FULL_ID = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")
_ADDRESS = re.compile(r"^[^\s@<>,;:\"()\[\]\\]+@[^\s@<>,;:\"()\[\]\\]+$")


@dataclass(frozen=True)
class Message:
    """One rendered email, ready for a Mailer; `headers` carries the caller's stable Message-ID."""

    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    headers: dict[str, str]


# --- which templates, which time zone -------------------------------------------------------

DEFAULT_TZ: tzinfo = ZoneInfo("Asia/Shanghai")


def default_directory() -> Path:
    """The templates shipped with aidflow (a county names its own: setting notifications_dir)."""
    from aidflow.policy.county import shipped

    return shipped("notifications")


@dataclass(frozen=True)
class Templates:
    """The templates a producer renders with and the county's zone its times are printed in
    (the CLI makes one from the settings `notifications_dir` and `tz`)."""

    directory: Path
    tz: tzinfo

    @classmethod
    def shipped(cls) -> Templates:
        """The shipped templates, times in Asia/Shanghai."""
        return cls(default_directory(), DEFAULT_TZ)


@lru_cache(maxsize=16)
def _environment(directory: Path, tz: tzinfo) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory, encoding="utf-8"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html",),
            disabled_extensions=("txt",),
            default_for_string=False,
            default=False,
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        duration=format_duration,
        datetime=lambda value, lang: format_datetime(value, lang, tz),
        date=format_date,
        month=format_month,
        shquote=_shquote,
    )
    return env


# --- filters ---------------------------------------------------------------------------------


def _check_lang(lang: object) -> str:
    if lang not in LANGS:
        raise InvalidInputError(
            f"language {lang!r} is not supported; use one of: {', '.join(LANGS)}"
        )
    return str(lang)


def format_duration(value: timedelta, lang: str) -> str:
    """`3 days 4 hours` / `3天4小时`: the two largest units, rounded down.

    Days start at 48 hours, so the policy's "24 hours" reads as `24 hours`, not `1 day`.
    """
    lang = _check_lang(lang)
    if not isinstance(value, timedelta):
        raise InvalidInputError(f"duration needs a timedelta, got {type(value).__name__} {value!r}")
    if value < timedelta(0):
        raise InvalidInputError(
            f"duration {value} is negative; pass how long, not a signed difference"
        )
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400) if seconds >= 2 * 86400 else (0, seconds)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        units = [(days, "day", "天"), (hours, "hour", "小时")]
    elif hours:
        units = [(hours, "hour", "小时"), (minutes, "minute", "分钟")]
    elif minutes:
        units = [(minutes, "minute", "分钟")]
    else:
        return "不到1分钟" if lang == "zh" else "less than a minute"
    shown = [(n, en, zh) for n, en, zh in units if n]
    if lang == "zh":
        return "".join(f"{n}{zh}" for n, _, zh in shown)
    return " ".join(f"{n} {en}{'' if n == 1 else 's'}" for n, en, _ in shown)


def format_datetime(value: datetime, lang: str, tz: tzinfo) -> str:
    """`2023年8月3日 17:00` / `2023-08-03 17:00`, in the county's time zone."""
    lang = _check_lang(lang)
    if not isinstance(value, datetime):
        raise InvalidInputError(f"datetime needs a datetime, got {type(value).__name__} {value!r}")
    if value.tzinfo is None:
        raise InvalidInputError(
            f"datetime {value.isoformat()} has no time zone; pass an aware "
            "datetime (the store keeps UTC)"
        )
    local = value.astimezone(tz)
    if lang == "zh":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def format_date(value: date, lang: str) -> str:
    """`2023年8月1日` / `2023-08-01`."""
    lang = _check_lang(lang)
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInputError(f"date needs a date, got {type(value).__name__} {value!r}")
    if lang == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return value.isoformat()


def format_month(value: date, lang: str) -> str:
    """`2023年8月` / `August 2023` (any day of the month)."""
    lang = _check_lang(lang)
    if not isinstance(value, date):
        raise InvalidInputError(f"month needs a date, got {type(value).__name__} {value!r}")
    if lang == "zh":
        return f"{value.year}年{value.month}月"
    names = (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    )
    return f"{names[value.month - 1]} {value.year}"


def _shquote(value: object) -> str:
    return shlex.quote(str(value))


# --- rendering -------------------------------------------------------------------------------


def render(
    template: str,
    lang: str,
    context: Mapping[str, Any],
    *,
    to: Sequence[str],
    message_id: str,
    directory: str | os.PathLike[str] | None = None,
    tz: tzinfo | None = None,
) -> Message:
    """Render one template in one language into a Message.

    `directory` defaults to `default_directory()`, `tz` (for datetimes) to `DEFAULT_TZ`.
    Raises InvalidInputError for an unknown template or language, a missing template file or
    variable, a list item without a key, an unmasked ID number in the context, a bad
    recipient address or Message-ID, or a template error (file and line).
    """
    _check_template_name(template)
    _check_lang(lang)
    recipients = _check_recipients(to)
    _check_message_id(message_id)
    _check_list_items(context)
    _check_no_full_ids(context)
    root = Path(directory) if directory is not None else default_directory()
    env = _environment(root.resolve(), tz if tz is not None else DEFAULT_TZ)

    names = [f"{template}/{lang}/{part}" for part in PARTS]
    complaints: list[str] = []
    reported: set[str] = set()
    for name in names:
        missing = sorted(_used_variables(env, name, root) - context.keys() - reported)
        if missing:
            reported.update(missing)
            quoted = [repr(v) for v in missing]
            which = ", ".join(quoted[:-1]) + " and " + quoted[-1] if len(quoted) > 1 else quoted[0]
            verb = "was" if len(missing) == 1 else "were"
            complaints.append(f"template {name} uses {which}, which {verb} not provided")
    if complaints:
        raise InvalidInputError("; ".join(complaints))

    subject, text, html = (_render_part(env, name, context) for name in names)
    subject = one_line(subject)
    if not subject:
        raise InvalidInputError(f"template {names[0]} rendered an empty subject")
    return Message(
        to=recipients,
        subject=subject,
        text=text.strip() + "\n",
        html=html.strip() + "\n",
        headers={"Message-ID": message_id, "X-Aidflow-Template": f"{template}/{lang}"},
    )


def one_line(text: str) -> str:
    """Collapse every run of whitespace or control characters to one space (header safety)."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(cleaned.split())


def _check_template_name(template: str) -> None:
    if template not in TEMPLATE_VARIABLES:
        known = sorted(TEMPLATE_VARIABLES)
        close = difflib.get_close_matches(template, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else None
        raise InvalidInputError(
            f"unknown notification template {template!r}; known: {', '.join(known)}", hint=hint
        )


def _check_recipients(to: Sequence[str]) -> tuple[str, ...]:
    if isinstance(to, str):
        raise InvalidInputError(f"recipients must be a list of addresses, not the string {to!r}")
    recipients = tuple(to)
    if not recipients:
        raise InvalidInputError("a message needs at least one recipient")
    for address in recipients:
        if not (isinstance(address, str) and address.isascii() and _ADDRESS.match(address)):
            raise InvalidInputError(
                f"recipient {address!r} is not a plain address such as li@county.example"
            )
    return recipients


def _check_list_items(context: Mapping[str, Any]) -> None:
    problems: list[str] = []
    for key, needed in LIST_ITEM_KEYS.items():
        if key not in context:
            continue
        items = context[key]
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            problems.append(f"{key!r} must be a list, got {type(items).__name__}")
            continue
        for index, item in enumerate(items):
            absent = sorted(k for k in needed if not _has(item, k))
            if absent:
                problems.append(f"{key}[{index}] lacks {', '.join(repr(k) for k in absent)}")
    if problems:
        raise InvalidInputError("; ".join(problems))


def _has(item: object, key: str) -> bool:
    return key in item if isinstance(item, Mapping) else hasattr(item, key)


def _check_no_full_ids(context: Mapping[str, Any]) -> None:
    for path, text in _strings(context, ""):
        found = _FULL_ID.search(text)
        if found:
            raise InvalidInputError(
                f"context value {path} holds what looks like a full ID number "
                f"({mask(found.group())}); notifications may only show masked numbers",
                hint="pass idnumber.mask(number)",
            )


def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}[{key!r}]" if path else repr(key))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
    elif hasattr(value, "__dataclass_fields__"):
        for key in value.__dataclass_fields__:
            yield from _strings(getattr(value, key), f"{path}.{key}")


_USED: dict[tuple[Path, str], tuple[Any, frozenset[str]]] = {}


def _used_variables(env: Environment, name: str, root: Path) -> frozenset[str]:
    """The undeclared variables of one template file (its layout takes none: see the check).

    Cached per file while the loader's `uptodate` (a stat of its mtime) says it is unchanged:
    reading and parsing three files per delivered message cost more than rendering them.
    """
    assert env.loader is not None
    cached = _USED.get((root, name))
    if cached is not None and cached[0]():
        return cached[1]
    try:
        source, _, uptodate = env.loader.get_source(env, name)
    except TemplateNotFound:
        raise InvalidInputError(
            f"template {name} not found in {root}",
            hint="every template needs subject.txt, body.txt and body.html "
            f"in each of: {', '.join(LANGS)}",
        ) from None
    try:
        ast = env.parse(source, name)
    except TemplateSyntaxError as exc:
        raise InvalidInputError(
            f"template {name}:{exc.lineno}: syntax error: {exc.message}",
            hint="check_templates lists every problem",
        ) from None
    used = frozenset(meta.find_undeclared_variables(ast))
    _USED[(root, name)] = (uptodate or (lambda: False), used)
    return used


def _render_part(env: Environment, name: str, context: Mapping[str, Any]) -> str:
    try:
        template = env.get_template(name)
        return template.render(context)
    except TemplateNotFound as exc:  # a layout named by {% extends %}
        raise InvalidInputError(f"template {name} needs {exc.name}, which does not exist") from None
    except TemplateSyntaxError as exc:
        raise InvalidInputError(
            f"template {exc.name or name}:{exc.lineno}: syntax error: {exc.message}"
        ) from None
    except (UndefinedError, InvalidInputError) as exc:
        where = _template_position(env, exc.__traceback__)
        detail = exc.message if isinstance(exc, InvalidInputError) else str(exc)
        raise InvalidInputError(f"template {where or name}: {detail}") from None


def _template_position(env: Environment, tb: TracebackType | None) -> str | None:
    """`name:line` of the innermost template frame (Jinja rewrites tracebacks to show them)."""
    assert isinstance(env.loader, FileSystemLoader)
    roots = [Path(p).resolve() for p in env.loader.searchpath]
    position = None
    for frame, line in traceback.walk_tb(tb):
        filename = Path(frame.f_code.co_filename)
        for root in roots:
            if filename.is_relative_to(root):
                position = f"{filename.relative_to(root).as_posix()}:{line}"
    return position


# --- checking a template directory -----------------------------------------------------------


def check_templates(directory: str | os.PathLike[str]) -> list[str]:
    """Every problem in a template directory, one string each, sorted by file.

    Parses and compiles every file; compares the variables each (template, language) uses with
    TEMPLATE_VARIABLES (unknown: used but not provided; unused: provided but used by none of
    its three parts); reports missing parts, unknown template or language directories, layouts
    (`_layouts/`) that use variables, layouts named by `{% extends %}` that do not exist, and
    the `safe` filter or `{% autoescape false %}`, which would let data inject HTML.
    """
    root = Path(directory)
    if not root.is_dir():
        return [f"{root}: not a directory"]
    env = _environment(root.resolve(), UTC)
    problems: list[tuple[str, int, str]] = []  # (file, line, message) for sorting

    def add(file: str, line: int, message: str) -> None:
        problems.append((file, line, message))

    for entry in sorted(root.iterdir()):
        if entry.name.startswith((".", "_")) or not entry.is_dir():
            continue
        if entry.name not in TEMPLATE_VARIABLES:
            close = difflib.get_close_matches(entry.name, sorted(TEMPLATE_VARIABLES), n=1)
            tip = f"; did you mean {close[0]!r}?" if close else ""
            add(
                entry.name,
                0,
                f"not a known template (known: {', '.join(sorted(TEMPLATE_VARIABLES))}){tip}",
            )
            continue
        for sub in sorted(entry.iterdir()):
            if sub.name not in LANGS and not sub.name.startswith("."):
                add(
                    f"{entry.name}/{sub.name}",
                    0,
                    f"not a supported language (supported: {', '.join(LANGS)})",
                )

    for template, provided in sorted(TEMPLATE_VARIABLES.items()):
        for lang in LANGS:
            used: set[str] = set()
            complete = True  # all three parts parsed, so "unused" is meaningful
            for part in PARTS:
                name = f"{template}/{lang}/{part}"
                if not (root / name).is_file():
                    add(
                        name,
                        0,
                        f"missing (each template needs {', '.join(PARTS)} in each of: "
                        f"{', '.join(LANGS)})",
                    )
                    complete = False
                    continue
                ast = _parse_for_check(env, root, name, add)
                if ast is None:
                    complete = False
                    continue
                names = meta.find_undeclared_variables(ast)
                used |= names
                for var in sorted(names - provided):
                    close = difflib.get_close_matches(var, sorted(provided), n=1)
                    tip = f"; did you mean {close[0]!r}?" if close else ""
                    add(
                        name,
                        _first_line(ast, var),
                        f"uses {var!r}, which the code does not provide{tip}",
                    )
            if complete:
                for var in sorted(provided - used):
                    add(
                        f"{template}/{lang}",
                        0,
                        f"{var!r} is provided but used in none of {', '.join(PARTS)}",
                    )

    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel.startswith("_") and not path.name.startswith("."):
            ast = _parse_for_check(env, root, rel, add)
            if ast is None:
                continue
            for var in sorted(meta.find_undeclared_variables(ast)):
                add(
                    rel,
                    _first_line(ast, var),
                    f"uses {var!r}; shared layouts get no variables, only blocks",
                )

    return [
        f"{file}:{line}: {message}" if line else f"{file}: {message}"
        for file, line, message in sorted(problems, key=lambda p: (p[0], p[1]))
    ]


def _parse_for_check(env: Environment, root: Path, name: str, add: Any) -> nodes.Template | None:
    try:
        source = (root / name).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        add(name, 0, f"is not UTF-8 ({exc.reason} at byte {exc.start})")
        return None
    try:
        ast = env.parse(source, name, str(root / name))
        env.compile(ast, name, str(root / name))
    except TemplateSyntaxError as exc:
        add(name, exc.lineno, f"syntax error: {exc.message}")
        return None
    for ref in meta.find_referenced_templates(ast):
        line = _first_reference_line(ast)
        if ref is None:
            add(name, line, "names a template computed at run time; name layouts literally")
        elif not (root / ref).is_file():
            add(name, line, f"refers to {ref!r}, which does not exist")
    for node in ast.find_all(nodes.Filter):
        if node.name == "safe":
            add(name, node.lineno, "the 'safe' filter turns off escaping; data could inject HTML")
    for modifier in ast.find_all((nodes.EvalContextModifier, nodes.ScopedEvalContextModifier)):
        for keyword in modifier.options:
            if keyword.key == "autoescape":
                add(
                    name,
                    modifier.lineno,
                    "{% autoescape %} changes escaping; leave it to the file extension",
                )
    return ast


def _first_line(ast: nodes.Template, var: str) -> int:
    lines = [n.lineno for n in ast.find_all(nodes.Name) if n.name == var and n.ctx == "load"]
    return min(lines, default=0)


def _first_reference_line(ast: nodes.Template) -> int:
    lines = [
        n.lineno
        for n in ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport))
    ]
    return min(lines, default=0)


# --- sample data for `aidflow notify preview` ------------------------------------------------

_CST = timezone(timedelta(hours=8))
_SAMPLE_ID = "11010519491231002X"


def sample_context(template: str, lang: str = "zh") -> dict[str, Any]:
    """Realistic sample data for one template (Chinese names and places; labels in `lang`)."""
    _check_template_name(template)
    _check_lang(lang)
    zh = lang == "zh"
    recipient = {
        "recipient_name": "张建国" if template != "deadline_reminder" else "李明",
        "recipient_user": "zhang" if template != "deadline_reminder" else "li",
    }
    case: dict[str, Any] = {
        "case_id": 42,
        "workflow_label": "最低生活保障（单人户）"
        if zh
        else "Minimum living guarantee (single-person household)",
        "person_name": "王秀英",
        "person_id_masked": mask(_SAMPLE_ID),
        "area": "城关镇东村",
        "step": "入户调查" if zh else "Investigation",
        "expected_next": "完成入户调查（至少2名调查人员），录入调查人员和月人均收入"
        if zh
        else "finish the home visit (at least 2 investigators) and record the investigators "
        "and the monthly income",
    }
    escalation = {
        "escalation_id": 17,
        "caseworker": "李明",
        "overdue": timedelta(days=3, hours=4, minutes=10),
    }
    if template == "deadline_reminder":
        return {
            **recipient,
            **case,
            "due_at": datetime(2023, 8, 3, 17, 30, tzinfo=_CST),
            "due_in": timedelta(hours=5, minutes=30),
            "actions": [
                {
                    "trigger": "investigate",
                    "label": "录入调查结果" if zh else "Record the investigation",
                },
                {"trigger": "withdraw", "label": "申请人撤回" if zh else "Applicant withdraws"},
            ],
        }
    if template == "escalation":
        return {
            **recipient,
            **case,
            **escalation,
            "due_at": datetime(2023, 8, 1, 17, 30, tzinfo=_CST),
        }
    if template == "emergency_escalation":
        return {
            **recipient,
            **case,
            **escalation,
            "workflow_label": "临时救助（急难）" if zh else "Temporary assistance (emergency)",
            "step": "先行救助" if zh else "Assist first",
            "expected_next": "立即发放先行救助金，救助后5个工作日内补齐审核手续"
            if zh
            else "pay the emergency assistance now; complete the review papers within "
            "5 working days afterwards",
            "emergency_reason": "住房失火，无处居住" if zh else "house fire, no place to live",
            "reported_at": datetime(2023, 8, 2, 8, 15, tzinfo=_CST),
            "limit": timedelta(hours=24),
            "overdue": timedelta(hours=6, minutes=40),
        }
    if template == "visit_missing":
        return {
            **recipient,
            **case,
            **escalation,
            "workflow_label": "特困人员救助供养（分散供养）"
            if zh
            else "Extreme-poverty support (dispersed)",
            "step": "供养中" if zh else "Receiving support",
            "expected_next": "本周内补足上门探访和理发服务，并在系统中登记"
            if zh
            else "make up the missing visits and haircut this week and log them",
            "month": date(2023, 7, 1),
            "overdue": timedelta(days=2, hours=9),
            "shortfalls": [
                {
                    "label": "上门探访（含清洁）" if zh else "Home visits (with cleaning)",
                    "done": 1,
                    "required": 2,
                },
                {"label": "理发" if zh else "Haircuts", "done": 0, "required": 1},
            ],
        }
    # daily_digest
    return {
        **recipient,
        "area": "城关镇",
        "day": date(2023, 8, 4),
        "overdue_cases": [
            {
                "case_id": 42,
                "person_name": "王秀英",
                "person_id_masked": mask(_SAMPLE_ID),
                "caseworker": "李明",
                "step": "入户调查" if zh else "Investigation",
                "due_at": datetime(2023, 8, 1, 17, 30, tzinfo=_CST),
                "overdue": timedelta(days=2, hours=15),
            },
            {
                "case_id": 57,
                "person_name": "赵德福",
                "person_id_masked": "110***********0017",
                "caseworker": "赵磊",
                "step": "公示" if zh else "Public notice",
                "due_at": datetime(2023, 8, 3, 9, 0, tzinfo=_CST),
                "overdue": timedelta(days=1),
            },
        ],
        "open_cases": [
            {
                "case_id": 61,
                "person_name": "刘桂兰",
                "person_id_masked": "110***********0041",
                "caseworker": "李明",
                "step": "已受理" if zh else "Accepted",
                "due_at": datetime(2023, 8, 7, 17, 30, tzinfo=_CST),
                "due_in": timedelta(days=3, hours=8),
            },
        ],
    }
