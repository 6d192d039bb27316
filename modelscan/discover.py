"""Which paths are models, in which format (FIELDS.md section 1; HOSTILE.md R7, R11, R12).

The walk is iterative ``os.scandir`` with depth, entry and time budgets. It never follows
directory symlinks; a file symlink is kept only when its target is a regular file inside one of
the scanned roots (or, in a Hugging Face cache, inside the repo's ``blobs/``). Every file is seen
once, by ``(st_dev, st_ino)``. Problems (permission denied, loops, links that leave the roots,
budgets hit, partial downloads) are collected; the walk carries on.

``classify_folder`` then sorts one folder's files into GGUF models (single files and split
shards), projectors and an MLX model, without opening any file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator, Sequence

from . import _rules
from .errors import FileAccessError, IncompleteModel, LimitExceeded, ModelScanError
from .limits import BATCH_LIMITS, Limits

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
    return ".gguf" in lower or ".safetensors" in lower or lower.endswith((".incomplete", "-partial")) or "-partial-" in lower


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _hf_blobs_root(link_path: str) -> str | None:
    """For ``<repo>/snapshots/<rev>/...`` the repo's ``blobs`` folder (resolved), else ``None``."""
    parts = os.path.abspath(link_path).split(os.sep)
    if "snapshots" not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index("snapshots")
    return os.path.realpath(os.sep.join(parts[:i] + ["blobs"]))


class _Walk:
    def __init__(self, limits: Limits, problems: list[ModelScanError]) -> None:
        self.limits = limits
        self.problems = problems
        self.seen: set[tuple[int, int]] = set()
        self.total = 0
        self.deadline = time.monotonic() + limits.walk_seconds
        self.truncated = False
        self.roots: list[str] = []

    def _budget_hit(self, where: str, what: str, limit: str) -> None:
        if not self.truncated:
            self.problems.append(LimitExceeded(where, what, format="fs", limit=limit, code="scan_truncated"))
        self.truncated = True

    def _file_entry(self, entry: os.DirEntry[str]) -> FileEntry | None:
        """The entry as a regular file, following a file symlink only into the roots."""
        path = entry.path
        try:
            if not entry.is_symlink():
                st = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    return None
                return FileEntry(entry.name, path, path, st.st_size, st.st_dev, st.st_ino, st.st_mtime_ns)
            try:
                real = os.path.realpath(path, strict=True)
            except (OSError, RuntimeError) as exc:
                if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == 40:
                    raise FileAccessError(path, "symbolic link loop", format="fs", code="symlink_loop") from exc
                raise FileAccessError(path, "symbolic link target is missing", format="fs", code="broken_symlink") from exc
            blobs = _hf_blobs_root(path)
            if not any(_within(real, r) for r in self.roots) and not (blobs and _within(real, blobs)):
                raise FileAccessError(path, "symbolic link points outside the scanned folders", format="fs", code="outside_root")
            st = os.stat(real)
            if stat.S_ISDIR(st.st_mode):
                return None
            if not stat.S_ISREG(st.st_mode):
                raise FileAccessError(path, "not a regular file", format="fs", code="not_regular_file")
            return FileEntry(entry.name, path, real, st.st_size, st.st_dev, st.st_ino, st.st_mtime_ns)
        except FileAccessError as err:
            if _model_like(entry.name) or entry.name.lower().endswith(".json"):
                self.problems.append(err)
            return None
        except OSError as exc:
            self.problems.append(FileAccessError(path, f"cannot stat: {exc.strerror or exc}", format="fs", code="os_error"))
            return None

    def listing(self, folder: str) -> tuple[list[FileEntry], list[str]]:
        """Files and subfolders of *folder*; problems recorded, never raised."""
        files: list[FileEntry] = []
        subdirs: list[str] = []
        try:
            it = os.scandir(folder)
        except FileNotFoundError:
            return files, subdirs  # vanished mid-walk: nothing left to list
        except NotADirectoryError:
            return files, subdirs
        except PermissionError:
            self.problems.append(FileAccessError(folder, "permission denied", format="fs", code="permission_denied"))
            return files, subdirs
        except OSError as exc:
            self.problems.append(FileAccessError(folder, f"cannot list: {exc.strerror or exc}", format="fs", code="os_error"))
            return files, subdirs
        with it:
            count = 0
            while True:
                try:
                    entry = next(it)
                except StopIteration:
                    break
                except OSError as exc:
                    self.problems.append(FileAccessError(folder, f"listing failed: {exc.strerror or exc}", format="fs", code="os_error"))
                    break
                count += 1
                self.total += 1
                if count > self.limits.walk_entries_per_dir:
                    self._budget_hit(folder, f"more than {self.limits.walk_entries_per_dir} entries in one folder", "walk_entries_per_dir")
                    break
                if self.total > self.limits.walk_entries_total:
                    self._budget_hit(folder, f"more than {self.limits.walk_entries_total} entries in all", "walk_entries_total")
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
                if partial_download_name(name):
                    if _model_like(name):
                        self.problems.append(IncompleteModel(entry.path, "not downloaded (partial download)", format="fs", code="partial_download"))
                    continue
                fe = self._file_entry(entry)
                if fe is None:
                    continue
                ident = (fe.dev, fe.ino)
                if ident in self.seen:
                    continue  # a hard link or overlapping roots: one file, counted once
                self.seen.add(ident)
                files.append(fe)
        files.sort(key=lambda f: f.name)
        subdirs.sort()
        return files, subdirs


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
            problems.append(FileAccessError(path, f"cannot scan: {exc.strerror or exc}", format="fs", code="not_found"))
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
    starts += [(folder, frozenset(names)) for folder, names in single.items()]
    done: set[str] = set()
    for start, only in starts:
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            folder, depth = stack.pop()
            real = os.path.realpath(folder)
            if only is None and real in done:
                continue
            if time.monotonic() > walk.deadline:
                walk._budget_hit(folder, f"walk took longer than {limits.walk_seconds} s", "walk_seconds")
                return
            files, subdirs = walk.listing(folder)
            if only is not None:
                names = {f.name for f in files}
                for name in sorted(only - names):
                    if not os.path.isfile(os.path.join(folder, name)):
                        problems.append(FileAccessError(os.path.join(folder, name), "not a regular file", format="fs", code="not_regular_file"))
                if only & names:
                    yield FolderContents(folder, files, only & names)
                continue
            done.add(real)
            if any(_is_candidate(f.name) for f in files):
                yield FolderContents(folder, files)
            if depth >= limits.walk_depth:
                if subdirs:
                    walk._budget_hit(folder, f"folders nested deeper than {limits.walk_depth}", "walk_depth")
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
