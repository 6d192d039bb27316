"""Reading a remote file by HTTP ``Range`` requests: the byte source of the header readers.

:class:`RemoteFile` gives ``size`` and ``read_at(offset, n)``, as a local file does through
``os.pread``: the GGUF cursor and the safetensors reader read from it without knowing it is
remote. The first request asks for ``FIRST_REQUEST`` bytes and each later one for twice as many
(up to ``MAX_REQUEST``), so a 6.5 MB vocabulary takes five requests, not a hundred; the bytes
fetched per file are bounded by ``Limits.remote_bytes``. A server that ignores ``Range`` is read
as a stream, only as far as the header needs. :class:`RemoteStream` is the same as a read-only
file object. Every request goes through :mod:`modelscan._http`, which holds the connections,
deadlines and redirect rules.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping

from ._http import (
    _PIECE,
    FIRST_REQUEST,
    MAX_REQUEST,
    Client,
    Target,
    _Deadline,
    _error,
    _etag,
    _Reply,
    _status_error,
    _validator,
    client,
)
from .errors import ChangedDuringScan, FileAccessError, LimitExceeded
from .limits import Limits

__all__ = ["Probe", "RemoteFile", "RemoteStream", "probe"]


def _content_range(reply: _Reply) -> tuple[int, int, int | None]:
    """``Content-Range: bytes first-last/total`` (total ``None`` for ``*``); garbage is ``bad_response``."""
    value = reply.headers.get("content-range", "").strip()
    unit, _, spec = value.partition(" ")
    span, _, total = spec.strip().partition("/")
    first, _, last = span.partition("-")
    if (
        unit.lower() != "bytes"
        or not first.isdigit()
        or not last.isdigit()
        or not (total.isdigit() or total == "*")
        or max(len(first), len(last), len(total)) > 19
    ):
        raise reply.bad(f"Content-Range is not a byte range: {value[:60]!r}")
    return int(first), int(last), int(total) if total.isdigit() else None


class RemoteFile:
    """A byte source over HTTP ``Range`` requests: ``size`` and ``read_at(offset, n)``.

    :meth:`open` sends the first request (``FIRST_REQUEST`` bytes, unless *first* says otherwise):
    its ``Content-Range`` total is the size, its ``ETag`` (the Hub's ``X-Linked-Etag`` first) the
    version. Later requests grow geometrically, each at least twice the one before, so a header
    of any size takes a handful; what they bring is kept until read past. A read that jumps past
    what was fetched (a skipped array) restarts the schedule from a quarter of its step. Every body byte counts
    against ``Limits.remote_bytes``, the whole file's time against ``Limits.remote_seconds``.

    A server that answers a ``Range`` request with 200 and the whole file is read as a stream from
    there, only as far as the reads ask, and its connection is closed at the end. A version that
    changes between requests (another ``ETag``, another total), or differs from *etag* (what a
    listing said), is :class:`~modelscan.errors.ChangedDuringScan`.
    """

    def __init__(
        self,
        target: Target,
        limits: Limits,
        *,
        etag: str | None = None,
        http: Client | None = None,
        first: int = FIRST_REQUEST,
    ) -> None:
        self.target = target
        self.name = target.name
        self.limits = limits
        self.expect = etag
        self.http = http or client()
        self.deadline = _Deadline(limits, target.name)
        self.next_request = self.first = max(1, first)
        self.size = -1
        self.etag: str | None = None
        self.requests = 0
        self.received = 0
        self._buf = b""
        self._base = 0
        self._stream: _Reply | None = None  # a 200 answer read as a stream
        self._stream_at = 0

    # -- the first answer ---------------------------------------------------------------------

    def open(self) -> RemoteFile:
        """Send the first request; ``size`` and ``etag`` are known after it."""
        if self.size < 0:
            data = self._fetch(0, 1)
            if data is not None:
                self._buf, self._base = data, 0
        return self

    def close(self) -> None:
        """Close a connection left mid-body (a server that ignored ``Range``); drop the buffer."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._buf = b""

    def __enter__(self) -> RemoteFile:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to *n* bytes from *offset* (fewer only at the end of the file)."""
        self.open()
        n = max(0, min(n, self.size - offset))
        if n == 0:
            return b""
        start = offset - self._base
        if start >= 0 and start + n <= len(self._buf):
            return self._buf[start : start + n]
        if self._stream is not None and offset >= self._base:
            return self._from_stream(offset, n)
        # Keep what is buffered from offset on; fetch the rest, and more, in one request.
        kept = self._buf[start:] if 0 <= start < len(self._buf) else b""
        if self._buf and offset > self._base + len(self._buf):
            # A jump past what was fetched: the reader skipped something (a GGUF array of numbers).
            # What follows a skip is most often short (the last key/values, the tensor infos), so
            # the schedule restarts from a quarter of its step, and grows again from there.
            self.next_request = max(self.first, self.next_request // 4)
        self.close()
        data = self._fetch(offset + len(kept), n - len(kept))
        if data is None:  # the server ignored Range: a stream from byte 0 (perhaps read already)
            if self._stream is not None:
                return self._from_stream(offset, n)
            return self._buf[offset - self._base : offset - self._base + n]
        self._buf, self._base = kept + data, offset
        return self._buf[:n]

    def _ask(self, need: int, at: int) -> int:
        """How much to ask for when *need* bytes from *at* are wanted: the next step of the
        geometric schedule, within the file and ``Limits.remote_bytes``."""
        left = self.limits.remote_bytes - self.received
        if need > left:
            raise LimitExceeded(
                self.name,
                f"reading to byte {at + need} would fetch more than {self.limits.remote_bytes} bytes",
                format="http",
                offset=at,
                limit="remote_bytes",
            )
        ask = min(max(need, self.next_request), left)
        if self.size >= 0:
            ask = min(ask, self.size - at)
        self.next_request = min(max(self.next_request, ask) * 2, MAX_REQUEST)
        return ask

    def _check_version(self, headers: Mapping[str, str], total: int | None, hop_tags: list[str]) -> None:
        tag = hop_tags[0] if hop_tags else _validator(headers)
        if self.size < 0:
            if self.expect is not None and tag is not None and tag != self.expect:
                raise ChangedDuringScan(
                    self.name, "the file's ETag differs from the listing's", format="http", code="changed_during_scan"
                )
            self.etag = tag
            return
        if tag != self.etag or (total is not None and total != self.size):
            raise ChangedDuringScan(
                self.name, "the file changed between two requests", format="http", code="changed_during_scan"
            )

    def _fetch(self, at: int, need: int) -> bytes | None:
        """One ``Range`` request from *at* for at least *need* bytes (more, by the schedule): its
        body, or ``None`` and a stream started when the server ignores ``Range``. A connection
        that drops mid-body is tried once more."""
        for attempt in (0, 1):
            try:
                return self._fetch_once(at, need)
            except FileAccessError as err:
                if err.code != "connection_failed" or attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch_once(self, at: int, need: int) -> bytes | None:
        ask = self._ask(need, at)
        hop_tags: list[str] = []

        def on_hop(headers: Mapping[str, str]) -> None:
            if "x-linked-etag" in headers:
                tag = _etag(headers)
                if tag:
                    hop_tags.append(tag)

        before = self.http.requests
        try:
            reply = self.http.request(
                "GET", self.target, self.deadline, {"Range": f"bytes={at}-{at + ask - 1}"}, on_hop=on_hop
            )
        finally:
            self.requests += self.http.requests - before
        if reply.status == 206:
            first, last, total = _content_range(reply)
            if total is None and self.size < 0:
                raise reply.bad("Content-Range does not say how long the file is")
            self._check_version(reply.headers, total, hop_tags)
            if self.size < 0:
                assert total is not None
                self.size = total
            if first != at or last < first or last >= self.size or last - first + 1 > ask:
                raise reply.bad(f"Content-Range {first}-{last}/{total} is not the range asked for ({at}-)")
            count = last - first + 1
            length = reply.length()
            if length is not None and length != count:
                raise reply.bad(f"Content-Length {length} differs from Content-Range's {count} bytes")
            data = reply.read(count)
            self.received += len(data)
            if len(data) < count:
                reply.close()
                raise _error(self.name, f"body of {len(data)} bytes, {count} announced", "connection_failed")
            if count < min(need, self.size - at):
                raise reply.bad(f"{count} bytes sent where {min(need, self.size - at)} were asked for")
            reply.finish()
            return data
        if reply.status == 200:
            # Range ignored: the whole file follows. It is read as a stream, as far as needed.
            length = reply.length()
            if length is None:
                raise reply.bad("the server ignored Range and did not say how long the file is")
            self._check_version(reply.headers, length, hop_tags)
            if self.size < 0:
                self.size = length
            self._stream = reply
            self._buf, self._base = b"", 0
            if at == 0 and self.size > 0:
                self._from_stream(0, min(ask, self.size))
            return None
        if reply.status == 416:
            whole = reply.headers.get("content-range", "").strip().rpartition("/")[2]
            validator = _validator(reply.headers)
            reply.discard()
            if self.size < 0 and at == 0 and whole == "0":
                self.size = 0  # an empty file: nothing to read
                self.etag = validator
                return b""
            raise ChangedDuringScan(
                self.name,
                f"the server says bytes {at}- are not in the file (416): it shrank?",
                format="http",
                code="changed_during_scan",
            )
        raise _status_error(reply)

    def _from_stream(self, offset: int, n: int) -> bytes:
        """Bytes of a 200 answer (the buffer always ends where the stream is): what lies before
        *offset* is read and dropped, and counts against the budget too."""
        stream = self._stream
        assert stream is not None
        end = self._base + len(self._buf)
        kept = self._buf[offset - self._base :] if offset < end else b""
        while end < offset:
            drop = min(offset - end, _PIECE)
            self._ask(drop, end)
            dropped = stream.read(drop)
            self.received += len(dropped)
            if not dropped:
                self.close()
                raise _error(self.name, "the connection closed in the middle of the body", "connection_failed")
            end += len(dropped)
        need = n - len(kept)
        data = stream.read(self._ask(need, end))
        self.received += len(data)
        if len(data) < need:
            self.close()
            raise _error(self.name, "the connection closed in the middle of the body", "connection_failed")
        self._buf, self._base = kept + data, offset
        if end + len(data) >= self.size:
            stream.finish()  # the whole file was read: the connection may be kept
            self._stream = None
        return self._buf[:n]


class RemoteStream(io.RawIOBase):
    """A :class:`RemoteFile` as a read-only, seekable binary file object, which is also a byte
    source (``size``, ``read_at``) for readers that take one."""

    def __init__(self, source: RemoteFile) -> None:
        super().__init__()
        self.source = source
        self.pos = 0

    @property
    def size(self) -> int:
        return self.source.size

    def read_at(self, offset: int, n: int) -> bytes:
        return self.source.read_at(offset, n)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.source.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.source.read_at(self.pos, len(b))
        b[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.source.size - self.pos
        data = self.source.read_at(self.pos, n)
        self.pos += len(data)
        return data


@dataclasses.dataclass(frozen=True)
class Probe:
    """What a server says of a file without sending it: its size and validator (ETag)."""

    size: int
    etag: str | None


def probe(target: Target, limits: Limits, http: Client | None = None) -> Probe | None:
    """The size and ETag of *target* from a ``HEAD`` (a 1-byte ``Range`` GET where ``HEAD`` is
    not allowed); ``None`` when the server says there is no such file (404, 410)."""
    http = http or client()
    deadline = _Deadline(limits, target.name)
    hop_tags: list[str] = []
    hop_sizes: list[str] = []

    def on_hop(headers: Mapping[str, str]) -> None:
        if "x-linked-etag" in headers:
            tag = _etag(headers)
            if tag:
                hop_tags.append(tag)
        if "x-linked-size" in headers:
            hop_sizes.append(headers["x-linked-size"].strip())

    reply = http.request("HEAD", target, deadline, on_hop=on_hop)
    if reply.status in (404, 410):
        reply.discard()
        return None
    if reply.status in (405, 501):  # HEAD not allowed: ask for one byte instead
        reply.discard()
        found = RemoteFile(target, limits, http=http, first=1)
        try:
            found.open()
            return Probe(found.size, found.etag)
        except FileAccessError as err:
            if err.code == "not_found":
                return None
            raise
        finally:
            found.close()
    if reply.status != 200:
        raise _status_error(reply)
    size = reply.length()
    linked = hop_sizes[0] if hop_sizes else reply.headers.get("x-linked-size", "").strip()
    if linked.isdigit() and len(linked) <= 19:
        size = int(linked)
    reply.finish()  # a HEAD answer has no body
    if size is None:
        raise _error(target.name, "the server did not say how long the file is", "bad_response")
    return Probe(size, hop_tags[0] if hop_tags else _validator(reply.headers))
