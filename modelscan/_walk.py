"""The one folder walk (HOSTILE.md R7, R11, R12, R15; FIELDS.md section 1's junk rules).

Every source that looks at a folder (LM Studio's layout and the MLX folder trees inside it, the
Hugging Face hub cache, llama.cpp's cache, Ollama's store) walks it here, so every rule about
what a scan may see lives once:

- iterative ``os.scandir``, never following a directory symlink, with depth, entry and time
  budgets; each budget hit is one ``scan_truncated`` problem naming the limit;
- a file symlink is followed only when its target is a regular file inside one of the scanned
  roots, a file given by name, or one of the Hugging Face cache's blob stores of the repo it
  sits in: the repo's own ``blobs/`` folder and, for a ``models--*`` repo, the cache-wide
  shared store ``<cache>/blobs/`` that a repo blob may link to in turn (both hops end inside
  the cache, each store a real folder, never a link); where a link leads is judged from its path
  before the target is touched, so a link out of the roots is refused whether or not its target
  exists (no existence oracle);
- FIFOs, devices and sockets with model-like names are problems, never opened;
- AppleDouble ``._*`` files, ``.DS_Store`` and the like, hidden names and partial downloads are
  never listed (partial downloads of model files are reported as such, also in a blob store
  whose names say nothing of models: :meth:`Walk.report_partials`);
- a GGUF file is listed once per scan however many names lead to it (hard links, several links,
  overlapping roots), by ``(st_dev, st_ino)``; a folder tree collected for an MLX model counts
  each of its files once the same way. A folder walked as a unit of its own
  (:meth:`Walk.folders_of`, one Hugging Face snapshot) de-duplicates among its own files only, so
  the same blob in two repos belongs to both;
- a file named by a source (an Ollama blob by digest) is judged by the same rules
  (:meth:`Walk.stat_file`).

A :class:`FileEntry` is one ``stat`` of one file: the size a listing reports and the identity a
cache keys on come from it, and readers open ``entry.real`` with ``expect=entry.identity`` so
that what they read is that very version of that very file. Nothing here opens a file.

Why one module of this size: the point of it is that every rule about what a scan may see lives
in one place (issue 8: three walkers had three symlink policies and let two bugs through).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from stat import S_ISREG
from typing import NamedTuple

from ._rules import lazy_pattern
from .errors import FileAccessError, IncompleteModel, LimitExceeded, ModelScanError, os_error
from .limits import Limits

__all__ = ["FileEntry", "Folder", "Walk", "is_junk_name", "partial_download_name"]

#: The walk's clock (a module attribute so tests can make the time budget run out).
_clock = time.monotonic

#: Symbolic links followed in one resolution before it counts as a loop (Linux's own limit).
_MAX_HOPS = 40

#: The deadline is checked on entering each folder and every this many entries within one.
_CLOCK_EVERY = 1024

_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", ".localized"})
#: Partial downloads: browsers' and tools' temporary names, Hugging Face ``*.incomplete``, Ollama
#: ``sha256-<hex>-partial`` (and ``-partial-<n>``), llama.cpp ``*.downloadInProgress``.
_PARTIAL = lazy_pattern(
    r"\.(part|partial|incomplete|download|crdownload|tmp|downloadinprogress)$|-partial(-\d+)?$", re.IGNORECASE
)
#: What every name _PARTIAL matches ends with, or contains ("partial"): a cheap test first.
_PARTIAL_SUFFIXES = (".part", ".incomplete", ".download", ".crdownload", ".tmp", ".downloadinprogress")
_tuple_new = tuple.__new__


class FileEntry(NamedTuple):
    """A regular file seen by the walk: ``path`` is where it was found, ``real`` what to open.

    A tuple, so that comparing what two walks saw (a cache's signatures) runs at C speed.
    """

    name: str
    path: str
    real: str
    size: int
    dev: int
    ino: int
    mtime_ns: int

    @property
    def identity(self) -> tuple[int, int, int, int]:
        """``(st_dev, st_ino, st_size, st_mtime_ns)``: what a reader must find when it opens the file."""
        return (self.dev, self.ino, self.size, self.mtime_ns)


class Folder(NamedTuple):
    """One folder as the walk saw it.

    ``files`` are its own regular files, by name. ``only`` is set when files were given to the
    scan one by one: their names. ``tree`` is set when the walk was asked to collect this folder's
    whole subtree (an MLX model's size counts nested files): every regular file below it, itself
    included, each inode once; ``cut`` then names the walk limit that left the tree partial.
    ``refused`` are the folder's own entries that look like files but may not be read (a FIFO,
    a link out of the roots...), with the reason; ``partial`` names the limit that stopped the
    listing of the folder itself, if one did.
    """

    path: str
    files: tuple[FileEntry, ...]
    only: frozenset[str] | None = None
    tree: tuple[FileEntry, ...] | None = None
    cut: str | None = None
    refused: tuple[tuple[str, FileAccessError], ...] = ()
    partial: str | None = None


def is_junk_name(name: str) -> bool:
    """OS litter never parsed or reported: AppleDouble ``._*``, ``.DS_Store``, ``Thumbs.db``..."""
    return name.startswith("._") or name.lower() in _JUNK_NAMES


def partial_download_name(name: str) -> bool:
    """A download in progress or abandoned (``x.gguf.part``, ``*.incomplete``, Ollama ``-partial``,
    llama.cpp ``*.downloadInProgress``)."""
    return _PARTIAL.search(name) is not None


def _model_like(name: str) -> bool:
    """A name whose problems are worth a line: weights, their partial downloads, JSON sidecars."""
    lower = name.lower()
    return (
        ".gguf" in lower
        or ".safetensors" in lower
        or lower.endswith((".incomplete", "-partial", ".json"))
        or "-partial-" in lower
    )


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _real_folder(path: str) -> str | None:
    """*path* resolved, if it is a folder and not itself a symbolic link (else ``None``)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return os.path.realpath(path)


def _hf_blob_stores(link_path: str) -> tuple[str, ...]:
    """The Hugging Face blob stores a link at *link_path* may lead into (resolved), or ``()``.

    For ``<repo>/snapshots/<rev>/...``: the repo's ``blobs`` folder and, when the repo folder is
    a ``models--*`` folder, the cache-wide shared store ``<cache>/blobs`` beside it (huggingface_hub
    moves Xet-backed files there and links ``<repo>/blobs/<etag>`` to them: two hops). Each store
    must be a real folder: a ``blobs`` that is itself a symbolic link (to ``/``, say) would
    otherwise let a snapshot link reach any file.
    """
    parts = os.path.abspath(link_path).split(os.sep)
    if "snapshots" not in parts[:-1]:
        return ()
    i = len(parts) - 2 - parts[-2::-1].index("snapshots")
    repo = os.sep.join(parts[:i])
    stores = [_real_folder(os.path.join(repo, "blobs"))]
    if parts[i - 1].startswith("models--"):
        stores.append(_real_folder(os.path.join(os.path.dirname(repo), "blobs")))
    return tuple(s for s in stores if s is not None)


def _fs_error(path: str, detail: str, code: str) -> FileAccessError:
    return FileAccessError(path, detail, format="fs", code=code)  # type: ignore[arg-type]


def _no_such_file(exc: OSError) -> bool:
    return exc.errno in (errno.ENOENT, errno.ENOTDIR)


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


def _folder_identity(folder: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of a folder: one ``stat``, where ``realpath`` would cost one per
    path component (quadratic down a deep tree). ``None`` if it cannot be had; listing the
    folder then reports why."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class _Tree:
    """The files of one folder's subtree, each inode once (an MLX model's size)."""

    __slots__ = ("cuts_before", "files", "folder", "seen")

    def __init__(self, folder: Folder, cuts_before: int) -> None:
        self.folder = folder
        self.files: list[FileEntry] = []
        self.seen: set[tuple[int, int]] = set()
        self.cuts_before = cuts_before  # budget cuts before the tree was opened

    def add(self, files: Sequence[FileEntry]) -> None:
        for f in files:
            ident = (f.dev, f.ino)
            if ident not in self.seen:
                self.seen.add(ident)
                self.files.append(f)


class _Listing:
    """What one ``scandir`` of a folder gave."""

    __slots__ = ("files", "partial", "refused", "subdirs")

    def __init__(self) -> None:
        self.files: list[FileEntry] = []
        self.subdirs: list[str] = []
        self.refused: list[tuple[str, FileAccessError]] = []
        self.partial: str | None = None  # the limit that cut the listing short

    def folder(self, path: str, only: frozenset[str] | None = None) -> Folder:
        return Folder(path, tuple(self.files), only, refused=tuple(self.refused), partial=self.partial)


class Walk:
    """One scan's walk over its roots; problems are appended to *problems*, never raised.

    A root may be a folder (walked to ``limits.walk_depth``) or one file (its folder is listed,
    and the consumer keeps only what involves the named files).
    """

    def __init__(self, roots: Sequence[str | os.PathLike[str]], limits: Limits, problems: list[ModelScanError]) -> None:
        self.limits = limits
        self.problems = problems
        self.seen: set[tuple[int, int]] = set()  # GGUF files listed so far
        self.total = 0
        self.deadline = _clock() + limits.walk_seconds
        self.hit: set[str] = set()  # limits hit so far: each is reported once
        self.cuts: list[str] = []  # every place the walk was cut short, by limit
        self.roots: list[str] = []  # resolved folders a file symlink may point into
        self.named: set[str] = set()  # resolved files given as roots: allowed targets too
        self.starts: list[tuple[str, frozenset[str] | None]] = []
        self._stores: dict[str, tuple[str, ...]] = {}  # a link's folder -> the HF blob stores it may reach
        self._real_dirs: dict[str, str] = {}  # folders -> their real paths, as links were resolved
        self._refused: set[str] = set()  # folders a source named that lead out of the roots (reported)
        single: dict[str, set[str]] = {}
        for root in roots:
            path = os.fspath(root)
            try:
                st = os.stat(path)
            except OSError as exc:
                problems.append(os_error(path, exc, "cannot scan"))
                continue
            if stat.S_ISDIR(st.st_mode):
                self.starts.append((path, None))
                self.roots.append(os.path.realpath(path))
            else:
                folder = os.path.dirname(path) or os.curdir
                if folder not in single:
                    single[folder] = set()
                    self.roots.append(os.path.realpath(folder))
                single[folder].add(os.path.basename(path))
                self.named.add(os.path.realpath(path))  # a file asked for by name may be a link to anywhere
        self.starts += [(folder, frozenset(names)) for folder, names in single.items()]

    # -- budgets -------------------------------------------------------------------------------

    def budget_hit(self, where: str, what: str, limit: str) -> None:
        self.cuts.append(limit)
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

    # -- symbolic links ------------------------------------------------------------------------

    def allowed_target(self, real: str, link_path: str) -> bool:
        if real in self.named or any(_within(real, r) for r in self.roots):
            return True
        folder = os.path.dirname(os.path.abspath(link_path))
        stores = self._stores.get(folder)
        if stores is None:
            stores = self._stores[folder] = _hf_blob_stores(link_path)
        return any(_within(real, s) for s in stores)

    def _real_dir(self, folder: str) -> str:
        """The real path of *folder*, from its parent's (remembered): a folder that is no link
        is its real parent joined with its name, which costs one ``lstat``."""
        real = self._real_dirs.get(folder)
        if real is not None:
            return real
        parent, name = os.path.split(folder)
        if not parent or not name or parent == folder or name in (".", ".."):
            real = os.path.realpath(folder, strict=True)
        else:
            st = os.lstat(folder)
            if stat.S_ISDIR(st.st_mode):
                real = os.path.join(self._real_dir(parent), name)
            else:  # a link (or gone): resolved the library's way
                real = os.path.realpath(folder, strict=True)
        self._real_dirs[folder] = real
        return real

    def _resolve(self, path: str, is_link: bool = False) -> tuple[str, os.stat_result]:
        """``os.path.realpath(path, strict=True)`` and the ``stat`` of what it names, resolved from
        the real path of *path*'s folder (found once per folder) rather than from ``/``: a link in
        a Hugging Face snapshot costs the ``lstat`` of the few parts its target names
        (``../../blobs/<etag>``, then the shared store's), not of every part of the whole path.
        *is_link*: the caller saw that *path* is a link (its ``lstat`` is not repeated). Raises
        as ``realpath`` does."""
        if os.sep != "/" or os.altsep:  # not POSIX paths: the library's own resolution
            real = os.path.realpath(path, strict=True)
            return real, os.stat(real)
        folder, name = os.path.split(path)
        cur = self._real_dir(folder)
        pending = [name]  # parts still to walk, the next one last
        hops = 0
        st: os.stat_result | None = None
        known_link = is_link
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                cur = os.path.dirname(cur)  # cur is real: its parent is its real parent
                st = None
                continue
            nxt = os.path.join(cur, part)
            target: str | None = None
            if known_link:
                known_link = False
                try:
                    target = os.readlink(nxt)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:  # EINVAL: no longer a link; looked at below
                        raise
            if target is None:
                st = os.lstat(nxt)
                if stat.S_ISLNK(st.st_mode):
                    target = os.readlink(nxt)
            if target is not None:
                hops += 1
                if hops > _MAX_HOPS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", nxt)
                if target.startswith("/"):
                    cur = "/"
                st = None
                pending.extend(reversed(target.split("/")))
            elif pending and st is not None and not stat.S_ISDIR(st.st_mode):
                raise OSError(errno.ENOTDIR, "not a directory", nxt)
            else:
                cur = nxt
        return cur, (st if st is not None else os.stat(cur))

    def _link_target(self, path: str, is_link: bool = False) -> tuple[str, os.stat_result]:
        """Where the file symlink *path* leads, if that is inside the roots (R11), and the
        ``stat`` of that file.

        A link out of the roots is refused whether or not its target exists (no existence
        oracle, R15), and the target is neither opened nor ``stat()``ed before it is judged to be
        inside: resolving the link only ``lstat()``s the path's parts (one resolution when the
        link leads somewhere; a second, lenient one judges a link that does not).
        """
        outside = "symbolic link points outside the scanned folders"
        try:
            real, st = self._resolve(path, is_link)
        except (RuntimeError, OSError) as exc:  # Python < 3.13 may say "Symlink loop" with a RuntimeError
            # Judged from the path alone (resolved as far as it goes) before saying why the link
            # cannot be followed: a link out of the roots is refused the same whether or not its
            # target exists.
            if not self.allowed_target(os.path.realpath(path), path):
                raise _fs_error(path, outside, "outside_root") from exc
            if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
                raise _fs_error(path, "symbolic link loop", "symlink_loop") from exc
            if _no_such_file(exc):
                raise _fs_error(path, "symbolic link target is missing", "broken_symlink") from exc
            raise
        if not self.allowed_target(real, path):
            raise _fs_error(path, outside, "outside_root")
        return real, st

    def _file_entry(self, entry: os.DirEntry[str], report: bool) -> FileEntry | FileAccessError | None:
        """The entry as a regular file, following a file symlink only into the roots; the reason
        it may not be read; or ``None`` (a directory, or gone since it was listed).

        Nothing here opens a file: a FIFO, a device or a link out of the roots is judged from
        ``lstat``/``stat`` alone. *report*: record problems of model-like names.
        """
        path = entry.path
        try:
            if entry.is_symlink():
                real, st = self._link_target(path, is_link=True)
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
            err = exc if isinstance(exc, FileAccessError) else os_error(path, exc, "cannot stat")
            if report and _model_like(entry.name):
                self.problems.append(err)
            return err
        return FileEntry(entry.name, path, real, st.st_size, st.st_dev, st.st_ino, st.st_mtime_ns)

    def outside(self, folder: str) -> FileAccessError | None:
        """Why the folder *folder* that a source names (a repo's ``snapshots``, ``refs`` or
        ``blobs``, a store's ``manifests``) may not be looked into: it resolves out of the roots
        through a symbolic link on its way (R11). ``None`` when it is inside (or does not exist:
        listing it says so). Judged from the path alone, the same whether or not the target
        exists; the walk's own folders never need this, as it follows no directory link."""
        try:
            real = self._real_dir(folder)
        except OSError:
            real = os.path.realpath(folder)  # a missing folder, or a link to one: judged lexically
        if real in self.named or any(_within(real, r) for r in self.roots):
            return None
        return _fs_error(folder, "symbolic link points outside the scanned folders", "outside_root")

    def refuse_outside(self, folder: str) -> bool:
        """Whether *folder* is out of the roots; if so its problem is recorded (once)."""
        err = self.outside(folder)
        if err is None:
            return False
        if folder not in self._refused:
            self._refused.add(folder)
            self.problems.append(err)
        return True

    def stat_file(self, path: str) -> FileEntry | FileAccessError | None:
        """One file a source names (an Ollama blob by its digest), judged as a listed file would
        be: a link is followed only into the roots, anything but a regular file is refused.

        Returns ``None`` when there is no such file; the caller says what that means. Nothing is
        opened and no problem is recorded here; a file whose folder leads out of the roots through
        a link is refused before it is looked at.
        """
        refused = self.outside(os.path.dirname(path) or os.curdir)
        if refused is not None:
            return _fs_error(path, refused.detail, "outside_root")
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                real, st = self._link_target(path, is_link=True)
                kind = "symbolic link to a {}, not a regular file"
            else:
                real = path
                kind = "not a regular file ({})"
            if not stat.S_ISREG(st.st_mode):
                what = "directory" if stat.S_ISDIR(st.st_mode) else _kind(st.st_mode)
                raise _fs_error(path, kind.format(what), "not_regular_file")
        except FileAccessError as exc:
            return exc
        except OSError as exc:
            return None if _no_such_file(exc) else os_error(path, exc, "cannot stat")
        return FileEntry(os.path.basename(path), path, real, st.st_size, st.st_dev, st.st_ino, st.st_mtime_ns)

    def report_partials(self, folder: str) -> list[str]:
        """Names of *folder*'s partial downloads (a blob store: Hugging Face ``blobs/``, Ollama's
        ``blobs/``), each recorded as a ``partial_download`` problem. Only names are looked at:
        no file is stat()ed, so a store of thousands of blobs costs one listing. The entry
        budgets count as for any listing."""
        found: list[str] = []
        if self.refuse_outside(folder):
            return found
        try:
            it = os.scandir(folder)
        except OSError as exc:
            if not _no_such_file(exc):
                self.problems.append(os_error(folder, exc, "cannot list"))
            return found
        with it:
            for count, entry in enumerate(it, start=1):
                self.total += 1
                if count > self.limits.walk_entries_per_dir or self.total > self.limits.walk_entries_total:
                    limit = "walk_entries_per_dir" if count > self.limits.walk_entries_per_dir else "walk_entries_total"
                    self.budget_hit(folder, "too many entries while looking for partial downloads", limit)
                    break
                name = entry.name
                if name[0] != "." and partial_download_name(name) and not is_junk_name(name):  # hidden: never looked at
                    found.append(entry.name)
        found.sort()
        for name in found:
            self.problems.append(
                IncompleteModel(
                    os.path.join(folder, name),
                    "not downloaded (partial download)",
                    format="fs",
                    code="partial_download",
                )
            )
        return found

    # -- listing -------------------------------------------------------------------------------

    def listing(self, folder: str, only: frozenset[str] | None = None) -> _Listing:
        """Files and subfolders of *folder*, each sorted by name; problems recorded, never raised.

        With *only* (files given one by one), problems are recorded for those names alone.
        """
        cuts = len(self.cuts)
        out = _Listing()
        self._list(folder, only, out)
        out.files.sort()  # by name: names are unique within a folder
        out.subdirs.sort()
        if len(self.cuts) > cuts:
            out.partial = self.cuts[cuts]
        return out

    def _list(self, folder: str, only: frozenset[str] | None, out: _Listing) -> None:
        # The hot loop of a warm rescan: one iteration per entry of every folder, so the common
        # case (a regular file or a folder with an ordinary name) takes the fewest steps.
        files, subdirs, refused = out.files, out.subdirs, out.refused
        try:
            it = os.scandir(folder)
        except OSError as exc:
            if not _no_such_file(exc):  # a folder that vanished mid-walk has nothing left to list
                self.problems.append(os_error(folder, exc, "cannot list"))
            return
        limits = self.limits
        per_dir = limits.walk_entries_per_dir
        seen = self.seen
        count = 0
        with it:
            try:
                for entry in it:
                    count += 1
                    if count > per_dir:
                        self.budget_hit(folder, f"more than {per_dir} entries in one folder", "walk_entries_per_dir")
                        break
                    if self.total + count > limits.walk_entries_total:
                        self.budget_hit(
                            folder, f"more than {limits.walk_entries_total} entries in all", "walk_entries_total"
                        )
                        break
                    if count % _CLOCK_EVERY == 0 and self.out_of_time(folder):
                        break
                    name = entry.name
                    if name[0] == ".":  # hidden, AppleDouble '._*', .DS_Store: never listed
                        continue
                    try:
                        is_dir = entry.is_dir(follow_symlinks=False)
                    except OSError:
                        is_dir = False
                    if is_dir:
                        subdirs.append(entry.path)
                        continue
                    lower = name.lower()
                    if lower in _JUNK_NAMES:
                        continue
                    report = only is None or name in only
                    if ("partial" in lower or lower.endswith(_PARTIAL_SUFFIXES)) and _PARTIAL.search(name):
                        if report and _model_like(name) and not lower.endswith(".json"):
                            self.problems.append(
                                IncompleteModel(
                                    entry.path,
                                    "not downloaded (partial download)",
                                    format="fs",
                                    code="partial_download",
                                )
                            )
                        continue
                    try:
                        st = None if entry.is_symlink() else entry.stat(follow_symlinks=False)
                    except OSError:
                        st = None
                    if st is not None and S_ISREG(st.st_mode):
                        fe: FileEntry = _tuple_new(
                            FileEntry,
                            (name, entry.path, entry.path, st.st_size, st.st_dev, st.st_ino, st.st_mtime_ns),
                        )
                    else:
                        slow = self._file_entry(entry, report)  # links, special files, errors
                        if slow is None:
                            continue
                        if isinstance(slow, FileAccessError):
                            refused.append((name, slow))
                            continue
                        fe = slow
                    if lower.endswith(".gguf"):
                        ident = (fe.dev, fe.ino)
                        if ident in seen:
                            continue  # a hard link, a second symlink or overlapping roots: listed once
                        seen.add(ident)
                    files.append(fe)
            except OSError as exc:
                self.problems.append(os_error(folder, exc, "listing failed"))
        self.total += count

    # -- the walk ------------------------------------------------------------------------------

    def folders(self, collect: Callable[[Folder], bool] = lambda folder: False) -> Iterator[Folder]:
        """Every folder under the roots that holds files, each folder once, depth first.

        A folder for which ``collect(folder)`` is true is yielded after its whole subtree was
        walked, with ``tree`` set; any other folder as soon as it is listed. A folder of a file
        given by name is listed, never descended into.
        """
        done: set[tuple[int, int]] = set()  # folders walked, by identity: overlapping roots walk each once
        overlapping = sum(only is None for _, only in self.starts) > 1
        for start, only in self.starts:
            if only is not None:
                if self.out_of_time(start):
                    return
                listed = self.listing(start, only)
                names = {f.name for f in listed.files}
                for name in sorted(only - names):
                    path = os.path.join(start, name)
                    if not any(p.path == path for p in self.problems) and not os.path.isfile(path):
                        self.problems.append(_fs_error(path, "not a regular file", "not_regular_file"))
                if only & names:
                    folder = listed.folder(start, only & names)
                    yield self._lone_tree(folder, listed.subdirs) if collect(folder) else folder
                continue
            if not (yield from self._subtree(start, collect, done if overlapping else None)):
                return

    def folders_of(self, start: str, collect: Callable[[Folder], bool] = lambda folder: False) -> Iterator[Folder]:
        """The folders under *start* (a folder inside the roots), as :meth:`folders` yields them,
        walked as a unit of its own: its GGUF files are de-duplicated among themselves only, so a
        file reached from two such units (one blob in two Hugging Face repos) belongs to both.
        Budgets and problems are the walk's, shared with every other unit. A *start* that leads
        out of the roots through a link is a problem, never walked."""
        if self.refuse_outside(start):
            return
        seen, self.seen = self.seen, set()
        try:
            yield from self._subtree(start, collect, None)
        finally:
            self.seen = seen

    def _subtree(
        self, start: str, collect: Callable[[Folder], bool], done: set[tuple[int, int]] | None
    ) -> Generator[Folder, None, bool]:
        """The folders under *start*; returns ``False`` when the time budget ran out. *done*:
        the folders walked so far, by identity, where roots may overlap (``None``: one walk of
        one root never meets a folder twice, as no directory symlink is followed)."""
        limits = self.limits
        # (path, depth) to enter, or a _Tree whose subtree is complete once it is popped.
        stack: list[tuple[str, int] | _Tree] = [(start, 0)]
        open_trees: list[_Tree] = []
        while stack:
            item = stack.pop()
            if isinstance(item, _Tree):
                open_trees.remove(item)
                cut = self.cuts[item.cuts_before] if len(self.cuts) > item.cuts_before else None
                yield item.folder._replace(tree=tuple(item.files), cut=cut)
                continue
            path, depth = item
            ident = _folder_identity(path) if done is not None else None
            if ident is not None and done is not None and ident in done:
                continue
            if self.out_of_time(path):
                return False
            listed = self.listing(path)
            files, subdirs = listed.files, listed.subdirs
            if ident is not None and done is not None:
                done.add(ident)
            for tree in open_trees:
                tree.add(files)
            if files or listed.refused:
                folder = listed.folder(path)
                if collect(folder):
                    tree = _Tree(folder, len(self.cuts))
                    tree.add(files)
                    open_trees.append(tree)
                    stack.append(tree)
                else:
                    yield folder
            if depth >= limits.walk_depth:
                if subdirs:
                    self.budget_hit(path, f"folders nested deeper than {limits.walk_depth}", "walk_depth")
                continue
            stack.extend((d, depth + 1) for d in reversed(subdirs))
        return True

    def _lone_tree(self, folder: Folder, subdirs: list[str]) -> Folder:
        """*folder* with its subtree, for a folder listed for a file given by name (which the walk
        does not otherwise descend into). Problems below it are not the caller's: none are kept."""
        tree = _Tree(folder, len(self.cuts))
        tree.add(folder.files)
        stack = [(d, 1) for d in reversed(subdirs)]
        while stack:
            path, depth = stack.pop()
            listed = self.listing(path, only=frozenset())
            tree.add(listed.files)
            below = listed.subdirs
            if depth < self.limits.walk_depth:
                stack.extend((d, depth + 1) for d in reversed(below))
        cut = self.cuts[tree.cuts_before] if len(self.cuts) > tree.cuts_before else None
        return folder._replace(tree=tuple(tree.files), cut=cut)


def fingerprint(roots: Sequence[str], limits: Limits) -> list[object] | None:
    """What a rescan of the folders *roots* must find unchanged to reuse the last scan's listing
    whole: every folder the walk would enter (its path), every entry it would look at (a file's
    name, size, device, inode and mtime; a link as the walk judges it: its target's entry, or why
    it is refused), each listing error. Two fingerprints compare equal only if a walk of the tree
    would see the same files with the same identities. The folders directly inside a folder
    named ``snapshots`` count with their mtimes too: a Hugging Face repo whose ``refs/main`` names
    no snapshot lists its newest.

    A lean walk, near a bare ``os.scandir`` and ``stat`` of each entry: ``None`` where it cannot
    vouch for a whole walk (a root that is not a folder, a budget the walk would hit). Nothing is
    opened; a link is judged by :class:`Walk`'s own rules, so no target out of the roots is
    ``stat()``ed.
    """
    per_dir, total_max, depth_max = limits.walk_entries_per_dir, limits.walk_entries_total, limits.walk_depth
    deadline = _clock() + limits.walk_seconds
    out: list[object] = []
    app = out.append
    judge: Walk | None = None  # made for the first link met
    total = 0
    for root in roots:
        try:
            if not stat.S_ISDIR(os.stat(root).st_mode):
                return None
        except OSError:
            return None
        app(os.path.realpath(root))
        stack = [(root, 0)]
        while stack:
            path, depth = stack.pop()
            app(path)
            try:
                it = os.scandir(path)
            except OSError as exc:
                app(exc.errno)
                continue
            count = 0
            # A Hugging Face repo without a usable refs/main lists its newest snapshot folder.
            snapshots = os.path.basename(path) == "snapshots"
            with it:
                try:
                    for entry in it:
                        count += 1
                        name = entry.name
                        if name[0] == ".":
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            if depth >= depth_max:
                                return None
                            stack.append((entry.path, depth + 1))
                            if snapshots:
                                app((name, entry.stat(follow_symlinks=False).st_mtime_ns))
                        elif entry.is_symlink():
                            if judge is None:
                                judge = Walk(roots, limits, [])
                            seen = judge._file_entry(entry, report=False)
                            if isinstance(seen, FileAccessError):
                                app((name, seen.code, seen.detail))
                            else:
                                app((name, seen))
                        else:
                            st = entry.stat(follow_symlinks=False)
                            app((name, st.st_size, st.st_ino, st.st_dev, st.st_mtime_ns))
                except OSError:
                    return None
            total += count
            if count > per_dir or total > total_max or _clock() > deadline:
                return None
    return out
