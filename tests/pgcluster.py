"""A private, throwaway PostgreSQL server for tests that restart or stop it.

    with PgCluster.start_new() as pg:        # initdb, start on a free 127.0.0.1 port
        url = pg.create_database("run1")       # postgresql+psycopg://postgres@127.0.0.1:PORT/run1
        pg.restart("fast")                     # or "immediate" (crash-like; recovery on start)

The shared server at 127.0.0.1:5432 serves the rest of the suite, so it is never touched.
PostgreSQL refuses to run as root: as root, the data directory belongs to `postgres` and
the server commands run through `runuser -u postgres --`. Trust auth on loopback only,
fsync off (the data is thrown away), no Unix socket outside the cluster's directory.
`binaries()` is None where PostgreSQL is not installed; the caller skips with that reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Literal, Self

from sqlalchemy import create_engine, text

PG_BIN_CANDIDATES = (
    [Path(os.environ["AIDFLOW_TEST_PG_BIN"])]
    if os.environ.get("AIDFLOW_TEST_PG_BIN")
    else [Path(f"/usr/lib/postgresql/{v}/bin") for v in (17, 16, 15, 14, 13)]
)
OS_USER = "postgres"  # who runs the server when the tests run as root


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    for d in PG_BIN_CANDIDATES:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One initdb'd data directory and its server process, driven by pg_ctl."""

    def __init__(self, bindir: Path, base: Path, port: int) -> None:
        self.bindir = bindir
        self.base = base
        self.data = base / "data"
        self.log = base / "server.log"
        self.port = port
        self.running = False

    @classmethod
    def start_new(cls) -> Self:
        bindir = binaries()
        if bindir is None:
            raise FileNotFoundError(
                f"no PostgreSQL server binaries in {', '.join(map(str, PG_BIN_CANDIDATES))}"
            )
        base = Path(tempfile.mkdtemp(prefix="aidflow-pg-"))
        if os.geteuid() == 0:
            entry = pwd.getpwnam(OS_USER)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        cluster = cls(bindir, base, free_port())
        try:
            cluster._initdb()
            cluster.start()
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def _run(self, tool: str, *args: str, timeout: float = 60) -> str:
        argv = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", OS_USER, "--", *argv]
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.base
        )
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}\n"
                f"server log tail:\n{log}"
            )
        return proc.stdout

    def _initdb(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"""
# aidflow test cluster: loopback only, throwaway data, quick shutdowns
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.base}'
fsync = off
full_page_writes = off
max_connections = 50
shared_buffers = 32MB
""")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")
        self.running = True

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", mode, "stop")
        self.running = False

    def restart(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop (fast: terminate sessions; immediate: no shutdown checkpoint,
        crash recovery) and start again."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "30",
            "-m",
            mode,
            "restart",
        )
        self.running = True

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}?connect_timeout=5"

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE name [TEMPLATE t] (the template must have no open connections);
        its URL."""
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(
                    text(
                        f'CREATE DATABASE "{name}"'
                        + (f' TEMPLATE "{template}"' if template else "")
                    )
                )
        finally:
            admin.dispose()
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server (immediately) and delete its directory."""
        if self.running:
            # the directory goes anyway; a stray postmaster exits when its pid file is gone
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
