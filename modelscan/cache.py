"""``ScanCache``: per-candidate results reused while their files keep their identity.

For servers that list models on every request: a scan with a cache walks the roots (which is
cheap), and reads and derives only the candidates whose ``signature`` (every file's path,
device, inode, size and mtime, from the walk's one ``stat`` of each) changed since the cache
last saw them. A result holding a retryable problem (a file that changed while it was read) is
never kept: the next scan reads it again.

The cache is safe to share between threads, and concurrent scans of the same roots with the
same options coalesce: while one thread scans, the others wait for its report instead of
scanning too. It is not shared between processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from .errors import ModelScanError
from .facts import ModelFacts
from .limits import Limits

if TYPE_CHECKING:
    from .candidates import Candidate

__all__ = ["ScanCache"]

T = TypeVar("T")

#: What reading and deriving one candidate gave.
Result = tuple[tuple[ModelFacts, ...], tuple[ModelScanError, ...]]


class _Flight(Generic[T]):
    """One scan under way, that other threads asking for the same may wait for."""

    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class ScanCache:
    """Results per candidate, reused while no file of the candidate changed.

    Pass the same object to every :func:`modelscan.scan_models` (or ``list_models``) call.
    ``hits`` and ``misses`` count candidates found and not found since the cache was made.
    With *whole_reports* (the default), the last report of each set of roots is also kept with
    the tree's fingerprint taken before that scan, and returned again while a lean walk (one
    ``scandir`` per folder, one ``stat`` per file) finds every folder and file as it was.
    """

    def __init__(self, *, whole_reports: bool = True) -> None:
        #: Whether a scan keeps its report with the tree's fingerprint, reused whole while a lean
        #: walk finds the tree unchanged (:meth:`last_scan`); a caller that scans each set of
        #: roots once (the command line) spares the fingerprint walk by passing ``False``.
        self.whole_reports = whole_reports
        self._lock = threading.Lock()
        # key -> [signature, result (or its stored form, decoded on first use), last use]
        self._results: dict[tuple[object, ...], list[Any]] = {}
        self._decode: Callable[[object], Result | None] | None = None
        self._clock = 0
        self._flights: dict[Hashable, _Flight[object]] = {}
        self._logged: set[tuple[str, str, str]] = set()
        # roots -> (the results of the last scan of them, its keyed models)
        self._keyed: dict[Hashable, tuple[list[Result], list[ModelFacts]]] = {}
        # roots -> (the walk's fingerprint before the last scan of them, its report, its candidates)
        self._scans: dict[Hashable, tuple[list[object], object, int]] = {}
        self.hits = 0
        self.misses = 0
        #: Whether a result was added or dropped since the cache was made (or loaded).
        self.changed = False

    def __len__(self) -> int:
        return len(self._results)

    def clear(self) -> None:
        """Forget every result."""
        with self._lock:
            self._results.clear()
            self._logged.clear()
            self._keyed.clear()
            self._scans.clear()
            self.changed = True

    @staticmethod
    def _key(candidate: Candidate, limits: Limits) -> tuple[object, ...]:
        return (candidate.format, candidate.origin.folder, limits)

    def get(self, candidate: Candidate, limits: Limits) -> Result | None:
        """The result kept for *candidate*, if none of its files changed since."""
        key = self._key(candidate, limits)
        with self._lock:
            entry = self._results.get(key)
            if entry is not None and entry[0] == candidate.signature:
                result = entry[1]
                if not isinstance(result, tuple):  # loaded from a file: decoded on first use
                    result = self._decode(result) if self._decode is not None else None
                    entry[1] = result
                if result is not None:
                    self._clock += 1
                    entry[2] = self._clock
                    self.hits += 1
                    return cast(Result, result)
                del self._results[key]
                self.changed = True
            self.misses += 1
            return None

    def put(self, candidate: Candidate, limits: Limits, result: Result) -> None:
        """Keep *result* for *candidate*, unless it holds a retryable problem."""
        if any(p.retryable for p in result[1]):
            return
        with self._lock:
            self._clock += 1
            self._results[self._key(candidate, limits)] = [candidate.signature, result, self._clock]
            self.changed = True

    def restore(
        self,
        entries: Iterable[tuple[tuple[object, ...], tuple[object, ...], object]],
        decode: Callable[[object], Result | None],
    ) -> None:
        """Add ``(key, signature, stored result)`` entries read from a file (``modelscan.store``);
        each stored result is decoded by *decode* when a scan first asks for it."""
        with self._lock:
            self._decode = decode
            for key, signature, stored in entries:
                self._results.setdefault(key, [signature, stored, 0])

    def entries(self, limit: int) -> list[tuple[tuple[object, ...], tuple[object, ...], object]]:
        """At most *limit* ``(key, signature, result or stored form)`` entries, most recently used first."""
        with self._lock:
            ranked = sorted(self._results.items(), key=lambda kv: -kv[1][2])[:limit]
            return [(key, entry[0], entry[1]) for key, entry in ranked]

    def keyed(self, roots: Hashable, results: list[Result], assign: Callable[[], list[ModelFacts]]) -> list[ModelFacts]:
        """The keyed models of a scan of *roots* that gave *results*: ``assign()``, unless the last
        scan of the same roots gave these very results (every candidate a hit), whose keys then
        still hold. Keys depend on every model at once, so a warm rescan of an unchanged tree
        would otherwise redo them all."""
        with self._lock:
            last = self._keyed.get(roots)
        if (
            last is not None
            and len(last[0]) == len(results)
            and all(a is b for a, b in zip(last[0], results, strict=True))
        ):
            return last[1]
        models = assign()
        with self._lock:
            if len(self._keyed) >= 64:  # a server scans a few sets of roots, not thousands
                self._keyed.clear()
            self._keyed[roots] = (results, models)
        return models

    def last_scan(self, roots: Hashable, fingerprint: list[object]) -> tuple[object, int] | None:
        """The report of the last scan of *roots* and its number of candidates, if the tree's
        *fingerprint* (``_walk.fingerprint``) is the one taken before that scan: nothing a walk
        would see has changed since, so every candidate would be a hit and every key the same.
        Counts as one hit per candidate."""
        with self._lock:
            last = self._scans.get(roots)
            if last is None or last[0] != fingerprint:
                return None
            self.hits += last[2]
            return last[1], last[2]

    def remember_scan(self, roots: Hashable, fingerprint: list[object], report: object, candidates: int) -> None:
        """Keep *report*, the scan of *roots* that followed the *fingerprint* taken before it."""
        with self._lock:
            if len(self._scans) >= 16:  # each holds a whole tree's fingerprint: a few roots, not thousands
                self._scans.clear()
            self._scans[roots] = (fingerprint, report, candidates)

    def first_seen(self, problem: ModelScanError) -> bool:
        """Whether *problem* is new to this cache (so that it is logged once, not every rescan)."""
        ident = (problem.path, problem.code, problem.detail)
        with self._lock:
            if ident in self._logged:
                return False
            if len(self._logged) >= 100_000:  # bounded: forget rather than grow without end
                self._logged.clear()
            self._logged.add(ident)
            return True

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, or the result of the call already under way for an equal *key*.

        N threads asking at once cause one computation; all get its result (or its exception).
        """
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return cast(T, flight.result)
        try:
            result = compute()
            flight.result = result
            return result
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
