"""`python -m aidflow.language.reference --write`: regenerate the docs files."""

from __future__ import annotations

import sys
from pathlib import Path

from aidflow.language.reference import REGENERATE, render
from aidflow.language.reference.text import LANGS


def main() -> None:
    docs = Path(__file__).resolve().parents[4] / "docs"
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: {REGENERATE}")
    docs.mkdir(exist_ok=True)
    for lang in LANGS:
        (docs / f"workflow-reference.{lang}.md").write_text(render(lang), encoding="utf-8")


main()
