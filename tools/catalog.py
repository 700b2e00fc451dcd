"""The message catalog's upkeep: find what needs translating, compile what is translated.

    python tools/catalog.py missing [--under PATH] [--lang zh]   untranslated messages, as .po
    python tools/catalog.py compile                               every .po -> .mo beside it
    python tools/catalog.py check                                 what tests/test_catalog checks

The messages are (1) every `_()`, `N_()` and `ngettext()` in src/aidflow, found by Babel's
extractor; (2) the help of every command and option of the CLI (click keeps them as plain
strings, and aidflow.cli.speech swaps in their translations); (3) click's own words (Usage,
Options, its error messages), which click reads through gettext.

`missing` prints the untranslated ones in .po form, with where each is used, to paste into
one of the catalog files and translate.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "aidflow"
LOCALE = SRC / "locale"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)[^{}]*\}(?!\})")


@dataclass(frozen=True)
class Message:
    msgid: str | tuple[str, str]
    where: str  # path:line, or the command's name for help texts
    context: str | None = None

    @property
    def key(self) -> str:
        return _key(self.msgid, self.context)


def _key(msgid: str | tuple[str, ...], context: str | None) -> str:
    first = msgid if isinstance(msgid, str) else msgid[0]
    return f"{context}\x04{first}" if context else first


def source_messages(under: Path = SRC) -> Iterator[Message]:
    """The marked messages of the Python files under `under`."""
    files = [under] if under.is_file() else sorted(under.rglob("*.py"))
    for path in files:
        if "locale" in path.parts:
            continue
        for line, msgid, _comments, context in extract_from_file(
            "python", str(path), keywords=KEYWORDS
        ):
            if msgid:
                yield Message(msgid, f"{path.relative_to(ROOT)}:{line}", context)


def help_messages() -> Iterator[Message]:
    """The help of every command and option of the `aidflow` command line."""
    from aidflow.cli.root import cli
    from aidflow.cli.speech import help_texts

    for where, text in help_texts(cli):
        yield Message(text, where)


def click_messages() -> Iterator[Message]:
    """click's own words (it marks them for gettext)."""
    import click

    base = Path(click.__file__).parent
    for path in sorted(base.glob("*.py")):
        for line, msgid, _comments, _context in extract_from_file(
            "python", str(path), keywords={"_": None, "ngettext": (1, 2)}
        ):
            if msgid:
                yield Message(msgid, f"click/{path.name}:{line}")


def all_messages() -> list[Message]:
    return [*source_messages(), *help_messages(), *click_messages()]


def po_files(lang: str = "zh_CN") -> list[Path]:
    return sorted((LOCALE / lang / "LC_MESSAGES").glob("*.po"))


def read(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=path.parent.parent.name)


def translated(lang: str = "zh_CN") -> dict[str, str | tuple[str, ...]]:
    """msgid -> translation over every catalog file of `lang` (untranslated and fuzzy left out)."""
    out: dict[str, str | tuple[str, ...]] = {}
    for path in po_files(lang):
        for message in read(path):
            if not message.id or message.fuzzy:
                continue
            key = _key(message.id, message.context)
            value = message.string
            if (isinstance(value, str) and value) or (isinstance(value, tuple) and all(value)):
                out[key] = value
    return out


def conflicts(lang: str = "zh_CN") -> list[str]:
    """Messages two catalog files translate differently: only one would be read (the files
    are merged), so a word would change with the order of the files. A word with two
    meanings takes a context (pgettext) instead."""
    seen: dict[str, dict[str, str]] = {}
    for path in po_files(lang):
        for message in read(path):
            if message.id and message.string and not message.fuzzy:
                key = _key(message.id, message.context)
                seen.setdefault(key, {})[path.name] = str(message.string)
    return [
        f"{key!r} is translated differently in "
        + ", ".join(f"{name} ({text!r})" for name, text in files.items())
        for key, files in seen.items()
        if len(set(files.values())) > 1
    ]


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def problems(lang: str = "zh_CN") -> list[str]:
    """Untranslated messages, translations whose {placeholders} differ from the source's,
    and compiled files older than their text."""
    done = translated(lang)
    found: list[str] = []
    seen: set[str] = set()
    for message in all_messages():
        if message.key in seen:
            continue
        seen.add(message.key)
        if message.key not in done:
            found.append(f"{message.where}: untranslated: {message.key!r}")
            continue
        source = message.msgid if isinstance(message.msgid, tuple) else (message.msgid,)
        wanted = set().union(*(placeholders(s) for s in source))
        value = done[message.key]
        for form in value if isinstance(value, tuple) else (value,):
            if placeholders(form) - wanted - {"n"}:
                found.append(
                    f"{message.where}: translation of {message.key!r} names "
                    f"{sorted(placeholders(form) - wanted)}, which the source does not give"
                )
    found += conflicts(lang)
    for path in po_files(lang):
        mo = path.with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != compiled(path):
            found.append(f"{path.relative_to(ROOT)}: .mo is missing or stale; run compile")
    return found


def compiled(path: Path) -> bytes:
    # Babel stamps "now" into a header the .po does not date; a fixed date keeps the compiled
    # file a function of its text, so the suite can tell a stale one.
    catalog = read(path)
    catalog.creation_date = catalog.revision_date = datetime(2026, 1, 1, tzinfo=UTC)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def missing(under: Path | None, lang: str = "zh_CN") -> str:
    done = translated(lang)
    messages = list(source_messages(under)) if under is not None else all_messages()
    by_key: dict[str, list[Message]] = {}
    for message in messages:
        if message.key not in done:
            by_key.setdefault(message.key, []).append(message)
    out: list[str] = []
    for group in by_key.values():
        first = group[0]
        out.append("#: " + " ".join(m.where for m in group[:3]))
        if first.context:
            out.append(f"msgctxt {_quote(first.context)}")
        if isinstance(first.msgid, tuple):
            out.append(f"msgid {_quote(first.msgid[0])}")
            out.append(f"msgid_plural {_quote(first.msgid[1])}")
            out.append('msgstr[0] ""')
        else:
            out.append(f"msgid {_quote(first.msgid)}")
            out.append('msgstr ""')
        out.append("")
    return "\n".join(out)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    lines = escaped.split("\n")
    if len(lines) == 1:
        return f'"{escaped}"'
    parts = [f'"{line}\\n"' for line in lines[:-1]] + ([f'"{lines[-1]}"'] if lines[-1] else [])
    return '""\n' + "\n".join(parts)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tools/catalog.py")
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("missing")
    ask.add_argument("--under", type=Path)
    ask.add_argument("--lang", default="zh_CN")
    sub.add_parser("compile")
    sub.add_parser("check")
    args = parser.parse_args(argv)
    if args.command == "missing":
        under = args.under.resolve() if args.under else None
        print(missing(under, args.lang))
        return 0
    if args.command == "compile":
        for path in po_files():
            path.with_suffix(".mo").write_bytes(compiled(path))
            print(f"compiled {path.relative_to(ROOT)}")
        return 0
    found = problems()
    for line in found:
        print(line)
    print(f"{len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main(sys.argv[1:]))
