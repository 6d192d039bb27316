"""A real uvicorn serving an ASGI app on 127.0.0.1 (an ephemeral port), for the server tests.

``running(app)`` starts uvicorn in a thread on a socket bound to port 0 and stops it on exit.
The waits are hang guards only (a server that never starts fails the test); no test judges by
how long anything took. ``FakeClock`` is the clock tests give ``ModelsApp``: time moves only
when a test advances it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from modelscan.server import Scope

#: Hang guard for starting and stopping a server: far above what either takes.
GUARD_SECONDS = 60


class FakeClock:
    """Seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextlib.contextmanager
def running(app: object) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` while uvicorn serves *app* (lifespan on, logs at warning)."""
    # proto IPPROTO_TCP, or asyncio leaves TCP_NODELAY off on the accepted connections (40 ms stalls).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + GUARD_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(GUARD_SECONDS)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


class Counting:
    """ASGI middleware counting HTTP requests that reached the app (to know when N are in flight)."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.requests = 0
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: object, send: object) -> None:
        if scope["type"] == "http":
            with self.lock:
                self.requests += 1
        await self.app(scope, receive, send)  # type: ignore[operator]
