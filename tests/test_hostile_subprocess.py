"""Process guards (HOSTILE.md 5.5): the whole catalogue through the public readers in a child
process, under ``RLIMIT_AS`` and a timeout, with time and memory measured per entry.

An in-process test cannot survive a hang, a crash or an out-of-memory kill, so the files are
written here and read in a child that reports one JSON line per entry. The test fails on a hang
(the child's per-entry alarm, or the parent's timeout), a crash (negative return code), any
exception that is not a :class:`ModelScanError`, an outcome other than the entry's, or more than
64 MB of extra memory for any entry (``tracemalloc`` peak in a second pass; ``ru_maxrss`` growth
is recorded too). The per-entry milliseconds and bytes are written to ``hostile_guard.json``
under pytest's temporary folder (and to ``$MODELSCAN_GUARD_REPORT`` when set) so they can be
quoted; ``pytest -s`` prints a summary.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_catalogue import ENTRIES, Entry, remove_tree

ROOT = Path(__file__).resolve().parent.parent
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

MEMORY_BUDGET = 64 << 20  # extra bytes any one entry may cost
ADDRESS_SPACE = 2 << 30  # RLIMIT_AS of the child: a runaway allocation fails there, not on the host
ENTRY_ALARM = 20  # seconds one entry may take before the child calls it a hang
TOTAL_TIMEOUT = 300

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="resource.setrlimit and SIGALRM are POSIX")

CHILD = r"""
import gc, json, os, resource, signal, sys, time, traceback, tracemalloc
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
import modelscan
from modelscan import BATCH_LIMITS, SERVER_LIMITS, ModelScanError
from modelscan._fs import read_small_file
from modelscan._json import parse_json
from modelscan.safetensors import read_safetensors_header

class Hang(BaseException):
    pass

def alarm(signum, frame):
    raise Hang()

signal.signal(signal.SIGALRM, alarm)
plan = json.load(open(sys.argv[1]))
entry_alarm = int(sys.argv[3])

def run(case):
    limits = SERVER_LIMITS if case["limits"] == "server" else BATCH_LIMITS
    path = case["path"]
    if case["reader"] == "gguf":
        return modelscan.read_gguf_header(path, limits=limits)
    if case["reader"] == "safetensors":
        return read_safetensors_header(path, limits=limits)
    if case["reader"] == "json":
        data = read_small_file(path, limits.index_json_bytes, "index_json_bytes")
        return parse_json(data, source=path, what=os.path.basename(path), limits=limits)
    return modelscan.scan_models(path, limits=limits, workers=1)

def once(case, trace):
    gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if trace:
        tracemalloc.start()
    signal.alarm(entry_alarm)
    t0 = time.perf_counter()
    out = {"id": case["id"]}
    try:
        result = run(case)
        out["outcome"] = "ok"
        if isinstance(result, modelscan.ScanReport):
            out["problems"] = sorted(p.code for p in result.problems)
            out["models"] = len(result.models)
    except ModelScanError as err:
        out["outcome"] = type(err).__name__
        out["code"] = err.code
    except Hang:
        out["outcome"] = "HANG"
    except BaseException as err:  # the failure being looked for: reported, never swallowed
        out["outcome"] = "CRASH"
        out["error"] = repr(err)[:500]
        out["traceback"] = traceback.format_exc()[-3000:]
    finally:
        signal.alarm(0)
    out["ms"] = (time.perf_counter() - t0) * 1000
    if trace:
        out["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    out["rss_growth"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    return out

for trace in (False, True):
    for case in plan:
        print(json.dumps({"start": case["id"], "trace": trace}), flush=True)
        print(json.dumps({**once(case, trace), "trace": trace}), flush=True)
print(json.dumps({"done": True}), flush=True)
"""


def _reader(entry: Entry) -> str:
    if entry.target is None or entry.kind in ("folder",) or (entry.kind == "json" and entry.ref != "P-04"):
        return "scan"
    if entry.target.endswith(".gguf"):
        return "gguf"
    if entry.target.endswith(".safetensors"):
        return "safetensors"
    return "json"


def _expected(entry: Entry, reader: str) -> str:
    if reader == "scan":
        return "ok"  # a folder scan never raises; what it reports is tested in test_hostile_scan.py
    return entry.cls.__name__ if entry.outcome == "fatal" and entry.cls else "ok"


GUARDED = [e for e in ENTRIES if not e.dynamic and (IS_ROOT or not e.posix_root)]


def _workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RAM-backed folder when there is one: the guard writes about 300 MB of big entries, and on a
    disk mounted with ``discard`` deleting them costs seconds."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="modelscan-guard-", dir=shm))
    return tmp_path_factory.mktemp("guard")


@pytest.fixture(scope="module")
def guard_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[dict[str, Any]], Path]]:
    base = _workspace(tmp_path_factory)
    try:
        yield _guard(base)
    finally:
        remove_tree(base)


def _guard(base: Path) -> tuple[list[dict[str, Any]], Path]:
    plan = []
    for e in GUARDED:
        folder = base / "entries" / e.id
        target = e.write(folder)
        reader = _reader(e)
        plan.append(
            {
                "id": e.id,
                "reader": reader,
                "limits": e.limits,
                "path": str(target if reader != "scan" else folder),
                "expected": _expected(e, reader),
            }
        )
    plan_path = base / "plan.json"
    plan_path.write_text(json.dumps(plan))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(plan_path), str(ADDRESS_SPACE), str(ENTRY_ALARM)],
            check=False,
            capture_output=True,
            text=True,
            timeout=TOTAL_TIMEOUT,
            env=env,
            cwd=ROOT,
        )
        stdout, returncode, stderr = proc.stdout, proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        started = [json.loads(line) for line in out.splitlines() if '"start"' in line]
        pytest.fail(f"the child hung (timeout {TOTAL_TIMEOUT} s) in entry {started[-1] if started else '?'}")
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert returncode == 0, (
        f"child died with {returncode} (negative: a signal) during "
        f"{[x for x in lines if 'start' in x][-1:] if lines else '?'}: {stderr[-3000:]}"
    )
    assert lines and lines[-1] == {"done": True}, stderr[-3000:]
    records = [x for x in lines if "outcome" in x]
    for case in plan:
        for r in records:
            if r["id"] == case["id"]:
                r["expected"] = case["expected"]
                r["reader"] = case["reader"]
    return records, base


def test_every_entry_under_rlimit_and_timeout(guard_run: tuple[list[dict[str, Any]], Path]) -> None:
    records, _ = guard_run
    assert {r["id"] for r in records} == {e.id for e in GUARDED}
    bad = [r for r in records if r["outcome"] in ("CRASH", "HANG")]
    assert not bad, json.dumps(bad, indent=1)[:5000]
    wrong = [(r["id"], r["outcome"], r["expected"]) for r in records if r["outcome"] != r["expected"]]
    assert not wrong


#: Benign large inputs (7.5) parse whole, at Python's amplification of JSON (about 8.5x,
#: HOSTILE.md 2.3): their budget grows with their size. Every other entry gets MEMORY_BUDGET.
PERF_AMPLIFICATION = 10

#: Entries known to exceed the budget, each with the reason (strict xfail: fixing one fails
#: the test until the mark is removed).
OVER_BUDGET: dict[str, str] = {}


def _budget(entry: Entry, base: Path) -> int:
    if entry.kind != "perf":
        return MEMORY_BUDGET
    size = sum(p.stat().st_size for p in (base / "entries" / entry.id).rglob("*") if p.is_file())
    return MEMORY_BUDGET + PERF_AMPLIFICATION * size


def _marks(entry: Entry) -> list[pytest.MarkDecorator]:
    return [pytest.mark.xfail(reason=OVER_BUDGET[entry.id], strict=True)] if entry.id in OVER_BUDGET else []


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.id, marks=_marks(e)) for e in GUARDED])
def test_memory_per_entry(entry: Entry, guard_run: tuple[list[dict[str, Any]], Path]) -> None:
    records, base = guard_run
    (record,) = [r for r in records if r["trace"] and r["id"] == entry.id]
    assert int(record["peak"]) <= _budget(entry, base), record


def test_report_times_and_memory(
    guard_run: tuple[list[dict[str, Any]], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records, _ = guard_run
    timed = {r["id"]: r for r in records if not r["trace"]}
    traced = {r["id"]: r for r in records if r["trace"]}
    report = {
        i: {
            "ms": round(float(timed[i]["ms"]), 3),
            "peak_bytes": traced[i]["peak"],
            "rss_growth_bytes": timed[i]["rss_growth"],
            "outcome": timed[i]["outcome"],
            "reader": timed[i]["reader"],
        }
        for i in timed
    }
    out = json.dumps(report, indent=1, sort_keys=True)
    (tmp_path / "hostile_guard.json").write_text(out)
    if os.environ.get("MODELSCAN_GUARD_REPORT"):
        Path(os.environ["MODELSCAN_GUARD_REPORT"]).write_text(out)
    ms = [v["ms"] for v in report.values()]
    peaks = [int(v["peak_bytes"]) for v in report.values()]
    slowest = max(report, key=lambda i: float(report[i]["ms"]))
    biggest = max(report, key=lambda i: int(report[i]["peak_bytes"]))
    with capsys.disabled():
        print(
            f"\nhostile guard: {len(report)} entries; ms median {statistics.median(ms):.2f}, "
            f"max {max(ms):.1f} ({slowest}); peak median {statistics.median(peaks) / 1024:.0f} KiB, "
            f"max {max(peaks) / 1048576:.1f} MiB ({biggest}); details in {tmp_path / 'hostile_guard.json'}"
        )
    assert len(report) == len(GUARDED)
