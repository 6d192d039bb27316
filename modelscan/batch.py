"""The batch contract (SOURCES.md section 6): one pure function per item, for Dask, Ray or a loop.

:func:`scan_target` takes one target (a local path, a file URL, an ``hf://`` repo or file) and
returns plain JSON-ready data, never raising for anything the target holds: a batch engine can
map it over millions of targets, pickle its results and write them as rows. :func:`expand_repo`
turns a Hub repo into its models' targets, one per model, so that a job spreads a repo's models
over its workers. Neither engine is a dependency: both functions are plain, top-level and
picklable.

A record is ``{"target": ..., "models": [...], "problems": [...]}``: each model is its endpoint
entry (``GET /api/v1/models``'s shape) with its extended facts under ``"facts"``, each problem an
error record (``code``, ``detail``, ``path``, ``field``...). A target that names one model file
gives that model; a folder or repo gives each of its models. Keys are those of the target's own
scan: models of different targets are keyed independently.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from .errors import ModelScanError, UsageError
from .limits import BATCH_LIMITS, SERVER_LIMITS, Limits

if TYPE_CHECKING:
    from .cache import ScanCache

__all__ = ["expand_repo", "scan_target"]


def _limits(limits: Limits | str) -> Limits:
    if isinstance(limits, Limits):
        return limits
    if limits == "batch":
        return BATCH_LIMITS
    if limits == "server":
        return SERVER_LIMITS
    raise UsageError(f"limits must be a Limits, 'batch' or 'server', not {limits!r}")


def _error_record(target: str, code: str, detail: str) -> dict[str, Any]:
    return {
        "path": target,
        "code": code,
        "format": None,
        "field": None,
        "offset": None,
        "limit": None,
        "detail": detail,
        "retryable": False,
    }


def scan_target(
    target: str,
    *,
    limits: Limits | str = "batch",
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Scan one target; never raises (only ``KeyboardInterrupt`` and ``SystemExit`` go through).

    *target*: a local file or folder, an ``http(s)://`` URL of a ``.gguf`` or ``.safetensors``
    file, or ``hf://<org>/<name>[@<revision>][/<path>]``. *limits*: a :class:`~modelscan.Limits`,
    or ``"batch"`` (default) or ``"server"``. *cache_dir*: a folder for the on-disk cache of
    parsed headers (``modelscan.store``): a repeat of an unchanged target reads no header (for a
    remote one, sends no body request). Workers may share the folder: its file is replaced
    atomically, and the last writer wins.

    Returns ``{"target", "models", "problems"}`` (see the module's docstring). A target that is
    not a path, a URL or an ``hf://`` reference gives one problem with code ``bad_target``; an
    unexpected failure (a bug) one with code ``error`` naming the exception's type.
    """
    record: dict[str, Any] = {
        "target": target if isinstance(target, str) else repr(target),
        "models": [],
        "problems": [],
    }
    try:
        from .response import to_entry, to_facts_record  # noqa: PLC0415
        from .scan import scan_models  # noqa: PLC0415

        if not isinstance(target, str):
            raise UsageError(f"a target must be a str, not {type(target).__name__}")
        chosen = _limits(limits)
        cache = _load(cache_dir)
        report = scan_models(target, limits=chosen, cache=cache)
        if cache is not None and cache_dir is not None and cache.changed:
            _save(cache, cache_dir)
        from .response import sort_models  # noqa: PLC0415

        record["models"] = [{**to_entry(m), "facts": to_facts_record(m)} for m in sort_models(report.models)]
        record["problems"] = [p.to_dict() for p in report.problems]
    except UsageError as exc:
        record["problems"] = [_error_record(record["target"], "bad_target", str(exc))]
    except ModelScanError as exc:  # not expected (scans report problems), but a record all the same
        record["problems"] = [exc.to_dict()]
    except Exception as exc:
        record["problems"] = [_error_record(record["target"], "error", f"{type(exc).__name__}: {exc}"[:300])]
    return record


def _load(cache_dir: str | os.PathLike[str] | None) -> ScanCache | None:
    if cache_dir is None:
        return None
    from . import store  # noqa: PLC0415
    from .cache import ScanCache  # noqa: PLC0415

    cache = ScanCache(whole_reports=False)  # one scan per call: no fingerprint walk to keep
    store.load(cache, os.path.join(cache_dir, store.FILE_NAME))
    return cache


def _save(cache: ScanCache, cache_dir: str | os.PathLike[str]) -> None:
    from . import store  # noqa: PLC0415

    # A cache that cannot be written costs a later run time, not this record.
    with contextlib.suppress(OSError):
        store.save(cache, os.path.join(cache_dir, store.FILE_NAME))


def expand_repo(target: str, *, limits: Limits | str = "batch") -> list[str]:
    """The targets of the models of a Hub repo (``hf://<org>/<name>[@<revision>][/<path>]``):
    for each model, ``hf://...`` of its first file (a GGUF model's first shard, an MLX folder's
    ``config.json``), for :func:`scan_target`.

    Raises :class:`~modelscan.errors.UsageError` for a target that is not an ``hf://`` reference
    and :class:`~modelscan.errors.ModelScanError` when the repo cannot be listed (``not_found``,
    ``permission_denied``, ``http_error``...): a job should know before it starts.
    """
    from .sources.remote import expand_repo as expand  # noqa: PLC0415

    if not isinstance(target, str) or not target.lower().startswith("hf://"):
        raise UsageError(f"expand_repo takes an hf://<org>/<name> reference, not {target!r}")
    return expand(target, _limits(limits))
