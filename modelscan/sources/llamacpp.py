"""llama.cpp's older flat cache (SOURCES.md section 3).

```
<cache>/<org>_<repo>_<file>.gguf            a downloaded file
<cache>/<org>_<repo>_<file>.gguf.etag       its ETag (older: <file>.gguf.json)
<cache>/manifest=<org>=<repo>=<tag>.json    the Hub's manifest for one tag (older: manifest=<org>_<repo>=<tag>.json)
```

A manifest names a repo: every GGUF file of the cache whose name starts with ``<org>_<repo>_``,
or that is the ``ggufFile`` or ``mmprojFile`` the manifest names, belongs to it, with
``publisher = org`` and ``repo = repo``; the files of one repo share one model folder (so several
quants of a repo get ``@<quant>`` keys). A GGUF file no manifest claims stands alone:
``publisher = "llama.cpp"``, ``repo`` its file stem. ``.etag`` and ``.json`` files are sidecars,
never problems: a manifest that cannot be used claims nothing. The older ``<org>_<repo>`` form
of a manifest name is read only where it is unambiguous (one ``_``). llama.cpp's newer cache
(since 2026-03) is a Hugging Face hub cache, read by ``sources.hf_cache``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from .. import _rules
from .._walk import FileEntry, Folder
from ..candidates import GGUFCandidate, Origin
from ..errors import ModelScanError
from ..limits import BATCH_LIMITS, Limits
from ..read import read_small_entry
from . import lmstudio

__all__ = ["STANDALONE_PUBLISHER", "flat_candidates", "is_flat_cache", "manifest_repo"]

#: The publisher of a GGUF file no manifest names.
STANDALONE_PUBLISHER = "llama.cpp"

_MANIFEST = _rules.lazy_pattern(r"manifest=([^=]+)=([^=]+)=([^=]+)\.json")
_OLD_MANIFEST = _rules.lazy_pattern(r"manifest=([^=_]+)_([^=_]+)=([^=]+)\.json")


def manifest_repo(name: str) -> tuple[str, str] | None:
    """``(org, repo)`` of a manifest file name, or ``None`` (not a manifest, or ambiguous)."""
    m = _MANIFEST.fullmatch(name) or _OLD_MANIFEST.fullmatch(name)
    return None if m is None else (m.group(1), m.group(2))


def is_flat_cache(names: list[str]) -> bool:
    """Whether a folder holding the files *names* looks like llama.cpp's flat cache: a manifest,
    or a GGUF file's ``.etag`` sidecar."""
    return any((n.startswith("manifest=") and n.endswith(".json")) or n.endswith(".gguf.etag") for n in names)


def flat_candidates(
    cache: str, files: Sequence[FileEntry], problems: list[ModelScanError], limits: Limits = BATCH_LIMITS
) -> Iterator[GGUFCandidate]:
    """The candidates of *files*, the files directly in *cache* as the walk listed them (its
    folders are not this source's)."""
    repos: dict[tuple[str, str], set[str]] = {}  # (org, repo) -> file names its manifests name
    for f in files:
        ident = manifest_repo(f.name)
        if ident is not None:
            repos.setdefault(ident, set()).update(_named_files(f, limits))
    gguf = [f for f in files if f.name.lower().endswith(".gguf")]
    claimed: dict[tuple[str, str], list[FileEntry]] = {}
    # Longest prefix first: org "a", repo "b_c" and org "a_b", repo "c" both give "a_b_c_".
    prefixes = sorted(repos, key=lambda r: -len(f"{r[0]}_{r[1]}_"))
    for f in gguf:
        for org, repo in prefixes:
            if f.name.startswith(f"{org}_{repo}_") or f.name in repos[(org, repo)]:
                claimed.setdefault((org, repo), []).append(f)
                break
    for (org, repo), owned in sorted(claimed.items()):
        folder = Folder(cache, tuple(owned))
        models, projectors = lmstudio.gguf_files(folder, problems)
        origin = Origin("llama.cpp", os.path.join(cache, f"{org}_{repo}_"), org, repo)
        yield GGUFCandidate(origin, tuple(models), tuple(projectors))
    taken = {f.name for owned in claimed.values() for f in owned}
    alone = Folder(cache, tuple(f for f in gguf if f.name not in taken))
    models, projectors = lmstudio.gguf_files(alone, problems)
    for group in models:
        stem = group[0].name[:-5]
        split = _rules.split_shard_name(stem)
        repo = split[0] if split is not None else stem
        yield GGUFCandidate(Origin("llama.cpp", group[0].path, STANDALONE_PUBLISHER, repo), (group,))
    for projector in projectors:  # a projector alone is no model; its header is still checked
        yield GGUFCandidate(
            Origin("llama.cpp", projector.path, STANDALONE_PUBLISHER, projector.name[:-5]), (), (projector,)
        )


def _named_files(manifest: FileEntry, limits: Limits) -> set[str]:
    """The file names a manifest's ``ggufFile`` and ``mmprojFile`` give (their last path part,
    with and without the ``<org>_<repo>_`` prefix); none when the manifest cannot be used."""
    try:
        data = read_small_entry(manifest, limits.config_json_bytes, "config_json_bytes")
        from .._json import parse_json  # noqa: PLC0415 -- only a flat cache's manifests need it

        doc = parse_json(data, source=manifest.path, what="manifest", limits=limits)
    except ModelScanError:
        return set()  # a sidecar: never a problem (SOURCES.md section 3)
    ident = manifest_repo(manifest.name)
    names: set[str] = set()
    for key in ("ggufFile", "mmprojFile"):
        value = doc.get(key)
        name = value.get("rfilename") if isinstance(value, dict) else None
        if isinstance(name, str) and name:
            base = name.replace("\\", "/").rsplit("/", 1)[-1]
            names.add(base)
            if ident is not None:
                names.add(f"{ident[0]}_{ident[1]}_{base}")
    return names
