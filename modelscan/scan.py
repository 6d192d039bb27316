"""The one orchestrator: roots in, a report (models and problems) out.

discover folders -> read each header -> derive facts -> assign keys -> (response.to_response).
A file that fails becomes a problem in the report; the scan carries on (HOSTILE.md R13).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import discover
from .discover import FileEntry, FolderContents
from .errors import IncompleteModel, ModelScanError
from .facts import ModelFacts, assign_keys, derive_gguf_facts
from .gguf import GGUFHeader, read_gguf_header
from .limits import BATCH_LIMITS, Limits
from .response import to_response

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PARALLEL_MIN_FOLDERS", "ScanCache", "ScanReport", "list_models", "lmstudio_models_folder", "scan_models"]


@dataclasses.dataclass
class ScanReport:
    """Every model found, with its facts, and every problem met on the way."""

    models: list[ModelFacts]
    problems: list[ModelScanError]

    @property
    def warnings(self) -> list[ModelScanError]:
        """Non-fatal findings of the listed models."""
        return [w for m in self.models for w in m.warnings]

    def to_response(self, loaded: Mapping[str, object] | None = None) -> dict[str, object]:
        """The endpoint's ``{"models": [...]}``; see :func:`modelscan.response.to_response`."""
        return to_response(self.models, loaded)


def _is_projector(header: GGUFHeader) -> bool:
    return header.get("general.type") == "mmproj" or header.get("general.architecture") == "clip"


def _scan_gguf(
    contents: FolderContents,
    gguf_files: list[FileEntry],
    name_projectors: list[FileEntry],
    limits: Limits,
    problems: list[ModelScanError],
) -> list[ModelFacts]:
    """The GGUF models of one folder: singles and split groups; projectors found by name or header."""
    folder = contents.path
    publisher, repo = _publisher_repo(folder)
    projectors = list(name_projectors)
    candidates: list[tuple[discover.GGUFGroup, list[GGUFHeader]]] = []
    for group in discover.group_gguf(gguf_files):
        if group.missing:
            shown = ", ".join(str(i) for i in group.missing[:5]) + (" ..." if len(group.missing) > 5 else "")
            problems.append(
                IncompleteModel(
                    group.files[0].path,
                    f"split model is missing shard(s) {shown} of {group.total_shards}",
                    format="gguf",
                    code="missing_shard",
                )
            )
            continue
        headers: list[GGUFHeader] = []
        for f in group.files:
            try:
                header = read_gguf_header(f.real, limits=limits, expect=(f.dev, f.ino))
                headers.append(_with_path(header, f.path))
            except ModelScanError as err:
                problems.append(_at(err, f.path))
                break
        else:
            head = headers[0]
            if _is_projector(head):
                projectors.extend(group.files[:1])
            elif head.get("general.type") == "adapter":
                continue  # a LoRA adapter: a sidecar, never a model of its own
            else:
                candidates.append((group, headers))
    projectors.sort(key=lambda f: f.name)
    projector = projectors[0] if projectors else None
    models = []
    for group, headers in candidates:
        try:
            models.append(
                derive_gguf_facts(
                    headers=headers,
                    file_names=[f.name for f in group.files],
                    sizes=[f.size for f in group.files],
                    folder=folder,
                    publisher=publisher,
                    repo=repo,
                    projector=(projector.path, projector.size) if projector else None,
                )
            )
        except ModelScanError as err:
            problems.append(err)
    return models


def _publisher_repo(folder: str) -> tuple[str, str]:
    """FIELDS.md section 1: a model folder F gives ``publisher = F.parent.name``, ``repo = F.name``."""
    absolute = os.path.abspath(folder)
    return os.path.basename(os.path.dirname(absolute)), os.path.basename(absolute)


def _with_path(header: GGUFHeader, path: str) -> GGUFHeader:
    """Report a symlinked file under the name it was found by."""
    return header if header.path == path else dataclasses.replace(header, path=path)


def _at(err: ModelScanError, path: str) -> ModelScanError:
    if err.path != path:
        err.path = path
        err.args = (err._message(),)
    return err


def _scan_folder(contents: FolderContents, limits: Limits) -> tuple[list[ModelFacts], list[ModelScanError]]:
    """Every model of one folder, and the problems met; the same whichever files were asked for."""
    problems: list[ModelScanError] = []
    gguf_files, name_projectors, is_mlx = discover.classify_folder(contents)
    models = (
        _scan_gguf(contents, gguf_files, name_projectors, limits, problems) if gguf_files or name_projectors else []
    )
    if is_mlx:
        from .mlx import read_mlx_model  # noqa: PLC0415 -- GGUF-only scans never import the MLX reader

        folder = contents.path
        publisher, repo = _publisher_repo(folder)
        try:
            models.append(read_mlx_model(folder, publisher=publisher, repo=repo, limits=limits))
        except ModelScanError as err:
            problems.append(err)
    elif any(f.name.lower().endswith(".safetensors") for f in contents.files):
        problems.append(
            IncompleteModel(
                contents.path,
                "safetensors files without config.json: not an MLX model",
                format="fs",
                code="missing_config",
            )
        )
    return models, problems


def _scan_folder_job(job: tuple[FolderContents, Limits]) -> tuple[list[ModelFacts], list[ModelScanError]]:
    return _scan_folder(*job)


def _holds(model: ModelFacts, names: set[str]) -> bool:
    if model.format == "mlx":
        return any(not n.lower().endswith(".gguf") for n in names)
    return any(os.path.basename(f) in names for f in model.files)


def _signature(contents: FolderContents, limits: Limits) -> tuple[object, ...]:
    """What a folder's results depend on: every file's name and (device, inode, size, mtime).

    An MLX folder's size counts nested files too, so its nested files are part of it (walked
    iteratively, within the walk limits, like the MLX reader's own walk).
    """
    own = tuple((f.name, f.dev, f.ino, f.size, f.mtime_ns) for f in contents.files)
    if not any(f.name == "config.json" for f in contents.files):
        return own
    nested: list[tuple[object, ...]] = []
    stack = [(contents.path, 0)]
    while stack and len(nested) <= limits.walk_entries_total:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if depth < limits.walk_depth:
                        stack.append((entry.path, depth + 1))
                elif depth > 0:
                    st = entry.stat(follow_symlinks=False)
                    nested.append((entry.path, st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                continue
    return own + tuple(nested)


class ScanCache:
    """Results per folder, reused while no file in the folder changed (for servers that rescan).

    Keyed on the folder and on every file's (device, inode, size, mtime_ns), so a rescan of an
    unchanged folder only walks it. Pass the same object to every :func:`scan_models` call.
    Not shared between processes; safe to use from one thread at a time.
    """

    def __init__(self) -> None:
        self._folders: dict[tuple[str, Limits], tuple[tuple[object, ...], list[ModelFacts], list[ModelScanError]]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._folders)

    def clear(self) -> None:
        """Forget every folder."""
        self._folders.clear()

    def get(
        self, contents: FolderContents, limits: Limits, signature: tuple[object, ...]
    ) -> tuple[list[ModelFacts], list[ModelScanError]] | None:
        entry = self._folders.get((os.path.abspath(contents.path), limits))
        if entry is None or entry[0] != signature:
            self.misses += 1
            return None
        self.hits += 1
        return [dataclasses.replace(m, warnings=list(m.warnings)) for m in entry[1]], list(entry[2])

    def put(
        self,
        contents: FolderContents,
        limits: Limits,
        signature: tuple[object, ...],
        result: tuple[list[ModelFacts], list[ModelScanError]],
    ) -> None:
        models, problems = result
        self._folders[(os.path.abspath(contents.path), limits)] = (
            signature,
            [dataclasses.replace(m, warnings=list(m.warnings)) for m in models],
            list(problems),
        )


#: Cold scans of at least this many folders use worker processes (when workers allow it).
PARALLEL_MIN_FOLDERS = 64


def _run_jobs(
    jobs: list[tuple[FolderContents, Limits]], workers: int
) -> list[tuple[list[ModelFacts], list[ModelScanError]]]:
    if workers <= 1 or len(jobs) < PARALLEL_MIN_FOLDERS:
        return [_scan_folder_job(job) for job in jobs]
    import concurrent.futures  # noqa: PLC0415 -- only large cold scans pay for these imports
    import multiprocessing  # noqa: PLC0415

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else methods[0])
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        chunk = max(1, len(jobs) // (workers * 8))
        return list(pool.map(_scan_folder_job, jobs, chunksize=chunk))


def scan_models(
    *paths: str | os.PathLike[str],
    limits: Limits = BATCH_LIMITS,
    cache: ScanCache | None = None,
    workers: int | None = None,
) -> ScanReport:
    """Scan folders (models roots, publisher or model folders) or single files.

    Never raises for a bad file: every failure is a :class:`ModelScanError` in
    ``report.problems``, and the other models are still listed.

    *cache*: a :class:`ScanCache` to reuse the results of unchanged folders between calls.
    *workers*: processes for reading headers; ``None`` uses every CPU when at least
    ``PARALLEL_MIN_FOLDERS`` folders need reading, ``1`` never starts a process.
    """
    problems: list[ModelScanError] = []
    wanted: dict[str, set[str]] = {}  # folder -> the files asked for one by one
    results: list[tuple[list[ModelFacts], list[ModelScanError]] | None] = []
    jobs: list[tuple[int, FolderContents, tuple[object, ...]]] = []
    for contents in discover.iter_model_folders(paths, problems, limits=limits):
        if contents.only is not None:
            wanted.setdefault(contents.path, set()).update(contents.only)
        signature = _signature(contents, limits) if cache is not None else ()
        hit = cache.get(contents, limits, signature) if cache is not None else None
        if hit is None:
            jobs.append((len(results), contents, signature))
        results.append(hit)
    n_workers = (os.cpu_count() or 1) if workers is None else workers
    for (i, contents, signature), result in zip(
        jobs, _run_jobs([(c, limits) for _, c, _ in jobs], n_workers), strict=True
    ):
        results[i] = result
        if cache is not None:
            cache.put(contents, limits, signature, result)
    models: list[ModelFacts] = []
    for done in results:
        assert done is not None  # every miss was filled in above
        models.extend(done[0])
        problems.extend(done[1])
    # Keys count every model of a folder, also when one file was asked for, so they stay stable.
    assign_keys(models)
    if wanted:
        models = [m for m in models if m.folder not in wanted or _holds(m, wanted[m.folder])]
    problems.sort(key=lambda e: (e.path, e.code))
    return ScanReport(models, problems)


def list_models(
    *paths: str | os.PathLike[str],
    loaded: Mapping[str, object] | None = None,
    limits: Limits = BATCH_LIMITS,
    cache: ScanCache | None = None,
) -> dict[str, object]:
    """``{"models": [...]}`` exactly as LM Studio's ``GET /api/v1/models`` would list *paths*.

    *loaded* maps a model key to its loaded instances (``[{"id": ..., "config": {...}}]``).
    Raises :class:`modelscan.errors.UsageError` when it names an unknown key.
    Problems with files are not raised; use :func:`scan_models` to see them.
    """
    return scan_models(*paths, limits=limits, cache=cache).to_response(loaded)


def lmstudio_models_folder(home: str | os.PathLike[str] | None = None) -> tuple[Path, list[Path]]:
    """LM Studio's models folder (FIELDS.md section 1), and the places looked at to find it.

    The home is the path in ``~/.lmstudio-home-pointer`` if that file exists, else
    ``~/.cache/lm-studio`` if it exists, else ``~/.lmstudio``; the models folder is
    ``downloadsFolder`` of ``<home>/settings.json`` if set, else ``<home>/models``.
    """
    import json  # noqa: PLC0415 -- only the command line without a PATH needs these
    from pathlib import Path  # noqa: PLC0415

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
