"""Every sentence a person reads, in the reader's language: aidflow's message catalog.

The English text in the source is the message id; `src/aidflow/locale/<locale>/LC_MESSAGES/
*.po` hold the translations, one catalog file per part of the program so that the parts can
be translated side by side, and `*.mo` are those files compiled (`python tools/catalog.py
compile`; a test holds each `.mo` to its `.po`, and another finds every marked message
translated). Babel reads the compiled catalogs and merges them into one.

Marking a message:

    _("case {case} is closed", case=case_id)     translated now, then filled in
    ngettext("{n} case", "{n} cases", n)          the plural form the language uses
    N_("Deadline")                                marked only: a constant translated where used
    pgettext("payment", "failed")                 one English word, two meanings

Values are filled in with `str.format` after translation, so the translation may move them;
a message given no values is returned as translated, braces and all. Never pass an f-string:
the catalog would hold the filled-in text, which no translation matches (ruff's INT rules
refuse it).

The language is per context, not per process: the CLI sets it once from the settings, the
HTTP server for each request from what the client sends, the notifier for each recipient.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Literal

Lang = Literal["zh", "en"]

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES: dict[str, str] = {"zh": "zh_CN"}
"""aidflow's language codes and the catalog directory each reads; English is the source."""

_current: ContextVar[str] = ContextVar("aidflow_language", default="en")


class _Catalog:
    """The merged translations of one language: a dict lookup, the plural rule of the
    language's header."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._translations = None
        locale = LOCALES.get(lang)
        if locale is None:
            return
        from babel.support import Translations

        merged: Translations | None = None
        for path in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.mo")):
            with path.open("rb") as handle:
                part = Translations(handle, domain=path.stem)
            if merged is None:
                merged = part
            else:
                merged.merge(part)
        self._translations = merged

    def gettext(self, message: str) -> str:
        if self._translations is None or not message:
            return message
        return str(self._translations.gettext(message))

    def pgettext(self, context: str, message: str) -> str:
        if self._translations is None or not message:
            return message
        return str(self._translations.pgettext(context, message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        if self._translations is None:
            return singular if n == 1 else plural
        return str(self._translations.ngettext(singular, plural, n))


@functools.cache
def catalog(lang: str) -> _Catalog:
    """The catalog of `lang`, read once per process."""
    return _Catalog(lang)


def language() -> str:
    """The language of the current context ('zh' or 'en')."""
    return _current.get()


def set_language(lang: str) -> None:
    """Set the language for the rest of this context (the CLI: the whole command)."""
    _current.set(lang if lang in ("zh", "en") else "en")


@contextmanager
def use_language(lang: str) -> Iterator[None]:
    """Speak `lang` inside the block (a request, an email to one recipient), then go back."""
    token = _current.set(lang if lang in ("zh", "en") else "en")
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    """`message` in the current language, unfilled (what click's own words go through)."""
    return catalog(_current.get()).gettext(message)


def _(message: str, /, **values: object) -> str:
    """`message` in the current language, with `values` filled into its {placeholders}."""
    text = catalog(_current.get()).gettext(message)
    return text.format(**values) if values else text


def pgettext(context: str, message: str, /, **values: object) -> str:
    """`message` as meant in `context`: one English word that two parts of the program say
    in different Chinese words ("failed": a payment 发放失败, an email 发送失败)."""
    text = catalog(_current.get()).pgettext(context, message)
    return text.format(**values) if values else text


def ngettext(singular: str, plural: str, n: int, /, **values: object) -> str:
    """The form of a message for `n` things, filled with `n` and `values`."""
    text = catalog(_current.get()).ngettext(singular, plural, n)
    return text.format(n=n, **values)


def N_(message: str, /) -> str:
    """Mark `message` for the catalog without translating it (a constant; call `_` on it
    where it is read)."""
    return message


def pick(en: str, zh: str) -> str:
    """Of two texts written out in full (a label from a workflow file), the one in the
    current language; the English one where no Chinese is given."""
    return zh if _current.get() == "zh" and zh else en
