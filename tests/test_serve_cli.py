"""``modelscan serve`` as a user runs it: a real process, its startup log, its routes, its exit.

Each server listens on 127.0.0.1 port 0 (a free port, named in its log) and is stopped with
SIGINT. Waits are hang guards only; nothing is judged by time.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from serving import GUARD_SECONDS

from fixtures.make_fixtures import Q4_0, gemma_270m_kv, llm_tensors, write_gguf

URL = re.compile(r"serving on (http://127\.0\.0\.1:\d+) ")


class Served:
    """A running ``modelscan serve`` and the lines it printed so far (stderr and stdout, as they came)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None and proc.stderr is not None
        self._open = 2
        for stream in (proc.stdout, proc.stderr):  # uvicorn writes access lines to stdout, the rest to stderr
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()
        self.url = ""

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str) -> str:
        """The first line (from now on) that contains *pattern*."""
        while True:
            line = self._queue.get(timeout=GUARD_SECONDS)
            if line is None:
                self._open -= 1
                if not self._open:
                    raise AssertionError(f"modelscan serve exited before printing {pattern!r}: {self.lines}")
                continue
            self.lines.append(line)
            if pattern in line:
                return line

    def stop(self) -> int:
        """Ctrl+C, then the exit status once every line was read."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(GUARD_SECONDS)
        while self._open:
            line = self._queue.get(timeout=GUARD_SECONDS)
            if line is None:
                self._open -= 1
            else:
                self.lines.append(line)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LM_API_TOKEN"}
    return {**env, **extra}


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modelscan", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or _env(),
    )


@pytest.fixture
def clean_root(tmp_path: Path) -> Path:
    """One good model and nothing else: a startup without a single problem."""
    root = tmp_path / "models"
    write_gguf(
        root / "lmstudio-community" / "gemma-3-270m-it-qat-GGUF" / "g-Q4_0.gguf",
        "gemma3",
        gemma_270m_kv(),
        llm_tensors(Q4_0),
    )
    return root


@pytest.fixture
def spawn() -> Iterator[Callable[..., Served]]:
    """Starts ``modelscan serve`` processes; any still running when the test ends is stopped
    (killed, if Ctrl+C does not end it within the guard), whatever the test's outcome."""
    started: list[Served] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Served:
        server = Served(_serve(*args, env=env))
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGINT)
            try:
                server.proc.wait(GUARD_SECONDS)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait(GUARD_SECONDS)
        for stream in (server.proc.stdout, server.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def served(clean_root: Path, spawn: Callable[..., Served]) -> Served:
    server = spawn(str(clean_root))
    server.url = URL.search(server.wait_for("serving on"))[1]  # type: ignore[index]
    return server


def test_startup_log_routes_and_a_clean_exit(served: Served, clean_root: Path) -> None:
    served.wait_for("Application startup complete")
    with httpx.Client(base_url=served.url) as client:
        assert client.get("/health").json() == {"status": "ok", "models": 1, "problems": 0}
        listed = client.get("/api/v1/models").content
    cli = subprocess.run(
        [sys.executable, "-m", "modelscan", "--server-limits", str(clean_root)], check=False, capture_output=True
    )
    assert listed == cli.stdout
    assert served.stop() == 0
    log = served.lines
    assert log[0] == (
        f"INFO:     modelscan: scanning {clean_root} "
        "(listings revalidated after 500 ms, never served older than 1000 ms)"
    )
    assert log[1] == f"INFO:     modelscan: 1 model, 0 problems in {clean_root}"
    assert log[2].startswith(f"INFO:     modelscan: serving on {served.url} (GET /api/v1/models, ")
    assert not [line for line in log if not line.startswith("INFO:")], log  # a problem-free log


def test_access_log_lines_and_no_access_log(clean_root: Path, spawn: Callable[..., Served]) -> None:
    server = spawn(str(clean_root))
    url = URL.search(server.wait_for("serving on"))[1]  # type: ignore[index]
    server.wait_for("Application startup complete")
    httpx.get(url + "/api/tags")
    server.wait_for('"GET /api/tags HTTP/1.1" 200')
    assert server.stop() == 0
    quiet = spawn(str(clean_root), "--no-access-log")
    url = URL.search(quiet.wait_for("serving on"))[1]  # type: ignore[index]
    quiet.wait_for("Application startup complete")
    httpx.get(url + "/api/tags")
    assert quiet.stop() == 0
    assert not [line for line in quiet.lines if "GET /api/tags" in line]


def test_api_key_from_the_environment(clean_root: Path, spawn: Callable[..., Served]) -> None:
    server = spawn(str(clean_root), env=_env(LM_API_TOKEN="tok-123"))
    url = URL.search(server.wait_for("serving on"))[1]  # type: ignore[index]
    with httpx.Client(base_url=url) as client:
        assert client.get("/api/v1/models").status_code == 401
        assert client.get("/api/v1/models", headers={"Authorization": "Bearer tok-123"}).status_code == 200
    assert server.stop() == 0
    override = spawn(str(clean_root), "--api-key", "other", env=_env(LM_API_TOKEN="tok-123"))
    url = URL.search(override.wait_for("serving on"))[1]  # type: ignore[index]
    assert httpx.get(url + "/v1/models", headers={"Authorization": "Bearer other"}).status_code == 200
    assert override.stop() == 0


def test_loaded_file_is_read_again_when_it_changes(
    clean_root: Path, tmp_path: Path, spawn: Callable[..., Served]
) -> None:
    loaded = tmp_path / "loaded.json"
    loaded.write_text(json.dumps({"gemma-3-270m-it-qat": [{"config": {"context_length": 1024}}]}))
    server = spawn(str(clean_root), "--loaded", str(loaded), "--revalidate-ms", "0", "--no-access-log")
    url = URL.search(server.wait_for("serving on"))[1]  # type: ignore[index]
    with httpx.Client(base_url=url) as client:
        item = client.get("/api/v0/models/gemma-3-270m-it-qat").json()
        assert (item["state"], item["loaded_context_length"]) == ("loaded", 1024)
        loaded.write_text(json.dumps({"gemma-3-270m-it-qat": [{"config": {"context_length": 2048}}, {}]}))
        item = client.get("/api/v0/models/gemma-3-270m-it-qat").json()
        assert item["loaded_context_length"] == 2048
        loaded.write_text("{not json")
        item = client.get("/api/v0/models/gemma-3-270m-it-qat").json()
        assert item["loaded_context_length"] == 2048  # the last good file
    assert server.stop() == 0
    assert sum("--loaded" in line and "keeping the instances read before" in line for line in server.lines) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "x"], "argument --port: invalid int value: 'x'"),
        (["--revalidate-ms", "-1"], "--revalidate-ms must be at least 0"),
        (["--loaded", "/nonexistent/loaded.json"], "modelscan serve: --loaded /nonexistent/loaded.json: "),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_exit_2(clean_root: Path, args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelscan", "serve", str(clean_root), *args],
        check=False,
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert proc.returncode == 2
    assert message in proc.stderr


def test_no_path_and_no_lmstudio_folder_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelscan", "serve"],
        check=False,
        capture_output=True,
        text=True,
        env=_env(HOME=str(tmp_path)),
    )
    assert proc.returncode == 2
    assert "no PATH given and LM Studio's models folder was not found" in proc.stderr


def test_a_port_in_use_exits_1(clean_root: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "modelscan", "serve", str(clean_root), "--port", str(port)],
            check=False,
            capture_output=True,
            text=True,
            env=_env(),
        )
    assert proc.returncode == 1
    assert f"modelscan serve: cannot listen on 127.0.0.1:{port}: " in proc.stderr


def test_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelscan", "serve", "--help"], check=False, capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: modelscan serve [-h] [--host HOST] [--port PORT]")
    top = subprocess.run([sys.executable, "-m", "modelscan", "--help"], check=False, capture_output=True, text=True)
    assert "modelscan serve [PATH ...]" in top.stdout


def test_without_uvicorn_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], clean_root: Path
) -> None:
    from modelscan import serve  # noqa: PLC0415 -- the module under test, imported with uvicorn hidden

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn raises ImportError
    assert serve.main([str(clean_root)]) == 2
    assert capsys.readouterr().err == (
        "modelscan serve: uvicorn is not installed: pip install 'modelscan-lms[serve]'\n"
    )
