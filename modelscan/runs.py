"""The command line's last outputs on disk, replayed while the tree they came from is unchanged.

A repeat run of the same command on the same tree (a script polling LM Studio's folder, a
benchmark loop) should cost about what walking the tree costs. :mod:`modelscan.store` spares it
every header read, but it would still decode each cached record, derive keys and encode the
listing. So each run also keeps what it printed, with:

- the command's identity (the paths as given, the working directory, ``HOME``, the view and every
  option that changes the output, the ``--loaded`` contents, this modelscan's version), hashed
  into the file's name and stored in full;
- the digest of the tree's fingerprint taken *before* the scan (:func:`modelscan._walk.fingerprint`:
  every folder walked and every file's name, size, device, inode and mtime, links as the walk
  judges them).

A later run with the same identity takes a fresh fingerprint and, when its digest is the stored
one, prints the stored output and problem lines instead of scanning: the walk would see the same
files with the same identities, so every candidate would be a cache hit and every key the same.
Any difference (a file touched, added, renamed, a partial download appearing) makes it scan.

The file is untrusted input like the scan cache: a first line of JSON (every value's type
checked) and then the output's bytes, whose length and BLAKE2b digest must match. It is written
to a temporary file and renamed. At most :data:`MAX_RUNS` are kept (the least recently written
are removed); ``--clear-cache`` removes them all and ``--no-cache`` neither reads nor writes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from typing import NamedTuple, cast

from . import __version__
from .limits import Limits

__all__ = ["MAX_RUNS", "Replay", "Run", "clear", "start"]

#: Outputs kept, one per command identity: the most recently written.
MAX_RUNS = 8
#: A stored run larger than this is not read.
MAX_BYTES = 512 << 20
_FORMAT = "modelscan-run"
_VERSION = 1
_PREFIX = "run-"
_SUFFIX = ".out"


class Replay(NamedTuple):
    """A stored run: what it wrote on stdout, its problem lines and its warning lines."""

    stdout: str
    problems: tuple[str, ...]
    warnings: tuple[str, ...]


def _digest(value: object) -> str:
    return hashlib.blake2b(repr(value).encode("utf-8", "backslashreplace"), digest_size=32).hexdigest()


class Run:
    """One command's identity and the fingerprint of its tree, taken before its scan."""

    __slots__ = ("folder", "identity", "key", "tree")

    def __init__(self, folder: str, identity: str, tree: str) -> None:
        self.folder = folder
        self.identity = identity
        self.key = hashlib.blake2b(identity.encode("utf-8", "backslashreplace"), digest_size=16).hexdigest()
        self.tree = tree

    @property
    def path(self) -> str:
        return os.path.join(self.folder, _PREFIX + self.key + _SUFFIX)

    def stored(self) -> Replay | None:
        """The stored output of this command, if it was taken on a tree with this fingerprint."""
        from ._fs import read_small_file  # noqa: PLC0415
        from .errors import ModelScanError  # noqa: PLC0415

        try:  # a regular file only (a FIFO or a device in its place is refused, never waited on), capped
            data = read_small_file(self.path, MAX_BYTES, "run_bytes", format="fs")
        except (ModelScanError, OSError):
            return None
        return self._parse(data)

    def _parse(self, data: bytes) -> Replay | None:
        head, sep, body = data.partition(b"\n")
        try:
            meta = json.loads(head) if sep else None
        except (ValueError, RecursionError):
            meta = None
        if not (
            type(meta) is dict
            and meta.get("format") == _FORMAT
            and meta.get("version") == _VERSION
            and meta.get("modelscan") == __version__
            and meta.get("identity") == self.identity
            and meta.get("tree") == self.tree
            and meta.get("bytes") == len(body)
            and meta.get("blake2b") == hashlib.blake2b(body, digest_size=32).hexdigest()
        ):
            return None
        problems, warnings = meta.get("problems"), meta.get("warnings")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        # What modelscan prints is escaped (errors.escape_text): no control character but the
        # output's line breaks, none in a problem line. Anything else did not come from a run.
        if not (_lines(problems) and _lines(warnings) and text.replace("\n", "").isprintable()):
            return None
        return Replay(text, tuple(cast(list[str], problems)), tuple(cast(list[str], warnings)))

    def save(self, stdout: str, problems: Sequence[str], warnings: Sequence[str]) -> None:
        """Keep this run's output; raises ``OSError`` when it cannot be written."""
        from .store import replace_file  # noqa: PLC0415

        body = stdout.encode("utf-8", "surrogateescape")
        meta = {
            "format": _FORMAT,
            "version": _VERSION,
            "modelscan": __version__,
            "identity": self.identity,
            "tree": self.tree,
            "bytes": len(body),
            "blake2b": hashlib.blake2b(body, digest_size=32).hexdigest(),
            "problems": list(problems),
            "warnings": list(warnings),
        }
        head = json.dumps(meta, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        replace_file(self.path, [head, b"\n", body])
        _prune(self.folder)


def _lines(value: object) -> bool:
    return type(value) is list and all(type(x) is str and x.isprintable() for x in value)


def start(folder: str, paths: Sequence[str], limits: Limits, options: object) -> Run | None:
    """A :class:`Run` for a command over *paths* with *options* (anything that changes its output,
    as a value whose ``repr`` is stable), its tree's fingerprint taken now; ``None`` when the tree
    cannot be vouched for (a file or a URL among the paths, a walk budget hit)."""
    from .scan import tree_fingerprint  # noqa: PLC0415

    try:
        cwd = os.getcwd()
    except OSError:  # the working folder was removed: relative paths cannot be told apart
        return None
    fingerprint = tree_fingerprint(paths, limits)
    if fingerprint is None:
        return None
    identity = repr((list(paths), cwd, os.environ.get("HOME"), tuple(limits), options))
    return Run(folder, identity, _digest(fingerprint))


def _runs(folder: str) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names if n.startswith(_PREFIX) and n.endswith(_SUFFIX)]


def _prune(folder: str) -> None:
    """Keep the :data:`MAX_RUNS` most recently written runs."""
    runs = _runs(folder)
    if len(runs) <= MAX_RUNS:
        return
    dated = []
    for path in runs:
        with contextlib.suppress(OSError):
            dated.append((os.stat(path).st_mtime_ns, path))
    dated.sort(reverse=True)
    for _, path in dated[MAX_RUNS:]:
        with contextlib.suppress(OSError):
            os.unlink(path)


def clear(folder: str) -> int:
    """Delete every stored run in *folder*; how many were deleted. Raises ``OSError`` for the
    first that cannot be deleted (after trying them all)."""
    n = 0
    failed: OSError | None = None
    for path in _runs(folder):
        try:
            os.unlink(path)
            n += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            failed = failed or exc
    if failed is not None:
        raise failed
    return n
