"""A real aidflow server (uvicorn) on a loopback port, in a thread of the test process.

The server runs on a `Runtime` whose clock the test holds, so a test moves the server's time
(to expire a token) instead of waiting. It is ready when /api/v1/health answers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from aidflow.server.app import create_app
from aidflow.services.runtime import Runtime


@contextmanager
def running(runtime: Runtime) -> Iterator[str]:
    """Serve the API over `runtime` on 127.0.0.1; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(create_app(runtime), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_for_health(url, thread)
        yield url
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
        runtime.close()


def _wait_for_health(url: str, thread: threading.Thread) -> None:
    """Poll /health until the server answers (the thread dying first is a failure)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/api/v1/health").json() == {"status": "ok"}:
                return
        except httpx.TransportError:
            pass
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server at {url} did not start")
        time.sleep(0.01)  # polling interval only; nothing is asserted about time
