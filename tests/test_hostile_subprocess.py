"""Process guards (HOSTILE.md 5.5): the whole catalogue through the public readers in a child
process, under ``RLIMIT_AS`` and a CPU-time limit, with time and memory measured per entry.

An in-process test cannot survive a hang, a crash or an out-of-memory kill, so the files are
written here and read in a child that reports one JSON line per entry. The test fails on a hang,
a crash (negative return code), any exception that is not a :class:`ModelScanError`, an outcome
other than the entry's, or more than 64 MB of extra memory for any entry (``tracemalloc`` peak in
a second pass; ``ru_maxrss`` growth is recorded too).

A hang is judged by CPU time, never by the wall clock (a busy machine slows every entry alike):
before each entry the child lowers its soft ``RLIMIT_CPU`` to the CPU time used so far plus
:data:`ENTRY_CPU_SECONDS`, and an entry that reaches it gets ``SIGXCPU``, caught and reported as
``HANG``. The costliest entry (C-14 under ``tracemalloc``) needs about 9 CPU-seconds, so the
allowance is more than ten times what any working entry uses. The whole child has :data:`TOTAL_CPU_SECONDS`;
:func:`helpers.run_python` kills it after half an hour only if it is blocked without using CPU.

The per-entry milliseconds, CPU-seconds and bytes are written to ``hostile_guard.json`` under
pytest's temporary folder (and to ``$MODELSCAN_GUARD_REPORT`` when set) so they can be quoted;
no test asserts on them.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import IS_ROOT, run_python
from hostile_catalogue import ENTRIES, Entry, remove_tree

MEMORY_BUDGET = 64 << 20  # extra bytes any one entry may cost
ADDRESS_SPACE = 2 << 30  # RLIMIT_AS of the child: a runaway allocation fails there, not on the host
ENTRY_CPU_SECONDS = 120  # CPU-seconds one entry may use before it is a hang (the costliest: ~9, traced)
TOTAL_CPU_SECONDS = 1200  # CPU-seconds for the whole child, both passes (about 12 are used)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="resource.setrlimit and SIGXCPU are POSIX")

CHILD = r"""
import gc, json, math, os, resource, signal, sys, time, traceback, tracemalloc
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
import modelscan
from modelscan import BATCH_LIMITS, SERVER_LIMITS, ModelScanError
from modelscan._fs import read_small_file
from modelscan._json import parse_json
from modelscan.safetensors import read_safetensors_header

class Hang(BaseException):
    pass

def over_cpu(signum, frame):
    raise Hang()

signal.signal(signal.SIGXCPU, over_cpu)
plan = json.load(open(sys.argv[1]))
entry_cpu = int(sys.argv[3])
whole_soft, whole_hard = resource.getrlimit(resource.RLIMIT_CPU)  # the whole child's, from the parent

def cpu_used():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

def arm():
    # SIGXCPU once this entry has used entry_cpu CPU-seconds (whole seconds: the limit's unit).
    soft = math.ceil(cpu_used()) + entry_cpu
    if whole_soft != resource.RLIM_INFINITY:
        soft = min(soft, whole_soft)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, whole_hard))

def disarm():
    resource.setrlimit(resource.RLIMIT_CPU, (whole_soft, whole_hard))

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
    out = {"id": case["id"]}
    c0 = cpu_used()
    t0 = time.perf_counter()
    arm()
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
        disarm()
    out["ms"] = (time.perf_counter() - t0) * 1000  # reported, never judged
    out["cpu_s"] = cpu_used() - c0
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


@pytest.fixture(scope="module")
def guard_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[dict[str, Any]], Path]]:
    base = tmp_path_factory.mktemp("guard")
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
    proc = run_python(
        "-c",
        CHILD,
        str(plan_path),
        str(ADDRESS_SPACE),
        str(ENTRY_CPU_SECONDS),
        text=True,
        cpu_seconds=TOTAL_CPU_SECONDS,
    )
    stdout, returncode, stderr = proc.stdout, proc.returncode, proc.stderr
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


def test_every_entry_under_rlimit_and_cpu_limit(guard_run: tuple[list[dict[str, Any]], Path]) -> None:
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
    # The figures are written down to be quoted, never judged: only their presence is checked.
    records, _ = guard_run
    timed = {r["id"]: r for r in records if not r["trace"]}
    traced = {r["id"]: r for r in records if r["trace"]}
    report = {
        i: {
            "ms": round(float(timed[i]["ms"]), 3),
            "cpu_s": round(float(timed[i]["cpu_s"]), 4),
            "cpu_s_traced": round(float(traced[i]["cpu_s"]), 4),
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
    peaks = [int(v["peak_bytes"]) for v in report.values()]
    biggest = max(report, key=lambda i: int(report[i]["peak_bytes"]))
    with capsys.disabled():
        print(
            f"\nhostile guard: {len(report)} entries; peak median {statistics.median(peaks) / 1024:.0f} KiB, "
            f"max {max(peaks) / 1048576:.1f} MiB ({biggest}); times and details in {tmp_path / 'hostile_guard.json'}"
        )
    assert set(report) == {e.id for e in GUARDED}
