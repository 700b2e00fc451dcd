"""The README's commands work as written, so the README cannot rot (SQLite only)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from aidflow.cli.main import cli

from .conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
# Settings that would leak from the developer's shell into the runs below.
CLEAN_ENV: dict[str, str | None] = {
    k: None
    for k in (
        "AIDFLOW_DATABASE_URL",
        "AIDFLOW_USER",
        "AIDFLOW_LANG",
        "AIDFLOW_NOW",
        "AIDFLOW_TZ",
        "AIDFLOW_WORKFLOWS",
        "AIDFLOW_CALENDAR",
        "AIDFLOW_DEBUG",
    )
}


def section(title: str) -> str:
    """The README text under `## title`, up to the next second-level heading."""
    match = re.search(
        rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.MULTILINE | re.DOTALL
    )
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def fenced(text: str, lang: str = "sh") -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    blocks = fenced(section("Two commands"))
    assert len(blocks) == 2
    commands = [b.strip() for b in blocks]
    assert all("\n" not in c for c in commands), commands
    try_it, test_command = commands
    assert try_it.endswith(".venv/bin/aidflow demo")
    assert test_command.endswith(".venv/bin/python -m pytest")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    last = [line for line in ci.splitlines() if line.strip()][-1]
    assert last == test_command


def test_demo_runs(tmp_path: Path) -> None:
    """`aidflow demo`, as the README's first command ends, but into a temporary file."""
    db_file = tmp_path / "demo.db"
    result = CliRunner().invoke(
        cli, ["demo", "--db-file", str(db_file)], env=CLEAN_ENV, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "audit ok" in result.output
    assert "refused as expected" in result.output  # the two refused actions it promises
    assert db_file.exists()


def using_it_commands() -> list[tuple[str, list[str]]]:
    """(README line, argv after `aidflow`) for each command of the '## Using it' block."""
    (block,) = fenced(section("Using it"))
    lines = [line for line in block.splitlines() if line.strip()]
    assert lines[0].startswith("export AIDFLOW_DATABASE_URL=sqlite:///county.db")
    commands = []
    for line in lines[1:]:
        assert line.startswith("aidflow "), (
            f"unexpected line in the README's 'Using it' block: {line!r}"
        )
        words = shlex.split(
            line, comments=True
        )  # drops the trailing `# comment`, keeps `'*'` quoted
        commands.append((line, words[1:]))
    return commands


def test_using_it_block_runs_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = using_it_commands()
    assert [argv[:2] for _, argv in commands[:2]] == [["db", "upgrade"], ["user", "add"]]
    monkeypatch.chdir(REPO)  # so `workflows/` resolves as it does in a checkout
    # the export, pointed at a temporary file; a fixed clock keeps deadlines reproducible
    env = dict(CLEAN_ENV, AIDFLOW_NOW="2023-08-01T09:00")
    db = ["--db", f"sqlite:///{tmp_path / 'county.db'}"]
    runner = CliRunner()
    for line, argv in commands:
        result = runner.invoke(cli, db + argv, env=env, catch_exceptions=False)
        assert result.exit_code == 0, f"README command failed: {line}\n{result.output}"
    assert result.stdout.startswith("audit ok: 1 case(s), 2 events verified")
    assert not (REPO / "county.db").exists()
