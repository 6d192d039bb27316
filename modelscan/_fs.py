"""Safe file access (HOSTILE.md R6, R7, R14): no mmap, no blocking opens, regular files only.

``open_regular`` opens without blocking (a FIFO cannot hang us), then requires a regular file
from ``fstat`` on the descriptor we hold, so the check and the read concern the same file; given
what the folder walk saw of the file, it also refuses a file swapped in or rewritten since.
``read_small_file`` reads a size-capped sidecar whole; ``verify_unchanged`` compares the file's
identity before and after a read. Every error names the file by *source*: the name the file was
found under, which for a followed symlink is not the path that is opened.
"""

from __future__ import annotations

import errno
import io
import os
import stat

from .errors import ChangedDuringScan, FileAccessError, LimitExceeded, Truncated, os_error

__all__ = ["Identity", "open_regular", "open_regular_fd", "read_small_file", "verify_unchanged"]

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NOCTTY", 0)
)

#: What a folder walk saw of a file: ``(st_dev, st_ino)``, or ``(st_dev, st_ino, st_size,
#: st_mtime_ns)`` when the read must also be of the very version whose size the walk measured.
Identity = tuple[int, ...]


def open_regular(
    path: str | os.PathLike[str],
    *,
    nofollow: bool = False,
    expect: Identity | None = None,
    source: str | None = None,
) -> tuple[io.FileIO, os.stat_result]:
    """Open *path* for reading without blocking and require a regular file.

    Returns an unbuffered binary file and its ``fstat``. With *nofollow* a symbolic link as the
    last component is refused instead of followed. *expect* is what the folder walk saw (R7):
    pass the walk's resolved path with it; it implies *nofollow*. A file replaced since the walk
    (by another file, or by a link to one anywhere on the system) raises
    :class:`ChangedDuringScan` before a byte is read; with the walk's size and mtime as well (a
    4-tuple), so does a file rewritten in place, so that every fact of one file comes from the
    version whose size the listing reports (issue: mixed listings). *source* names the file in
    errors (default: *path*).

    Raises :class:`FileAccessError` (``not_regular_file``, ``permission_denied``,
    ``symlink_loop``, ``broken_symlink``, ``not_found``, ``os_error``) and, with *expect*,
    :class:`ChangedDuringScan`.
    """
    fd, st = open_regular_fd(path, nofollow=nofollow, expect=expect, source=source)
    try:
        return io.FileIO(fd, "rb", closefd=True), st
    except BaseException:
        os.close(fd)
        raise


def open_regular_fd(
    path: str | os.PathLike[str],
    *,
    nofollow: bool = False,
    expect: Identity | None = None,
    source: str | None = None,
) -> tuple[int, os.stat_result]:
    """:func:`open_regular`, giving the bare descriptor (the caller closes it): for a reader that
    only ever ``pread``s, which spares the ``fstat`` that wrapping it in a file object costs."""
    name = os.fsdecode(path) if source is None else source
    nofollow = nofollow or expect is not None
    flags = _OPEN_FLAGS | (getattr(os, "O_NOFOLLOW", 0) if nofollow else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        # O_NOFOLLOW on a link fails with ELOOP (Linux) or EMLINK (FreeBSD).
        if nofollow and exc.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            if expect is not None:
                raise _replaced(name, "replaced by a symbolic link since the folder walk") from exc
            raise FileAccessError(
                name, "is a symbolic link (not followed)", format="fs", code="not_regular_file"
            ) from exc
        if expect is not None and exc.errno == errno.ENOENT:
            raise _replaced(name, "removed since the folder walk") from exc
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise FileAccessError(name, "symbolic link target is missing", format="fs", code="broken_symlink") from exc
        raise os_error(name, exc) from exc
    try:
        st = os.fstat(fd)
        if expect is not None:
            if (st.st_dev, st.st_ino) != tuple(expect[:2]):
                raise _replaced(name, "replaced by another file since the folder walk")
            if len(expect) == 4 and (st.st_size, st.st_mtime_ns) != tuple(expect[2:]):
                raise _replaced(name, "rewritten since the folder walk")
        if not stat.S_ISREG(st.st_mode):
            raise FileAccessError(name, "not a regular file", format="fs", code="not_regular_file")
        return fd, st
    except BaseException:
        os.close(fd)
        raise


def _replaced(name: str, detail: str) -> ChangedDuringScan:
    return ChangedDuringScan(name, detail, format="fs", code="changed_during_scan")


def verify_unchanged(path: object, f: io.FileIO | int, before: os.stat_result) -> None:
    """Raise :class:`ChangedDuringScan` if the open file (or descriptor) changed since *before* was taken (R14)."""
    after = os.fstat(f if isinstance(f, int) else f.fileno())
    if (after.st_size, after.st_mtime_ns, after.st_ino) != (before.st_size, before.st_mtime_ns, before.st_ino):
        growing = after.st_size > before.st_size
        raise ChangedDuringScan(
            path,
            "file grew while it was read (download in progress?)" if growing else "file changed while it was read",
            format="fs",
            code="changed_during_scan",
        )


def read_small_file(
    path: str | os.PathLike[str],
    cap: int,
    limit_name: str,
    *,
    format: str = "json",
    expect: Identity | None = None,
    source: str | None = None,
) -> bytes:
    """Read a whole sidecar file of at most *cap* bytes, checked with ``fstat`` before reading.

    *expect* and *source* as for :func:`open_regular`. Raises :class:`LimitExceeded`,
    :class:`Truncated`, :class:`ChangedDuringScan` and :class:`FileAccessError` (also for a
    ``read()`` that fails, such as ``EIO``).
    """
    name = os.fsdecode(path) if source is None else source
    fd, st = open_regular_fd(path, expect=expect, source=name)
    try:
        if st.st_size > cap:
            raise LimitExceeded(name, f"{st.st_size} bytes exceed the limit of {cap}", format=format, limit=limit_name)
        try:
            # One read of the known size: a regular file returns it whole, so the bytes are held
            # once (reading in pieces and joining them held every large sidecar twice at its peak).
            chunks = [os.read(fd, st.st_size)] if st.st_size else []
            remaining = st.st_size - (len(chunks[0]) if chunks else 0)
            while remaining > 0:
                chunk = os.read(fd, remaining)
                if not chunk:
                    verify_unchanged(name, fd, st)  # it shrank: changed, not corrupt
                    raise Truncated(name, f"file shrank while read: {remaining} bytes missing", format=format)
                chunks.append(chunk)
                remaining -= len(chunk)
        except OSError as exc:
            raise os_error(name, exc, "cannot read") from exc
        verify_unchanged(name, fd, st)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)
