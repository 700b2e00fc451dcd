"""aidflow.failpoints: arming from NAME or NAME:COUNT, the stop at the armed pass, bad specs.

The stop itself (SIGSTOP) is replaced by a recorder in-process; one test lets a real child
process stop at a point and checks it is stopped there, as the crash tests rely on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aidflow import failpoints
from aidflow.errors import ExitCode, InvalidInputError

from .conftest import REPO


@pytest.fixture
def stops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The signals the process sends itself (recorded, not sent); disarmed afterwards."""
    signals: list[int] = []

    def kill(pid: int, sig: int) -> None:
        assert pid == os.getpid()
        signals.append(sig)

    monkeypatch.setattr(os, "kill", kill)
    yield signals
    failpoints.arm(None)


def run(signals: list[int], *names: str) -> list[int]:
    """Pass the points `names` in turn; the positions at which a SIGSTOP was sent."""
    at = []
    for position, name in enumerate(names, start=1):
        before = len(signals)
        failpoints.reach(name)
        at += [position] * (len(signals) - before)
    assert set(signals) <= {signal.SIGSTOP}
    return at


BATCH = "payments.batch"


def test_name_alone_stops_at_the_first_pass(stops: list[int]) -> None:
    failpoints.arm(BATCH)
    assert run(stops, BATCH, BATCH, BATCH) == [1]


def test_name_and_count_stops_at_that_pass_only(stops: list[int]) -> None:
    failpoints.arm(f"{BATCH}:3")
    assert run(stops, *[BATCH] * 5) == [3]


def test_other_points_do_not_count(stops: list[int]) -> None:
    failpoints.arm(f"{BATCH}:2")
    assert run(stops, "import.batch", BATCH, "import.batch", "import.batch:2", BATCH) == [5]


def test_arming_again_starts_the_count_afresh(stops: list[int]) -> None:
    failpoints.arm(f"{BATCH}:2")
    assert run(stops, BATCH) == []
    failpoints.arm(f"{BATCH}:2")
    assert run(stops, BATCH, BATCH) == [2]


@pytest.mark.parametrize("spec", [None, ""])
def test_none_or_empty_disarms(stops: list[int], spec: str | None) -> None:
    failpoints.arm(BATCH)
    failpoints.arm(spec)
    assert run(stops, BATCH, BATCH) == []


@pytest.mark.parametrize(
    "spec",
    [
        "payments.batch:",
        ":3",
        "payments.batch:0",
        "payments.batch:-1",
        "payments.batch:x",
        "payments.batch:²",
        "payments.batch:1:2",
        "payments.batch: 3",
    ],
)
def test_a_bad_spec_is_refused_with_the_form_expected(spec: str) -> None:
    with pytest.raises(InvalidInputError) as exc:
        failpoints.arm(spec)
    assert exc.value.message == f"failpoint {spec!r} is not NAME or NAME:COUNT"
    assert exc.value.hint == "write e.g. payments.batch:3"
    failpoints.arm(None)


def test_the_cli_refuses_a_bad_spec_in_the_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIDFLOW_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aidflow.cli.main",
            "--db",
            f"sqlite:///{tmp_path / 'a.db'}",
            "workflow",
            "list",
        ],
        env={**env, "PYTHONPATH": str(REPO / "src"), "AIDFLOW_FAILPOINT": "payments.batch:x"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == ExitCode.INVALID_INPUT
    assert proc.stderr == (
        "error: failpoint 'payments.batch:x' is not NAME or NAME:COUNT\n"
        "  hint: write e.g. payments.batch:3\n"
    )


def test_a_process_stops_itself_at_the_armed_pass() -> None:
    """The real stop: the child is stopped after printing the pass before it, then resumes."""
    code = (
        "import sys; from aidflow import failpoints\n"
        "failpoints.arm('demo.step:2')\n"
        "for i in range(1, 4):\n"
        "    print(i, flush=True); failpoints.reach('demo.step')\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGSTOP
        assert [proc.stdout.readline(), proc.stdout.readline()] == ["1\n", "2\n"]
        os.kill(proc.pid, signal.SIGCONT)
        assert proc.stdout.read() == "3\n"
        assert proc.wait(timeout=60) == 0
