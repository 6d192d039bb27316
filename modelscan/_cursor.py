"""A byte cursor over a random-access byte source: buffering, refills, integer reads, skips.

The GGUF grammar (:mod:`modelscan.gguf`) reads through one :class:`Cursor` and never touches a
file: the cursor owns the buffer, decides how much to read and when, and does the R1 check
(a length must fit in what remains of the file and under the metadata cap) before anything is
read or looped over. It reads from a :class:`ByteSource`, anything with a ``size`` and a
``read_at(offset, n)``: :class:`FileSource` for a local file (one ``os.pread`` per read, no
seek), :class:`StreamSource` for a file-like object; a remote source (HTTP ``Range`` requests)
plugs in the same way, with the grammar unchanged.

Reads are sized to what is needed: a small first read, then reads that grow with what has been
read so far (up to :data:`MAX_READ`), or what the grammar expects to need when it can say
(``hint``, :attr:`Cursor.rest`). Skipped regions are never read: a skip past the buffer only
moves the position. A source whose reads are dear (a request per read) may read ahead on its
own and serve later reads from what it holds; the cursor does not need to know.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, NoReturn, Protocol

from .errors import LimitExceeded, ModelScanError, Truncated, os_error

__all__ = ["FIRST_READ", "MAX_READ", "ByteSource", "Cursor", "FileSource", "StreamSource"]

#: The first read of a source, and the least a read asks for when the grammar gives no hint.
#: Most later shards and projectors have a smaller header; a 4,096-token llama header takes two
#: more reads.
FIRST_READ = 1 << 15
#: The most one read asks for (a 6.5 MB vocabulary takes a handful of them).
MAX_READ = 1 << 20


class ByteSource(Protocol):
    """What a :class:`Cursor` reads from: *size* bytes, readable at any offset.

    ``read_at(offset, n)`` returns up to *n* bytes starting at *offset* (``offset + n`` never
    exceeds *size*); fewer only where the source ends early (a file that shrank, a connection
    that closed), and ``b""`` at its end. It may raise :class:`OSError`. A source that cannot read
    again what it has passed (a stream that cannot seek) says so with ``can_reread = False``
    (optional; ``True`` when absent).
    """

    @property
    def size(self) -> int: ...

    def read_at(self, offset: int, n: int) -> bytes: ...


class FileSource:
    """A local file by its descriptor (owned by the caller): one ``os.pread`` per read, no seek."""

    __slots__ = ("fd", "size")
    can_reread = True

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size

    if hasattr(os, "pread"):

        def read_at(self, offset: int, n: int) -> bytes:
            return os.pread(self.fd, n, offset)

    else:  # pragma: no cover - Windows has no pread

        def read_at(self, offset: int, n: int) -> bytes:
            os.lseek(self.fd, offset, os.SEEK_SET)
            return os.read(self.fd, n)


class StreamSource:
    """A binary file-like object from its current position (that position is offset 0).

    *size* is the byte count from there; by default it is measured by seeking to the end, which a
    stream that cannot seek must spare us by passing it. A stream that cannot seek is read
    forward only (a skip reads and drops the bytes) and has ``can_reread = False``.
    """

    def __init__(self, stream: BinaryIO, size: int | None = None) -> None:
        self.stream = stream
        self.can_reread = bool(stream.seekable())
        self.start = stream.tell() if self.can_reread else 0
        if size is None:
            if not self.can_reread:
                raise TypeError("parse_gguf_header: file_size is required for a stream that cannot seek")
            size = stream.seek(0, os.SEEK_END) - self.start
            stream.seek(self.start)
        self.size = size
        self._at = 0  # where the stream is, relative to start

    def read_at(self, offset: int, n: int) -> bytes:
        if offset != self._at:
            if self.can_reread:
                self.stream.seek(self.start + offset)
            elif offset < self._at:
                raise io.UnsupportedOperation("the stream cannot seek back")
            else:
                while self._at < offset:
                    dropped = self.stream.read(min(offset - self._at, MAX_READ))
                    if not dropped:
                        return b""
                    self._at += len(dropped)
            self._at = offset
        data = self.stream.read(n) or b""  # a raw stream may return None
        self._at += len(data)
        return data


_INTS = {order: (struct.Struct(order + "I").unpack_from, struct.Struct(order + "Q").unpack_from) for order in "<>"}

if TYPE_CHECKING:
    from typing import TypeAlias

    #: The name of the field being read, for errors: a string, or a function that builds it (so
    #: that a label is only formatted when something fails).
    Field: TypeAlias = str | Callable[[], str]


class Cursor:
    """Buffered reading of a :class:`ByteSource`. ``buf[pos]`` is byte ``base + pos`` of the source.

    Every method that takes a *field* raises a :class:`~modelscan.errors.ModelScanError` naming
    *name*, the field and the absolute offset: :class:`Truncated` when the bytes are not there,
    :class:`LimitExceeded` (*cap_limit*) past byte *cap*, :class:`FileAccessError` when the source
    fails. Nothing is read at or past ``min(size, cap)``.

    The grammar's hot loops read ``buf`` directly between :meth:`window` and :meth:`moved_to`;
    ``reads`` and ``bytes_read`` count the calls to the source and the bytes they returned.
    """

    __slots__ = (
        "_run",
        "base",
        "buf",
        "bytes_read",
        "cap",
        "cap_limit",
        "end",
        "first_read",
        "format",
        "name",
        "pos",
        "reads",
        "rest",
        "size",
        "source",
        "u32",
        "u64",
    )

    def __init__(
        self,
        source: ByteSource,
        *,
        name: str,
        format: str,
        cap: int,
        cap_limit: str,
        first_read: int = FIRST_READ,
    ) -> None:
        self.source = source
        self.name = name
        self.format = format
        self.size = source.size
        self.cap = cap
        self.cap_limit = cap_limit
        self.end = min(self.size, cap)
        self.first_read = first_read
        self.buf = b""
        self.base = 0
        self.pos = 0
        self.reads = 0
        self.bytes_read = 0
        self._run = 0  # bytes read since the start or the last jump: the next read grows with it
        #: What the grammar expects is left to read (0: it cannot say): the size of a read that has
        #: no hint, so that the end of a header is read with little past it.
        self.rest = 0
        self.set_byteorder("<")

    def set_byteorder(self, order: str) -> None:
        """``"<"`` or ``">"``: the byte order of :meth:`read_u32`, :meth:`read_u64` and ``u32``/``u64``."""
        self.u32, self.u64 = _INTS[order]

    # --- errors ---------------------------------------------------------------------------

    def fail(
        self,
        cls: type[ModelScanError],
        field: Field,
        offset: int | None,
        detail: str,
        *,
        limit: str | None = None,
    ) -> NoReturn:
        label = field if isinstance(field, str) else field()
        raise cls(self.name, detail, field=label, offset=offset, format=self.format, limit=limit)

    # --- position -------------------------------------------------------------------------

    @property
    def here(self) -> int:
        """The absolute offset of the next byte."""
        return self.base + self.pos

    def available(self) -> int:
        """Bytes buffered from the position on."""
        return len(self.buf) - self.pos

    def require(self, need: int, field: Field, what: str = "") -> None:
        """R1, before anything is allocated or looped over: *need* bytes must remain, under the cap."""
        at = self.base + self.pos
        remain = self.size - at
        if need > remain:
            prefix = f"{what}: " if what else ""
            self.fail(Truncated, field, at, f"{prefix}needs {need} bytes, {max(remain, 0)} remain")
        if at + need > self.cap:
            self.fail(
                LimitExceeded,
                field,
                at,
                f"metadata would reach byte {at + need}, over the limit of {self.cap}",
                limit=self.cap_limit,
            )

    def seek(self, target: int) -> None:
        """Move to absolute *target*; nothing is read (a target past the buffer drops it)."""
        if self.base <= target <= self.base + len(self.buf):
            self.pos = target - self.base
            return
        self.buf = b""
        self.base = target
        self.pos = 0
        self._run = 0

    def skip(self, n: int, field: Field) -> None:
        """Step over *n* bytes (checked first); bytes past the buffer are never read."""
        self.require(n, field)
        self.seek(self.base + self.pos + n)

    # --- reads ----------------------------------------------------------------------------

    def _refill(self, n: int, hint: int) -> None:
        """Read until ``buf[pos:pos + n]`` is there or the source (up to ``end``) has no more.

        One read asks for the larger of what is missing and a step: *hint* (the bytes the grammar
        expects to need from here) when given; else the largest of *first_read*, :attr:`rest` and
        what was read since the last jump (so reads double); never more than :data:`MAX_READ`.
        A read costs more than a few KB of copying, so a small header is one read, and a read
        after a skip reads the rest of a typical header at once.
        """
        avail = len(self.buf) - self.pos
        read_from = self.base + len(self.buf)
        step = min(hint or max(self.first_read, self.rest, self._run), MAX_READ)
        want = min(max(n - avail, step - avail), self.end - read_from)
        chunks = [self.buf[self.pos :]] if avail else []
        got = 0
        try:
            while got < want:
                data = self.source.read_at(read_from + got, want - got)
                self.reads += 1
                if not data:
                    break
                chunks.append(data)
                got += len(data)
        except OSError as exc:
            raise os_error(self.name, exc, "read failed") from exc
        self.bytes_read += got
        self._run += got
        self.base += self.pos
        self.pos = 0
        self.buf = chunks[0] if len(chunks) == 1 else b"".join(chunks)  # no copy of a lone read

    def ensure(self, n: int, field: Field, hint: int = 0) -> None:
        """Make ``buf[pos:pos + n]`` available: checked (R1), then read if not buffered."""
        if len(self.buf) - self.pos >= n:
            return
        self.require(n, field)
        self._refill(n, hint)
        if len(self.buf) - self.pos < n:
            # The source ended before the size we were told (or measured): the file shrank.
            self.fail(Truncated, field, self.base, f"needs {n} bytes, {len(self.buf)} remain (file ends early)")

    def window(self, n: int, hint: int = 0) -> tuple[bytes, int] | None:
        """``(buf, pos)`` with at least *n* bytes buffered from ``pos``, reading if needed; ``None``
        when fewer than *n* bytes remain before the end of the source or the cap (or the source
        ended early). For hot loops: read ``buf`` from ``pos`` on, then call :meth:`moved_to`."""
        if len(self.buf) - self.pos < n:
            if self.base + self.pos + n > self.end:
                return None
            self._refill(n, hint)
            if len(self.buf) - self.pos < n:
                return None
        return self.buf, self.pos

    def moved_to(self, pos: int) -> None:
        """After :meth:`window`: the hot loop consumed ``buf`` up to *pos*."""
        self.pos = pos

    def read_u32(self, field: Field) -> int:
        if len(self.buf) - self.pos < 4:
            self.ensure(4, field)
        value: int = self.u32(self.buf, self.pos)[0]
        self.pos += 4
        return value

    def read_u64(self, field: Field) -> int:
        if len(self.buf) - self.pos < 8:
            self.ensure(8, field)
        value: int = self.u64(self.buf, self.pos)[0]
        self.pos += 8
        return value

    def unpack(self, unpack_from: Callable[[bytes, int], tuple[object, ...]], size: int, field: Field) -> object:
        """The first value of a precompiled ``Struct.unpack_from`` of *size* bytes, read."""
        if len(self.buf) - self.pos < size:
            self.ensure(size, field)
        value = unpack_from(self.buf, self.pos)[0]
        self.pos += size
        return value

    def take(self, n: int, field: Field) -> bytes:
        """The next *n* bytes (checked first)."""
        self.ensure(n, field, hint=n)
        p = self.pos
        self.pos = p + n
        return self.buf[p : p + n]

    def take_view(self, n: int, field: Field) -> memoryview:
        """The next *n* bytes as a view of the buffer (no copy; valid until the next read)."""
        self.ensure(n, field, hint=n)
        p = self.pos
        self.pos = p + n
        return memoryview(self.buf)[p : p + n]

    def skip_strings(self, count: int, field: str) -> None:
        """Step over *count* length-prefixed strings without decoding them (R4, R5).

        The hot loop of a GGUF read: a 262,144-token vocabulary is 262,144 ``unpack_from`` calls
        and additions over the buffered bytes, eight to an iteration. ``unpack_from`` raises when a
        length prefix runs past the buffer; the block of eight is then walked again one string at
        a time up to that prefix, the position is checked against the file size and the metadata
        cap, and the buffer refilled from the prefix on (sized from the average string so far).
        """
        u = self.u64
        start = self.base + self.pos
        buf, p = self.buf, self.pos
        left = count
        while True:
            seg_p, seg_done = p, count - left  # this buffer's first string, for the error path
            try:
                while left >= 8:
                    q = p
                    q += u(buf, q)[0] + 8
                    q += u(buf, q)[0] + 8
                    q += u(buf, q)[0] + 8
                    q += u(buf, q)[0] + 8
                    q += u(buf, q)[0] + 8
                    q += u(buf, q)[0] + 8
                    q += u(buf, q)[0] + 8
                    q += u(buf, q)[0] + 8
                    p = q
                    left -= 8
            except (struct.error, OverflowError):
                pass  # a prefix of this block is not (wholly) in the buffer: walk it one by one
            try:
                for _ in range(min(left, 8)):
                    p += u(buf, p)[0] + 8
                    left -= 1
            except (struct.error, OverflowError):
                pass  # the prefix at p is not (wholly) in the buffer
            at = self.base + p
            if at > self.size or at > self.cap:
                self._string_overrun(field, buf, seg_p, seg_done, last=count - left - 1, at=at)
            self.seek(at)
            if left == 0:
                return
            # The one-by-one walk stopped at a prefix that is not (wholly) buffered: read on.
            done = count - left
            average = (at - start) // done + 1 if done else 16
            self.ensure(8, f"{field}[{done}]", hint=min(left * average + 8, MAX_READ))
            buf, p = self.buf, self.pos

    def _string_overrun(self, field: str, buf: bytes, seg_p: int, seg_done: int, *, last: int, at: int) -> NoReturn:
        """String *last* claims more bytes than there are: say where it starts (the error path)."""
        u = self.u64
        q = seg_p
        for _ in range(seg_done, last):
            q += u(buf, q)[0] + 8
        where = f"{field}[{last}]"
        if at > self.size:
            self.fail(
                Truncated,
                where,
                self.base + q,
                f"string of {at - self.base - q - 8} bytes runs past the end of the file ({self.size})",
            )
        self.fail(
            LimitExceeded,
            where,
            self.base + q,
            f"metadata would reach byte {at}, over the limit of {self.cap}",
            limit=self.cap_limit,
        )
