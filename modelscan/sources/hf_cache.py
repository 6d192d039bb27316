"""The Hugging Face hub cache (SOURCES.md section 2), which llama.cpp's ``-hf`` also writes since
2026-03.

```
<cache>/models--<org>--<name>/refs/main             the commit the repo's ``main`` points at
<cache>/models--<org>--<name>/snapshots/<commit>/   the files, as links to ../../blobs/<etag>
<cache>/models--<org>--<name>/blobs/<etag>          bodies (or links into <cache>/blobs/<2 hex>/)
```

One model folder per repo: the snapshot ``refs/main`` names, else the newest snapshot by
modification time (also when ``refs/main`` names a snapshot that is not there); other snapshots
are not listed. ``publisher`` is the organisation and ``repo`` the repo name, so keys follow
FIELDS.md exactly as if the files sat in ``<org>/<name>/`` (a repo without an organisation,
``models--gpt2``, gets its name for both). Every GGUF file of the snapshot, in any subfolder,
belongs to the repo's one model folder; an MLX model is its own folder.

Symbolic links are followed by the walk's rules (``modelscan._walk``): into the repo's
``blobs/`` and on into the cache-wide shared store, never out of the cache. Each snapshot is
walked as a unit of its own, so one blob in two repos belongs to both. ``*.incomplete`` blobs
are partial downloads, reported as such. ``.locks/``, ``.no_exist/``, ``trees/``, ``datasets--*``,
``spaces--*`` and the shared store itself are never looked into.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from .._rules import lazy_pattern
from .._walk import Walk
from ..candidates import Candidate, Entry, GGUFCandidate, MLXCandidate, Origin
from ..errors import InvalidField, ModelScanError
from ..read import read_small_entry
from . import lmstudio

__all__ = ["REPO_PREFIX", "cache_candidates", "is_hf_cache", "is_repo_folder", "repo_candidates", "repo_id"]

#: The prefix of a model repo's folder; datasets (``datasets--``) and spaces (``spaces--``) are
#: not models.
REPO_PREFIX = "models--"
_REPO_KINDS = ("models--", "datasets--", "spaces--")
#: What ``refs/main`` may hold to name a snapshot folder: a commit (40 hex digits) in practice;
#: any one plain folder name is accepted, never a path.
_REF = lazy_pattern(r"(?!\.)[0-9A-Za-z._-]{1,255}")  # a hidden name is never looked at


def repo_id(folder_name: str) -> tuple[str, str] | None:
    """``(publisher, repo)`` of a ``models--<org>--<name>`` folder name, or ``None``."""
    if not folder_name.startswith(REPO_PREFIX):
        return None
    parts = folder_name[len(REPO_PREFIX) :].split("--")
    if not all(parts):
        return None
    if len(parts) == 1:
        return parts[0], parts[0]
    return parts[0], "--".join(parts[1:])


def is_repo_folder(path: str) -> bool:
    """A ``models--<org>--<name>`` folder with a ``snapshots`` folder."""
    return repo_id(os.path.basename(os.path.abspath(path))) is not None and _is_folder(os.path.join(path, "snapshots"))


def is_hf_cache(names: list[str]) -> bool:
    """Whether a folder holding *names* is a hub cache: it holds a ``models--``, ``datasets--`` or
    ``spaces--`` folder (the caller passes folder names only)."""
    return any(n.startswith(_REPO_KINDS) for n in names)


def _is_folder(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def cache_candidates(walk: Walk, cache: str, repos: list[str], problems: list[ModelScanError]) -> Iterator[Candidate]:
    """The candidates of the model repos *repos* (folder paths, sorted) of the cache *cache*."""
    for repo in repos:
        if repo_id(os.path.basename(repo)) is not None:
            yield from repo_candidates(walk, repo, problems)


def repo_candidates(walk: Walk, repo: str, problems: list[ModelScanError]) -> Iterator[Candidate]:
    """The candidates of one ``models--<org>--<name>`` folder: its snapshot's GGUF files as one
    candidate, and each MLX model folder in it; its partial downloads are *problems*."""
    ident = repo_id(os.path.basename(os.path.abspath(repo)))
    if ident is None:
        return
    publisher, name = ident
    walk.report_partials(os.path.join(repo, "blobs"))
    snapshot = _snapshot(walk, repo, problems)
    if snapshot is None:
        return
    models: list[tuple[Entry, ...]] = []
    projectors: list[Entry] = []
    mlx: list[MLXCandidate] = []
    for folder in walk.folders_of(snapshot, collect=lmstudio.is_mlx_folder):
        found, named = lmstudio.gguf_files(folder, problems)
        models += found
        projectors += named
        candidate = lmstudio.mlx_candidate(folder, Origin("hf-cache", folder.path, publisher, name), problems)
        if candidate is not None:
            mlx.append(candidate)
    if models or projectors:
        yield GGUFCandidate(Origin("hf-cache", snapshot, publisher, name), tuple(models), tuple(projectors))
    yield from mlx


def _snapshot(walk: Walk, repo: str, problems: list[ModelScanError]) -> str | None:
    """The snapshot folder ``refs/main`` names, else the newest; ``None`` when there is none."""
    snapshots = os.path.join(repo, "snapshots")
    if walk.refuse_outside(snapshots):  # a link out of the roots: nothing in it is listed or read
        return None
    commit = _main_ref(walk, os.path.join(repo, "refs", "main"), problems)
    if commit is not None and _is_folder(os.path.join(snapshots, commit)):
        return os.path.join(snapshots, commit)
    newest: tuple[int, str] | None = None
    for path in walk.listing(snapshots, only=frozenset()).subdirs:
        try:
            mtime = os.lstat(path).st_mtime_ns
        except OSError:
            continue
        if newest is None or (mtime, path) > newest:
            newest = (mtime, path)
    return None if newest is None else newest[1]


def _main_ref(walk: Walk, ref: str, problems: list[ModelScanError]) -> str | None:
    """The commit in ``refs/main``, checked to be one plain folder name before it names a folder."""
    entry = walk.stat_file(ref)
    if entry is None:
        return None
    if isinstance(entry, ModelScanError):
        problems.append(entry)
        return None
    try:
        text = read_small_entry(entry, walk.limits.config_json_bytes, "config_json_bytes", format="fs")
    except ModelScanError as err:
        problems.append(err)
        return None
    commit = text.strip().decode("ascii", errors="replace")
    if _REF.fullmatch(commit) is None:
        problems.append(InvalidField(ref, "not a commit hash; the newest snapshot is listed", format="fs"))
        return None
    return commit
