"""Transitions through the HTTP API against the same operations called in process, on PostgreSQL.

    python bench/api.py [--cases 150] [--clients 8] [--db postgresql+psycopg://...]

Setup (not timed): a fresh schema in the database (`--db`, default the local test server's
`test` database; dropped at the end), the migrations, the shipped dibao workflow, the users
li and zhao (township caseworkers) with passwords, and 2 x N persons with a dibao case each,
opened by li. Half the cases are fired in process, half through the API.

Timed, phase by phase, the two sides alternating which goes first:
- in process: `--clients` threads call `operations.execute(runtime, "case.fire", ...)` on one
  `Runtime` (one engine and pool), each thread on its own share of the cases;
- HTTP API: `aidflow serve` runs as a separate process on 127.0.0.1 (uvicorn, one process,
  Starlette's thread pool); `--clients` threads, each with its own `aidflow.client.api.
  Connection` (an httpx client with keep-alive) and token, POST /api/v1/ops/case.fire.
Each case is fired through accept, start_investigation (investigators=li,zhao) and
submit_findings (monthly_income=120, income_stable=false, a note): 3 transitions per case,
each in its own transaction. Every request also authenticates its token (one read of the tokens and
users tables) and writes the case's event, its audit log entry and its outbox rows.

Printed: transitions/s of each side (count / wall time of its phases), API/in-process ratio
(goal >= 0.5), and p50/p99 latency of one transition (per call, as its client saw it).
"""

from __future__ import annotations

import os
import sys

# bench/transitions.py has the name of the `transitions` library, which aidflow imports
# lazily; run as a script, bench/ comes first on sys.path and would shadow it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from aidflow.client.api import Connection  # noqa: E402
from aidflow.operations import Caller, execute  # noqa: E402
from aidflow.policy.workflows import load_workflow_file  # noqa: E402
from aidflow.services import auth  # noqa: E402
from aidflow.services.runtime import Runtime  # noqa: E402
from aidflow.services.users import import_areas  # noqa: E402
from aidflow.settings import Settings  # noqa: E402
from aidflow.store.database import make_engine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / "src" / "aidflow" / "shipped" / "workflows"
AIDFLOW = str(Path(sys.executable).with_name("aidflow"))
PASSWORD = "bench password 1"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STEPS: list[dict[str, Any]] = [
    {"trigger": "accept"},
    {"trigger": "start_investigation", "fields": {"investigators": "li,zhao"}},
    {
        "trigger": "submit_findings",
        "fields": {"monthly_income": "120", "income_stable": "false"},
        "note": "household visit done",
    },
]


def id_number(i: int) -> str:
    """A valid 18-character resident ID number, distinct for each i."""
    born = date(1950, 1, 1) + timedelta(days=i // 500)
    body = f"110105{born:%Y%m%d}{(i % 500) * 2:03d}"
    return body + ric.calc_check_digit(body + "0")


def setup(runtime: Runtime, cases: int) -> list[int]:
    """Users, the dibao workflow, persons and one open case each; the case ids."""
    runtime.database.upgrade()
    now = runtime.clock.now()
    with runtime.transaction() as svc:
        svc.add_user(None, "admin", ["admin"], "*", "admin@county.example")
        svc.deploy("admin", load_workflow_file(WORKFLOWS / "dibao.yaml"))
        import_areas(svc.session, now, "admin", [("城关镇", "东村")])
        for name in ("li", "zhao"):
            svc.add_user("admin", name, ["township_caseworker"], "城关镇", f"{name}@county.example")
            auth.set_password(svc.session, "admin", name, PASSWORD, now, must_change=False)
    ids = []
    with runtime.transaction() as svc:
        li = svc.actor("li")
        for i in range(cases):
            svc.register_person(id_number(i), f"测试{i}", "城关镇", "东村", "rural")
            ids.append(svc.open_case(li, id_number(i), "dibao").id)
    return ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(url: str, calendar: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`aidflow serve` on a free loopback port, once /api/v1/health answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIDFLOW_")}
    env["AIDFLOW_CALENDAR"] = str(calendar)
    proc = subprocess.Popen(
        [AIDFLOW, "--db", url, "serve", "--port", str(port)],
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
        time.sleep(0.05)


def run_threads(
    clients: int, case_ids: list[int], fire: Callable[[int, int], Any]
) -> tuple[float, list[float]]:
    """Fire on every case of `case_ids` from `clients` threads (thread k takes every k-th
    case); (wall seconds, latency of each call)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    start = threading.Barrier(clients + 1)

    def work(k: int) -> None:
        start.wait()
        try:
            for cid in case_ids[k::clients]:
                t0 = time.perf_counter()
                fire(k, cid)
                latencies[k].append(time.perf_counter() - t0)
        except BaseException as exc:  # reported after the phase
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"a transition failed: {errors[0]!r}")
    return wall, [x for lat in latencies for x in lat]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=150, help="cases per side (default 150)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    ap.add_argument("--db", default=PG, help=f"a PostgreSQL URL (default {PG})")
    args = ap.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(args.db)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.db}{'&' if '?' in args.db else '?'}options=-csearch_path%3D{schema}"
    server = None
    tmp = Path(tempfile.mkdtemp(prefix="aidflow-api-bench-"))
    try:
        calendar = bench_calendar(tmp)
        runtime = Runtime(Settings(database_url=url, calendar_file=calendar))
        ids = setup(runtime, 2 * args.cases)
        local_ids, api_ids = ids[: args.cases], ids[args.cases :]
        server, base = start_server(url, calendar)
        connections = [Connection(base) for _ in range(args.clients)]
        for i, c in enumerate(connections):
            c.token = c.login("li" if i % 2 == 0 else "zhao", PASSWORD)["token"]
        callers = [Caller(user="li" if i % 2 == 0 else "zhao") for i in range(args.clients)]

        walls = {"in process": 0.0, "HTTP API": 0.0}
        lats: dict[str, list[float]] = {"in process": [], "HTTP API": []}
        for n, params in enumerate(STEPS):

            def local(k: int, cid: int, params: dict[str, Any] = params) -> Any:
                return execute(runtime, "case.fire", callers[k], {"case_id": cid, **params})

            def remote(k: int, cid: int, params: dict[str, Any] = params) -> Any:
                return connections[k].call("case.fire", {"case_id": cid, **params})

            sides = [("in process", local, local_ids), ("HTTP API", remote, api_ids)]
            for side, fire, case_ids in sides if n % 2 == 0 else sides[::-1]:
                wall, lat = run_threads(args.clients, case_ids, fire)
                walls[side] += wall
                lats[side] += lat
        for c in connections:
            c.close()

        count = len(STEPS) * args.cases
        rates = {side: count / wall for side, wall in walls.items()}
        print(
            f"{count} transitions per side ({args.cases} cases x {len(STEPS)}), "
            f"{args.clients} concurrent clients, PostgreSQL"
        )
        print()
        print(f"{'side':<12} {'transitions/s':>14} {'p50 ms':>8} {'p99 ms':>8}")
        for side in walls:
            print(
                f"{side:<12} {rates[side]:>14.1f} {pct(lats[side], 0.5):>8.1f} "
                f"{pct(lats[side], 0.99):>8.1f}"
            )
        ratio = rates["HTTP API"] / rates["in process"]
        print()
        print(
            f"HTTP API / in process: {ratio:.2f}x  "
            f"(goal >= 0.5x: {'ok' if ratio >= 0.5 else 'MISSED'})"
        )
        runtime.close()
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_calendar(tmp: Path) -> Path:
    """The shipped calendar with its unchecked next year marked covered, so that working-day
    deadlines computed at today's date can reach into it (a benchmark needs a deadline, not
    the right one)."""
    shipped = (WORKFLOWS / "policy" / "calendar.yaml").read_text(encoding="utf-8")
    years = sorted(
        {int(line.strip()[:4]) for line in shipped.splitlines() if line.startswith("  20")}
    )
    text_ = shipped.replace("covered_years: []", f"covered_years: {years}", 1)
    path = tmp / "calendar.yaml"
    path.write_text(text_, encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(main())
