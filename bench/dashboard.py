"""The web dashboard under 20 concurrent logged-in sessions, against baselines served by the
same server under the same load, on SQLite.

    python bench/dashboard.py [--cases 5000] [--townships 12] [--sessions 20] [--requests 5]

Setup (not timed): the county of bench/report.py (N cases over K townships, built by its
`build`), a password for its admin, and `aidflow serve` as a separate process on a loopback
port (uvicorn, one process, Starlette's thread pool), at the simulated time 2023-10-09 09:00
(the database is a training one), so the year to date covers every case. Each of --sessions
threads logs in through the login form (its own cookie session, as a browser) and through
the API (its own token).

Timed, phase after phase, every phase with all sessions at once, each session sending
--requests requests one after another:
- dashboard: GET /dashboard (the report for the whole county, rendered with its charts);
- API report: POST /api/v1/ops/report.county (the same figures as JSON): what the page adds;
- health: GET /api/v1/health (no database): the server's floor under the same load;
- stylesheet: GET /static/aidflow.css.
Printed per phase: requests/s (all sessions' requests / the phase's wall time), p50 and p99
latency of one request as its session saw it; and dashboard / API report throughput.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
AIDFLOW = str(Path(sys.executable).with_name("aidflow"))
PASSWORD = "bench password 1"
NOW = "2023-10-09T09:00"


def county_builder() -> Callable[[str, int, int], None]:
    """bench/report.py's `build`, loaded by path (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_report", HERE / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    build: Callable[[str, int, int], None] = module.build
    return build


def set_password(url: str) -> None:
    from sqlalchemy.orm import Session

    from aidflow.clock import SystemClock
    from aidflow.services import auth
    from aidflow.store.database import make_engine

    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        now = SystemClock().now()
        auth.set_password(s, "admin", "admin", PASSWORD, now, must_change=False)
    engine.dispose()


def start_server(url: str) -> tuple[subprocess.Popen[bytes], str]:
    """`aidflow serve` on a free loopback port, once /api/v1/health answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIDFLOW_")}
    proc = subprocess.Popen(
        [AIDFLOW, "--db", url, "--now", NOW, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health").status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"aidflow serve did not start (exit {proc.poll()})")
        time.sleep(0.05)  # polling for start-up only; nothing timed waits here


def log_in(base: str) -> tuple[httpx.Client, str]:
    """A session logged in through the form (cookie) and a token from the API."""
    client = httpx.Client(base_url=base, timeout=600)
    form = client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert nonce is not None
    answer = client.post(
        "/login", data={"user": "admin", "password": PASSWORD, "csrf": nonce.group(1)}
    )
    assert answer.status_code == 303, answer.text
    token = client.post("/api/v1/login", json={"user": "admin", "password": PASSWORD})
    return client, str(token.json()["token"])


def phase(
    sessions: list[tuple[httpx.Client, str]],
    requests: int,
    send: Callable[[httpx.Client, str], httpx.Response],
) -> tuple[float, list[float]]:
    """Every session sends `requests` requests at once; (wall seconds, latencies)."""
    latencies: list[list[float]] = [[] for _ in sessions]
    start = threading.Barrier(len(sessions) + 1)
    failures: list[str] = []

    def run(k: int) -> None:
        client, token = sessions[k]
        start.wait()
        for _ in range(requests):
            t0 = time.perf_counter()
            answer = send(client, token)
            latencies[k].append(time.perf_counter() - t0)
            if answer.status_code != 200:
                failures.append(f"{answer.status_code}: {answer.text[:200]}")

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(sessions))]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return wall, [x for each in latencies for x in each]


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--townships", type=int, default=12)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--requests", type=int, default=5, help="per session and phase")
    ap.add_argument("--db-dir", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        url = f"sqlite:///{Path(tmp) / 'dashboard.db'}"
        t0 = time.perf_counter()
        county_builder()(url, args.cases, args.townships)
        set_password(url)
        print(f"setup: {args.cases:,} cases, {args.townships} townships in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        server, base = start_server(url)
        sessions: list[tuple[httpx.Client, str]] = []
        try:
            sessions = [log_in(base) for _ in range(args.sessions)]
            body = {"params": {}, "lang": "zh", "key": None}
            phases: list[tuple[str, Callable[[httpx.Client, str], httpx.Response]]] = [
                ("dashboard", lambda c, t: c.get("/dashboard")),
                (
                    "API report",
                    lambda c, t: c.post(
                        "/api/v1/ops/report.county",
                        json=body,
                        headers={"Authorization": f"Bearer {t}"},
                    ),
                ),
                ("health", lambda c, t: c.get("/api/v1/health")),
                ("stylesheet", lambda c, t: c.get("/static/aidflow.css")),
            ]
            rates: dict[str, float] = {}
            total = args.sessions * args.requests
            for name, send in phases:
                send(*sessions[0])  # warm: the first request imports and caches
                wall, lat = phase(sessions, args.requests, send)
                rates[name] = total / wall
                print(
                    f"{name:>10}: {rates[name]:8.1f} requests/s ({total} requests, "
                    f"{args.sessions} sessions, {wall:.2f} s); p50 {p(lat, 50) * 1000:.0f} ms, "
                    f"p99 {p(lat, 99) * 1000:.0f} ms"
                )
            ratio = rates["dashboard"] / rates["API report"]
            print(f"ratio dashboard / API report throughput: {ratio:.2f}x")
        finally:
            for client, _ in sessions:
                client.close()
            server.terminate()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
