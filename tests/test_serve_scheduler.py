"""`aidflow serve --with-scheduler`: one process serves the API and runs the scheduler's rounds.

The server runs as a real process. Its first round starts at once; the test waits for what
the round leaves behind: the day's signed checkpoint for the auditor, written to the
checkpoints directory. Then SIGTERM stops both the server and the rounds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aidflow.engine.checkpoints import from_json, signed_by

from .conftest import Cli, World
from .pgcluster import free_port
from .test_auditlog import keygen


def test_serve_runs_the_scheduler_in_the_same_process(
    world: World, run_cli: Cli, tmp_path: Path
) -> None:
    world.run(lambda svc: svc.add_user("admin", "kang", ["auditor"], "*", "kang@county.example"))
    key = tmp_path / "signing.key"
    public = keygen(run_cli, key)
    checkpoints = tmp_path / "checkpoints"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIDFLOW_")}
    env |= {"AIDFLOW_SIGNING_KEY": str(key), "AIDFLOW_CHECKPOINTS": str(checkpoints)}
    argv = ["--db", run_cli.url, "serve", "--port", str(port), "--with-scheduler"]
    server = subprocess.Popen(
        [sys.executable, "-c", "from aidflow.cli.main import main; main()", *argv],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        written: list[Path] = []
        health = None
        deadline = time.monotonic() + 120  # a bound on a failure only; nothing times a pass
        while (not written or health is None) and server.poll() is None:
            written = sorted(checkpoints.glob("*.json")) if checkpoints.exists() else []
            with contextlib.suppress(httpx.TransportError):  # not listening yet
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health").json()
            assert time.monotonic() < deadline, "neither a checkpoint nor the API appeared"
            time.sleep(0.05)  # polling interval only
        assert health == {"status": "ok"}
        (path,) = written
        signed = from_json(path.read_text(encoding="utf-8"))
        assert signed is not None and signed_by(signed, public)
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=120)
    # uvicorn stops on SIGTERM and then raises it again, as the process's own end
    assert server.returncode == -signal.SIGTERM, err
    assert "scheduler started in the server: a round every 60s" in err
    assert "checkpoint: 1 email(s) queued to auditors" in err
    assert "scheduler stopped" in err
