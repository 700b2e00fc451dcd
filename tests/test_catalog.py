"""The message catalog: every marked message, help text and click word is translated into
Chinese with the same placeholders, and every compiled catalog matches its text."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from aidflow.i18n import _, language, ngettext, use_language

ROOT = Path(__file__).resolve().parent.parent


def _tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("catalog_tool", ROOT / "tools" / "catalog.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["catalog_tool"] = module
    spec.loader.exec_module(module)
    return module


def test_every_message_has_a_chinese_translation_and_the_compiled_catalogs_are_current() -> None:
    pytest.importorskip("babel")
    found = _tool().problems()
    assert not found, f"{len(found)} catalog problem(s):\n" + "\n".join(found[:80])


def test_a_message_is_translated_in_its_context_and_filled_after() -> None:
    assert _("error: {message}", message="x") == "error: x"
    with use_language("zh"):
        assert language() == "zh"
        assert _("error: {message}", message="x") == "错误：x"
        assert ngettext("{n} problem found:", "{n} problems found:", 3) == "发现 3 个问题："
    assert language() == "en"
    assert ngettext("{n} problem found:", "{n} problems found:", 1) == "1 problem found:"


_WORD = __import__("re").compile(r"[A-Za-z]{2,}")
_SPEAKERS = {"echo", "secho", "UsageError", "BadParameter", "ClickException", "Problem", "Finding"}


def _english_literal(node: object) -> bool:
    """A string literal (or an f-string's literal parts) with an English word in it."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(_WORD.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_english_literal(part) for part in node.values)
    if isinstance(node, ast.BinOp):  # "a" + "b", "..." % x
        return _english_literal(node.left) or _english_literal(node.right)
    return False


def english_messages(root: Path) -> list[str]:
    """Where an error, a hint or a printed line is English text that bypasses the catalog."""
    import ast

    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            speaks = name.endswith("Error") or name in _SPEAKERS
            if not speaks:
                continue
            first = {"Problem": slice(4, 6), "Finding": slice(3, 4)}.get(name, slice(0, 1))
            candidates = list(node.args[first])
            candidates += [k.value for k in node.keywords if k.arg in ("hint", "message")]
            for arg in candidates:
                if _english_literal(arg):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    return found


def test_no_error_hint_or_printed_line_bypasses_the_catalog() -> None:
    found = english_messages(ROOT / "src" / "aidflow")
    assert not found, f"{len(found)} message(s) not marked for the catalog:\n" + "\n".join(found)


def test_one_english_word_with_two_meanings_takes_a_context() -> None:
    from aidflow.i18n import pgettext

    with use_language("zh"):
        assert pgettext("payment", "failed") == "发放失败"
        assert pgettext("outbox", "failed") == "发送失败"
    assert pgettext("payment", "failed") == "failed"
    assert _tool().conflicts() == []
