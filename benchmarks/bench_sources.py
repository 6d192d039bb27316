"""A Hugging Face hub cache of 500 small model repos: modelscan against huggingface_hub.

    python benchmarks/bench_sources.py                 # 500 repos, 7 rounds
    python benchmarks/bench_sources.py --repos 20 --rounds 1 --rescans 2   # smoke test

The cache is laid out as huggingface_hub writes it: ``models--<org>--<name>/refs/main``,
``snapshots/<commit>/`` with relative links to ``blobs/<etag>``, one GGUF file per repo (llama,
4 layers, a 2,048-token vocabulary, 44 tensors; the file extended sparsely to the size its tensors
declare) and a README. Measured in the same run, methods interleaved round by round:

- ``modelscan --no-cache <cache>``: the command, end to end in a fresh process (interpreter
  start, import, walk, every GGUF header read and parsed, JSON written), with its default
  workers and with ``--workers 1``;
- ``modelscan <cache>`` run again: the command's on-disk cache (under a temporary
  ``XDG_CACHE_HOME``) spares it every header of the unchanged cache;
- ``scan_cache_dir(<cache>)``: huggingface_hub's cache scan in a fresh process (``python -c``:
  start, import, scan), which stats the files and reads no header;
- the calls alone, inside those processes (each child prints the time of its call), to tell the
  scans apart from interpreter start-up and imports;
- warm rescans: one process scans with a ``ScanCache``, then rescans the unchanged cache with the
  same cache (median of ``--rescans``), against the first, cold scan of that process and against
  a bare ``os.scandir`` walk with a ``stat`` of each entry (the least any rescan must do).

Ratios are medians of per-round ratios (both measured in the same round). The goals (issue 10):
modelscan at most 1.0x ``scan_cache_dir``'s time; a warm rescan at least 20x faster than cold.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common
from bench_tree import gguf_file, llama_kvs, llama_tensors

README = b"---\nlicense: apache-2.0\n---\n# A small model\n"


def generate_cache(cache: Path, repos: int) -> dict[str, Any]:
    """*repos* model repos as huggingface_hub lays them out; returns what was written."""
    header, size = gguf_file(
        llama_kvs("Bench", vocab=2048, layers=4, width=256, ffn=512), llama_tensors(4, 256, 512, 2048)
    )
    cache.mkdir(parents=True)
    (cache / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    for i in range(repos):
        commit = f"{i:040x}"
        repo = cache / f"models--org{i % 50}--model{i}-GGUF"
        snap = repo / "snapshots" / commit
        snap.mkdir(parents=True)
        (repo / "blobs").mkdir()
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(commit)
        etag = f"{i:064x}"
        blob = repo / "blobs" / etag
        # Each repo its own header (the name differs), so every file is its own inode and content.
        body = header.replace(b"Bench", f"B{i:04d}"[:5].encode())
        blob.write_bytes(body)
        with open(blob, "r+b") as f:
            f.truncate(size)
        (snap / f"model{i}-Q4_K_M.gguf").symlink_to(f"../../blobs/{etag}")
        (repo / "blobs" / f"{i:040x}").write_bytes(README)
        (snap / "README.md").symlink_to(f"../../blobs/{i:040x}")
    return {"repos": repos, "gguf_bytes_declared": size, "header_bytes": len(header)}


MODELSCAN_CHILD = """
import sys, time, json, io, contextlib
t0 = time.perf_counter()
from modelscan.cli import main
t1 = time.perf_counter()
out = io.StringIO()
with contextlib.redirect_stdout(out):
    rc = main(sys.argv[1:])
t2 = time.perf_counter()
doc = json.loads(out.getvalue())
print(json.dumps({"import_s": t1 - t0, "call_s": t2 - t1, "models": len(doc["models"]), "rc": rc}))
"""

HUB_CHILD = """
import sys, time, json
t0 = time.perf_counter()
from huggingface_hub import scan_cache_dir
t1 = time.perf_counter()
info = scan_cache_dir(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "call_s": t2 - t1, "repos": len(info.repos)}))
"""

WARM_CHILD = (
    _common.BARE_WALK
    + """
import sys, time, json, statistics
import modelscan

cache = modelscan.ScanCache()
t0 = time.perf_counter()
cold = modelscan.scan_models(sys.argv[1], cache=cache)
cold_s = time.perf_counter() - t0
warm, bare = [], []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    bare_walk(sys.argv[1])
    bare.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    again = modelscan.scan_models(sys.argv[1], cache=cache)
    warm.append(time.perf_counter() - t0)
    assert len(again.models) == len(cold.models)
print(json.dumps({"cold_s": cold_s, "warm_s": statistics.median(warm), "bare_s": statistics.median(bare),
                  "models": len(cold.models), "hits": cache.hits}))
"""
)


def _float(value: object) -> float | None:
    return value if isinstance(value, float) else None


def _child(code: str, *args: str) -> tuple[float, dict[str, Any]]:
    """Wall time of a fresh ``python -c code args`` and the JSON line it prints."""
    t0 = time.perf_counter()
    res = subprocess.run(
        [_common.PYTHON, "-c", code, *args], capture_output=True, text=True, env=_common.child_env(), check=False
    )
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    return wall, json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repos", type=int, default=500)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--rescans", type=int, default=5)
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="modelscan-bench-sources-"))
    xdg = os.environ.get("XDG_CACHE_HOME")
    try:
        cache = tmp / "hub"
        gen = generate_cache(cache, args.repos)
        methods = {
            "modelscan --no-cache": (MODELSCAN_CHILD, str(cache), "--no-cache"),
            "modelscan --no-cache --workers 1": (MODELSCAN_CHILD, str(cache), "--no-cache", "--workers", "1"),
            "modelscan (its on-disk cache, a repeat run)": (MODELSCAN_CHILD, str(cache)),
            "scan_cache_dir": (HUB_CHILD, str(cache)),
        }
        names = list(methods)
        os.environ["XDG_CACHE_HOME"] = str(tmp / "xdg")  # the command line's on-disk cache: ours, not the user's
        _child(*methods["scan_cache_dir"])  # warm-up: bytecode caches, page cache
        _child(*methods["modelscan (its on-disk cache, a repeat run)"])  # also fills the on-disk cache
        wall: dict[str, list[float]] = {n: [] for n in names}
        call: dict[str, list[float]] = {n: [] for n in names}
        seen: dict[str, Any] = {}
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                w, out = _child(*methods[name])
                wall[name].append(w)
                call[name].append(out["call_s"])
                seen[name] = out
        warm_runs = [_child(WARM_CHILD, str(cache), str(args.rescans))[1] for _ in range(max(1, args.rounds // 2))]
    finally:
        if xdg is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = xdg
        shutil.rmtree(tmp, ignore_errors=True)

    base = "scan_cache_dir"
    rows = []
    for name in names:
        rows.append(
            {
                "method": name,
                "process_median_s": statistics.median(wall[name]),
                "call_median_s": statistics.median(call[name]),
                "process_x_scan_cache_dir": _common.paired_ratio(wall[name], wall[base]),
                "call_x_scan_cache_dir": _common.paired_ratio(call[name], call[base]),
            }
        )
    cold = [w["cold_s"] for w in warm_runs]
    warm = [w["warm_s"] for w in warm_runs]
    result = {
        "benchmark": "bench_sources",
        "machine": _common.machine_info(),
        "generated": gen,
        "rounds": args.rounds,
        "rows": rows,
        "listed": {n: seen[n].get("models", seen[n].get("repos")) for n in names},
        "warm": {
            "cold_s": statistics.median(cold),
            "warm_s": statistics.median(warm),
            "speedup": _common.paired_ratio(cold, warm),
            "bare_walk_s": statistics.median(w["bare_s"] for w in warm_runs),
            "hits": warm_runs[0]["hits"],
        },
    }
    table = _common.render_table(
        ["method", "process (median)", "x scan_cache_dir", "call alone (median)", "x scan_cache_dir"],
        [
            [
                r["method"],
                _common.fmt_time(_float(r["process_median_s"])),
                _common.fmt_ratio(_float(r["process_x_scan_cache_dir"])),
                _common.fmt_time(_float(r["call_median_s"])),
                _common.fmt_ratio(_float(r["call_x_scan_cache_dir"])),
            ]
            for r in rows
        ],
    )
    w = result["warm"]
    print(f"{gen['repos']} repos, {args.rounds} rounds; listed: {result['listed']}")
    print(table)
    print(
        f"ScanCache: cold scan {_common.fmt_time(w['cold_s'])}, warm rescan {_common.fmt_time(w['warm_s'])}: "
        f"{_common.fmt_ratio(w['speedup'])} faster; a bare walk + stat of the cache: "
        f"{_common.fmt_time(w['bare_walk_s'])} (cold / bare walk: {_common.fmt_ratio(w['cold_s'] / w['bare_walk_s'])})"
    )
    if args.json:
        _common.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
