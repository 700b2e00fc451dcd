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
from collections.abc import Iterator

import click

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


def _short(text: str) -> str:
    """A translated help's first sentence, as the one-line summary in command lists (click
    shortens at an English full stop, which Chinese text does not have)."""
    first = text.split("\n\n", 1)[0].replace("\n", "")
    sentence = first.split("。", 1)[0]
    return sentence if len(sentence) <= 40 else sentence[:39] + "…"


def speak(lang: str, root: click.Command) -> None:
    """Set the command's language: aidflow's messages, every help text under `root`, and
    click's own words."""
    i18n.set_language(lang)
    _click_words()
    for _path, command in _walk(root, "aidflow"):
        for thing, attr, text in _texts(command):
            setattr(thing, attr, i18n.gettext(text))
        if lang != "en" and not _source(command, "short_help") and command.help:
            command.short_help = _short(command.help)
        elif lang == "en" and not _source(command, "short_help"):
            command.short_help = None


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
