"""The package layers hold: imports point downward, and only settings.py reads the environment.

The import contracts live in pyproject.toml ([tool.importlinter]); `lint-imports` checks
them in CI, and this test runs it so that the suite checks them too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "aidflow"
SETTINGS = SRC / "settings.py"
ENVIRONMENT = ("environ", "environb", "getenv", "getenvb")


def environment_reads(path: Path) -> list[tuple[int, str]]:
    """(line, code) of each read of the process environment in one module, in line order."""
    source = path.read_text(encoding="utf-8")
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Attribute):
            value = node.value
            reads = node.attr in ENVIRONMENT and isinstance(value, ast.Name) and value.id == "os"
        elif isinstance(node, ast.ImportFrom):
            reads = node.module == "os" and any(a.name in ENVIRONMENT for a in node.names)
        else:
            continue
        if reads:
            found.append((node.lineno, ast.get_source_segment(source, node) or ""))
    return sorted(found)


def test_only_settings_reads_the_environment() -> None:
    reads = [
        f"{path.relative_to(REPO)}:{line}: {code}"
        for path in sorted(SRC.rglob("*.py"))
        if path != SETTINGS
        for line, code in environment_reads(path)
    ]
    assert reads == [], "read the environment through aidflow.settings:\n" + "\n".join(reads)


def test_environment_reads_are_found(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import os\n"
        "from os import getenv\n"
        "a = os.environ['A']\n"
        "b = os.getenv('B')\n"
        "c = os.path.join('x')\n"
    )
    assert environment_reads(module) == [
        (2, "from os import getenv"),
        (3, "os.environ"),
        (4, "os.getenv"),
    ]


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
