"""A loopback stand-in for the Hugging Face Hub: the few routes ``hf_hub_download`` and
``snapshot_download`` (huggingface_hub 2.x) use, so the real client writes a real cache here.

Routes (read from huggingface_hub's ``file_download.py``, ``_snapshot_download.py`` and
``hf_api.py``):

- ``GET /api/models/<org>/<name>/revision/<rev>``: the repo info, ``sha`` is the commit;
- ``GET /api/models/<org>/<name>/tree/<commit>?recursive=true``: the file list;
- ``HEAD|GET /<org>/<name>/resolve/<rev>/<path>``: a file, with ``X-Repo-Commit``, ``ETag``
  (``X-Linked-Etag``/``X-Linked-Size`` for large files, as the Hub sends for LFS files) and
  ``Range`` support (206 with ``Content-Range``).

Bodies are bytes or a list of files read in place (the real Gemma GGUF is served from its
installed chunks, never copied). A file may be set to stall: the server sends half its body and
then waits until the test releases it (or a deadline passes), to leave an interrupted download.

The server binds 127.0.0.1 on an ephemeral port, answers at most ``max_requests`` requests and
is stopped by the test that started it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import os
import re
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["Body", "HubServer", "Repo"]

_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Body:
    """A file's content: bytes, or files concatenated (read in place)."""

    data: bytes | None = None
    parts: tuple[Path, ...] = ()
    sha256: str | None = None  # known in advance for big bodies, else computed

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else sum(p.stat().st_size for p in self.parts)

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive), in chunks."""
        if self.data is not None:
            yield self.data[start:end]
            return
        offset = 0
        for part in self.parts:
            size = part.stat().st_size
            lo, hi = max(start, offset), min(end, offset + size)
            if lo < hi:
                with open(part, "rb") as f:
                    f.seek(lo - offset)
                    left = hi - lo
                    while left:
                        chunk = f.read(min(_CHUNK, left))
                        if not chunk:
                            return
                        left -= len(chunk)
                        yield chunk
            offset += size

    def digest(self) -> str:
        if self.sha256 is not None:
            return self.sha256
        h = hashlib.sha256()
        for chunk in self.read(0, self.size):
            h.update(chunk)
        return h.hexdigest()

    def git_sha1(self) -> str:
        h = hashlib.sha1(b"blob %d\0" % self.size)
        for chunk in self.read(0, self.size):
            h.update(chunk)
        return h.hexdigest()


#: Files at least this big are served as LFS files (sha256 ETag), as the Hub does.
LFS_FROM = 10_000


@dataclasses.dataclass
class Repo:
    """A model repo: commits (oldest first), each a mapping of path to body; refs name commits."""

    repo_id: str
    commits: dict[str, dict[str, Body]]
    refs: dict[str, str]

    def resolve(self, revision: str) -> str | None:
        if revision in self.commits:
            return revision
        return self.refs.get(revision)


class HubServer:
    """The stand-in Hub; use as a context manager, or call :meth:`start` and :meth:`stop`."""

    def __init__(self, repos: Sequence[Repo], max_requests: int = 2000) -> None:
        self.repos = {r.repo_id: r for r in repos}
        self.max_requests = max_requests
        self.requests: list[tuple[str, str]] = []
        self.stall: set[str] = set()  # "<repo_id>/<path>" whose GET bodies stall half-way
        self.release = threading.Event()
        self.stalled = threading.Event()  # set once a stalled body has sent its first half
        self._etags: dict[tuple[str, str, str], tuple[str, bool]] = {}
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=30)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)

    def etag(self, repo: Repo, commit: str, path: str) -> tuple[str, bool]:
        """``(etag, is_lfs)`` of a file, as the Hub gives them: sha256 for LFS files, else the
        git blob id."""
        key = (repo.repo_id, commit, path)
        with self._lock:
            if key not in self._etags:
                body = repo.commits[commit][path]
                lfs = body.size >= LFS_FROM
                self._etags[key] = (body.digest() if lfs else body.git_sha1(), lfs)
            return self._etags[key]

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def do_GET(self) -> None:
                self._answer(head=False)

            def _json(self, value: object, status: int = 200) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, commit: str | None = None) -> None:
                data = json.dumps({"error": message}).encode()
                self.send_response(status)
                if commit is not None:
                    self.send_header("X-Repo-Commit", commit)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Error-Code", "EntryNotFound" if status == 404 else "Error")
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _answer(self, head: bool) -> None:
                with hub._lock:
                    hub.requests.append((self.command, self.path))
                    over = len(hub.requests) > hub.max_requests
                if over:
                    self._error(503, "request budget of the test server used up")
                    self.close_connection = True
                    return
                url = urllib.parse.urlsplit(self.path)
                path = urllib.parse.unquote(url.path)
                m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/(.+)", path)
                if m and not head:
                    return self._info(m.group(1), m.group(2))
                m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path)
                if m and not head:
                    return self._tree(m.group(1), m.group(2))
                m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
                if m:
                    return self._file(m.group(1), m.group(2), m.group(3), head)
                return self._error(404, f"no route {path}")

            def _repo(self, repo_id: str, revision: str) -> tuple[Repo, str] | None:
                repo = hub.repos.get(repo_id)
                commit = repo.resolve(revision) if repo is not None else None
                if repo is None or commit is None:
                    self._error(404, f"{repo_id}@{revision} not found")
                    return None
                return repo, commit

            def _info(self, repo_id: str, revision: str) -> None:
                found = self._repo(repo_id, revision)
                if found is None:
                    return
                repo, commit = found
                files = repo.commits[commit]
                self._json(
                    {
                        "_id": repo_id,
                        "id": repo_id,
                        "modelId": repo_id,
                        "sha": commit,
                        "private": False,
                        "gated": False,
                        "disabled": False,
                        "tags": [],
                        "siblings": [{"rfilename": p} for p in sorted(files)],
                    }
                )

            def _tree(self, repo_id: str, revision: str) -> None:
                found = self._repo(repo_id, revision)
                if found is None:
                    return
                repo, commit = found
                entries = []
                for p, body in sorted(repo.commits[commit].items()):
                    etag, lfs = hub.etag(repo, commit, p)
                    entry: dict[str, object] = {"type": "file", "oid": body.git_sha1(), "size": body.size, "path": p}
                    if lfs:
                        entry["lfs"] = {"oid": etag, "size": body.size, "pointerSize": 134}
                    entries.append(entry)
                self._json(entries)

            def _file(self, repo_id: str, revision: str, path: str, head: bool) -> None:
                found = self._repo(repo_id, revision)
                if found is None:
                    return
                repo, commit = found
                body = repo.commits[commit].get(path)
                if body is None:
                    return self._error(404, f"{path} not in {repo_id}@{commit}", commit)
                etag, lfs = hub.etag(repo, commit, path)
                size = body.size
                start, end, status = 0, size, 200
                rng = self.headers.get("Range")
                if rng and not head:
                    m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
                    if m:
                        start = int(m.group(1))
                        end = min(size, int(m.group(2)) + 1) if m.group(2) else size
                        status = 206
                self.send_response(status)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", f'"{etag}"')
                if lfs:
                    self.send_header("X-Linked-Etag", f'"{etag}"')
                    self.send_header("X-Linked-Size", str(size))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
                self.send_header("Content-Length", str(end - start if not head else size))
                self.end_headers()
                if head:
                    return
                stall = f"{repo_id}/{path}" in hub.stall
                half = start + (end - start) // 2
                sent = start
                for chunk in body.read(start, half if stall else end):
                    self.wfile.write(chunk)
                    sent += len(chunk)
                if stall:
                    self.wfile.flush()
                    hub.stalled.set()
                    hub.release.wait(timeout=60)
                    self.close_connection = True

        return Handler


def hf_env(endpoint: str, cache: os.PathLike[str] | str) -> dict[str, str]:
    """Environment variables that point the real client at the stand-in Hub and a cache."""
    return {
        "HF_ENDPOINT": endpoint,
        "HF_HUB_CACHE": os.fspath(cache),
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_ETAG_TIMEOUT": "30",
        "HF_HUB_DOWNLOAD_TIMEOUT": "30",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
