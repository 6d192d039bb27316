"""Safe file access (HOSTILE.md R6, R7, R14): no mmap, no blocking opens, regular files only.

``open_regular`` opens without blocking (a FIFO cannot hang us), then requires a regular file
from ``fstat`` on the descriptor we hold, so the check and the read concern the same file; given
the ``(st_dev, st_ino)`` the folder walk saw, it also refuses a file swapped in since the walk.
``read_small_file`` reads a size-capped sidecar whole; ``verify_unchanged`` compares the file's
identity before and after a read.
"""

from __future__ import annotations

import errno
import io
import os
import stat

from .errors import ChangedDuringScan, FileAccessError, LimitExceeded, ModelScanError, Truncated

__all__ = ["open_regular", "read_small_file", "verify_unchanged"]

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NOCTTY", 0)
)


def _access_error(path: object, exc: OSError) -> ModelScanError:
    if exc.errno == errno.ELOOP:
        return FileAccessError(path, "too many levels of symbolic links", format="fs", code="symlink_loop")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FileAccessError(path, "permission denied", format="fs", code="permission_denied")
    if exc.errno == errno.ENOENT:
        code = "broken_symlink" if os.path.islink(path) else "not_found"  # type: ignore[arg-type]
        detail = "no such file" if code == "not_found" else "symbolic link target is missing"
        return FileAccessError(path, detail, format="fs", code=code)
    if exc.errno == errno.EISDIR:
        return FileAccessError(path, "is a directory", format="fs", code="not_regular_file")
    return FileAccessError(path, f"cannot open: {exc.strerror or exc}", format="fs", code="os_error")


def open_regular(
    path: str | os.PathLike[str],
    *,
    nofollow: bool = False,
    expect: tuple[int, int] | None = None,
) -> tuple[io.FileIO, os.stat_result]:
    """Open *path* for reading without blocking and require a regular file.

    Returns an unbuffered binary file and its ``fstat``. With *nofollow* a symbolic link as the
    last component is refused instead of followed. *expect* is the ``(st_dev, st_ino)`` the folder
    walk saw (R7): pass the walk's resolved path with it, and implies *nofollow*. Then a file that
    was replaced since the walk (by another file, or by a link to one anywhere on the system)
    raises :class:`ChangedDuringScan` before a byte is read.

    Raises :class:`FileAccessError` (``not_regular_file``, ``permission_denied``,
    ``symlink_loop``, ``broken_symlink``, ``not_found``, ``os_error``) and, with *expect*,
    :class:`ChangedDuringScan`.
    """
    nofollow = nofollow or expect is not None
    flags = _OPEN_FLAGS | (getattr(os, "O_NOFOLLOW", 0) if nofollow else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        # O_NOFOLLOW on a link fails with ELOOP (Linux) or EMLINK (FreeBSD).
        if nofollow and exc.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            if expect is not None:
                raise _replaced(path, "replaced by a symbolic link since the folder walk") from exc
            raise FileAccessError(
                path, "is a symbolic link (not followed)", format="fs", code="not_regular_file"
            ) from exc
        if expect is not None and exc.errno == errno.ENOENT:
            raise _replaced(path, "removed since the folder walk") from exc
        raise _access_error(path, exc) from exc
    try:
        st = os.fstat(fd)
        if expect is not None and (st.st_dev, st.st_ino) != tuple(expect):
            raise _replaced(path, "replaced by another file since the folder walk")
        if not stat.S_ISREG(st.st_mode):
            raise FileAccessError(path, "not a regular file", format="fs", code="not_regular_file")
        return io.FileIO(fd, "rb", closefd=True), st
    except BaseException:
        os.close(fd)
        raise


def _replaced(path: object, detail: str) -> ChangedDuringScan:
    return ChangedDuringScan(path, detail, format="fs", code="changed_during_scan")


def verify_unchanged(path: object, f: io.FileIO, before: os.stat_result) -> None:
    """Raise :class:`ChangedDuringScan` if the open file changed since *before* was taken (R14)."""
    after = os.fstat(f.fileno())
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
    expect: tuple[int, int] | None = None,
) -> bytes:
    """Read a whole sidecar file of at most *cap* bytes, checked with ``fstat`` before reading.

    *expect*: the walk's ``(st_dev, st_ino)``, as for :func:`open_regular`.
    """
    f, st = open_regular(path, expect=expect)
    with f:
        if st.st_size > cap:
            raise LimitExceeded(path, f"{st.st_size} bytes exceed the limit of {cap}", format=format, limit=limit_name)
        # One read of the known size: a regular file returns it whole, so the bytes are held once
        # (reading in pieces and joining them held every large sidecar twice at its peak).
        chunks = [f.read(st.st_size)] if st.st_size else []
        remaining = st.st_size - (len(chunks[0]) if chunks else 0)
        while remaining > 0:
            chunk = f.read(remaining)
            if not chunk:
                verify_unchanged(path, f, st)  # it shrank: changed, not corrupt
                raise Truncated(path, f"file shrank while read: {remaining} bytes missing", format=format)
            chunks.append(chunk)
            remaining -= len(chunk)
        verify_unchanged(path, f, st)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
