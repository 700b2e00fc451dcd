"""Wall time of short `aidflow` commands against the bare interpreter and SQLAlchemy's import.

    python bench/cli_startup.py [--runs N] [--warmup W] [--db-dir DIR] [--no-breakdown]

Each command runs as a fresh process (subprocess.run, time.perf_counter around it);
after W warm-up runs of every command (they also write the .pyc files), the N timed
runs go round-robin over the commands so that a noisy shared machine hits them alike.
The median is reported, of the wall time and of the CPU time (user + system) the child
used: on a shared machine the CPU time shows less of other processes. Commands:

  python -c pass                         the bare interpreter
  python -c "import sqlalchemy.orm"      what any database command must at least import
  aidflow --help                         click parsing and help only
  aidflow case show 1                    a real read: --db sqlite:///DIR/demo.db --as li
                                         --now 2023-08-12T16:00 on the `aidflow demo` database
  python -c "import httpx"               what any client-mode command must at least import
  aidflow case show 1 (client mode)      the same read sent to `aidflow serve` (a process
                                         on a loopback port over the same database), with
                                         the token `aidflow login` saved for li

Goals: aidflow --help / bare interpreter < 3x; aidflow case show / import sqlalchemy.orm < 1.3x;
client-mode aidflow case show / import httpx <= 1.5x.
Then it reports which heavy packages `aidflow --help` imports (click, which parses every
command line; it should import neither sqlalchemy nor apscheduler), prints the -X
importtime trees of `--help` and `case show` (both run through the console script, as a
user runs them), what `case show` imports beyond `import sqlalchemy.orm`
(self time per module, grouped), and splits `case show` in-process into importing its
modules and running it, with a cProfile of the run alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PY = sys.executable
AIDFLOW = str(Path(PY).with_name("aidflow"))
HEAVY = (
    "sqlalchemy",
    "sqlalchemy.orm",
    "apscheduler",
    "alembic",
    "pydantic",
    "yaml",
    "jinja2",
    "transitions",
    "psycopg",
    "stdnum",
    "chinese_calendar",
    "aidflow.services.cases",
    "aidflow.store.models",
)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIDFLOW_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one run; cpu is the child's user + system time (the runs are
    serial, so the RUSAGE_CHILDREN difference is this child's)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def imported_modules(args: list[str], env: dict[str, str]) -> list[str]:
    """Every module `python -X importtime ARGS` imports."""
    proc = subprocess.run(
        [PY, "-X", "importtime", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return [m.group(4) for m in map(_IMPORTTIME.match, proc.stderr.splitlines()) if m]


def imported_by_help(env: dict[str, str]) -> dict[str, bool]:
    """Which heavy modules `aidflow --help` imports (the console script itself)."""
    loaded = set(imported_modules([AIDFLOW, "--help"], env))
    return {m: m in loaded for m in ("click", *HEAVY)}


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


@dataclass
class Node:
    name: str
    self_us: int
    cum_us: int
    children: list[Node] = field(default_factory=list)


def import_tree(args: list[str], env: dict[str, str]) -> list[Node]:
    """The -X importtime tree of `aidflow ARGS` (the console script); roots are the imports
    made at top level or inside functions at run time."""
    proc = subprocess.run(
        [PY, "-X", "importtime", AIDFLOW, *args], env=env, capture_output=True, text=True
    )
    pending: dict[int, list[Node]] = {}
    for line in proc.stderr.splitlines():  # post-order: children come before their parent
        m = _IMPORTTIME.match(line)
        if not m:
            continue
        depth = (len(m.group(3)) - 1) // 2
        node = Node(m.group(4), int(m.group(1)), int(m.group(2)), pending.pop(depth + 1, []))
        pending.setdefault(depth, []).append(node)
    return pending.get(0, [])


def print_import_tree(
    label: str, roots: list[Node], min_ms: float = 2.0, child_ms: float = 4.0
) -> None:
    total = sum(r.cum_us for r in roots) / 1000
    print(
        f"-X importtime, {label}: {total:.1f} ms importing; imports >= {min_ms:g} ms "
        f"(their parts >= {child_ms:g} ms indented):"
    )
    for root in sorted(roots, key=lambda n: -n.cum_us):
        if root.cum_us < min_ms * 1000:
            continue
        print(f"  {root.cum_us / 1000:7.1f} ms  {root.name}")
        for child in sorted(root.children, key=lambda n: -n.cum_us):
            if child.cum_us >= child_ms * 1000:
                print(f"  {child.cum_us / 1000:7.1f} ms    {child.name}")
                for grand in sorted(child.children, key=lambda n: -n.cum_us):
                    if grand.cum_us >= child_ms * 1000:
                        print(f"  {grand.cum_us / 1000:7.1f} ms      {grand.name}")
        if root.self_us >= child_ms * 1000:
            print(f"  {root.self_us / 1000:7.1f} ms    (own module body of {root.name})")


def self_times(args: list[str], env: dict[str, str]) -> dict[str, int]:
    """Microseconds each module's own body took in one run of `python -X importtime ARGS`."""
    proc = subprocess.run(
        [PY, "-X", "importtime", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return {
        m.group(4): int(m.group(1)) for m in map(_IMPORTTIME.match, proc.stderr.splitlines()) if m
    }


def owner(module: str) -> str:
    """Who an import's cost is charged to: an aidflow module, a SQLAlchemy dialect, or a package."""
    parts = module.split(".")
    if parts[0] == "aidflow":
        return ".".join(parts[:2])
    if parts[0] == "sqlalchemy":
        return (
            ".".join(parts[:3])
            if parts[1:2] == ["dialects"] and len(parts) > 2
            else "sqlalchemy (other)"
        )
    return parts[0]


def show_extra_imports(show: list[str], base_ms: float, env: dict[str, str], runs: int) -> None:
    """What `case show` imports beyond `import sqlalchemy.orm`, by owner (median self times)."""
    base = set(self_times(["-c", "import sqlalchemy.orm"], env))
    samples = [self_times(show, env) for _ in range(runs)]  # show[0] is the console script
    extra = {m for sample in samples for m in sample} - base
    groups: dict[str, float] = {}
    for m in extra:
        groups[owner(m)] = (
            groups.get(owner(m), 0.0) + statistics.median(s.get(m, 0) for s in samples) / 1000
        )
    total = sum(groups.values())
    print(
        "imports of `aidflow case show 1` beyond `import sqlalchemy.orm` (self time, median of "
        f"{runs} -X importtime runs): {total:.1f} ms = {total / base_ms:.2f}x of the whole "
        "`python -c 'import sqlalchemy.orm'` wall time; the largest:"
    )
    for name, ms in sorted(groups.items(), key=lambda kv: -kv[1])[:18]:
        print(f"  {ms:7.1f} ms  {ms / base_ms:5.1%}  {name}")


_BREAKDOWN = r"""
import contextlib, cProfile, io, json, pstats, sys, time
args = json.loads(sys.argv[1])
mode = sys.argv[2]
if mode == "modules":
    from aidflow.cli.main import main
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(args)
        except SystemExit:
            pass
    print(json.dumps(list(sys.modules)))
    raise SystemExit
modules = json.loads(sys.argv[3])
t0 = time.perf_counter()
for name in modules:
    if name not in sys.modules and name != "__main__":
        try:
            __import__(name)
        except Exception:
            pass
t1 = time.perf_counter()
from aidflow.cli.main import main
prof = cProfile.Profile() if mode == "profile" else None
with contextlib.redirect_stdout(io.StringIO()):
    if prof:
        prof.enable()
    try:
        main(args)
    except SystemExit:
        pass
    if prof:
        prof.disable()
t2 = time.perf_counter()
late = [m for m in sys.modules if m not in set(modules)]
if prof:
    out = io.StringIO()
    st = pstats.Stats(prof, stream=out).sort_stats("cumulative")
    st.print_stats(r"aidflow|pydantic|sqlalchemy/(engine/create|orm/session|orm/decl)|yaml", 22)
    print(out.getvalue())
else:
    print(json.dumps({"imports": t1 - t0, "run": t2 - t1, "late": late}))
"""


def show_breakdown(show_args: list[str], env: dict[str, str], runs: int) -> None:
    """Split `case show` into importing its modules and running, and profile the run alone."""
    a = json.dumps(show_args)
    mods = (
        subprocess.run(
            [PY, "-c", _BREAKDOWN, a, "modules"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    res = []
    for _ in range(runs):
        out = (
            subprocess.run(
                [PY, "-c", _BREAKDOWN, a, "time", mods],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        res.append(json.loads(out))
    imp = statistics.median(r["imports"] for r in res) * 1000
    run_ms = statistics.median(r["run"] for r in res) * 1000
    print(
        f"in-process split of `aidflow case show 1` (median of {runs}): importing its "
        f"{len(json.loads(mods))} modules {imp:.1f} ms, then running it {run_ms:.1f} ms "
        "(engine, schema check, queries, definition parse, calendar, output)"
    )
    prof = subprocess.run(
        [PY, "-c", _BREAKDOWN, a, "profile", mods],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keep = [
        ln
        for ln in prof.splitlines()
        if ln.strip() and not ln.startswith(("   Ordered", "   List"))
    ]
    print("cProfile of that run alone (modules already imported), by cumulative time:")
    for ln in keep[1:]:
        print(
            "  "
            + ln.replace(str(Path(PY).parents[1]) + "/lib/python3.11/site-packages/", "").replace(
                str(Path(__file__).resolve().parents[1]) + "/", ""
            )
        )


PASSWORD = "bench password 1"


def start_server(db: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`aidflow serve` over the demo database on a free loopback port, li with a password."""
    import socket

    import httpx

    from aidflow.services import auth
    from aidflow.services.runtime import Runtime
    from aidflow.settings import Settings

    runtime = Runtime(Settings(database_url=f"sqlite:///{db}"))
    with runtime.transaction() as svc:
        auth.set_password(
            svc.session, "admin", "li", PASSWORD, runtime.clock.now(), must_change=False
        )
    runtime.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [AIDFLOW, "--db", f"sqlite:///{db}", "serve", "--port", str(port)],
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15, help="timed runs per command (default 15)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up runs per command (default 2)")
    ap.add_argument(
        "--db-dir", type=Path, help="where demo.db goes (default: a temporary directory)"
    )
    ap.add_argument(
        "--no-breakdown",
        action="store_true",
        help="skip the -X importtime trees and the profile of `case show`",
    )
    args = ap.parse_args(argv)
    if not Path(AIDFLOW).exists():
        raise SystemExit(f"no aidflow console script next to {PY}")

    env = clean_env()
    tmp = None
    server = None
    if args.db_dir is None:
        db_dir = tmp = Path(tempfile.mkdtemp(prefix="aidflow-cli-bench-"))
    else:
        db_dir = args.db_dir
        db_dir.mkdir(parents=True, exist_ok=True)
    try:
        db = db_dir / "demo.db"
        subprocess.run(
            [AIDFLOW, "demo", "--db-file", str(db)],
            env=env,
            cwd=db_dir,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        show = [
            AIDFLOW,
            "--db",
            f"sqlite:///{db}",
            "--as",
            "li",
            "--now",
            "2023-08-12T16:00",
            "case",
            "show",
            "1",
        ]
        probe = subprocess.run(show, env=env, capture_output=True, text=True, check=True)
        assert "Case 1" in probe.stdout, probe.stdout

        server, base = start_server(db, env)
        client_env = {**env, "AIDFLOW_CREDENTIALS": str(db_dir / "credentials.json")}
        subprocess.run(
            [AIDFLOW, "login", base, "--user", "li", "--password-stdin"],
            input=PASSWORD.encode(),
            env=client_env,
            cwd=db_dir,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        client_show = [AIDFLOW, "case", "show", "1"]
        probe = subprocess.run(
            client_show, env=client_env, cwd=db_dir, capture_output=True, text=True, check=True
        )
        assert "Case 1" in probe.stdout, probe.stdout

        commands = {
            "python -c pass": ([PY, "-c", "pass"], env),
            "python -c 'import sqlalchemy.orm'": ([PY, "-c", "import sqlalchemy.orm"], env),
            "aidflow --help": ([AIDFLOW, "--help"], env),
            "aidflow case show 1": (show, env),
            "python -c 'import httpx'": ([PY, "-c", "import httpx"], env),
            "aidflow case show 1 (client mode)": (client_show, client_env),
            # Chinese: the catalog read and merged, every help text swapped in
            "aidflow --lang zh --help": ([AIDFLOW, "--lang", "zh", "--help"], env),
            "aidflow --lang zh case show 1": ([show[0], "--lang", "zh", *show[1:]], env),
        }
        for _ in range(args.warmup):
            for cmd, cmd_env in commands.values():
                run(cmd, cmd_env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (cmd, cmd_env) in commands.items():
                wall, cpu = run(cmd, cmd_env)
                times[name].append(wall)
                cpus[name].append(cpu)
        med = {name: statistics.median(ts) * 1000 for name, ts in times.items()}
        med_cpu = {name: statistics.median(ts) * 1000 for name, ts in cpus.items()}

        print(
            f"{sys.version.split()[0]} {PY}; median of {args.runs} runs after {args.warmup} "
            "warm-ups (subprocess wall time, and the child's CPU time)"
        )
        print()
        print(f"{'command':<36} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'cpu ms':>8}")
        for name, ts in times.items():
            print(
                f"{name:<36}{med[name]:>11.1f} {min(ts) * 1000:>8.1f} {max(ts) * 1000:>8.1f} "
                f"{med_cpu[name]:>8.1f}"
            )
        print()
        print(f"{'ratio':<58} {'wall':>6} {'cpu':>6}  goal")
        for label, num, den, goal in (
            ("aidflow --help / python -c pass", "aidflow --help", "python -c pass", 3.0),
            (
                "aidflow case show 1 / python -c import sqlalchemy.orm",
                "aidflow case show 1",
                "python -c 'import sqlalchemy.orm'",
                1.3,
            ),
            (
                "client-mode aidflow case show 1 / python -c import httpx",
                "aidflow case show 1 (client mode)",
                "python -c 'import httpx'",
                1.5,
            ),
            (
                "aidflow --lang zh --help / aidflow --help",
                "aidflow --lang zh --help",
                "aidflow --help",
                1.25,
            ),
            (
                "aidflow --lang zh case show 1 / aidflow case show 1",
                "aidflow --lang zh case show 1",
                "aidflow case show 1",
                1.15,
            ),
        ):
            wall, cpu = med[num] / med[den], med_cpu[num] / med_cpu[den]
            print(
                f"{label:<58} {wall:>5.2f}x {cpu:>5.2f}x  < {goal:g}x "
                f"{'ok' if wall < goal else 'MISSED'}"
            )
        client_loaded = set(imported_modules(client_show, client_env))
        print(
            "client-mode `aidflow case show 1` imports: "
            + ", ".join(f"{m}={'yes' if m in client_loaded else 'no'}" for m in ("httpx", *HEAVY))
        )
        print()

        loaded = imported_by_help(env)
        print("modules `aidflow --help` imports:")
        print("  " + ", ".join(f"{m}={'yes' if v else 'no'}" for m, v in loaded.items()))
        print(
            f"  imports click: {'YES' if loaded['click'] else 'no'}; "
            f"imports sqlalchemy: {'YES' if loaded['sqlalchemy'] else 'no'}; "
            f"imports apscheduler: {'YES' if loaded['apscheduler'] else 'no'}"
        )

        if not args.no_breakdown:
            for label, cli_args in (
                ("aidflow --help", ["--help"]),
                ("aidflow case show 1", show[1:]),
            ):
                print()
                print_import_tree(label, import_tree(cli_args, env))
            print()
            show_extra_imports(show, med["python -c 'import sqlalchemy.orm'"], env, 5)
            print()
            show_breakdown(show[1:], env, 5)
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
