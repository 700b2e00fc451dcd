"""Render notification emails (subject, plain text, HTML) from Jinja templates.

Each message is three files, `notifications/<template>/<lang>/subject.txt`, `body.txt` and
`body.html`; bodies may extend a shared layout under `notifications/_layouts/` (see
notifications/README.md). One environment renders all three: `StrictUndefined`, so a
variable the code did not provide is an error and never an empty string, and autoescape on
for `.html` only, so a person's name is escaped in the HTML part and verbatim in the text.

What the code provides to each template is in notify.templates (the one list of
templates). `check_templates` holds a directory of templates against it, and `render`
refuses a context that lacks a variable the template uses. The code passes ID numbers
already masked; `render` refuses any value that looks like a full ID number. Sending the
rendered Message is a channel's work (notify.mailer).
"""

from __future__ import annotations

import os
import re
import shlex
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
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

from aidflow.engine.deadlines import Due, show_due, show_span
from aidflow.errors import InvalidInputError, did_you_mean
from aidflow.i18n import _, ngettext
from aidflow.idnumber import FULL_ID_IN_TEXT, mask
from aidflow.notify.mailer import Message, one_line
from aidflow.notify.messageid import check_message_id as _check_message_id
from aidflow.notify.templates import (
    LANGS,
    LIST_ITEM_KEYS,
    TEMPLATE_VARIABLES,
    check_lang,
    require_template,
)

PARTS: tuple[str, ...] = ("subject.txt", "body.txt", "body.html")
LAYOUTS_DIR = "_layouts"  # shared files; any top-level name starting with "_" is shared


_ADDRESS = re.compile(r"^[^\s@<>,;:\"()\[\]\\]+@[^\s@<>,;:\"()\[\]\\]+$")


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
    public_url: str | None = None  # the web pages' address (setting public_url): case links

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


def format_duration(value: timedelta | Due, lang: str) -> str:
    """`3 days 4 hours` / `3天4小时`: the two largest units, rounded down.

    Days start at 48 hours, so the policy's "24 hours" reads as `24 hours`, not `1 day`.
    A case's deadline (`engine.deadlines.Due`) reads as its time left or late, in working
    days for a working-day deadline.
    """
    lang = check_lang(lang)
    if isinstance(value, Due):
        return show_span(value, lang)
    if not isinstance(value, timedelta):
        raise InvalidInputError(
            _(
                "duration needs a timedelta, got {type} {value!r}",
                type=type(value).__name__,
                value=value,
            )
        )
    if value < timedelta(0):
        raise InvalidInputError(
            _("duration {value} is negative; pass how long, not a signed difference", value=value)
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


def format_datetime(value: datetime | Due, lang: str, tz: tzinfo) -> str:
    """`2023年8月3日 17:00` / `2023-08-03 17:00`, in the county's time zone; a case's
    deadline (`engine.deadlines.Due`) as its last day that counts."""
    lang = check_lang(lang)
    if isinstance(value, Due):
        return show_due(value, lang, tz)
    if not isinstance(value, datetime):
        raise InvalidInputError(
            _(
                "datetime needs a datetime, got {type} {value!r}",
                type=type(value).__name__,
                value=value,
            )
        )
    if value.tzinfo is None:
        raise InvalidInputError(
            _(
                "datetime {value} has no time zone; pass an aware datetime (the store keeps UTC)",
                value=value.isoformat(),
            )
        )
    local = value.astimezone(tz)
    if lang == "zh":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def format_date(value: date, lang: str) -> str:
    """`2023年8月1日` / `2023-08-01`."""
    lang = check_lang(lang)
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInputError(
            _("date needs a date, got {type} {value!r}", type=type(value).__name__, value=value)
        )
    if lang == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return value.isoformat()


def format_month(value: date, lang: str) -> str:
    """`2023年8月` / `August 2023` (any day of the month)."""
    lang = check_lang(lang)
    if not isinstance(value, date):
        raise InvalidInputError(
            _("month needs a date, got {type} {value!r}", type=type(value).__name__, value=value)
        )
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
    require_template(template)
    check_lang(lang)
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
            complaints.append(
                ngettext(
                    "template {name} uses {which}, which was not provided",
                    "template {name} uses {which}, which were not provided",
                    len(missing),
                    name=name,
                    which=_("{some} and {last}", some=", ".join(quoted[:-1]), last=quoted[-1])
                    if len(quoted) > 1
                    else quoted[0],
                )
            )
    if complaints:
        raise InvalidInputError("; ".join(complaints))

    subject, text, html = (_render_part(env, name, context) for name in names)
    subject = one_line(subject)
    if not subject:
        raise InvalidInputError(_("template {name} rendered an empty subject", name=names[0]))
    return Message(
        to=recipients,
        subject=subject,
        text=text.strip() + "\n",
        html=html.strip() + "\n",
        headers={"Message-ID": message_id, "X-Aidflow-Template": f"{template}/{lang}"},
    )


def _check_recipients(to: Sequence[str]) -> tuple[str, ...]:
    if isinstance(to, str):
        raise InvalidInputError(
            _("recipients must be a list of addresses, not the string {to!r}", to=to)
        )
    recipients = tuple(to)
    if not recipients:
        raise InvalidInputError(_("a message needs at least one recipient"))
    for address in recipients:
        if not (isinstance(address, str) and address.isascii() and _ADDRESS.match(address)):
            raise InvalidInputError(
                _(
                    "recipient {address!r} is not a plain address such as li@county.example",
                    address=address,
                )
            )
    return recipients


def _check_list_items(context: Mapping[str, Any]) -> None:
    problems: list[str] = []
    for key, needed in LIST_ITEM_KEYS.items():
        if key not in context:
            continue
        items = context[key]
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            problems.append(
                _("{key!r} must be a list, got {type}", key=key, type=type(items).__name__)
            )
            continue
        for index, item in enumerate(items):
            absent = sorted(k for k in needed if not _has(item, k))
            if absent:
                problems.append(
                    _(
                        "{key}[{index}] lacks {keys}",
                        key=key,
                        index=index,
                        keys=", ".join(repr(k) for k in absent),
                    )
                )
    if problems:
        raise InvalidInputError("; ".join(problems))


def _has(item: object, key: str) -> bool:
    return key in item if isinstance(item, Mapping) else hasattr(item, key)


def _check_no_full_ids(context: Mapping[str, Any]) -> None:
    for path, text in _strings(context, ""):
        found = FULL_ID_IN_TEXT.search(text)
        if found:
            raise InvalidInputError(
                _(
                    "context value {path} holds what looks like a full ID number "
                    "({masked}); notifications may only show masked numbers",
                    path=path,
                    masked=mask(found.group()),
                ),
                hint=_("pass idnumber.mask(number)"),
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
        source, _filename, uptodate = env.loader.get_source(env, name)
    except TemplateNotFound:
        raise InvalidInputError(
            _("template {name} not found in {root}", name=name, root=root),
            hint=_(
                "every template needs subject.txt, body.txt and body.html in each of: {langs}",
                langs=", ".join(LANGS),
            ),
        ) from None
    try:
        ast = env.parse(source, name)
    except TemplateSyntaxError as exc:
        raise InvalidInputError(
            _(
                "template {name}:{line}: syntax error: {error}",
                name=name,
                line=exc.lineno,
                error=exc.message,
            ),
            hint=_("check_templates lists every problem"),
        ) from None
    used = frozenset(meta.find_undeclared_variables(ast))
    _USED[(root, name)] = (uptodate or (lambda: False), used)
    return used


def _render_part(env: Environment, name: str, context: Mapping[str, Any]) -> str:
    try:
        template = env.get_template(name)
        return template.render(context)
    except TemplateNotFound as exc:  # a layout named by {% extends %}
        raise InvalidInputError(
            _("template {name} needs {other}, which does not exist", name=name, other=exc.name)
        ) from None
    except TemplateSyntaxError as exc:
        raise InvalidInputError(
            _(
                "template {name}:{line}: syntax error: {error}",
                name=exc.name or name,
                line=exc.lineno,
                error=exc.message,
            )
        ) from None
    except (UndefinedError, InvalidInputError) as exc:
        where = _template_position(env, exc.__traceback__)
        detail = exc.message if isinstance(exc, InvalidInputError) else str(exc)
        raise InvalidInputError(
            _("template {name}: {error}", name=where or name, error=detail)
        ) from None


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
        return [_("{root}: not a directory", root=root)]
    env = _environment(root.resolve(), UTC)
    problems: list[tuple[str, int, str]] = []  # (file, line, message) for sorting

    def add(file: str, line: int, message: str) -> None:
        problems.append((file, line, message))

    for entry in sorted(root.iterdir()):
        if entry.name.startswith((".", "_")) or not entry.is_dir():
            continue
        if entry.name not in TEMPLATE_VARIABLES:
            close = did_you_mean(entry.name, sorted(TEMPLATE_VARIABLES))
            tip = f"; {close}" if close else ""
            add(
                entry.name,
                0,
                _(
                    "not a known template (known: {known}){tip}",
                    known=", ".join(sorted(TEMPLATE_VARIABLES)),
                    tip=tip,
                ),
            )
            continue
        for sub in sorted(entry.iterdir()):
            if sub.name not in LANGS and not sub.name.startswith("."):
                add(
                    f"{entry.name}/{sub.name}",
                    0,
                    _("not a supported language (supported: {langs})", langs=", ".join(LANGS)),
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
                        _(
                            "missing (each template needs {parts} in each of: {langs})",
                            parts=", ".join(PARTS),
                            langs=", ".join(LANGS),
                        ),
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
                    close = did_you_mean(var, sorted(provided))
                    tip = f"; {close}" if close else ""
                    add(
                        name,
                        _first_line(ast, var),
                        _("uses {var!r}, which the code does not provide{tip}", var=var, tip=tip),
                    )
            if complete:
                for var in sorted(provided - used):
                    add(
                        f"{template}/{lang}",
                        0,
                        _(
                            "{var!r} is provided but used in none of {parts}",
                            var=var,
                            parts=", ".join(PARTS),
                        ),
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
                    _("uses {var!r}; shared layouts get no variables, only blocks", var=var),
                )

    return [
        f"{file}:{line}: {message}" if line else f"{file}: {message}"
        for file, line, message in sorted(problems, key=lambda p: (p[0], p[1]))
    ]


def _parse_for_check(env: Environment, root: Path, name: str, add: Any) -> nodes.Template | None:
    try:
        source = (root / name).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        add(name, 0, _("is not UTF-8 ({reason} at byte {at})", reason=exc.reason, at=exc.start))
        return None
    try:
        ast = env.parse(source, name, str(root / name))
        env.compile(ast, name, str(root / name))
    except TemplateSyntaxError as exc:
        add(name, exc.lineno, _("syntax error: {error}", error=exc.message))
        return None
    for ref in meta.find_referenced_templates(ast):
        line = _first_reference_line(ast)
        if ref is None:
            add(name, line, _("names a template computed at run time; name layouts literally"))
        elif not (root / ref).is_file():
            add(name, line, _("refers to {ref!r}, which does not exist", ref=ref))
    for node in ast.find_all(nodes.Filter):
        if node.name == "safe":
            add(
                name,
                node.lineno,
                _("the 'safe' filter turns off escaping; data could inject HTML"),
            )
    for modifier in ast.find_all((nodes.EvalContextModifier, nodes.ScopedEvalContextModifier)):
        for keyword in modifier.options:
            if keyword.key == "autoescape":
                add(
                    name,
                    modifier.lineno,
                    _("{% autoescape %} changes escaping; leave it to the file extension"),
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
