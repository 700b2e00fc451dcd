"""Run every benchmark, each against its own baseline measured in the same run, and print
one table of the figures and ratios at the end.

    python bench/run_all.py            # sizes that finish in a few minutes on 2 shared cores
    python bench/run_all.py --full     # the issue's scale (1,000,000 cases; takes much longer)

Each benchmark is a separate process (so one's imports and caches do not help another);
its whole output is shown, then the lines that carry ratios and goals are collected.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

QUICK: list[tuple[str, list[str]]] = [
    ("transitions", ["transitions.py"]),
    ("sweep", ["sweep.py", "--cases", "100000"]),
    ("payments", ["payments.py", "--cases", "10000"]),
    ("import", ["import_.py", "--rows", "20000"]),
    ("case import", ["case_import.py", "--rows", "20000"]),
    ("report", ["report.py", "--cases", "100000"]),
    ("migrate", ["migrate.py", "--cases", "20000"]),
    ("dashboard", ["dashboard.py", "--cases", "5000"]),
    ("cli start-up", ["cli_startup.py", "--no-breakdown"]),
]
FULL: list[tuple[str, list[str]]] = [
    ("transitions", ["transitions.py", "--cases", "1000"]),
    ("sweep", ["sweep.py", "--cases", "1000000"]),
    ("payments", ["payments.py", "--cases", "1000000"]),
    ("import", ["import_.py", "--rows", "100000"]),
    ("case import", ["case_import.py", "--rows", "100000"]),
    ("report", ["report.py", "--cases", "1000000"]),
    ("migrate", ["migrate.py", "--cases", "100000"]),
    ("dashboard", ["dashboard.py", "--cases", "100000"]),
    ("cli start-up", ["cli_startup.py", "--no-breakdown"]),
]
SUMMARY = re.compile(r"(goal|MISSED|aidflow = |ratio|aidflow/core|requests/s)", re.IGNORECASE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--full", action="store_true", help="run at the issue's scale")
    args = ap.parse_args(argv)
    rows: list[tuple[str, float, int, list[str]]] = []
    for name, cmd in FULL if args.full else QUICK:
        print(f"\n=== {name}: python bench/{' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(HERE / cmd[0]), *cmd[1:]], capture_output=True, text=True
        )
        elapsed = time.perf_counter() - t0
        print(proc.stdout, end="")
        if proc.returncode not in (0, 1):  # 1 = ran, but a goal was missed
            print(proc.stderr, end="")
        rows.append(
            (
                name,
                elapsed,
                proc.returncode,
                [ln.strip() for ln in proc.stdout.splitlines() if SUMMARY.search(ln)],
            )
        )
    print("\n=== summary (ratios are against baselines measured in the same run)")
    for name, elapsed, code, lines in rows:
        status = "ok" if code in (0, 1) else f"FAILED (exit {code})"
        print(f"{name} [{elapsed:.0f} s, {status}]")
        for ln in lines:
            print(f"    {ln}")
    return 0 if all(code in (0, 1) for _, _, code, _ in rows) else 2


if __name__ == "__main__":
    sys.exit(main())
