"""Sources: where models live, each turned into candidates (``modelscan.candidates``).

``discover(roots, limits, problems)`` yields the candidates of every root, each read under the
rules of the layout found in it (SOURCES.md sections 1-5), with no flag:

- ``https://...``, ``http://...`` or ``hf://...``: a remote file or Hub repo (``sources.remote``);

- a ``models--<org>--<name>`` folder, or a folder holding such folders: the Hugging Face hub
  cache (``sources.hf_cache``), which llama.cpp's newer cache also is;
- a folder holding llama.cpp's ``manifest=...json`` files or ``*.gguf.etag`` sidecars: its
  older flat cache (``sources.llamacpp``), also beside a hub cache in the same folder;
- a folder holding ``manifests/`` and ``blobs/``, or one manifest file four levels below
  ``manifests/``: Ollama's store (``sources.ollama``);
- anything else (also a file given by name): LM Studio's ``<publisher>/<repo>/<files>`` layout
  (``sources.lmstudio``), which fits any plain folder of models.

A root is looked at once per scan: a hub repo, Ollama store or flat cache named twice (or also
reached through a cache named beside it) yields its candidates once.

:func:`default_locations` and :func:`default_roots` give the places each tool keeps its models
on this machine (what ``modelscan --all`` scans).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from .._walk import Walk
from ..candidates import Candidate
from ..errors import ModelScanError
from ..limits import Limits
from . import hf_cache, llamacpp, lmstudio, ollama

if TYPE_CHECKING:
    from pathlib import Path

    from ..candidates import SourceName

__all__ = ["default_locations", "default_roots", "discover", "is_remote", "layouts"]


def is_remote(root: object) -> bool:
    """Whether *root* names a remote file or repo (``http://``, ``https://``, ``hf://``)."""
    return isinstance(root, str) and root[:8].lower().startswith(("http://", "https://", "hf://"))


def layouts(root: str | os.PathLike[str]) -> tuple[SourceName, ...]:
    """The layouts recognised in *root*, from its name and its own entries (one listing, nothing
    read): ``("hf-cache",)``, ``("llama.cpp",)``, both, ``("ollama",)`` or ``("lmstudio",)``."""
    path = os.fspath(root)
    try:
        st = os.stat(path)
    except OSError:
        return ("lmstudio",)  # the walk reports why it cannot be scanned
    if not stat.S_ISDIR(st.st_mode):
        return ("ollama",) if ollama.manifest_store(path) is not None else ("lmstudio",)
    if hf_cache.is_repo_folder(path):
        return ("hf-cache",)
    folders: list[str] = []
    files: list[str] = []
    try:
        with os.scandir(path) as it:
            for n, entry in enumerate(it):
                if n >= 100_000:  # a folder this big is judged by what was seen; the walk has its own budget
                    break
                if entry.name[0] == ".":  # hidden names are never looked at, here as in the walk
                    continue
                try:
                    (folders if entry.is_dir(follow_symlinks=False) else files).append(entry.name)
                except OSError:
                    continue
    except OSError:
        return ("lmstudio",)
    if "manifests" in folders and "blobs" in folders:
        return ("ollama",)
    found: list[SourceName] = []
    if hf_cache.is_hf_cache(folders):
        found.append("hf-cache")
    if llamacpp.is_flat_cache(files):
        found.append("llama.cpp")
    return tuple(found) or ("lmstudio",)


def discover(
    roots: Sequence[str | os.PathLike[str]],
    limits: Limits,
    problems: list[ModelScanError],
    *,
    identify: bool = False,
) -> Iterator[Candidate]:
    """Every candidate under *roots*; what cannot be a candidate is appended to *problems*.

    LM Studio-layout roots are walked together (one walk, so overlapping roots list each file
    once); every other root is read under its own source's rules. URLs and ``hf://`` repos are
    read by ``sources.remote`` (imported only when one is given), after the local roots.
    *identify*: the caller compares candidates' identities (a cache), so a source that must ask a
    server for a file's version (a URL's ETag) asks before reading; without it the read learns it.
    """
    plain: list[str | os.PathLike[str]] = []
    remote: list[str] = []
    done: set[str] = set()  # resolved repo folders, stores and flat caches already read
    for root in roots:
        if is_remote(root):
            remote.append(os.fspath(root))
            continue
        found = layouts(root)
        if found == ("lmstudio",):
            plain.append(root)
            continue
        path = os.fspath(root)
        if found == ("ollama",) and not os.path.isdir(path):
            yield from _one_manifest(path, limits, problems, done)
            continue
        real = os.path.realpath(path)
        walk = Walk([path], limits, problems)
        if "ollama" in found:
            if real not in done:
                done.add(real)
                yield from ollama.store_candidates(walk, path, problems, done)
            continue
        # One listing of the root serves both its hub repos and its flat files: the walk lists a
        # GGUF file once per scan, so a second listing would find it already seen.
        listed = None if hf_cache.is_repo_folder(path) else walk.listing(path)
        if "hf-cache" in found:
            repos = [path] if listed is None else listed.subdirs
            for repo in repos:
                key = os.path.realpath(repo)
                if key not in done and hf_cache.repo_id(os.path.basename(os.path.abspath(repo))) is not None:
                    done.add(key)
                    yield from hf_cache.repo_candidates(walk, repo, problems)
        if "llama.cpp" in found and listed is not None and real not in done:
            done.add(real)
            yield from llamacpp.flat_candidates(path, listed.files, problems, limits)
    if plain:
        yield from lmstudio.candidates(plain, limits, problems)
    if remote:
        from . import remote as remote_source  # noqa: PLC0415 -- local scans never import HTTP

        yield from remote_source.candidates(remote, limits, problems, identify=identify)


def _one_manifest(path: str, limits: Limits, problems: list[ModelScanError], done: set[str]) -> Iterator[Candidate]:
    store = ollama.manifest_store(path)
    real = os.path.realpath(path)
    if store is None or real in done or os.path.realpath(store) in done:  # read already, alone or with its store
        return
    done.add(real)
    blobs = os.path.join(store, "blobs")
    walk = Walk([path, blobs], limits, problems)  # the manifest, and the blobs it may name
    entry = walk.stat_file(path)
    if entry is None or isinstance(entry, ModelScanError):
        if entry is not None:
            problems.append(entry)
        return
    candidate = ollama.manifest_candidate(walk, store, entry, problems)
    if candidate is not None:
        yield candidate


def default_locations(
    environ: Mapping[str, str] | None = None, home: str | os.PathLike[str] | None = None
) -> list[tuple[SourceName, Path]]:
    """Every place a tool keeps its models by default (SOURCES.md), whether it exists or not:

    - LM Studio's models folder (``lmstudio.lmstudio_models_folder``);
    - the Hugging Face hub cache: the first set of ``HF_HUB_CACHE``, ``HUGGINGFACE_HUB_CACHE``,
      ``$HF_HOME/hub``, ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``;
    - llama.cpp's cache: ``LLAMA_CACHE``, else ``$XDG_CACHE_HOME/llama.cpp``, else
      ``~/.cache/llama.cpp`` (a hub cache since 2026-03, or the older flat cache);
    - Ollama's store: ``OLLAMA_MODELS``, else ``~/.ollama/models``, and the Linux service's
      ``/usr/share/ollama/.ollama/models``.

    *environ* defaults to ``os.environ`` and *home* to the user's home folder.
    """
    from pathlib import Path  # noqa: PLC0415 -- only --all and the library call need it

    env = os.environ if environ is None else environ
    user = Path(home) if home is not None else Path.home()

    def var(name: str) -> Path | None:
        value = env.get(name)
        return Path(value).expanduser() if value else None

    xdg = var("XDG_CACHE_HOME") or user / ".cache"
    hf_home = var("HF_HOME")
    hub = (
        var("HF_HUB_CACHE")
        or var("HUGGINGFACE_HUB_CACHE")
        or (hf_home / "hub" if hf_home is not None else None)
        or xdg / "huggingface" / "hub"
    )
    places: list[tuple[SourceName, Path]] = [
        ("lmstudio", lmstudio.lmstudio_models_folder(user if home is not None else None)[0]),
        ("hf-cache", hub),
        ("llama.cpp", var("LLAMA_CACHE") or xdg / "llama.cpp"),
        ("ollama", var("OLLAMA_MODELS") or user / ".ollama" / "models"),
        ("ollama", Path("/usr/share/ollama/.ollama/models")),
    ]
    return places


def default_roots(environ: Mapping[str, str] | None = None, home: str | os.PathLike[str] | None = None) -> list[Path]:
    """The default locations (:func:`default_locations`) that exist as folders, each once (by
    resolved path), in that order: ``scan_models(*default_roots())`` scans every one under its
    own layout's rules, in one report."""
    roots: list[Path] = []
    seen: set[str] = set()
    for _source, place in default_locations(environ, home):
        if not place.is_dir():
            continue
        real = os.path.realpath(place)
        if real not in seen:
            seen.add(real)
            roots.append(place)
    return roots
