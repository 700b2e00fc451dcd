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
