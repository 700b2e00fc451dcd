"""CLI start-up: `aidflow --help` from stored text, exactly as click prints it.

The console script (aidflow.cli.main:main) answers `aidflow`, `aidflow -h` and
`aidflow --help` without importing click (aidflow.cli.fasthelp). These tests run the
real console-script path and the real click path in fresh processes and compare
stdout, stderr and exit code byte for byte: at several terminal widths (COLUMNS, and a
real pseudo-terminal), with a non-UTF-8 stream, during shell completion and into a
closed pipe. Timing is measured by bench/cli_startup.py, not here.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from aidflow.calendar import WorkCalendar, parse_duration
from aidflow.cli import fasthelp
from aidflow.errors import WorkflowInvalidError

from .conftest import PERSON_ID, Cli, World

SCRIPT = ["-m", "aidflow.cli.main"]  # what .venv/bin/aidflow runs: aidflow.cli.main:main
CLICK = ["-c", "from aidflow.cli.root import cli; cli.main(prog_name='aidflow')"]  # the group itself
HELP_ARGS = [[], ["-h"], ["--help"]]


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIDFLOW_", "_AIDFLOW_"))
           and k not in ("COLUMNS", "LINES", "PYTHONIOENCODING", "PYTHONUNBUFFERED")}
    out.update(extra)
    return out


def run(how: list[str], args: list[str], **extra: str) -> tuple[int, bytes, bytes]:
    proc = subprocess.run([sys.executable, *how, *args], env=env(**extra), capture_output=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_stored_help_is_current() -> None:
    with open(fasthelp.GENERATED, encoding="utf-8", newline="") as f:
        stored = f.read()
    assert fasthelp.generate() == stored, (
        "the root help changed: run python -m aidflow.cli.fasthelp --write")


def test_the_common_widths_are_stored() -> None:
    from aidflow.cli import helptext
    from aidflow.cli.main import cli

    assert helptext.MAX_CONTENT_WIDTH == cli.context_settings["max_content_width"]
    assert sorted(helptext.BY_WIDTH) == list(fasthelp.widths())
    assert helptext.TEXTS[helptext.BY_WIDTH[78]].startswith("Usage: aidflow [OPTIONS] COMMAND [ARGS]...\n")
    assert not any("\x1b" in text for text in helptext.TEXTS)  # click.echo would strip styles off a pipe


@pytest.mark.parametrize("args", HELP_ARGS, ids=["bare", "-h", "--help"])
@pytest.mark.parametrize("columns", [None, "10", "64", "99", "240", "junk"])
def test_help_is_what_click_prints(args: list[str], columns: str | None) -> None:
    extra = {} if columns is None else {"COLUMNS": columns}
    fast = run(SCRIPT, args, **extra)
    assert fast == run(CLICK, args, **extra)
    code, out, err = fast
    assert code == (2 if not args else 0)  # click: a bare group is a usage error
    shown = err if not args else out
    assert shown.startswith(b"Usage: aidflow [OPTIONS] COMMAND [ARGS]...\n")
    assert "(工作台账)".encode() in shown


def test_help_does_not_import_click() -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", *SCRIPT, "--help"], env=env(),
                          capture_output=True, text=True, timeout=120, check=True)
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "aidflow.cli.helptext" in imported
    assert not {"click", "sqlalchemy", "yaml", "aidflow.cli.root"} & imported
    assert proc.stdout.startswith("Usage: aidflow")


def test_other_arguments_go_to_click() -> None:
    code, out, err = run(SCRIPT, ["--version"])
    assert (code, err) == (0, b"")
    assert out.startswith(b"aidflow, version ")
    code, out, err = run(SCRIPT, ["--help", "--bogus"])
    assert (code, out) == (2, b"")
    assert err.endswith(b"Error: No such option '--bogus'.\n")


def _in_pty(how: list[str], args: list[str], columns: int) -> tuple[int, bytes]:
    """Run with stdout on a real pseudo-terminal `columns` wide; stderr to a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        proc = subprocess.Popen([sys.executable, *how, *args], env=env(), stdout=slave,
                                stderr=subprocess.DEVNULL)
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        return proc.wait(timeout=120), b"".join(chunks)
    finally:
        os.close(master)


@pytest.mark.parametrize("columns", [40, 72, 90, 130])
def test_help_on_a_terminal_wraps_like_click(columns: int) -> None:
    fast = _in_pty(SCRIPT, ["--help"], columns)
    assert fast == _in_pty(CLICK, ["--help"], columns)
    code, out = fast
    assert code == 0
    lines = out.decode().splitlines()
    assert lines[0] == "Usage: aidflow [OPTIONS] COMMAND [ARGS]..."
    assert max(len(line) for line in lines) <= max(min(columns, 100) - 2, 50)


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_a_non_utf8_stream_is_left_to_click(encoding: str) -> None:
    # click rewraps an ASCII stream; on latin-1 it fails on the Chinese command summaries
    # (a traceback, whose frames differ by the route taken: compare its last line)
    def outcome(how: list[str]) -> tuple[int, bytes, bytes]:
        code, out, err = run(how, ["--help"], PYTHONIOENCODING=encoding)
        return code, out, err.strip().rsplit(b"\n", 1)[-1]

    assert outcome(SCRIPT) == outcome(CLICK)


def test_shell_completion_is_left_to_click() -> None:
    fast = run(SCRIPT, [], _AIDFLOW_COMPLETE="bash_source")
    assert fast == run(CLICK, [], _AIDFLOW_COMPLETE="bash_source")
    assert fast[0] == 0
    assert b"_aidflow_completion" in fast[1]


def test_a_closed_pipe_exits_like_click() -> None:
    def into_closed_pipe(how: list[str]) -> tuple[int, bytes]:
        read, write = os.pipe()
        os.close(read)
        try:
            proc = subprocess.run([sys.executable, *how, "--help"], env=env(), stdout=write,
                                  stderr=subprocess.PIPE, timeout=120)
        finally:
            os.close(write)
        return proc.returncode, proc.stderr

    assert into_closed_pipe(SCRIPT) == into_closed_pipe(CLICK) == (1, b"")


def test_regenerating_reports_up_to_date() -> None:
    proc = subprocess.run([sys.executable, "-m", "aidflow.cli.fasthelp"], env=env(), capture_output=True,
                          text=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"{fasthelp.GENERATED}: up to date\n"


# --- the county calendar is read when a command first needs it -------------------------

CALENDAR_FILE = "timezone: Asia/Urumqi\ncovered_years: [2099]\ndays:\n  2023-09-25: off\n  2023-09-23: work\n"


def test_calendar_read_when_needed_equals_read_at_once(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(CALENDAR_FILE, encoding="utf-8")
    now, later = WorkCalendar.from_file(path), WorkCalendar.from_file_when_needed(path)
    start = datetime(2023, 9, 20, 10, 0, tzinfo=UTC)
    assert later.tz == now.tz == ZoneInfo("Asia/Urumqi")
    days = [date(2023, 9, 20) + timedelta(days=i) for i in range(20)] + [date(2099, 5, 1), date(2099, 5, 2)]
    assert [later.is_workday(d) for d in days] == [now.is_workday(d) for d in days]
    for spec in ("24h", "3d", "1mo", "1wd", "10wd"):
        assert later.add(start, parse_duration(spec)) == now.add(start, parse_duration(spec))
    end = datetime(2023, 10, 20, tzinfo=UTC)
    assert later.working_days_between(start, end) == now.working_days_between(start, end)


def test_calendar_file_is_read_at_first_use(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(CALENDAR_FILE, encoding="utf-8")
    cal = WorkCalendar.from_file_when_needed(path)
    path.write_text("days: {2027-01-01: maybe}\n", encoding="utf-8")  # broken before the first use
    with pytest.raises(WorkflowInvalidError) as lazily:
        _ = cal.tz
    with pytest.raises(WorkflowInvalidError) as at_once:
        WorkCalendar.from_file(path)
    assert lazily.value.problems == at_once.value.problems
    path.write_text(CALENDAR_FILE, encoding="utf-8")  # mended: the next use reads it
    assert cal.tz == ZoneInfo("Asia/Urumqi")
    path.unlink()  # read once: the file is not needed any more
    assert cal.is_workday(date(2023, 9, 23)) is True
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        cal.nonsense  # type: ignore[attr-defined]  # noqa: B018


def test_a_command_without_deadlines_does_not_read_the_calendar(
        world: World, run_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "calendar.yaml"
    bad.write_text("timezone: Mars/Olympus_Mons\n", encoding="utf-8")
    monkeypatch.setenv("AIDFLOW_CALENDAR", str(bad))
    listed = run_cli("case", "list", user="li")
    assert (listed.exit_code, listed.stderr) == (0, "")
    opened = run_cli("case", "open", PERSON_ID, "--workflow", "dibao", user="li")  # computes a deadline
    with pytest.raises(WorkflowInvalidError) as at_once:
        WorkCalendar.from_file(bad)
    assert (opened.exit_code, opened.stderr) == (3, f"error: {at_once.value}\n")
    assert f"{bad}:1:11: timezone: unknown time zone 'Mars/Olympus_Mons'" in opened.stderr
