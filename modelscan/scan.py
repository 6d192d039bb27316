"""The one orchestrator: roots in, a report (models and problems) out.

discover candidates (``sources``) -> read each (``read``, ``mlx``) -> derive facts
(``facts_gguf``, ``facts_mlx``) -> assign keys (``keys``) -> report (``response`` shapes it).

A file that fails becomes a problem in the report and the scan carries on (HOSTILE.md R13).
A candidate whose files changed while they were read is read once more before its problem is
reported. Problems are also logged (logger ``modelscan``, WARNING) when first seen.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

from . import sources
from .cache import Result, ScanCache
from .candidates import Candidate
from .errors import ModelScanError, UsageError
from .facts import ModelFacts
from .facts_gguf import derive_gguf_models
from .keys import assign_keys
from .limits import BATCH_LIMITS, Limits
from .read import read_gguf_candidate, restat_candidate
from .response import to_facts, to_response

if TYPE_CHECKING:
    from .shapes import FactsResponse, ModelsResponse

__all__ = ["PARALLEL_MIN_FOLDERS", "ScanReport", "list_models", "scan_models"]

#: Cold scans of at least this many candidates use worker processes, when the caller asks for them.
PARALLEL_MIN_FOLDERS = 64


@dataclasses.dataclass
class ScanReport:
    """Every model found, with its facts, and every problem met on the way."""

    models: list[ModelFacts]
    problems: list[ModelScanError]

    @property
    def warnings(self) -> list[ModelScanError]:
        """Non-fatal findings of the listed models."""
        return [w for m in self.models for w in m.warnings]

    def to_response(self, loaded: Mapping[str, object] | None = None) -> ModelsResponse:
        """The endpoint's ``{"models": [...]}``; see :func:`modelscan.response.to_response`."""
        return to_response(self.models, loaded)

    def to_facts(self) -> FactsResponse:
        """The extended facts of every model and every problem, as ``modelscan --facts`` prints them."""
        return to_facts(self.models, self.problems)


def _facts_of(candidate: Candidate, limits: Limits) -> Result:
    """Read one candidate and derive its models; what fails is a problem."""
    try:
        if candidate.format == "gguf":
            models, problems = derive_gguf_models(read_gguf_candidate(candidate, limits))
            return tuple(models), tuple(problems)
        from .facts_mlx import derive_mlx_facts  # noqa: PLC0415 -- GGUF-only scans never import the MLX path
        from .mlx import read_mlx_candidate  # noqa: PLC0415

        return (derive_mlx_facts(read_mlx_candidate(candidate, limits)),), ()
    except ModelScanError as err:
        return (), (err,)


def _read_candidate(job: tuple[Candidate, Limits]) -> Result:
    """Facts of one candidate; once more, from a fresh ``stat`` of its files, if they changed."""
    candidate, limits = job
    result = _facts_of(candidate, limits)
    if any(p.retryable for p in result[1]):
        fresh = restat_candidate(candidate)
        if fresh is not None:
            result = _facts_of(fresh, limits)
    return result


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which stops them: one line, not one traceback each."""
    import signal  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(jobs: list[tuple[Candidate, Limits]], workers: int) -> list[Result]:
    if workers <= 1 or len(jobs) < PARALLEL_MIN_FOLDERS:
        return [_read_candidate(job) for job in jobs]
    import multiprocessing  # noqa: PLC0415 -- only large cold scans that ask for workers pay for it
    import threading  # noqa: PLC0415

    # fork is the cheapest start, but forking a process that runs other threads (a server) can
    # copy a lock that some thread holds; there, a fork server starts the workers instead.
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        method = "fork"
    else:
        method = "forkserver" if "forkserver" in methods else methods[0]
    pool = multiprocessing.get_context(method).Pool(min(workers, len(jobs)), initializer=_ignore_interrupts)
    try:
        results = pool.map(_read_candidate, jobs, chunksize=max(1, len(jobs) // (workers * 8)))
    except BaseException:
        # Ctrl-C or an error: the workers stop now, not when their work is done. A second Ctrl-C
        # must not interrupt the stopping (it would leave workers running).
        import signal  # noqa: PLC0415

        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
        try:
            pool.terminate()
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)
        raise
    finally:
        pool.close()
        pool.join()
    return results


def _holds(model: ModelFacts, names: set[str]) -> bool:
    if model.format == "mlx":
        return any(not n.lower().endswith(".gguf") for n in names)
    return any(os.path.basename(f) in names for f in model.files)


def _log(problems: Sequence[ModelScanError], cache: ScanCache | None) -> None:
    """A WARNING for each problem, once per cache (every time without one)."""
    if not problems:
        return
    import logging  # noqa: PLC0415 -- a scan without problems does not pay for it

    logger = logging.getLogger("modelscan")
    if not logger.handlers:  # a library's manners: silent unless the application configures logging
        logger.addHandler(logging.NullHandler())
    for p in problems:
        if cache is None or cache.first_seen(p):
            logger.warning("%s: %s", p.code, p)


def _keyed(models: list[ModelFacts]) -> list[ModelFacts]:
    """*models* with their keys (``keys.assign_keys``), copied only where a key changes."""
    keys = assign_keys(models)
    return [m if m.key == k else dataclasses.replace(m, key=k) for m, k in zip(models, keys, strict=True)]


def _scan(
    paths: tuple[str | os.PathLike[str], ...], limits: Limits, cache: ScanCache | None, workers: int
) -> ScanReport:
    problems: list[ModelScanError] = []
    results: list[Result | None] = []
    misses: list[tuple[int, Candidate]] = []
    for candidate in sources.discover(paths, limits, problems, identify=cache is not None):
        hit = cache.get(candidate, limits) if cache is not None else None
        if hit is None:
            misses.append((len(results), candidate))
        results.append(hit)
    for (i, candidate), result in zip(misses, _run([(c, limits) for _, c in misses], workers), strict=True):
        results[i] = result
        if cache is not None:
            cache.put(candidate, limits, result)
    done = cast("list[Result]", results)  # every miss was filled in above
    found = [m for result in done for m in result[0]]
    problems.extend(p for result in done for p in result[1])
    # Keys count every model of a folder, also when one file was asked for, so they stay stable.
    if cache is None:
        models = _keyed(found)
    else:
        models = cache.keyed((tuple(os.fspath(p) for p in paths), limits), done, lambda: _keyed(found))
    wanted: dict[str, set[str]] = {}  # model folder -> the files asked for one by one
    for path in paths:
        # a local file given by name (as the walk decides)
        if not sources.is_remote(path) and os.path.exists(path) and not os.path.isdir(path):
            wanted.setdefault(os.path.dirname(os.fspath(path)) or os.curdir, set()).add(os.path.basename(path))
    if wanted:
        models = [m for m in models if m.folder not in wanted or _holds(m, wanted[m.folder])]
    problems.sort(key=lambda e: (e.path, e.code))
    _log(problems, cache)
    return ScanReport(list(models), problems)


def _checked_paths(paths: Sequence[object]) -> tuple[str | os.PathLike[str], ...]:
    """The roots as given, each a usable path; anything else is a :class:`UsageError`."""
    out: list[str | os.PathLike[str]] = []
    for path in paths:
        if not isinstance(path, (str, os.PathLike)):
            raise UsageError(f"a path must be a str or os.PathLike, not {type(path).__name__}")
        text = os.fspath(path)
        if not isinstance(text, str):
            raise UsageError("bytes paths are not supported; decode them with os.fsdecode()")
        if "\0" in text:
            raise UsageError(f"path {text!r} contains a NUL byte")
        try:
            text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            raise UsageError(f"path {text!r} is not encodable: {exc.reason}") from None
        out.append(path)
    return tuple(out)


def scan_models(
    *paths: str | os.PathLike[str],
    limits: Limits = BATCH_LIMITS,
    cache: ScanCache | None = None,
    workers: int | None = None,
) -> ScanReport:
    """Scan folders (models roots, publisher or model folders) or single files.

    Never raises for a bad file: every failure is a :class:`ModelScanError` in
    ``report.problems``, and the other models are still listed. Raises :class:`UsageError` for
    a path that cannot be one (not a str or path, a NUL byte, an unencodable character).

    *cache*: a :class:`ScanCache` to reuse the results of unchanged candidates between calls;
    concurrent calls with the same cache, paths and limits share one scan.
    *workers*: processes for reading headers of a cold scan of at least
    ``PARALLEL_MIN_FOLDERS`` candidates; ``None`` or ``1``: none, everything in this thread.
    """
    roots = _checked_paths(paths)
    n_workers = 1 if workers is None else workers
    if n_workers < 1:
        raise UsageError(f"workers must be at least 1, not {workers}")
    if cache is None:
        return _scan(roots, limits, None, n_workers)
    key = (tuple(p if sources.is_remote(p) else os.path.abspath(p) for p in roots), limits, n_workers)
    report = cache.shared(key, lambda: _scan(roots, limits, cache, n_workers))
    return ScanReport(list(report.models), list(report.problems))


def list_models(
    *paths: str | os.PathLike[str],
    loaded: Mapping[str, object] | None = None,
    limits: Limits = BATCH_LIMITS,
    cache: ScanCache | None = None,
    workers: int | None = None,
) -> ModelsResponse:
    """``{"models": [...]}`` exactly as LM Studio's ``GET /api/v1/models`` would list *paths*.

    *loaded* maps a model key to its loaded instances (``[{"id": ..., "config": {...}}]``).
    Raises :class:`modelscan.errors.UsageError` when it names an unknown key.
    Problems with files are not raised; use :func:`scan_models` to see them (they are also
    logged, logger ``modelscan``).
    """
    return scan_models(*paths, limits=limits, cache=cache, workers=workers).to_response(loaded)
