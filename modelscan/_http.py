"""HTTP for remote headers: the standard library's ``http.client``, held to HOSTILE.md's rules.

A server is untrusted input like a file. Everything here is bounded:

- every request has a timeout (``Limits.remote_timeout``) on each socket read, and a deadline
  (``Limits.remote_seconds`` per file) checked before each read, so a server that drips one byte
  a second, in its status line, its headers or its body, runs out of time instead of hanging us;
- bodies are read only as far as needed and never past what was asked (a ``Range`` answer) or a
  cap (a small file, a listing): a server that ignores ``Range`` and sends the whole file is read
  as a stream up to the header's end, then its connection is closed;
- redirects are followed up to :data:`MAX_REDIRECTS` times, to ``http``/``https`` only, with
  ``Range`` sent again and credentials (``Authorization``) sent to the original host only;
- whatever a server gets wrong (garbage instead of HTTP, a ``Content-Range`` that is not the
  range asked for, a body shorter or longer than it said, a redirect loop, an error status) is a
  :class:`~modelscan.errors.ModelScanError` with its code, naming the file as the caller named it.

One connection per host is kept and reused (per thread: :class:`Client` is not shared between
threads); a kept connection the server has closed meanwhile is opened again once, transparently.
The byte source that reads a file by ``Range`` requests over this is :mod:`modelscan._range`.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import io
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from .errors import ErrorCode, FileAccessError, LimitExceeded
from .limits import Limits

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "FIRST_REQUEST",
    "MAX_REDIRECTS",
    "Client",
    "Target",
    "client",
    "close_connections",
    "display_url",
    "fetch_small",
]

#: The first ``Range`` request of a file asks for this many bytes; each later one for twice as
#: many as the one before (a 6.5 MB GGUF header: 256 KiB + 512 KiB + 1 + 2 + 4 MiB, five requests).
FIRST_REQUEST = 256 << 10
#: The most one request asks for, however far the schedule has grown.
MAX_REQUEST = 64 << 20
#: Redirects followed for one request; one more is ``too_many_redirects``.
MAX_REDIRECTS = 10
#: Bytes of a redirect's or an error's body read (and dropped) so that the connection can be reused.
_DRAIN = 64 << 10
#: The largest piece of a body read at once.
_PIECE = 1 << 20
#: The clock (a module attribute so tests can make a deadline pass).
_clock = time.monotonic

_USER_AGENT = "modelscan"


def display_url(url: str) -> str:
    """*url* without credentials (``user:password@``), for messages and listings (R15)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclasses.dataclass(frozen=True)
class Target:
    """What to fetch: a URL, the name errors use, and the credentials for its own host.

    ``token`` is a bearer token; credentials given in the URL (``user:password@``) are sent as
    basic authentication. Either goes to the URL's own host (scheme, host and port) only, never
    to a host a redirect leads to.
    """

    url: str
    name: str
    token: str | None = None

    def auth(self) -> str | None:
        parts = urlsplit(self.url)
        if parts.username is not None or parts.password is not None:
            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            return "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return f"Bearer {self.token}" if self.token else None


def _error(name: str, detail: str, code: ErrorCode) -> FileAccessError:
    return FileAccessError(name, detail, format="http", code=code)


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port


class _Deadline:
    """When a file's time runs out, and the timeout of each socket read before it."""

    __slots__ = ("at", "limits", "name")

    def __init__(self, limits: Limits, name: str) -> None:
        self.limits = limits
        self.name = name
        self.at = _clock() + limits.remote_seconds

    def socket_timeout(self) -> float:
        left = self.at - _clock()
        if left <= 0:
            raise self.expired()
        return min(left, self.limits.remote_timeout)

    def expired(self) -> LimitExceeded:
        return LimitExceeded(
            self.name,
            f"the server took longer than {self.limits.remote_seconds} s in all",
            format="http",
            limit="remote_seconds",
        )


class _SocketReader(io.RawIOBase):
    """A socket's bytes, each ``recv`` bounded by the deadline (``http.client`` reads through it)."""

    def __init__(self, sock: socket.socket, conn: _Connection) -> None:
        super().__init__()
        self.sock = sock
        self.conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        deadline = self.conn.deadline
        if deadline is not None:
            self.sock.settimeout(deadline.socket_timeout())
        return self.sock.recv_into(b)


class _Response(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: object, conn: _Connection, **kwargs: object) -> None:
        super().__init__(sock, *args, **kwargs)  # type: ignore[arg-type]
        self.fp.close()  # http.client's own makefile(); ours checks the deadline on every recv
        self.fp = io.BufferedReader(_SocketReader(sock, conn), 1 << 16)


class _Connection:
    """One kept connection to one host, and the deadline of the request it serves."""

    def __init__(self, scheme: str, host: str, port: int, timeout: float) -> None:
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        self.http = cls(host, port, timeout=timeout)
        self.http.response_class = lambda sock, *a, **kw: _Response(sock, *a, conn=self, **kw)  # type: ignore[assignment]
        self.deadline: _Deadline | None = None
        self.used = False  # a request went through: a failure may mean the server closed it since

    def close(self) -> None:
        self.http.close()


class Client:
    """Kept connections, one per host (scheme, host, port). Not for sharing between threads.

    ``requests`` counts the requests sent (redirects included), ``body_bytes`` the body bytes
    received: tests and the benchmark read them.
    """

    def __init__(self) -> None:
        self._conns: dict[tuple[str, str, int], _Connection] = {}
        self.pid = os.getpid()
        self.requests = 0
        self.body_bytes = 0
        # Sockets closed when the client is collected, not left to warn (ResourceWarning).
        self._finalizer = weakref.finalize(self, _close_all, self._conns)

    def close(self) -> None:
        """Close every kept connection."""
        _close_all(self._conns)

    def _connection(self, origin: tuple[str, str, int], limits: Limits) -> _Connection:
        conn = self._conns.get(origin)
        if conn is None:
            conn = self._conns[origin] = _Connection(*origin, timeout=limits.remote_timeout)
        return conn

    def drop(self, origin: tuple[str, str, int]) -> None:
        conn = self._conns.pop(origin, None)
        if conn is not None:
            conn.close()

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], deadline: _Deadline, name: str
    ) -> tuple[_Connection, http.client.HTTPResponse]:
        """One request on the kept connection to *url*'s host (opened again once if the server
        closed it since its last use)."""
        parts = urlsplit(url)
        origin = _origin(url)
        if origin[0] not in ("http", "https") or not origin[1] or origin[2] < 0:
            raise _error(name, f"not an http(s) URL: {display_url(url)[:200]!r}", "bad_response")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host = origin[1] if ":" not in origin[1] else f"[{origin[1]}]"
        default = 443 if origin[0] == "https" else 80
        all_headers = {
            "Host": host if origin[2] == default else f"{host}:{origin[2]}",
            "User-Agent": _USER_AGENT,
            "Accept-Encoding": "identity",
            **headers,
        }
        for attempt in (0, 1):
            conn = self._connection(origin, deadline.limits)
            reused = conn.used
            conn.deadline = deadline
            try:
                if conn.http.sock is None:
                    conn.http.timeout = deadline.socket_timeout()
                    conn.http.connect()
                conn.http.sock.settimeout(deadline.socket_timeout())
                self.requests += 1
                conn.http.request(method, path, headers=all_headers)
                response = conn.http.getresponse()
            except LimitExceeded:
                self.drop(origin)
                raise
            except TimeoutError as exc:
                self.drop(origin)
                raise _timed_out(name, deadline) from exc
            except (http.client.HTTPException, OSError, ValueError, UnicodeError) as exc:
                self.drop(origin)
                if reused and attempt == 0:
                    # The server closed the kept connection meanwhile, or left bytes of an earlier
                    # answer on it: once more, on a new connection.
                    continue
                if isinstance(exc, (http.client.RemoteDisconnected, OSError)):
                    raise _error(name, f"connection failed: {_reason(exc)}", "connection_failed") from exc
                # BadStatusLine, LineTooLong, too many headers, a bad header: not HTTP as it should be.
                raise _error(name, f"not a valid HTTP response: {_reason(exc)}", "bad_response") from exc
            conn.used = True
            return conn, response
        raise AssertionError("unreachable")  # pragma: no cover

    def request(
        self,
        method: str,
        target: Target,
        deadline: _Deadline,
        headers: Mapping[str, str] | None = None,
        on_hop: Callable[[Mapping[str, str]], None] | None = None,
    ) -> _Reply:
        """*method* on *target*, following redirects; the final reply, its body unread.

        *headers* (``Range``) go to every hop; ``Authorization`` only to the target's own host.
        *on_hop* sees the headers of each redirect answer (the Hub puts ``X-Linked-Etag`` there).
        """
        url = target.url
        own = _origin(url)
        auth = target.auth()
        for _hop in range(MAX_REDIRECTS + 1):
            sent = dict(headers or {})
            if auth is not None and _origin(url) == own:
                sent["Authorization"] = auth
            conn, response = self._send(method, _strip_credentials(url), sent, deadline, target.name)
            reply = _Reply(self, conn, origin=_origin(url), response=response, name=target.name, deadline=deadline)
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if on_hop is not None:
                    on_hop(reply.headers)
                reply.discard()
                if not location:
                    raise _error(target.name, f"redirect ({response.status}) without a Location", "bad_response")
                url = urljoin(url, location.strip())
                if urlsplit(url).scheme.lower() not in ("http", "https"):
                    raise _error(target.name, "redirect to a URL that is not http(s)", "bad_response")
                continue
            return reply
        raise _error(target.name, f"more than {MAX_REDIRECTS} redirects", "too_many_redirects")


def _strip_credentials(url: str) -> str:
    return display_url(url)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:120]


def _timed_out(name: str, deadline: _Deadline) -> LimitExceeded:
    if deadline.at - _clock() <= 0:
        return deadline.expired()
    return LimitExceeded(
        name,
        f"no answer from the server within {deadline.limits.remote_timeout} s",
        format="http",
        limit="remote_timeout",
    )


def _close_all(conns: dict[tuple[str, str, int], _Connection]) -> None:
    for conn in conns.values():
        conn.close()
    conns.clear()


class _Reply:
    """One answer: status, headers (lowercase names), and its body read in bounded pieces."""

    def __init__(
        self,
        client: Client,
        conn: _Connection,
        *,
        origin: tuple[str, str, int],
        response: http.client.HTTPResponse,
        name: str,
        deadline: _Deadline,
    ) -> None:
        self.client = client
        self.conn = conn
        self.origin = origin
        self.response = response
        self.status = response.status
        self.name = name
        self.deadline = deadline
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.done = False

    def length(self) -> int | None:
        """``Content-Length``, or ``None`` when absent; garbage is ``bad_response``."""
        value = self.headers.get("content-length")
        if value is None or "transfer-encoding" in self.headers:
            return None
        value = value.strip()
        if not value.isdigit() or len(value) > 19:
            raise self.bad(f"Content-Length is not a number: {value[:40]!r}")
        return int(value)

    def bad(self, detail: str) -> FileAccessError:
        self.close()
        return _error(self.name, detail, "bad_response")

    def read(self, n: int) -> bytes:
        """Up to *n* bytes of the body (fewer only at its end), read in pieces, each within the
        deadline. A body that ends before its ``Content-Length`` is ``connection_failed``."""
        pieces = []
        got = 0
        try:
            while got < n:
                piece = self.response.read1(min(n - got, _PIECE))
                if not piece:
                    break
                pieces.append(piece)
                got += len(piece)
        except LimitExceeded:
            self.close()
            raise
        except TimeoutError as exc:
            self.close()
            raise _timed_out(self.name, self.deadline) from exc
        except http.client.IncompleteRead as exc:
            self.close()
            raise _error(self.name, "the connection closed in the middle of the body", "connection_failed") from exc
        except (http.client.HTTPException, OSError, ValueError) as exc:
            self.close()
            raise _error(self.name, f"reading the body failed: {_reason(exc)}", "connection_failed") from exc
        self.client.body_bytes += got
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def finish(self) -> None:
        """Done with this answer: keep the connection if its body was read whole, else close it."""
        if self.done:
            return
        self.done = True
        if not self.response.isclosed() and self.response.length == 0:
            self.response.read()  # the body is over (or a HEAD answer has none): close it cleanly
        if not self.response.isclosed() or self.response.will_close:
            self.client.drop(self.origin)

    def discard(self) -> None:
        """Read and drop a small body (a redirect's, an error's), so the connection is kept."""
        length = self.length() if self.status != 304 else 0
        if length is not None and length <= _DRAIN:
            try:
                self.read(length)
            except (FileAccessError, LimitExceeded):
                return
        self.finish()

    def close(self) -> None:
        if not self.done:
            self.done = True
            self.client.drop(self.origin)


_local = threading.local()


def client() -> Client:
    """This thread's :class:`Client`. A process forked from one that had connections (scan
    workers) gets a client of its own: two processes must never write to one connection."""
    found: Client | None = getattr(_local, "client", None)
    if found is None or found.pid != os.getpid():
        found = _local.client = Client()
    return found


def close_connections() -> None:
    """Close this thread's kept connections."""
    found: Client | None = getattr(_local, "client", None)
    if found is not None:
        found.close()


def _status_error(reply: _Reply, what: str = "") -> FileAccessError:
    status = reply.status
    reason = (reply.response.reason or "")[:60]
    reply.discard()
    code: ErrorCode
    if status in (404, 410):
        code = "not_found"
    elif status in (401, 403):
        code = "permission_denied"
    else:
        code = "http_error"
    detail = f"HTTP {status} {reason}".strip() + (f" ({what})" if what else "")
    return _error(reply.name, detail, code)


def _etag(headers: Mapping[str, str]) -> str | None:
    """The entity tag, without ``W/`` and quotes; the Hub's ``X-Linked-Etag`` first."""
    value = headers.get("x-linked-etag") or headers.get("etag")
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')[:200] or None


def _validator(headers: Mapping[str, str]) -> str | None:
    etag = _etag(headers)
    if etag is not None:
        return etag
    modified = headers.get("last-modified")
    return f"modified {modified.strip()[:80]}" if modified else None


def fetch_small(target: Target, cap: int, limit: str, limits: Limits, http: Client | None = None) -> bytes | None:
    """The whole body of a small file of at most *cap* bytes, or ``None`` for 404 and 410.

    The length is checked before the body is read when the server states it; a body that runs
    past *cap* anyway is cut off there (its connection closed) and refused.
    """
    http = http or client()
    deadline = _Deadline(limits, target.name)
    reply = http.request("GET", target, deadline)
    if reply.status in (404, 410):
        reply.discard()
        return None
    if reply.status != 200:
        raise _status_error(reply)
    return _capped_body(reply, target.name, cap, limit, "body")


def _capped_body(reply: _Reply, name: str, cap: int, limit: str, what: str) -> bytes:
    """The whole body of *reply*, of at most *cap* bytes: a stated length over the cap is refused
    before anything is read, a body that runs past it anyway is cut off there (its connection
    closed), and a body shorter than stated is a failed connection. *what* names it in errors."""
    length = reply.length()
    if length is not None and length > cap:
        reply.close()
        raise LimitExceeded(name, f"a {what} of {length} bytes exceeds the limit of {cap}", format="http", limit=limit)
    data = reply.read(cap + 1 if length is None else length)
    if len(data) > cap:
        reply.close()
        raise LimitExceeded(name, f"a {what} of more than {cap} bytes (the limit)", format="http", limit=limit)
    if length is not None and len(data) < length:
        reply.close()
        raise _error(name, f"{what} of {len(data)} bytes, {length} announced", "connection_failed")
    reply.finish()
    return data


def iter_pages(
    target: Target, cap: int, limit: str, limits: Limits, *, max_pages: int, http: Client | None = None
) -> Iterator[bytes]:
    """The bodies of a paginated listing: *target*, then each ``Link: <...>; rel="next"`` on the
    same host, at most *max_pages* pages of at most *cap* bytes each."""
    http = http or client()
    url = target.url
    for _page in range(max_pages):
        deadline = _Deadline(limits, target.name)
        reply = http.request("GET", dataclasses.replace(target, url=url), deadline)
        if reply.status != 200:
            raise _status_error(reply, "listing")
        yield _capped_body(reply, target.name, cap, limit, "listing page")
        following = _next_link(reply.headers.get("link", ""), url)
        if following is None:
            return
        if _origin(following) != _origin(url):
            raise _error(target.name, "a listing page links to another host", "bad_response")
        url = following
    raise LimitExceeded(target.name, f"more than {max_pages} listing pages", format="http", limit="walk_entries_total")


def _next_link(header: str, base: str) -> str | None:
    for part in header.split(","):
        link, _, params = part.partition(";")
        link = link.strip()
        if link.startswith("<") and link.endswith(">") and 'rel="next"' in params.replace(" ", ""):
            return urljoin(base, link[1:-1])
    return None
