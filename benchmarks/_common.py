"""Shared helpers of the benchmark scripts: timing, memory, bytes read, child processes, tables.

Measurement rules (the machine is shared and noisy):

- Fast methods are timed *interleaved*: every round runs each method once, in a rotating order,
  so a noisy second hurts all of them alike. A ratio between two of them is the median over the
  rounds of the per-round ratio (both measured back to back), not a ratio of two medians taken
  at different times.
- Peak memory of in-process Python is ``tracemalloc``'s peak for one call, measured in a separate
  call (tracemalloc slows the call down, so it is never timed). As a cross-check, and for Node,
  a fresh child process runs the method once and its ``ru_maxrss`` is read with ``os.wait4``.
- Bytes read are ``rchar`` deltas of ``/proc/<pid>/io`` (every byte returned by ``read()``-like
  system calls, whatever the page cache holds), corrected for the read of ``/proc/self/io``
  itself. Pages reached through ``mmap`` are not in ``rchar``; for those the child's ``RssFile``
  delta (file pages mapped into its memory) is given instead.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
NODE_DIR = BENCH_DIR / ".node"
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = sys.executable


#: Source of ``bare_walk(root)``, for child interpreters: ``os.scandir`` every folder (no link
#: followed) and ``stat`` every other entry; the number of entries stat()ed. The least any rescan
#: of a tree must do, the baseline of the warm-rescan benchmarks.
BARE_WALK = """
import os

def bare_walk(root):
    n = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    e.stat(follow_symlinks=False)
                    n += 1
    return n
"""


def use_working_tree() -> None:
    """Import ``modelscan`` from this checkout (it need not be installed)."""
    root = str(ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)


#: Where child interpreters keep bytecode (outside the checkout), so that they import modelscan as
#: an installed package would, from cached bytecode, even where PYTHONDONTWRITEBYTECODE is set.
PYCACHE_PREFIX = Path(tempfile.gettempdir()) / f"modelscan-bench-pycache-{os.getuid() if hasattr(os, 'getuid') else 0}"


def child_env(*, bytecode_cache: bool = True) -> dict[str, str]:
    """The environment for child interpreters: this checkout first on ``sys.path``; bytecode cached
    under :data:`PYCACHE_PREFIX` (or, with *bytecode_cache* False, never written: every import
    compiles the sources, as under ``PYTHONDONTWRITEBYTECODE=1``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONTRACEMALLOC", None)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE_PREFIX)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


# --- /proc ---------------------------------------------------------------------------------------


def read_proc_io(pid: int | str = "self") -> dict[str, int] | None:
    """``/proc/<pid>/io`` as a dict (``rchar``, ``read_bytes``, ``syscr``...), or None."""
    try:
        with open(f"/proc/{pid}/io", "rb", buffering=0) as f:
            text = f.read(4096).decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = int(value)
    return out


def _io_overhead() -> int:
    """rchar counted by one ``read_proc_io`` call itself (the text of /proc/self/io)."""
    samples = []
    for _ in range(5):
        a = read_proc_io()
        b = read_proc_io()
        if a is None or b is None:
            return 0
        samples.append(b["rchar"] - a["rchar"])
    return min(samples)


_IO_OVERHEAD: list[int] = []  # measured once, on first use


def rchar_of(fn: Callable[[], object]) -> int | None:
    """Bytes returned by read()-like system calls while *fn* runs (this process and reaped children)."""
    if not _IO_OVERHEAD:
        _IO_OVERHEAD.append(_io_overhead())
    before = read_proc_io()
    if before is None:
        return None
    fn()
    after = read_proc_io()
    assert after is not None
    return max(0, after["rchar"] - before["rchar"] - _IO_OVERHEAD[0])


def proc_status_kb(*keys: str) -> dict[str, int]:
    """Fields of ``/proc/self/status`` in kB (``VmRSS``, ``VmHWM``, ``RssFile``, ``RssAnon``)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in keys:
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def drop_page_cache() -> bool:
    """Write back and drop the page cache, dentries and inodes (needs root); True if it worked."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


# --- timing --------------------------------------------------------------------------------------


def time_call(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def time_interleaved(
    methods: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each method over *rounds* rounds, methods interleaved in rotating order."""
    names = list(methods)
    for _ in range(warmup):
        for name in names:
            methods[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        gc.collect()
        for name in order:
            times[name].append(time_call(methods[name]))
    return times


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median over rounds of a[i] / b[i] (both measured in the same round)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True) if y > 0)


def tracemalloc_peak(fn: Callable[[], object]) -> int:
    """Peak bytes allocated (as tracemalloc sees it) during one call of *fn*, result included."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
        del result
    finally:
        tracemalloc.stop()
    return peak


# --- child processes -----------------------------------------------------------------------------


# A tiny launcher between us and the measured child. ru_maxrss counts the memory image a process
# had *before* exec (Linux keeps the high-water mark of the old mm), so a child forked straight
# from this big benchmark process would report our RSS. The launcher is a bare interpreter
# (python -I -S, about 10 MB); it forks the child, reaps it with wait4 and prints its rusage.
_LAUNCHER = (
    "import json, os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    try:\n"
    "        os.execv(sys.argv[1], sys.argv[1:])\n"
    "    finally:\n"
    "        os._exit(127)\n"
    "_, status, ru = os.wait4(pid, 0)\n"
    "sys.stdout.flush()\n"
    "print(json.dumps({'__launcher__': True, 'maxrss_kb': ru.ru_maxrss, 'exit': os.waitstatus_to_exitcode(status)}))\n"
)


def run_child_rusage(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Run *argv* (argv[0] an absolute path) in a fresh process; return its stdout, stderr, exit
    code, wall time (including interpreter start-up) and its own ``ru_maxrss`` in kB."""
    t0 = time.perf_counter()
    res = subprocess.run(
        [PYTHON, "-I", "-S", "-c", _LAUNCHER, *argv],
        capture_output=True,
        check=False,
        env=dict(env) if env else None,
        cwd=cwd,
        timeout=timeout,
    )
    wall = time.perf_counter() - t0
    out = res.stdout.decode(errors="replace")
    lines = out.rstrip("\n").split("\n")
    info = json.loads(lines[-1]) if lines and lines[-1].startswith('{"__launcher__"') else {}
    return {
        "returncode": info.get("exit", res.returncode),
        "stdout": "\n".join(lines[:-1]) if info else out,
        "stderr": res.stderr.decode(errors="replace"),
        "wall_s": wall,
        "maxrss_kb": info.get("maxrss_kb"),
    }


def run_timed(argv: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[float, float]:
    """Run *argv* with output discarded; return (wall seconds, CPU seconds user + system).

    CPU time is taken from the child's own rusage (wait4), so other load on the machine hardly
    moves it, unlike the wall time.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(env) if env else None
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, list(argv))
    return wall, usage.ru_utime + usage.ru_stime


def child_memory(maxrss_kb: int | None, hwm_kb: int | None, rss_before_kb: int | None) -> dict[str, Any]:
    """Peak RSS of a child (the larger of wait4's ru_maxrss and its own final VmHWM) and the growth
    over its RSS just before the measured call, as method_row keywords."""
    peaks = [x for x in (maxrss_kb, hwm_kb) if x is not None]
    if not peaks:
        return {}
    peak = max(peaks)
    delta = max(0, peak - rss_before_kb) if rss_before_kb is not None else None
    return {"child_maxrss_kb": peak, "child_rss_delta_kb": delta}


def last_json_line(text: str) -> dict[str, Any]:
    """The last line of *text* that parses as a JSON object (children print one)."""
    for raw in reversed(text.strip().splitlines()):
        line = raw.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj
    raise ValueError(f"no JSON object in child output: {text[-500:]!r}")


# --- the machine and the code --------------------------------------------------------------------


def modelscan_version() -> str:
    """Which modelscan was measured: the git commit, the modified files under modelscan/, and a
    hash of the package's sources (the working tree may differ from any commit)."""
    import hashlib  # noqa: PLC0415 - only run_all asks for it

    digest = hashlib.sha256()
    for path in sorted((ROOT / "modelscan").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    head, dirty = "unknown", ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            ).stdout.strip()
            or "unknown"
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "modelscan"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.split("\n")
        changed = sorted(line[3:] for line in status if line.strip())
        dirty = f" + {len(changed)} changed file(s): {', '.join(changed)}" if changed else ""
    return f"commit {head}{dirty}; sources sha256 {digest.hexdigest()[:12]}"


def node_binary() -> str | None:
    return shutil.which("node")


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
    with contextlib.suppress(OSError):
        info["loadavg_at_start"] = os.getloadavg()
    node = node_binary()
    if node:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=False)
            info["node"] = version.stdout.strip()
    return info


# --- output --------------------------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def fmt_ratio(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x >= 100:
        return f"{x:,.0f}x"
    if x >= 10:
        return f"{x:.1f}x"
    return f"{x:.2f}x"


def render_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table with aligned columns."""
    body = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(out)


ROW_HEADERS = (
    "case",
    "method",
    "median",
    "min",
    "runs",
    "peak alloc",
    "child RSS (delta)",
    "bytes read",
    "x modelscan",
)


def method_row(
    case: str,
    method: str,
    times: Sequence[float] | None = None,
    *,
    peak: int | None = None,
    child_maxrss_kb: int | None = None,
    child_rss_delta_kb: int | None = None,
    bytes_read: int | None = None,
    bytes_note: str | None = None,
    vs_modelscan: float | None = None,
    error: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One measured method, as stored in the JSON output."""
    times = list(times or [])
    row: dict[str, Any] = {
        "case": case,
        "method": method,
        "median_s": median(times) if times else None,
        "min_s": min(times) if times else None,
        "runs": len(times),
        "times_s": times,
        "tracemalloc_peak_bytes": peak,
        "child_maxrss_kb": child_maxrss_kb,
        "child_rss_delta_kb": child_rss_delta_kb,
        "bytes_read": bytes_read,
        "bytes_note": bytes_note,
        "vs_modelscan": vs_modelscan,
        "error": error,
    }
    row.update(extra)
    return row


def row_cells(row: Mapping[str, Any]) -> list[str]:
    if row.get("error"):
        return [row["case"], row["method"], "error: " + str(row["error"])[:90], "", "", "", "", "", ""]
    rss = "-"
    if row.get("child_maxrss_kb") is not None:
        rss = fmt_bytes(row["child_maxrss_kb"] * 1024)
        if row.get("child_rss_delta_kb") is not None:
            rss += f" (+{fmt_bytes(row['child_rss_delta_kb'] * 1024)})"
    read = fmt_bytes(row.get("bytes_read"))
    if row.get("bytes_note"):
        read += f" [{row['bytes_note']}]"
    return [
        row["case"],
        row["method"],
        fmt_time(row.get("median_s")),
        fmt_time(row.get("min_s")),
        str(row.get("runs") or "-"),
        fmt_bytes(row.get("tracemalloc_peak_bytes")),
        rss,
        read,
        fmt_ratio(row.get("vs_modelscan")),
    ]


def ratio_entry(
    name: str, value: float | None, target: str | None = None, met: bool | None = None, how: str = ""
) -> dict[str, Any]:
    return {"name": name, "value": value, "target": target, "met": met, "how": how}


def render_result(result: Mapping[str, Any]) -> str:
    """The readable report of one benchmark's result dict."""
    out = [f"== {result['benchmark']} ==" + ("  (quick)" if result.get("quick") else "")]
    for key, value in result.get("inputs", {}).items():
        out.append(f"  {key}: {value}")
    rows = result.get("rows", [])
    if rows:
        headers = result.get("row_headers", ROW_HEADERS)
        cells = result.get("row_cells_fn", row_cells)
        out.append("")
        out.append(render_table(headers, [cells(r) for r in rows]))
    for table in result.get("tables", []):
        out.append("")
        out.append(table["title"])
        out.append(render_table(table["headers"], table["rows"]))
    if result.get("ratios"):
        out.append("")
        out.append(
            render_table(
                ("ratio", "value", "target", "met", "how"),
                [
                    (
                        r["name"],
                        fmt_ratio(r["value"]),
                        r.get("target") or "-",
                        {True: "yes", False: "NO", None: "-"}[r.get("met")],
                        r.get("how", ""),
                    )
                    for r in result["ratios"]
                ],
            )
        )
    if result.get("checks"):
        out.append("")
        for c in result["checks"]:
            detail = f": {c['detail']}" if c.get("detail") else ""
            out.append(f"  check {'ok  ' if c['ok'] else 'FAIL'} {c['name']}{detail}")
    for note in result.get("notes", []):
        out.append(f"  note: {note}")
    return "\n".join(out)


def jsonable(obj: Any) -> Any:
    """Drop callables and make floats JSON-safe (NaN -> None)."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items() if not callable(v)}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(obj), indent=2) + "\n")


def check(name: str, ok: bool, detail: str = "") -> dict[str, Any]:
    return {"name": name, "ok": bool(ok), "detail": detail}


def finish(result: dict[str, Any], json_out: str | None, *, quiet: bool = False) -> dict[str, Any]:
    """Print the report and write the JSON (when asked); return the result."""
    if not quiet:
        print(render_result(result), flush=True)
    if json_out:
        write_json(json_out, result)
    return result
