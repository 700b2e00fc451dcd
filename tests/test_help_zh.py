"""`aidflow ... --help` and click's own words speak Chinese (AIDFLOW_LANG=zh or --lang zh).

Every command's help is printed in Chinese mode and searched for English words as
tests/test_zh_everywhere does. What may stay in Latin letters, besides what that test allows:
- the names of commands (help texts point to other commands) and of the command's options;
- the command's metavars (FILE, [OPTIONS], COMMAND, INTEGER RANGE, ...), the values its
  choices take and its flags' names (a default may be shown as one);
- environment variables (AIDFLOW_*), file names and paths;
- text between backticks, even when the help's wrapping splits it over two lines;
- the names of formats, protocols and programs, which have no Chinese name (`_TECHNICAL`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aidflow.cli.main import cli
from aidflow.cli.speech import _walk, speak

from .test_zh_everywhere import _LATIN_WORD, AIDFLOW, english_words

_TECHNICAL = {
    *("CSV", "XLSX", "JSON", "YAML", "HTML", "PDF", "SVG", "PEM", "UTF", "GB", "UUID", "SHA"),
    *("SQLite", "PostgreSQL", "SMTP", "HTTP", "HTTPS", "API", "TLS", "Ed25519", "Ed"),
    *("Mermaid", "Graphviz", "Markdown", "Schema", "uvicorn", "APScheduler", "SIGTERM"),
    *("Ctrl", "cron"),
}
_SPANS = [
    re.compile(r"`[^`]*`"),  # backticks, across a line break too
    re.compile(r"\bAIDFLOW_[A-Z_]*"),  # an environment variable
    re.compile(r"(?:[\w.*-]*/)+[\w.*-]*"),  # a path
    re.compile(r"\b[\w-]+\.(?:toml|md|html|pem)\b"),  # a file name test_zh_everywhere misses
]
_ENV = {"AIDFLOW_LANG": "zh", "AIDFLOW_USER": None, "AIDFLOW_NOW": None}
_COMMANDS = list(_walk(cli, "aidflow"))


@pytest.fixture
def chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Chinese mode, as `aidflow` starts it (its help prints before the root command runs)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIDFLOW_DATABASE_URL", str(tmp_path / "aidflow.db"))
    speak("zh", cli)
    yield
    speak("en", cli)


def _allowed(command: click.Command, path: str) -> set[str]:
    """The words of `command`'s help that may stay in Latin letters (see the module)."""
    words = set(_TECHNICAL) | {"aidflow"}
    for other, _command in _COMMANDS:
        words.update(_LATIN_WORD.findall(other))
    ctx = click.Context(command, info_name=path)
    words.update(_LATIN_WORD.findall(command.options_metavar or ""))
    if isinstance(command, click.Group):
        words.update(_LATIN_WORD.findall(command.subcommand_metavar or ""))
    for param in command.params:
        texts = [param.make_metavar(ctx), *param.opts, *param.secondary_opts]
        if isinstance(param.type, click.Choice):
            texts += [str(choice) for choice in param.type.choices]
        if param.default is not None and not callable(param.default):
            texts.append(str(param.default))
        for text in texts:
            words.update(_LATIN_WORD.findall(text))
    if isinstance(command, click.Group):  # its list of commands shows their summaries
        for name, sub in command.commands.items():
            words |= _allowed(sub, f"{path} {name}")
    return words


def _english(output: str, allowed: set[str]) -> list[tuple[str, str]]:
    for span in _SPANS:
        output = span.sub(" ", output)
    return english_words(output, allowed)


@pytest.mark.parametrize(("path", "command"), _COMMANDS, ids=[path for path, _ in _COMMANDS])
def test_every_commands_help_is_chinese(chinese: None, path: str, command: click.Command) -> None:
    result = CliRunner().invoke(
        cli, [*path.split()[1:], "--help"], env=_ENV, terminal_width=80, prog_name="aidflow"
    )
    assert result.exit_code == 0, result.output
    assert "用法：" in result.output and "显示本帮助并退出。" in result.output
    found = _english(result.output, _allowed(command, path))
    assert not found, f"{path} --help prints English:\n" + "\n".join(
        f"    {line}\n    -> {word!r}" for line, word in found
    )


def test_help_in_chinese_keeps_to_the_terminal_width(chinese: None) -> None:
    """A Chinese character takes two columns; click's wrapping must know it."""
    result = CliRunner().invoke(
        cli, ["report", "--help"], env=_ENV, terminal_width=80, prog_name="aidflow"
    )
    lines = result.output.splitlines()
    widths = [sum(2 if "\u4e00" <= char <= "\u9fff" or char in "（），。：；、“”" else 1
                  for char in line) for line in lines]  # fmt: skip
    assert max(widths) <= 80, "\n".join(lines)


def test_lang_option_asks_for_chinese_help(tmp_path: Path) -> None:
    """`--lang zh` before `--help`: the installed script speaks Chinese from the start."""
    if shutil.which(AIDFLOW) is None:
        pytest.skip("the aidflow script is not installed in this environment")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIDFLOW_")}
    for args in (["--lang", "zh", "--help"], ["--lang", "zh", "case", "open", "--help"]):
        done = subprocess.run(
            [AIDFLOW, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "用法：" in done.stdout and "显示本帮助并退出。" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("args", "chinese_words"),
    [
        (["case", "open"], "错误：缺少参数"),
        (["case", "list", "--bogus"], "错误：没有 '--bogus' 这个选项"),
        (["case", "list", "--limt", "3"], "是不是要输入：'--limit'"),
        (["case", "lst"], "错误：没有 'lst' 这个命令"),
        (["case", "list", "--limit", "0"], "的取值无效：0 不在范围"),
        (["case", "list", "--limit", "x"], "不是有效的数值"),
        (["workflow", "diagram", "dibao", "--format", "png"], "不在可选范围内"),
        (["case", "open", "110105195203150041"], "缺少选项 '--workflow'"),
    ],
)
def test_a_usage_error_is_chinese(chinese: None, args: list[str], chinese_words: str) -> None:
    result = CliRunner().invoke(cli, args, env=_ENV, terminal_width=80, prog_name="aidflow")
    assert result.exit_code == 2, result.output
    assert chinese_words in result.output, result.output
    assert "用法：" in result.output and "查看帮助：" in result.output
    command = cli
    for name in args:
        if isinstance(command, click.Group) and name in command.commands:
            command = command.commands[name]
    typed = {word for arg in args for word in _LATIN_WORD.findall(arg)}
    found = _english(result.output, _allowed(command, " ".join(args)) | typed)
    assert not found, found


def test_the_version_line_is_chinese_and_english_again_after(chinese: None) -> None:
    runner = CliRunner()
    zh = runner.invoke(cli, ["--version"], prog_name="aidflow").output
    assert zh.startswith("aidflow，版本 "), zh
    speak("en", cli)
    en = runner.invoke(cli, ["--version"], prog_name="aidflow").output
    assert en.startswith("aidflow, version "), en
    assert "Show this message and exit." in runner.invoke(cli, ["--help"]).output
