"""The one orchestrator: roots in, a report (models and problems) out.

discover candidates (``sources``) -> read each (``read``, ``mlx``) -> derive facts
(``facts_gguf``, ``facts_mlx``) -> assign keys (``keys``) -> report (``response`` shapes it).

A file that fails becomes a problem in the report and the scan carries on (HOSTILE.md R13).
A candidate whose files changed while they were read is read once more before its problem is
reported. Problems are also logged (logger ``modelscan``, WARNING) when first seen.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from . import sources
from .cache import Result, ScanCache
from .candidates import Candidate, GGUFCandidate
from .errors import ModelScanError, UsageError
from .facts import ModelFacts
from .keys import assign_keys
from .limits import BATCH_LIMITS, Limits
from .response import to_facts, to_response

if TYPE_CHECKING:
    from .shapes import FactsResponse, ModelsResponse

__all__ = [
    "PARALLEL_MIN_FOLDERS",
    "ProgressCallback",
    "ScanProgress",
    "ScanReport",
    "iter_scan",
    "list_models",
    "scan_models",
]

#: Cold scans of at least this many candidates use worker processes, when the caller asks for them.
PARALLEL_MIN_FOLDERS = 64


class ScanReport:
    """Every model found, with its facts, and every problem met on the way."""

    __slots__ = ("models", "problems")

    def __init__(self, models: list[ModelFacts], problems: list[ModelScanError]) -> None:
        self.models = models
        self.problems = problems

    def __repr__(self) -> str:
        return f"ScanReport(models={self.models!r}, problems={self.problems!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScanReport):
            return NotImplemented
        return (self.models, self.problems) == (other.models, other.problems)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

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
    # The readers and derivations load with the first candidate to read: a scan whose candidates
    # are all cached (a repeat run, a server's rescan) never imports them.
    from .facts_gguf import derive_gguf_models  # noqa: PLC0415
    from .read import read_gguf_candidate  # noqa: PLC0415

    try:
        if isinstance(candidate, GGUFCandidate):
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
        from .read import restat_candidate  # noqa: PLC0415

        fresh = restat_candidate(candidate)
        if fresh is not None:
            result = _facts_of(fresh, limits)
    return result


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which stops them: one line, not one traceback each."""
    import signal  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(jobs: list[tuple[Candidate, Limits]], workers: int) -> Iterator[Result]:
    """The result of each job, in order, as it is ready."""
    if workers <= 1 or len(jobs) < PARALLEL_MIN_FOLDERS:
        for job in jobs:
            yield _read_candidate(job)
        return
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
        yield from pool.imap(_read_candidate, jobs, chunksize=max(1, len(jobs) // (workers * 8)))
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


def _holds(model: ModelFacts, names: set[str]) -> bool:
    if model.format == "mlx":
        return any(not n.lower().endswith(".gguf") for n in names)
    return any(os.path.basename(f) in names for f in model.files)


def _log(problems: Sequence[ModelScanError], cache: ScanCache | None) -> None:
    """A WARNING for each problem, once per cache (every time without one)."""
    if not problems:
        return
    if "logging" not in sys.modules:
        return  # nothing can have configured a handler: a program that never imported logging
    import logging  # noqa: PLC0415

    logger = logging.getLogger("modelscan")
    if not logger.handlers:  # a library's manners: silent unless the application configures logging
        logger.addHandler(logging.NullHandler())
    for p in problems:
        if cache is None or cache.first_seen(p):
            logger.warning("%s: %s", p.code, p)


def _keyed(models: list[ModelFacts]) -> list[ModelFacts]:
    """*models* with their keys (``keys.assign_keys``), copied only where a key changes."""
    keys = assign_keys(models)
    return [m if m.key == k else m._replace(key=k) for m, k in zip(models, keys, strict=True)]


class ScanProgress(NamedTuple):
    """How far a scan is: candidates found by the walk so far, how many of them need reading and
    how many were read, models and problems so far. ``walking`` is true until the walk ends."""

    walking: bool
    candidates: int
    to_read: int
    read: int
    models: int
    problems: int


#: Called with the scan's progress as it goes: after each candidate found and each one read.
ProgressCallback = Callable[[ScanProgress], None]


def _discover(
    paths: tuple[str | os.PathLike[str], ...],
    limits: Limits,
    cache: ScanCache | None,
    problems: list[ModelScanError],
    progress: ProgressCallback | None,
) -> tuple[list[Candidate], list[Result | None]]:
    """Every candidate, with its cached result where the cache has one (``None`` to read)."""
    candidates: list[Candidate] = []
    results: list[Result | None] = []
    misses = models = 0
    for candidate in sources.discover(paths, limits, problems, identify=cache is not None):
        hit = cache.get(candidate, limits) if cache is not None else None
        candidates.append(candidate)
        results.append(hit)
        if hit is None:
            misses += 1
        else:
            models += len(hit[0])
        if progress is not None:
            progress(ScanProgress(True, len(candidates), misses, 0, models, len(problems)))
    return candidates, results


def _read_misses(
    candidates: list[Candidate],
    results: list[Result | None],
    *,
    limits: Limits,
    cache: ScanCache | None,
    workers: int,
    progress: ProgressCallback | None,
    problems: int,
) -> Iterator[Result]:
    """Each candidate's result in order: the cached one, or read now (by *workers* processes)."""
    misses = [c for c, r in zip(candidates, results, strict=True) if r is None]
    fresh = _run([(c, limits) for c in misses], workers)
    read = models = 0
    for candidate, cached in zip(candidates, results, strict=True):
        if cached is None:
            result = next(fresh)
            read += 1
            if cache is not None:
                cache.put(candidate, limits, result)
        else:
            result = cached
        models += len(result[0])
        problems += len(result[1])
        if progress is not None and cached is None:
            progress(ScanProgress(False, len(candidates), len(misses), read, models, problems))
        yield result


def _wanted(paths: tuple[str | os.PathLike[str], ...]) -> dict[str, set[str]]:
    """Model folder -> the names of the local files given by name in it (as the walk decides)."""
    wanted: dict[str, set[str]] = {}
    for path in paths:
        if not sources.is_remote(path) and os.path.exists(path) and not os.path.isdir(path):
            wanted.setdefault(os.path.dirname(os.fspath(path)) or os.curdir, set()).add(os.path.basename(path))
    return wanted


def _scan(
    paths: tuple[str | os.PathLike[str], ...],
    limits: Limits,
    cache: ScanCache | None,
    workers: int,
    progress: ProgressCallback | None = None,
) -> ScanReport:
    fingerprint = memo = None
    if cache is not None and cache.whole_reports:
        fingerprint = tree_fingerprint(paths, limits)
        if fingerprint is not None:
            memo = (tuple(os.path.abspath(p) for p in paths), limits)
            last = cache.last_scan(memo, fingerprint)
            if last is not None and isinstance(last[0], ScanReport):
                report, n_candidates = last[0], last[1]
                if progress is not None:  # one report of where the scan stands: done, nothing read
                    progress(ScanProgress(False, n_candidates, 0, 0, len(report.models), len(report.problems)))
                return report
    problems: list[ModelScanError] = []
    candidates, cached = _discover(paths, limits, cache, problems, progress)
    done = list(
        _read_misses(
            candidates, cached, limits=limits, cache=cache, workers=workers, progress=progress, problems=len(problems)
        )
    )
    found = [m for result in done for m in result[0]]
    problems.extend(p for result in done for p in result[1])
    # Keys count every model of a folder, also when one file was asked for, so they stay stable.
    if cache is None:
        models = _keyed(found)
    else:
        models = cache.keyed((tuple(os.fspath(p) for p in paths), limits), done, lambda: _keyed(found))
    wanted = _wanted(paths)
    if wanted:
        models = [m for m in models if m.folder not in wanted or _holds(m, wanted[m.folder])]
    problems.sort(key=lambda e: (e.path, e.code))
    _log(problems, cache)
    report = ScanReport(list(models), problems)
    if cache is not None and fingerprint is not None and memo is not None and reusable(paths, problems):
        cache.remember_scan(memo, fingerprint, report, len(candidates))
    return report


def tree_fingerprint(paths: Sequence[str | os.PathLike[str]], limits: Limits) -> list[object] | None:
    """The walk's fingerprint of *paths* (``_walk.fingerprint``), taken before a scan so that a
    later equal one proves the scan's report still holds; ``None`` unless every path is a local
    folder and the walk can vouch for the whole tree."""
    if any(sources.is_remote(p) for p in paths):
        return None
    from ._walk import fingerprint  # noqa: PLC0415

    return fingerprint([os.fspath(p) for p in paths], limits)


#: Problems that say more about the moment than about the tree: a walk cut short by its time
#: budget, an I/O error other than a missing file or a permission (EIO, EMFILE, ENOMEM...).
_NOT_REUSED = frozenset({"scan_truncated", "os_error"})


def reusable(paths: Sequence[str | os.PathLike[str]], problems: Sequence[ModelScanError]) -> bool:
    """Whether a scan of *paths* that met *problems* may be reused whole while the tree's
    fingerprint holds: no problem is retryable (a file that changed while it was read), the walk
    was not cut short (its time budget depends on more than the tree), no read or listing failed
    for a passing reason (``os_error``: EIO, EMFILE...), and no root is one Hugging Face repo
    folder, whose links may lead into the cache's shared blob store beside it, out of what the
    fingerprint walks."""
    if any(p.retryable or p.code in _NOT_REUSED for p in problems):
        return False
    return not any(sources.hf_cache.is_repo_folder(os.fspath(p)) for p in paths)


def iter_scan(
    *paths: str | os.PathLike[str],
    limits: Limits = BATCH_LIMITS,
    cache: ScanCache | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[ModelFacts | ModelScanError]:
    """Each model and each problem as soon as it is read, in a stable order for the same tree.

    For pipelines that should start before a long scan ends: the walk's problems come first,
    then each candidate's models and problems in walk order. A model's ``key`` is the one its
    own folder gives it (with ``@<quant>`` among several models of the folder); the
    ``<publisher>/`` prefix that a key shared with another folder's model takes in a full
    listing (:func:`scan_models`) needs every model first, so it is not applied here.
    Raises :class:`UsageError` for a path that cannot be one, like :func:`scan_models`.
    """
    roots = _checked_paths(paths)
    n_workers = _workers(workers)
    problems: list[ModelScanError] = []
    candidates, cached = _discover(roots, limits, cache, problems, progress)
    problems.sort(key=lambda e: (e.path, e.code))
    _log(problems, cache)
    yield from problems
    wanted = _wanted(roots)
    for result in _read_misses(
        candidates, cached, limits=limits, cache=cache, workers=n_workers, progress=progress, problems=len(problems)
    ):
        for model in _keyed(list(result[0])):
            if not wanted or model.folder not in wanted or _holds(model, wanted[model.folder]):
                yield model
        _log(result[1], cache)
        yield from result[1]


def _workers(workers: int | None) -> int:
    n_workers = 1 if workers is None else workers
    if n_workers < 1:
        raise UsageError(f"workers must be at least 1, not {workers}")
    return n_workers


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
    progress: ProgressCallback | None = None,
) -> ScanReport:
    """Scan folders (models roots, publisher or model folders) or single files.

    Never raises for a bad file: every failure is a :class:`ModelScanError` in
    ``report.problems``, and the other models are still listed. Raises :class:`UsageError` for
    a path that cannot be one (not a str or path, a NUL byte, an unencodable character).

    *cache*: a :class:`ScanCache` to reuse the results of unchanged candidates between calls;
    concurrent calls with the same cache, paths and limits share one scan.
    *workers*: processes for reading headers of a cold scan of at least
    ``PARALLEL_MIN_FOLDERS`` candidates; ``None`` or ``1``: none, everything in this thread.
    *progress*: called with a :class:`ScanProgress` after each candidate found and each read
    (from the scanning thread; a callback that raises stops the scan).
    """
    roots = _checked_paths(paths)
    n_workers = _workers(workers)
    if cache is None:
        return _scan(roots, limits, None, n_workers, progress)
    key = (tuple(p if sources.is_remote(p) else os.path.abspath(p) for p in roots), limits, n_workers)
    report = cache.shared(key, lambda: _scan(roots, limits, cache, n_workers, progress))
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
