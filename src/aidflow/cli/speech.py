"""The command line in the user's language: its help texts and click's own words.

click keeps each command's and option's help as a plain string, so `speak` swaps in the
catalog's translation (keeping the English to swap back: a test process speaks both). click
takes its own words ("Usage:", "Options:", "Missing argument ...") from gettext's global
domain, which follows the process's locale variables rather than aidflow's language setting;
`speak` points those lookups at aidflow's catalog, where click's words are translated too.
"""

from __future__ import annotations

import gettext as stdlib_gettext
import inspect
import re
import unicodedata
from collections.abc import Iterator

import click
import click._textwrap
import click.formatting

from aidflow import i18n

_KEEP = "_aidflow_source_text"
_COMMAND_TEXTS = ("help", "short_help", "epilog")


def _walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from _walk(command.commands[name], f"{path} {name}")


def _source(thing: object, attr: str) -> str | None:
    """The English text `thing.attr` had before any translation."""
    kept: dict[str, str | None] = thing.__dict__.setdefault(_KEEP, {})
    if attr not in kept:
        value = getattr(thing, attr, None)
        kept[attr] = inspect.cleandoc(value) if isinstance(value, str) and value else None
    return kept[attr]


def _texts(command: click.Command) -> Iterator[tuple[object, str, str]]:
    for attr in _COMMAND_TEXTS:
        text = _source(command, attr)
        if text:
            yield command, attr, text
    for param in command.params:
        if isinstance(param, click.Option):
            text = _source(param, "help")
            if text:
                yield param, "help", text


def help_texts(root: click.Command) -> Iterator[tuple[str, str]]:
    """(where, English text) of every help text under `root`, for the catalog's upkeep."""
    for path, command in _walk(root, "aidflow"):
        for _thing, _attr, text in _texts(command):
            yield path, text


_SUMMARY_WIDTH = 60
"""Terminal columns a command's one-line summary may take in a group's command list (an 80
column terminal leaves about 64 beside the longest command name)."""

_PAUSES = "；：（，"


def _short(text: str) -> str:
    """A translated help's one-line summary for command lists: its first sentence, or, if that
    is too wide, the longest start of it that fits and ends before a pause (；：（，) outside
    brackets (click shortens at an English full stop, which Chinese text does not have)."""
    first = text.split("\n\n", 1)[0].replace("\n", "")
    sentence = first.split("。", 1)[0]
    if _width(sentence) <= _SUMMARY_WIDTH:
        return sentence
    cuts: list[int] = []
    depth = 0
    for i, char in enumerate(sentence):
        if char in _PAUSES and depth == 0 and i >= 2:
            cuts.append(i)
        depth += (char == "（") - (char == "）")
    fitting = [i for i in cuts if _width(sentence[:i]) <= _SUMMARY_WIDTH]
    if fitting:
        return sentence[: max(fitting)]
    cut = len(sentence)
    while _width(sentence[:cut]) > _SUMMARY_WIDTH - 2:
        cut -= 1
    return sentence[:cut] + "…"


_spoken: dict[int, str] = {}  # the language each command tree's texts are in now


def speak(lang: str, root: click.Command) -> None:
    """Set the command's language: aidflow's messages, every help text under `root`, and
    click's own words."""
    i18n.set_language(lang)
    if _spoken.get(id(root)) == lang:  # main() spoke it before the root command ran
        return
    _spoken[id(root)] = lang
    _click_words()
    _wide_wrapping(lang != "en")
    _version_line(root)
    for _path, command in _walk(root, "aidflow"):
        for thing, attr, text in _texts(command):
            setattr(thing, attr, i18n.gettext(text))
        command._help_option = None  # click keeps --help's option, words and all, once made
        if lang != "en" and not _source(command, "short_help") and command.help:
            command.short_help = _short(command.help)
        elif lang == "en" and not _source(command, "short_help"):
            command.short_help = None


def _version_line(root: click.Command) -> None:
    """`--version`'s "%(prog)s, version %(version)s": click translates it once, when the option
    is declared, and keeps it in its callback's closure; put the current language's there."""
    for param in root.params:
        code = getattr(param.callback, "__code__", None)
        closure = getattr(param.callback, "__closure__", None)
        if code is None or closure is None or "message" not in code.co_freevars:
            continue
        cell = closure[code.co_freevars.index("message")]
        kept: dict[str, str] = param.__dict__.setdefault(_KEEP, {})
        if isinstance(cell.cell_contents, str):
            kept.setdefault("message", cell.cell_contents)
            cell.cell_contents = i18n.gettext(kept["message"])


def _plural(singular: str, plural: str, n: int) -> str:
    return i18n.catalog(i18n.language()).ngettext(singular, plural, n)


def _click_words() -> None:
    import click.core
    import click.decorators
    import click.exceptions
    import click.formatting
    import click.parser
    import click.termui
    import click.types
    import click.utils

    for module in (
        click.core,
        click.decorators,
        click.exceptions,
        click.formatting,
        click.parser,
        click.termui,
        click.types,
        click.utils,
    ):
        if getattr(module, "_", None) is stdlib_gettext.gettext:
            module._ = i18n.gettext  # type: ignore[attr-defined]
        if getattr(module, "ngettext", None) is stdlib_gettext.ngettext:
            module.ngettext = _plural  # type: ignore[attr-defined]


# Chinese text on a terminal: each character takes two columns, and a line may break between
# any two characters (but not before a closing mark such as ，。） nor after an opening one
# such as （“). click measures and wraps text by characters and breaks lines at spaces only, so
# Chinese help ran past the terminal's edge; in Chinese, `speak` teaches its wrapper both.
# English keeps click's own measure, so its help reads exactly as before.

_OPENING = "（“‘《【「〔"
_CLOSING = "，。、；：？！）”’》】」〕…"
_WIDE = (  # the East Asian wide and full-width ranges
    "\u1100-\u115f\u2e80-\u303e\u3041-\ua4cf\uac00-\ud7a3"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6"
)
_UNIT = re.compile(f"[{_WIDE}]|[^\\s{_WIDE}]+")
_OPENS = _OPENING + "([{"
_CLOSES = _CLOSING + ")]}.,;:!?"


def _pieces(chunk: str) -> list[str]:
    """`chunk` cut where a line may break: between wide characters, never after an opening
    mark nor before a closing one, nor inside square brackets (click's "[必填]")."""
    pieces: list[str] = []
    bracketed = False
    for unit in _UNIT.findall(chunk):
        if pieces and (bracketed or pieces[-1][-1] in _OPENS or unit[0] in _CLOSES):
            pieces[-1] += unit
        else:
            pieces.append(unit)
        bracketed = pieces[-1].count("[") > pieces[-1].count("]")
    return pieces


_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")


def _width(x: str) -> int:
    """The columns `x` takes on a terminal (ANSI colour codes take none)."""
    text = _ANSI.sub("", x)
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _truncate(text: str, n: int) -> str:
    """The longest start of `text` that takes at most `n` columns (at least a character)."""
    if n <= 0:
        return ""
    cut = 1
    while cut < len(text) and _width(text[: cut + 1]) <= n:
        cut += 1
    return text[:cut]


class _WideTextWrapper(click._textwrap.TextWrapper):
    """click's wrapper, breaking Chinese text between characters."""

    def _split(self, text: str) -> list[str]:
        self.break_on_hyphens = text.isascii()  # not inside a file name among Chinese words
        chunks: list[str] = super()._split(text)
        if text.isascii():
            return chunks
        pieces: list[str] = []
        for chunk in chunks:
            if chunk.isspace() or chunk.isascii():
                pieces.append(chunk)
            else:
                pieces.extend(_pieces(chunk))
        return pieces


_NARROW = (
    click._textwrap.TextWrapper,
    click._textwrap.term_len,  # type: ignore[attr-defined]
    click._textwrap._truncate_visible,
)


def _wide_wrapping(wide: bool) -> None:
    """Measure and wrap help text as Chinese (or, for English, exactly as click does)."""
    wrapper, term_len, truncate = (_WideTextWrapper, _width, _truncate) if wide else _NARROW
    click._textwrap.TextWrapper = wrapper  # type: ignore[misc]
    click._textwrap.term_len = term_len  # type: ignore[attr-defined]
    click._textwrap._truncate_visible = truncate
    click.formatting.term_len = term_len  # type: ignore[attr-defined]
