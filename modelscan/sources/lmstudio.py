"""LM Studio's models folder (FIELDS.md section 1): where it is, and its layout.

The layout is ``<models>/<publisher>/<repo>/<files>``: for a model folder F, ``publisher`` is
the name of F's parent and ``repo`` is F's name. A path given directly may be a models root, a
publisher folder, a model folder or one file; the same rule applies to the folder holding the
model, so any plain folder of models reads the same way.

A folder's files sort into GGUF models (single files and split shards, ``-NNNNN-of-MMMMM``),
files named like projectors (``*mmproj*``), and an MLX model (``config.json`` beside
``*.safetensors``). Nothing is opened here: what a file *is* (a projector, an adapter) is for its
header to say, later.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from .. import _rules
from .._walk import Folder, Walk
from ..candidates import Candidate, Entry, GGUFCandidate, MLXCandidate, Origin
from ..errors import FileAccessError, IncompleteModel, ModelScanError
from ..limits import Limits

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "candidates",
    "folder_candidates",
    "gguf_files",
    "is_mlx_folder",
    "lmstudio_models_folder",
    "mlx_candidate",
    "origin_of",
]


def lmstudio_models_folder(home: str | os.PathLike[str] | None = None) -> tuple[Path, list[Path]]:
    """LM Studio's models folder, and the places looked at to find it.

    The home is the path in ``~/.lmstudio-home-pointer`` if that file exists, else
    ``~/.cache/lm-studio`` if it exists, else ``~/.lmstudio``; the models folder is
    ``downloadsFolder`` of ``<home>/settings.json`` if set, else ``<home>/models``.
    """
    from pathlib import Path  # noqa: PLC0415 -- only the command line without a PATH needs it

    user = Path(home) if home is not None else Path.home()
    looked: list[Path] = []
    pointer = user / ".lmstudio-home-pointer"
    looked.append(pointer)
    lm_home: Path | None = None
    try:
        text = pointer.read_text(encoding="utf-8").strip()
        if text:
            lm_home = Path(text).expanduser()
    except (OSError, UnicodeDecodeError):
        pass
    if lm_home is None:
        legacy = user / ".cache" / "lm-studio"
        looked.append(legacy)
        lm_home = legacy if legacy.is_dir() else user / ".lmstudio"
    settings = lm_home / "settings.json"
    looked.append(settings)
    models = lm_home / "models"
    try:
        data = json.loads(settings.read_bytes()[: 4 << 20])
        folder = data.get("downloadsFolder") if isinstance(data, dict) else None
        if isinstance(folder, str) and folder:
            models = Path(folder).expanduser()
    except (OSError, ValueError, RecursionError):
        pass
    looked.append(models)
    return models, looked


def origin_of(folder: str) -> Origin:
    """A model folder F gives ``publisher = F.parent.name`` and ``repo = F.name``."""
    absolute = os.path.abspath(folder)
    return Origin("lmstudio", folder, os.path.basename(os.path.dirname(absolute)), os.path.basename(absolute))


class FolderListing(Protocol):
    """A folder's files as a source listed them: the walk's :class:`~modelscan._walk.Folder`, or a
    folder of a remote repo's listing (``sources.remote``)."""

    @property
    def path(self) -> str: ...
    @property
    def files(self) -> tuple[Entry, ...]: ...
    @property
    def tree(self) -> tuple[Entry, ...] | None: ...
    @property
    def cut(self) -> str | None: ...
    @property
    def partial(self) -> str | None: ...
    @property
    def refused(self) -> tuple[tuple[str, FileAccessError], ...]: ...


def is_mlx_folder(folder: Folder) -> bool:
    """``config.json`` beside ``*.safetensors``: a folder whose whole tree the walk collects."""
    names = [f.name.lower() for f in folder.files]
    return "config.json" in names and any(n.endswith(".safetensors") for n in names)


def candidates(
    roots: Sequence[str | os.PathLike[str]], limits: Limits, problems: list[ModelScanError]
) -> Iterator[Candidate]:
    """The candidates of every folder under *roots*, walked once (``modelscan._walk``)."""
    walk = Walk(roots, limits, problems)
    for folder in walk.folders(collect=is_mlx_folder):
        yield from folder_candidates(folder, origin_of(folder.path), problems)


def folder_candidates(folder: FolderListing, origin: Origin, problems: list[ModelScanError]) -> Iterator[Candidate]:
    """The GGUF models and the MLX model of one folder; a split model missing a shard, or
    weights without ``config.json``, are appended to *problems* instead."""
    models, projectors = gguf_files(folder, problems)
    if models or projectors:
        yield GGUFCandidate(origin, tuple(models), tuple(projectors))
    mlx = mlx_candidate(folder, origin, problems)
    if mlx is not None:
        yield mlx


def gguf_files(folder: FolderListing, problems: list[ModelScanError]) -> tuple[list[tuple[Entry, ...]], list[Entry]]:
    """The GGUF models of one folder (each a file, or a split model's shards, shard 1 first) and
    its files named like projectors; a split model missing a shard is appended to *problems*."""
    gguf: list[Entry] = []
    projectors: list[Entry] = []
    for f in folder.files:
        lower = f.name.lower()
        if lower.endswith(".gguf"):
            (projectors if "mmproj" in lower else gguf).append(f)
    models: list[tuple[Entry, ...]] = []
    for files, total, absent in _group_gguf(gguf):
        if absent:
            shown = ", ".join(str(i) for i in absent[:5]) + (" ..." if len(absent) > 5 else "")
            problems.append(
                IncompleteModel(
                    files[0].path,
                    f"split model is missing shard(s) {shown} of {total}",
                    format="gguf",
                    code="missing_shard",
                )
            )
        else:
            models.append(files)
    return models, projectors


def mlx_candidate(folder: FolderListing, origin: Origin, problems: list[ModelScanError]) -> MLXCandidate | None:
    """The MLX model of a folder whose tree the walk collected (``is_mlx_folder``); safetensors
    weights without ``config.json`` are appended to *problems* instead."""
    if folder.tree is not None:
        return MLXCandidate(origin, folder.files, folder.tree, folder.cut, folder.partial, folder.refused)
    if any(f.name.lower().endswith(".safetensors") for f in folder.files):
        problems.append(
            IncompleteModel(
                folder.path,
                "safetensors files without config.json: not an MLX model",
                format="fs",
                code="missing_config",
            )
        )
    return None


def _group_gguf(files: Iterable[Entry]) -> list[tuple[tuple[Entry, ...], int, tuple[int, ...]]]:
    """Single GGUF files and split-shard groups by prefix and total, in name order:
    ``(files, total shards, missing shard numbers)``."""
    groups: list[tuple[tuple[Entry, ...], int, tuple[int, ...]]] = []
    shards: dict[tuple[str, int], dict[int, Entry]] = {}
    for f in files:
        split = _rules.split_shard_name(f.name[:-5])
        if split is None or split[2] < 1 or not 1 <= split[1] <= split[2]:
            groups.append(((f,), 1, ()))
        else:
            shards.setdefault((split[0], split[2]), {})[split[1]] = f
    for (_prefix, total), parts in shards.items():
        missing = tuple(i for i in range(1, total + 1) if i not in parts)
        groups.append((tuple(parts[i] for i in sorted(parts)), total, missing))
    groups.sort(key=lambda g: g[0][0].name)
    return groups
