"""The README's commands work as written, so the README cannot rot (SQLite only)."""

from __future__ import annotations

import re
import shlex
import shutil
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
        "AIDFLOW_CONFIG",
        "AIDFLOW_NOTIFICATIONS",
        "AIDFLOW_CARE_VISITS",
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


def using_it_lines() -> list[tuple[str, list[str]]]:
    """(README line, its words) for each line of the '## Using it' block: `export NAME=VALUE`
    or `aidflow ...`."""
    (block,) = fenced(section("Using it"))
    lines = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)  # drops a trailing `# comment`, keeps `'*'` quoted
        if words:
            assert words[0] in ("export", "aidflow"), (
                f"unexpected line in the README's 'Using it' block: {line!r}"
            )
            lines.append((line, words))
    return lines


def test_using_it_block_runs_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The block as a new county runs it, in an empty directory; the survey list it imports
    is the one in the checkout's tests/data/."""
    lines = using_it_lines()
    assert [words[:2] for _, words in lines[:3]] == [
        ["aidflow", "init"],
        ["export", "AIDFLOW_CONFIG=county/aidflow.toml"],
        ["export", "AIDFLOW_DATABASE_URL=sqlite:///county.db"],
    ]
    monkeypatch.chdir(tmp_path)
    Path("tests/data").mkdir(parents=True)
    for data in ("civil_affairs.csv", "areas.csv"):  # a survey list, the county's areas
        shutil.copy(REPO / "tests/data" / data, Path("tests/data") / data)
    env = dict(CLEAN_ENV, AIDFLOW_NOW="2023-08-01T09:00")  # reproducible deadlines
    runner = CliRunner()
    for line, words in lines:
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
            continue
        argv = words[1:]
        result = runner.invoke(cli, argv, env=env, catch_exceptions=False)
        assert result.exit_code == 0, f"README command failed: {line}\n{result.output}"
        if argv[-3:-1] == ["workflow", "deploy"]:  # the county's copy, not the shipped files
            assert "(county/workflows/dibao.yaml, sha256 " in result.stdout
    assert result.stdout.startswith("audit ok: 1 case(s), 2 events verified")
    assert (tmp_path / "county.db").exists()
    assert not (REPO / "county.db").exists()
