"""Which paths are models, in which format (FIELDS.md section 1; HOSTILE.md R7, R11, R12).

The walk is iterative ``os.scandir`` with depth, entry and time budgets (each limit hit is one
``scan_truncated`` problem naming the limit). It never opens a file and never follows directory
symlinks; a file symlink is kept only when its target is a regular file inside one of the scanned
roots (or, in a Hugging Face cache, inside the repo's real ``blobs/`` folder), and a link that
leaves the roots is refused from its path alone, whether or not the target exists. FIFOs, devices
and sockets with model names are reported, not listed. Every weights file is kept once, by
``(st_dev, st_ino)``: hard links, several links to one blob, overlapping roots. A
:class:`FileEntry` carries the resolved path and identity the walk saw, for the readers to check
(``_fs.open_regular(entry.real, expect=(entry.dev, entry.ino))``). Problems (permission denied,
loops, links that leave the roots, budgets hit, partial downloads) are collected; the walk
carries on.

``classify_folder`` then sorts one folder's files into GGUF models (single files and split
shards), projectors and an MLX model, without opening any file.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator, Sequence

from . import _rules
from .errors import FileAccessError, IncompleteModel, LimitExceeded, ModelScanError
from .limits import BATCH_LIMITS, Limits

#: The walk's clock (a module attribute so tests can make the time budget run out).
_clock = time.monotonic

#: The deadline is checked on entering each folder and every this many entries within one.
_CLOCK_EVERY = 1024

__all__ = [
    "FileEntry",
    "FolderContents",
    "GGUFGroup",
    "classify_folder",
    "is_junk_name",
    "iter_model_folders",
    "partial_download_name",
]


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """A regular file seen by the walk. ``path`` is where it was found; ``real`` what it is."""

    name: str
    path: str
    real: str
    size: int
    dev: int
    ino: int
    mtime_ns: int


@dataclasses.dataclass
class FolderContents:
    """The files of one folder that holds at least one model candidate."""

    path: str
    files: list[FileEntry]
    only: frozenset[str] | None = None  # when files were given one by one: their names


@dataclasses.dataclass(frozen=True)
class GGUFGroup:
    """One GGUF model: a single file, or the shards of a split model (shard 1 first)."""

    files: tuple[FileEntry, ...]
    total_shards: int
    missing: tuple[int, ...]  # shard numbers that are not in the folder


_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", ".localized"})
_PARTIAL = re.compile(r"\.(part|partial|incomplete|download|crdownload|tmp)$|-partial(-\d+)?$", re.IGNORECASE)


def is_junk_name(name: str) -> bool:
    """OS litter never parsed or reported: AppleDouble ``._*``, ``.DS_Store``, ``Thumbs.db``..."""
    return name.startswith("._") or name.lower() in _JUNK_NAMES


def partial_download_name(name: str) -> bool:
    """A download in progress or abandoned (``x.gguf.part``, ``*.incomplete``, Ollama ``-partial``)."""
    return _PARTIAL.search(name) is not None


def _model_like(name: str) -> bool:
    lower = name.lower()
    return (
        ".gguf" in lower
        or ".safetensors" in lower
        or lower.endswith((".incomplete", "-partial"))
        or "-partial-" in lower
    )


def _is_weights(name: str) -> bool:
    """A weights file, whose identity is counted once however many names lead to it (R11)."""
    lower = name.lower()
    return lower.endswith((".gguf", ".safetensors"))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _hf_blobs_root(link_path: str) -> str | None:
    """For ``<repo>/snapshots/<rev>/...`` the repo's ``blobs`` folder (resolved), else ``None``.

    ``blobs`` must be a real folder: a ``blobs`` that is itself a symbolic link (to ``/``, say)
    would otherwise let a snapshot link reach any file.
    """
    parts = os.path.abspath(link_path).split(os.sep)
    if "snapshots" not in parts[:-1]:
        return None
    i = len(parts) - 2 - parts[-2::-1].index("snapshots")
    blobs = os.sep.join([*parts[:i], "blobs"])
    try:
        st = os.lstat(blobs)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return os.path.realpath(blobs)


def _fs_error(path: str, detail: str, code: str) -> FileAccessError:
    return FileAccessError(path, detail, format="fs", code=code)


def _no_such_file(exc: OSError) -> bool:
    return exc.errno in (errno.ENOENT, errno.ENOTDIR)


class _Walk:
    def __init__(self, limits: Limits, problems: list[ModelScanError]) -> None:
        self.limits = limits
        self.problems = problems
        self.seen: set[tuple[int, int]] = set()
        self.total = 0
        self.deadline = _clock() + limits.walk_seconds
        self.hit: set[str] = set()  # limits hit so far: each is reported once
        self.roots: list[str] = []  # resolved folders a file symlink may point into
        self.named: set[str] = set()  # resolved files given as roots: allowed targets too

    def budget_hit(self, where: str, what: str, limit: str) -> None:
        if limit not in self.hit:
            self.problems.append(LimitExceeded(where, what, format="fs", limit=limit, code="scan_truncated"))
        self.hit.add(limit)

    def out_of_time(self, where: str) -> bool:
        if "walk_seconds" in self.hit:
            return True
        if _clock() > self.deadline:
            self.budget_hit(where, f"walk took longer than {self.limits.walk_seconds} s", "walk_seconds")
            return True
        return False

    def allowed_target(self, real: str, link_path: str) -> bool:
        if real in self.named or any(_within(real, r) for r in self.roots):
            return True
        blobs = _hf_blobs_root(link_path)
        return blobs is not None and _within(real, blobs)

    def _file_entry(self, entry: os.DirEntry[str], report: bool) -> FileEntry | None:
        """The entry as a regular file, following a file symlink only into the roots.

        Nothing here opens a file: a FIFO, a device or a link out of the roots is judged from
        ``lstat``/``stat`` alone. *report*: record problems (else they are dropped).
        """
        path = entry.path
        try:
            if entry.is_symlink():
                real = self._link_target(path)
                st = os.stat(real)
                kind = "symbolic link to a {}, not a regular file"
            else:
                real = path
                st = entry.stat(follow_symlinks=False)
                kind = "not a regular file ({})"
            if stat.S_ISDIR(st.st_mode):
                return None
            if not stat.S_ISREG(st.st_mode):
                raise _fs_error(path, kind.format(_kind(st.st_mode)), "not_regular_file")
        except (FileAccessError, OSError) as exc:
            if isinstance(exc, OSError) and _no_such_file(exc):
                return None  # removed since it was listed: nothing to report
            if report and (_model_like(entry.name) or entry.name.lower().endswith(".json")):
                self.problems.append(exc if isinstance(exc, FileAccessError) else _os_problem(path, "cannot stat", exc))
            return None
        return FileEntry(entry.name, path, real, st.st_size, st.st_dev, st.st_ino, st.st_mtime_ns)

    def _link_target(self, path: str) -> str:
        """Where the file symlink *path* leads, if that is inside the roots (R11).

        Where the link leads is judged first, from the path alone: a link out of the roots is
        refused whether or not its target exists (no existence oracle, R15), and the target is
        neither opened nor stat()ed.
        """
        outside = "symbolic link points outside the scanned folders"
        if not self.allowed_target(os.path.realpath(path), path):
            raise _fs_error(path, outside, "outside_root")
        try:
            real = os.path.realpath(path, strict=True)
        except RuntimeError as exc:  # Python < 3.13 may say "Symlink loop" this way
            raise _fs_error(path, "symbolic link loop", "symlink_loop") from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _fs_error(path, "symbolic link loop", "symlink_loop") from exc
            if _no_such_file(exc):
                raise _fs_error(path, "symbolic link target is missing", "broken_symlink") from exc
            raise
        if not self.allowed_target(real, path):  # the links changed in between
            raise _fs_error(path, outside, "outside_root")
        return real

    def listing(self, folder: str, only: frozenset[str] | None = None) -> tuple[list[FileEntry], list[str]]:
        """Files and subfolders of *folder*; problems recorded, never raised.

        With *only* (files given one by one), problems are recorded for those names alone.
        """
        files: list[FileEntry] = []
        subdirs: list[str] = []
        try:
            it = os.scandir(folder)
        except OSError as exc:
            if not _no_such_file(exc):  # a folder that vanished mid-walk has nothing left to list
                self.problems.append(_os_problem(folder, "cannot list", exc))
            return files, subdirs
        with it:
            count = 0
            while True:
                try:
                    entry = next(it)
                except StopIteration:
                    break
                except OSError as exc:
                    self.problems.append(_os_problem(folder, "listing failed", exc))
                    break
                count += 1
                self.total += 1
                if count > self.limits.walk_entries_per_dir:
                    self.budget_hit(
                        folder,
                        f"more than {self.limits.walk_entries_per_dir} entries in one folder",
                        "walk_entries_per_dir",
                    )
                    break
                if self.total > self.limits.walk_entries_total:
                    self.budget_hit(
                        folder, f"more than {self.limits.walk_entries_total} entries in all", "walk_entries_total"
                    )
                    break
                if count % _CLOCK_EVERY == 0 and self.out_of_time(folder):
                    break
                name = entry.name
                if is_junk_name(name):
                    continue
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    if not name.startswith("."):
                        subdirs.append(entry.path)
                    continue
                if name.startswith("."):
                    continue
                report = only is None or name in only
                if partial_download_name(name):
                    if report and _model_like(name):
                        self.problems.append(
                            IncompleteModel(
                                entry.path, "not downloaded (partial download)", format="fs", code="partial_download"
                            )
                        )
                    continue
                fe = self._file_entry(entry, report)
                if fe is None:
                    continue
                if _is_weights(name):
                    ident = (fe.dev, fe.ino)
                    if ident in self.seen:
                        continue  # a hard link, a second symlink or overlapping roots: counted once
                    self.seen.add(ident)
                files.append(fe)
        files.sort(key=lambda f: f.name)
        subdirs.sort()
        return files, subdirs


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _os_problem(path: str, what: str, exc: OSError) -> FileAccessError:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return _fs_error(path, f"{what}: permission denied", "permission_denied")
    if exc.errno == errno.ELOOP:
        return _fs_error(path, f"{what}: too many levels of symbolic links", "symlink_loop")
    return _fs_error(path, f"{what}: {exc.strerror or exc}", "os_error")


def _folder_identity(folder: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of a folder: one ``stat``, where ``realpath`` would cost one per
    path component (quadratic down a deep tree). ``None`` if it cannot be had; listing the
    folder then reports why."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _is_candidate(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(".gguf") or lower.endswith(".safetensors") or lower == "config.json"


def iter_model_folders(
    roots: Sequence[str | os.PathLike[str]],
    problems: list[ModelScanError],
    *,
    limits: Limits = BATCH_LIMITS,
) -> Iterator[FolderContents]:
    """Yield every folder under *roots* that holds a model candidate, each folder once.

    A root may be a folder (walked to ``limits.walk_depth``) or one file (its folder is listed and
    only models containing that file are kept). Problems are appended to *problems*.
    """
    walk = _Walk(limits, problems)
    starts: list[tuple[str, frozenset[str] | None]] = []
    single: dict[str, set[str]] = {}
    for root in roots:
        path = os.fspath(root)
        try:
            st = os.stat(path)
        except OSError as exc:
            code = "permission_denied" if exc.errno in (errno.EACCES, errno.EPERM) else "not_found"
            problems.append(FileAccessError(path, f"cannot scan: {exc.strerror or exc}", format="fs", code=code))
            continue
        if stat.S_ISDIR(st.st_mode):
            starts.append((path, None))
            walk.roots.append(os.path.realpath(path))
        else:
            folder = os.path.dirname(path) or os.curdir
            if folder not in single:
                single[folder] = set()
                walk.roots.append(os.path.realpath(folder))
            single[folder].add(os.path.basename(path))
            walk.named.add(os.path.realpath(path))  # a file asked for by name may be a link to anywhere
    starts += [(folder, frozenset(names)) for folder, names in single.items()]
    done: set[tuple[int, int]] = set()  # folders walked, by identity: overlapping roots walk each once
    for start, only in starts:
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            folder, depth = stack.pop()
            ident = _folder_identity(folder)
            if only is None and ident is not None and ident in done:
                continue
            if walk.out_of_time(folder):
                return
            files, subdirs = walk.listing(folder, only)
            if only is not None:
                names = {f.name for f in files}
                for name in sorted(only - names):
                    path = os.path.join(folder, name)
                    if not any(p.path == path for p in problems) and not os.path.isfile(path):
                        problems.append(_fs_error(path, "not a regular file", "not_regular_file"))
                if only & names:
                    yield FolderContents(folder, files, only & names)
                continue
            if ident is not None:
                done.add(ident)
            if any(_is_candidate(f.name) for f in files):
                yield FolderContents(folder, files)
            if depth >= limits.walk_depth:
                if subdirs:
                    walk.budget_hit(folder, f"folders nested deeper than {limits.walk_depth}", "walk_depth")
                continue
            stack.extend((d, depth + 1) for d in reversed(subdirs))


def group_gguf(files: Iterable[FileEntry]) -> list[GGUFGroup]:
    """Single GGUF files and split-shard groups (by prefix and total), in name order."""
    singles: list[GGUFGroup] = []
    shards: dict[tuple[str, int], dict[int, FileEntry]] = {}
    for f in files:
        stem = f.name[:-5]
        split = _rules.split_shard_name(stem)
        if split is None or split[2] < 1 or not 1 <= split[1] <= split[2]:
            singles.append(GGUFGroup((f,), 1, ()))
        else:
            shards.setdefault((split[0], split[2]), {})[split[1]] = f
    groups = list(singles)
    for (_prefix, total), parts in shards.items():
        missing = tuple(i for i in range(1, total + 1) if i not in parts)
        groups.append(GGUFGroup(tuple(parts[i] for i in sorted(parts)), total, missing))
    groups.sort(key=lambda g: g.files[0].name)
    return groups


def classify_folder(contents: FolderContents) -> tuple[list[FileEntry], list[FileEntry], bool]:
    """Split a folder's files: (GGUF files, projectors by name, whether it is an MLX folder).

    Projectors named ``*mmproj*`` are known from the name; others are found from their header
    by the caller. An MLX folder has ``config.json`` and at least one ``*.safetensors``.
    """
    gguf: list[FileEntry] = []
    projectors: list[FileEntry] = []
    has_config = False
    has_safetensors = False
    for f in contents.files:
        lower = f.name.lower()
        if lower.endswith(".gguf"):
            (projectors if "mmproj" in lower else gguf).append(f)
        elif lower.endswith(".safetensors"):
            has_safetensors = True
        elif lower == "config.json":
            has_config = True
    return gguf, projectors, has_config and has_safetensors
