"""A loopback HTTP server for the remote tests and the benchmark: files, the Hub's API subset, and
misbehaviour on purpose.

It binds 127.0.0.1 on an ephemeral port, speaks HTTP/1.1 with keep-alive, and serves:

- ``/plain/<path>``: the files under ``plain_root``, with ``Range`` (one range), ``HEAD`` and
  ``ETag``;
- ``/api/models/<org>/<name>/tree/<revision>?recursive=true``: the Hub's tree listing of a repo
  (a folder registered with :meth:`FakeHub.add_repo`), paginated with ``Link: rel="next"`` when
  ``page_size`` is set;
- ``/<org>/<name>/resolve/<revision>/<path>``: a repo's file; with ``cdn`` set, weights files
  (``.gguf``, ``.safetensors``) answer 302 to the CDN server with ``X-Linked-Etag`` and
  ``X-Linked-Size``, as the Hub does for LFS files.

It counts requests (method, path, ``Range``, whether ``Authorization`` came) and body bytes sent.
``misbehave`` maps a path (or ``"*"``) to one of :data:`MODES`. Nothing here is used by the
library: tests and ``benchmarks/bench_remote.py`` import it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

#: Misbehaviours, by name:
MODES = (
    "ignore_range",  # 200 and the whole file for every Range request
    "drop_mid_body",  # Content-Length of the range, half the body, then the connection closes
    "drop_once",  # drop_mid_body on the first GET of the path only
    "long_length",  # Content-Length smaller than the body sent (extra bytes on the connection)
    "wrong_range",  # a Content-Range that is not the range asked for
    "lying_total",  # a Content-Range total that changes from one request to the next
    "redirect_loop",  # 302 to itself, forever
    "drip",  # the answer's bytes one at a time, drip_interval seconds apart
    "garbage",  # bytes that are not HTTP
    "endless",  # 200, a huge Content-Length, and zeros until the client stops reading
    "chunked_whole",  # 200, no Content-Length (chunked), the whole file
    "status_500",  # 500 Internal Server Error
    "status_403",  # 403 Forbidden
    "no_head",  # 405 for HEAD
    "etag_changes",  # another ETag on every answer
)


@dataclasses.dataclass
class Hit:
    server: str
    method: str
    path: str
    range: str | None
    auth: bool


def _etag_of(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()


def _is_lfs(name: str) -> bool:
    return name.lower().endswith((".gguf", ".safetensors"))


class FakeHub:
    """The hub server (and, with ``with_cdn``, a second server the hub redirects weights to)."""

    def __init__(self, *, with_cdn: bool = False, name: str = "hub") -> None:
        self.name = name
        self.repos: dict[tuple[str, str], Path] = {}
        self.plain_root: Path | None = None
        self.misbehave: dict[str, str] = {}
        self.page_size: int | None = None
        self.drip_interval = 0.05
        self.hits: list[Hit] = []
        self.body_bytes = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._dropped: set[str] = set()
        self._etag_counter = 0
        self.server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.cdn: FakeHub | None = FakeHub(name="cdn") if with_cdn else None
        if self.cdn is not None:
            self.cdn.repos = self.repos  # the same files, reached by another origin

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeHub:
        self.thread.start()
        if self.cdn is not None:
            self.cdn.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        if self.cdn is not None:
            self.cdn.close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_repo(self, org: str, name: str, root: Path) -> str:
        """Serve the files under *root* as the repo ``org/name``; returns ``hf://org/name``."""
        self.repos[(org, name)] = root
        return f"hf://{org}/{name}"

    def resolve_url(self, org: str, name: str, path: str, revision: str = "main") -> str:
        return f"{self.url}/{org}/{name}/resolve/{revision}/{quote(path)}"

    def plain_url(self, path: str) -> str:
        return f"{self.url}/plain/{quote(path)}"

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()
            self.body_bytes = 0
            self._dropped.clear()
        if self.cdn is not None:
            self.cdn.reset()

    # -- what was asked, all servers together --------------------------------------------------

    def all_hits(self) -> list[Hit]:
        return self.hits + (self.cdn.hits if self.cdn is not None else [])

    def all_body_bytes(self) -> int:
        return self.body_bytes + (self.cdn.body_bytes if self.cdn is not None else 0)

    def body_requests(self) -> list[Hit]:
        """GETs of files (not listings): what a warm rescan must not send."""
        return [h for h in self.all_hits() if h.method == "GET" and "/api/" not in h.path]

    # -- the files -----------------------------------------------------------------------------

    def tree(self, org: str, name: str) -> list[dict[str, Any]]:
        root = self.repos[(org, name)]
        out: list[dict[str, Any]] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            for d in dirnames:
                path = d if rel_dir == "." else f"{rel_dir}/{d}"
                oid = hashlib.sha1(path.encode()).hexdigest()
                out.append({"type": "directory", "oid": oid, "size": 0, "path": path})
            for f in sorted(filenames):
                full = Path(dirpath) / f
                if not full.is_file():
                    continue
                path = f if rel_dir == "." else f"{rel_dir}/{f}"
                size = full.stat().st_size
                item: dict[str, Any] = {"type": "file", "oid": _etag_of(full), "size": size, "path": path}
                if _is_lfs(f):
                    item["oid"] = hashlib.sha1(path.encode()).hexdigest()  # the git pointer's id
                    item["lfs"] = {"oid": _etag_of(full), "size": size, "pointerSize": 134}
                out.append(item)
        return out

    def file_for(self, path: str) -> tuple[Path | None, tuple[str, str] | None]:
        """The local file behind a request path, and the repo when it is a resolve route."""
        if path.startswith("/plain/") and self.plain_root is not None:
            rel = unquote(path[len("/plain/") :])
            full = (self.plain_root / rel).resolve()
            if self.plain_root.resolve() in full.parents and full.is_file():
                return full, None
            return None, None
        m = re.fullmatch(r"/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)", path)
        if m and (m[1], m[2]) in self.repos:
            root = self.repos[(m[1], m[2])]
            full = (root / unquote(m[4])).resolve()
            if root.resolve() in full.parents and full.is_file():
                return full, (m[1], m[2])
        return None, None


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up mid-answer are what the tests do on purpose: no traceback for them."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait between

        def log_message(self, format: str, *args: object) -> None:
            pass

        # -- plumbing ----------------------------------------------------------------------

        def _record(self) -> None:
            with hub.lock:
                hub.hits.append(
                    Hit(
                        hub.name,
                        self.command,
                        self.path,
                        self.headers.get("Range"),
                        "Authorization" in self.headers,
                    )
                )

        def _send_body(self, data: bytes) -> None:
            with hub.lock:
                hub.body_bytes += len(data)
            self.wfile.write(data)

        def _plain(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self._send_body(body)

        def _mode(self) -> str | None:
            path = urlsplit(self.path).path
            return hub.misbehave.get(path) or hub.misbehave.get("*")

        def do_HEAD(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        # -- routes --------------------------------------------------------------------------

        def _serve(self) -> None:  # noqa: PLR0911 -- one return per route and misbehaviour
            self._record()
            path = urlsplit(self.path).path
            mode = self._mode()
            if mode == "garbage":
                self.wfile.write(b"\x00\x17 hello, this is not HTTP \xff\xfe\r\n" * 4)
                self.close_connection = True
                return
            if mode == "drip":
                self._drip()
                return
            if mode == "redirect_loop":
                self._plain(302, headers={"Location": self.path})
                return
            if mode == "status_500":
                self._plain(500, b"no")
                return
            if mode == "status_403":
                self._plain(403, b"no")
                return
            if mode == "no_head" and self.command == "HEAD":
                self._plain(405)
                return
            m = re.fullmatch(r"/api/models/([^/]+)/([^/]+)/tree/([^/]+)(/.*)?", path)
            if m:
                self._tree(m[1], m[2])
                return
            full, repo = hub.file_for(path)
            if full is None:
                self._plain(404, b"not found", {"X-Error-Code": "EntryNotFound"})
                return
            if repo is not None and hub.cdn is not None and _is_lfs(full.name) and hub.name == "hub":
                location = f"{hub.cdn.url}{self.path}"
                self._plain(
                    302,
                    headers={
                        "Location": location,
                        "X-Linked-Etag": f'"{_etag_of(full)}"',
                        "X-Linked-Size": str(full.stat().st_size),
                        "X-Repo-Commit": "0" * 40,
                    },
                )
                return
            self._file(full, mode)

        def _tree(self, org: str, name: str) -> None:
            if (org, name) not in hub.repos:
                self._plain(404, b'{"error":"Repository not found"}', {"X-Error-Code": "RepoNotFound"})
                return
            items = hub.tree(org, name)
            query = parse_qs(urlsplit(self.path).query)
            headers = {"Content-Type": "application/json"}
            if hub.page_size is not None:
                start = int(query.get("cursor", ["0"])[0])
                page = items[start : start + hub.page_size]
                if start + hub.page_size < len(items):
                    base = urlsplit(self.path).path
                    headers["Link"] = f'<{base}?recursive=true&cursor={start + hub.page_size}>; rel="next"'
                items = page
            self._plain(200, json.dumps(items).encode(), headers)

        def _file(self, full: Path, mode: str | None) -> None:  # noqa: PLR0911
            size = full.stat().st_size
            etag = _etag_of(full)
            if mode == "etag_changes":
                with hub.lock:
                    hub._etag_counter += 1
                    etag = f"{etag}-{hub._etag_counter}"
            common = {"ETag": f'"{etag}"', "Accept-Ranges": "bytes", "X-Repo-Commit": "0" * 40}
            wanted = self.headers.get("Range")
            if mode == "endless":
                self.send_response(200)
                self.send_header("Content-Length", str(1 << 50))
                self.end_headers()
                zeros = b"\0" * 65536
                with full.open("rb") as f:
                    head = f.read(1 << 20)
                try:
                    self._send_body(head)
                    while not hub.stop.is_set():
                        self._send_body(zeros)
                except OSError:
                    pass
                self.close_connection = True
                return
            if mode == "chunked_whole":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                data = full.read_bytes()
                with contextlib.suppress(OSError):
                    self._send_body(f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n")
                return
            rng = _parse_range(wanted, size) if wanted and mode != "ignore_range" else None
            if wanted and rng == "bad":
                self._plain(416, headers={"Content-Range": f"bytes */{size}", **common})
                return
            if not isinstance(rng, tuple):  # no Range, or one that cannot be served
                self.send_response(200)
                for k, v in common.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if self.command == "HEAD":
                    return
                self._stream(full, 0, size)
                return
            first, last = rng
            count = last - first + 1
            total = size
            if mode == "lying_total":
                with hub.lock:
                    hub._etag_counter += 1
                    total = size + hub._etag_counter
            shown_first = first + 1 if mode == "wrong_range" else first
            self.send_response(206)
            for k, v in common.items():
                self.send_header(k, v)
            self.send_header("Content-Range", f"bytes {shown_first}-{last}/{total}")
            length = count - 10 if mode == "long_length" and count > 20 else count
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command == "HEAD":
                return
            drop = mode == "drop_mid_body"
            if mode == "drop_once":
                with hub.lock:
                    drop = self.path not in hub._dropped
                    hub._dropped.add(self.path)
            if drop:
                self._stream(full, first, count // 2)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._stream(full, first, count)

        def _stream(self, full: Path, first: int, count: int) -> None:
            try:
                with full.open("rb") as f:
                    f.seek(first)
                    left = count
                    while left > 0 and not hub.stop.is_set():
                        data = f.read(min(left, 1 << 20))
                        if not data:
                            break
                        self._send_body(data)
                        left -= len(data)
            except OSError:
                self.close_connection = True

        def _drip(self) -> None:
            """A valid-looking answer, one byte at a time, until the client gives up."""
            answer = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/100\r\nContent-Length: 100\r\n\r\n"
            answer += b"GGUF" + b"\0" * 96
            try:
                for i in range(len(answer)):
                    if hub.stop.wait(hub.drip_interval):
                        break
                    self.wfile.write(answer[i : i + 1])
                    self.wfile.flush()
                    with hub.lock:
                        hub.body_bytes += 1
            except OSError:
                pass
            self.close_connection = True

    return Handler


def _parse_range(value: str, size: int) -> tuple[int, int] | str | None:
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", value.strip())
    if not m or (not m[1] and not m[2]):
        return None
    if not m[1]:
        n = int(m[2])
        return (max(0, size - n), size - 1) if n else "bad"
    first = int(m[1])
    last = int(m[2]) if m[2] else size - 1
    if first >= size or last < first:
        return "bad"
    return first, min(last, size - 1)


def wait_until(predicate: Any, seconds: float = 10.0) -> bool:
    """Poll *predicate* (for the servers' own threads, never to judge modelscan's speed)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
