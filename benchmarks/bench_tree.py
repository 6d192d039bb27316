"""A whole models folder: scan_models on generated LM Studio trees of 100, 1,000 and 10,000 models.

    python benchmarks/bench_tree.py                  # 100 -> 1,000 -> 10,000 models
    python benchmarks/bench_tree.py --quick          # 20 -> 100 models (smoke test)
    python benchmarks/bench_tree.py --sizes 1000 --profile --json out.json

The tree is ``<root>/<publisher>/<repo>/<files>``. Every 20 models hold:

- 11 single GGUF files, llama, 16 layers (147 tensors), a 4,096-token vocabulary (``*-Q4_K_M.gguf``);
- 1 single GGUF file, qwen2, 28 layers (339 tensors), a 151,936-token vocabulary;
- 3 split GGUF models, 2 or 3 shards (``*-Q4_K_M-00001-of-00003.gguf``), the first with the metadata;
- 2 GGUF models with a projector beside them (``mmproj-*-f16.gguf``, arch ``clip``);
- 3 MLX folders: ``config.json``, ``tokenizer_config.json`` and the weights: 4-bit quantized in one
  ``model.safetensors``, 4-bit in 2 shards with ``model.safetensors.index.json``, or bf16.

Each kind's header bytes are built once in memory (by code in this file, not by a library) and
written as a copy per model: every file is its own inode (modelscan dedupes files by inode, so
hard links would not count). Files are then extended with ``truncate`` to the size their tensors
declare (GB-sized, sparse), so tensor data costs no disk. Trees live in a temporary folder and
are deleted after each size.

Measured per size:

- cold: a fresh ``python -c`` process runs ``scan_models(root)`` with the default workers and with
  ``workers=1``; only the call is timed (import time is ``bench_import``). "Cold" means a new
  process with no ScanCache; the page cache still holds the files that were just written. When
  ``/proc/sys/vm/drop_caches`` is writable (root), a third figure drops the page cache, dentries
  and inodes before the process starts: a really cold disk.
- warm: one process scans once with a ``ScanCache`` and then rescans with the same cache
  (median of several rescans).
- bytes read per model: the ``rchar`` of the scanning process (reaped worker processes included)
  divided by the models, beside the header bytes per model the generator wrote. The
  ``workers=1`` figure is the clean one: with workers it also counts the pipe traffic of results.
"""

# ruff: noqa: PLC0415
# (imports are lazy on purpose: each benchmark and child process imports only what it measures)

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.use_working_tree()

READ_BLOCK = 1 << 20  # modelscan's GGUF read size: one block past the header is allowed per file

# --- a GGUF header writer (little endian, v3) --------------------------------------------------

T_U16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64 = 2, 4, 5, 6, 7, 8, 9, 10
_PACK = {T_U16: "<H", T_U32: "<I", T_I32: "<i", T_F32: "<f", T_BOOL: "<?", T_U64: "<Q"}
F32, F16, Q8_0, Q4_K, Q6_K = 0, 1, 8, 12, 14
_BLOCK = {F32: (1, 4), F16: (1, 2), Q8_0: (32, 34), Q4_K: (256, 144), Q6_K: (256, 210)}
ALIGN = 32


def _gstr(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def _kv(key: str, vtype: int, value: Any) -> bytes:
    out = _gstr(key) + struct.pack("<I", vtype)
    if vtype == T_STR:
        return out + _gstr(value)
    if vtype == T_ARR:
        etype, items = value
        if etype == T_STR:
            body = b"".join(_gstr(x) for x in items)
        else:
            body = struct.pack(f"<{len(items)}{_PACK[etype][1]}", *items)
        return out + struct.pack("<IQ", etype, len(items)) + body
    return out + struct.pack(_PACK[vtype], value)


def _tensor_bytes(ne: Sequence[int], ggml_type: int) -> int:
    block, size = _BLOCK[ggml_type]
    return ne[0] // block * size * math.prod(ne[1:])


def gguf_file(
    kvs: Sequence[tuple[str, int, Any]], tensors: Sequence[tuple[str, Sequence[int], int]]
) -> tuple[bytes, int]:
    """The header bytes (padded to the data start) and the file size its tensors declare."""
    infos = []
    offset = 0
    for name, ne, ggml_type in tensors:
        infos.append(_gstr(name) + struct.pack(f"<I{len(ne)}QIQ", len(ne), *ne, ggml_type, offset))
        offset += _tensor_bytes(ne, ggml_type)
        offset += -offset % ALIGN
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(_kv(*kv) for kv in kvs) + b"".join(infos)
    head += b"\0" * (-len(head) % ALIGN)
    return head, len(head) + offset


def _tokens(n: int, prefix: str) -> list[bytes]:
    # Realistic lengths (BPE pieces are 1-15 bytes, about 7 on average).
    return [f"{prefix}{i:x}"[: 1 + (i * 7919) % 14].encode() or b"x" for i in range(n)]


def llama_tensors(layers: int, width: int, ffn: int, vocab: int) -> list[tuple[str, list[int], int]]:
    out: list[tuple[str, list[int], int]] = [("token_embd.weight", [width, vocab], Q4_K)]
    for i in range(layers):
        out += [
            (f"blk.{i}.attn_norm.weight", [width], F32),
            (f"blk.{i}.attn_q.weight", [width, width], Q4_K),
            (f"blk.{i}.attn_k.weight", [width, width // 4], Q4_K),
            (f"blk.{i}.attn_v.weight", [width, width // 4], Q6_K),
            (f"blk.{i}.attn_output.weight", [width, width], Q4_K),
            (f"blk.{i}.ffn_norm.weight", [width], F32),
            (f"blk.{i}.ffn_gate.weight", [width, ffn], Q4_K),
            (f"blk.{i}.ffn_up.weight", [width, ffn], Q4_K),
            (f"blk.{i}.ffn_down.weight", [ffn, width], Q6_K),
        ]
    out += [("output_norm.weight", [width], F32), ("output.weight", [width, vocab], Q6_K)]
    return out


def llama_kvs(
    name: str, vocab: int, layers: int = 16, width: int = 2048, ffn: int = 8192
) -> list[tuple[str, int, Any]]:
    return [
        ("general.architecture", T_STR, "llama"),
        ("general.type", T_STR, "model"),
        ("general.name", T_STR, name),
        ("general.size_label", T_STR, "1B"),
        ("general.file_type", T_U32, 15),  # MOSTLY_Q4_K_M
        ("general.quantization_version", T_U32, 2),
        ("llama.context_length", T_U32, 131072),
        ("llama.embedding_length", T_U32, width),
        ("llama.block_count", T_U32, layers),
        ("llama.feed_forward_length", T_U32, ffn),
        ("llama.attention.head_count", T_U32, 32),
        ("llama.attention.head_count_kv", T_U32, 8),
        ("llama.rope.freq_base", T_F32, 500000.0),
        ("llama.attention.layer_norm_rms_epsilon", T_F32, 1e-5),
        ("tokenizer.ggml.model", T_STR, "llama"),
        ("tokenizer.ggml.tokens", T_ARR, (T_STR, _tokens(vocab, "t"))),
        ("tokenizer.ggml.scores", T_ARR, (T_F32, [0.0] * vocab)),
        ("tokenizer.ggml.token_type", T_ARR, (T_I32, [1] * vocab)),
        ("tokenizer.ggml.bos_token_id", T_U32, 1),
        ("tokenizer.ggml.eos_token_id", T_U32, 2),
        (
            "tokenizer.chat_template",
            T_STR,
            "{% for m in messages %}<|start|>{{ m['role'] }}\n{{ m['content'] }}<|end|>\n{% endfor %}",
        ),
    ]


SMALL_VOCAB = 4096
BIG_VOCAB = 151_936


def small_gguf() -> tuple[bytes, int]:
    return gguf_file(llama_kvs("Bench Llama 1B", SMALL_VOCAB), llama_tensors(16, 2048, 8192, SMALL_VOCAB))


def big_vocab_gguf() -> tuple[bytes, int]:
    width, ffn, layers = 1536, 8960, 28
    kvs: list[tuple[str, int, Any]] = [
        ("general.architecture", T_STR, "qwen2"),
        ("general.type", T_STR, "model"),
        ("general.name", T_STR, "Bench Qwen2.5 1.5B Instruct"),
        ("general.size_label", T_STR, "1.5B"),
        ("general.file_type", T_U32, 15),
        ("qwen2.context_length", T_U32, 32768),
        ("qwen2.embedding_length", T_U32, width),
        ("qwen2.block_count", T_U32, layers),
        ("qwen2.feed_forward_length", T_U32, ffn),
        ("qwen2.attention.head_count", T_U32, 12),
        ("qwen2.attention.head_count_kv", T_U32, 2),
        ("tokenizer.ggml.model", T_STR, "gpt2"),
        ("tokenizer.ggml.pre", T_STR, "qwen2"),
        ("tokenizer.ggml.tokens", T_ARR, (T_STR, _tokens(BIG_VOCAB, "q"))),
        ("tokenizer.ggml.token_type", T_ARR, (T_I32, [1] * BIG_VOCAB)),
        ("tokenizer.chat_template", T_STR, "{%- if tools %}{{ tools | tojson }}{%- endif %}{{ messages }}"),
    ]
    tensors: list[tuple[str, list[int], int]] = [("token_embd.weight", [width, BIG_VOCAB], Q4_K)]
    for i in range(layers):
        tensors += [
            (f"blk.{i}.attn_norm.weight", [width], F32),
            (f"blk.{i}.attn_q.weight", [width, width], Q4_K),
            (f"blk.{i}.attn_q.bias", [width], F32),
            (f"blk.{i}.attn_k.weight", [width, 256], Q4_K),
            (f"blk.{i}.attn_k.bias", [256], F32),
            (f"blk.{i}.attn_v.weight", [width, 256], Q6_K),
            (f"blk.{i}.attn_v.bias", [256], F32),
            (f"blk.{i}.attn_output.weight", [width, width], Q4_K),
            (f"blk.{i}.ffn_norm.weight", [width], F32),
            (f"blk.{i}.ffn_gate.weight", [width, ffn], Q4_K),
            (f"blk.{i}.ffn_up.weight", [width, ffn], Q4_K),
            (f"blk.{i}.ffn_down.weight", [ffn, width], Q6_K),
        ]
    tensors += [("output_norm.weight", [width], F32)]
    return gguf_file(kvs, tensors)


def split_gguf(n_shards: int) -> list[tuple[bytes, int]]:
    """A split llama model: metadata in shard 1, tensors spread over the shards."""
    tensors = llama_tensors(16, 2048, 8192, SMALL_VOCAB)
    per = -(-len(tensors) // n_shards)
    out = []
    for i in range(n_shards):
        split = [("split.no", T_U16, i), ("split.count", T_U16, n_shards), ("split.tensors.count", T_I32, len(tensors))]
        kvs = (llama_kvs("Bench Llama 1B Split", SMALL_VOCAB) + split) if i == 0 else split
        out.append(gguf_file(kvs, tensors[i * per : (i + 1) * per]))
    return out


def projector_gguf() -> tuple[bytes, int]:
    kvs: list[tuple[str, int, Any]] = [
        ("general.architecture", T_STR, "clip"),
        ("general.type", T_STR, "mmproj"),
        ("general.name", T_STR, "Bench Vision Projector"),
        ("clip.has_vision_encoder", T_BOOL, True),
        ("clip.projector_type", T_STR, "gemma3"),
        ("clip.vision.image_size", T_U32, 896),
        ("clip.vision.embedding_length", T_U32, 1152),
        ("clip.vision.block_count", T_U32, 27),
    ]
    tensors: list[tuple[str, list[int], int]] = []
    for i in range(27):
        tensors += [
            (f"v.blk.{i}.attn_q.weight", [1152, 1152], F16),
            (f"v.blk.{i}.attn_k.weight", [1152, 1152], F16),
            (f"v.blk.{i}.attn_v.weight", [1152, 1152], F16),
            (f"v.blk.{i}.ffn_up.weight", [1152, 4352], F16),
            (f"v.blk.{i}.ffn_down.weight", [4352, 1152], F16),
            (f"v.blk.{i}.ln1.weight", [1152], F32),
        ]
    tensors.append(("mm.input_projection.weight", [1152, 2048], F16))
    return gguf_file(kvs, tensors)


# --- MLX folders -------------------------------------------------------------------------------

_ST_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "U32": 4}


def safetensors_file(tensors: Sequence[tuple[str, str, Sequence[int]]]) -> tuple[bytes, int]:
    """``8 + N`` header bytes (JSON padded with spaces to 8) and the exact file size."""
    header: dict[str, Any] = {"__metadata__": {"format": "mlx"}}
    offset = 0
    for name, dtype, shape in tensors:
        n = math.prod(shape) * _ST_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, 8 + len(raw) + offset


def mlx_tensors(
    bits: int | None, layers: int = 16, width: int = 2048, ffn: int = 8192, vocab: int = 32000
) -> list[tuple[str, str, Sequence[int]]]:
    """mlx-lm layout: quantized linears as U32 weight + F16 scales/biases (group 64), else bf16."""
    out: list[tuple[str, str, Sequence[int]]] = []

    def linear(name: str, out_f: int, in_f: int) -> None:
        if bits is None:
            out.append((f"{name}.weight", "BF16", (out_f, in_f)))
        else:
            out.append((f"{name}.weight", "U32", (out_f, in_f * bits // 32)))
            out.append((f"{name}.scales", "F16", (out_f, in_f // 64)))
            out.append((f"{name}.biases", "F16", (out_f, in_f // 64)))

    linear("model.embed_tokens", vocab, width)
    for i in range(layers):
        p = f"model.layers.{i}"
        out.append((f"{p}.input_layernorm.weight", "BF16" if bits is None else "F16", (width,)))
        linear(f"{p}.self_attn.q_proj", width, width)
        linear(f"{p}.self_attn.k_proj", width // 4, width)
        linear(f"{p}.self_attn.v_proj", width // 4, width)
        linear(f"{p}.self_attn.o_proj", width, width)
        out.append((f"{p}.post_attention_layernorm.weight", "BF16" if bits is None else "F16", (width,)))
        linear(f"{p}.mlp.gate_proj", ffn, width)
        linear(f"{p}.mlp.up_proj", ffn, width)
        linear(f"{p}.mlp.down_proj", width, ffn)
    out.append(("model.norm.weight", "BF16" if bits is None else "F16", (width,)))
    return out


def mlx_files(kind: str) -> list[tuple[str, bytes, int]]:
    """(file name, bytes to write, final size) of one MLX folder of *kind* (q4, q4-sharded, bf16)."""
    bits = None if kind == "bf16" else 4
    config: dict[str, Any] = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
        "vocab_size": 32000,
        "torch_dtype": "bfloat16",
    }
    if bits:
        config["quantization"] = {"group_size": 64, "bits": bits}
        config["quantization_config"] = {"group_size": 64, "bits": bits}
    tok_cfg = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "model_max_length": 131072,
        "chat_template": "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}",
    }
    files: list[tuple[str, bytes, int]] = []
    for name, obj in (("config.json", config), ("tokenizer_config.json", tok_cfg)):
        raw = json.dumps(obj, indent=2).encode()
        files.append((name, raw, len(raw)))
    tensors = mlx_tensors(bits)
    if kind == "q4-sharded":
        half = len(tensors) // 2
        parts = [tensors[:half], tensors[half:]]
        weight_map = {}
        total = 0
        for i, part in enumerate(parts):
            shard = f"model-{i + 1:05d}-of-00002.safetensors"
            head, size = safetensors_file(part)
            files.append((shard, head, size))
            total += size - len(head)
            weight_map.update({t[0]: shard for t in part})
        raw = json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2).encode()
        files.append(("model.safetensors.index.json", raw, len(raw)))
    else:
        head, size = safetensors_file(tensors)
        files.append(("model.safetensors", head, size))
    return files


# --- the tree ----------------------------------------------------------------------------------

# Slot (model index % 20) -> kind.
MIX = ["small"] * 11 + [
    "big-vocab",
    "split2",
    "split3",
    "split2",
    "projector",
    "projector",
    "mlx-q4",
    "mlx-q4-sharded",
    "mlx-bf16",
]


class Templates:
    """Each kind's files, built once: (name pattern, header bytes, final size)."""

    def __init__(self) -> None:
        self.small = small_gguf()
        self.big = big_vocab_gguf()
        self.split = {2: split_gguf(2), 3: split_gguf(3)}
        self.projector = projector_gguf()
        self.mlx = {k: mlx_files(k) for k in ("q4", "q4-sharded", "bf16")}

    def files(self, kind: str, base: str) -> list[tuple[str, bytes, int]]:
        if kind == "small":
            return [(f"{base}-Q4_K_M.gguf", *self.small)]
        if kind == "big-vocab":
            return [(f"{base}-Q4_K_M.gguf", *self.big)]
        if kind.startswith("split"):
            n = int(kind[-1])
            return [(f"{base}-Q4_K_M-{i + 1:05d}-of-{n:05d}.gguf", *part) for i, part in enumerate(self.split[n])]
        if kind == "projector":
            return [(f"{base}-Q4_K_M.gguf", *self.small), (f"mmproj-{base}-f16.gguf", *self.projector)]
        if kind.startswith("mlx-"):
            return list(self.mlx[kind[4:]])
        raise ValueError(kind)


def _write(path: str, data: bytes, size: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if size > len(data):
            os.ftruncate(fd, size)  # sparse: the tensor data is a hole
    finally:
        os.close(fd)


def generate_tree(
    root: str | os.PathLike[str], n_models: int, templates: Templates | None = None, mix: Sequence[str] = MIX
) -> dict[str, Any]:
    """Write *n_models* models under *root*; return counts and byte totals of what was written."""
    templates = templates or Templates()
    root = Path(root)
    kinds: dict[str, int] = {}
    files = 0
    header_bytes = 0  # GGUF data_offset / safetensors 8 + N, summed
    json_bytes = 0
    apparent = 0
    gguf_files = 0
    for i in range(n_models):
        kind = mix[i % len(mix)]
        kinds[kind] = kinds.get(kind, 0) + 1
        publisher = f"publisher-{i % 50:02d}"
        if kind.startswith("mlx-"):
            repo = f"Bench-Llama-{i:05d}-{'bf16' if kind == 'mlx-bf16' else '4bit'}"
        else:
            repo = f"Bench-Model-{i:05d}-GGUF"
        folder = root / publisher / repo
        folder.mkdir(parents=True, exist_ok=True)
        for name, data, size in templates.files(kind, f"bench-model-{i:05d}"):
            _write(str(folder / name), data, size)
            files += 1
            apparent += size
            if name.endswith(".json"):
                json_bytes += size
            else:
                header_bytes += len(data)
                gguf_files += name.endswith(".gguf")
    return {
        "models": n_models,
        "kinds": kinds,
        "files": files,
        "header_bytes": header_bytes,
        "json_bytes": json_bytes,
        "apparent_bytes": apparent,
        "gguf_files": gguf_files,
    }


# --- per-file costs ----------------------------------------------------------------------------


def per_file_costs(templates: Templates, rounds: int) -> dict[str, Any]:
    """modelscan's reader against the fastest skip (GGUF) or read + json.loads (safetensors), per
    file kind of the tree, interleaved in this process: where a cold scan's time goes, per file."""
    from bench_gguf import fast_parse_gguf_header, skip_gguf_header
    from bench_safetensors import floor_json

    import modelscan
    from modelscan.safetensors import read_safetensors_header

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_tree_files_") as tmp:
        cases = [
            ("small-vocab GGUF (4,096 tokens, 147 tensors)", templates.small, "gguf"),
            ("big-vocab GGUF (151,936 tokens, 339 tensors)", templates.big, "gguf"),
            ("split shard 2/3 (no vocab, 49 tensors)", templates.split[3][1], "gguf"),
            ("projector GGUF (163 tensors)", templates.projector, "gguf"),
            (
                "MLX 4-bit model.safetensors (435 tensors)",
                next((d, z) for n, d, z in templates.mlx["q4"] if n == "model.safetensors"),
                "st",
            ),
        ]
        for label, (data, size), kind in cases:
            path = os.path.join(tmp, "f.gguf" if kind == "gguf" else "model.safetensors")
            _write(path, data, size)
            if kind == "gguf":
                methods = {
                    "modelscan": lambda p=path: modelscan.read_gguf_header(p),
                    "alt": lambda p=path: skip_gguf_header(p),
                    "parse": lambda p=path: fast_parse_gguf_header(p),
                }
            else:
                methods = {"modelscan": lambda p=path: read_safetensors_header(p), "alt": lambda p=path: floor_json(p)}
            times = C.time_interleaved(methods, rounds=rounds, warmup=1)
            read = C.rchar_of(methods["modelscan"])
            rows.append(
                {
                    "file": label,
                    "header_bytes": len(data),
                    "modelscan_s": C.median(times["modelscan"]),
                    "alternative": "fastest skip" if kind == "gguf" else "os.read + json.loads",
                    "alternative_s": C.median(times["alt"]),
                    "ratio": C.paired_ratio(times["modelscan"], times["alt"]),
                    "fast_parse_s": C.median(times["parse"]) if "parse" in times else None,
                    "ratio_parse": C.paired_ratio(times["modelscan"], times["parse"]) if "parse" in times else None,
                    "modelscan_bytes_read": read,
                }
            )
    return {
        "title": "per file, in-process (warm page cache): modelscan's reader vs the fastest skip / read + json.loads",
        "headers": (
            "file",
            "header",
            "modelscan",
            "alternative",
            "alt. time",
            "modelscan/alt",
            "fast parse",
            "modelscan/parse",
            "modelscan read",
        ),
        "rows": [
            [
                r["file"],
                C.fmt_bytes(r["header_bytes"]),
                C.fmt_time(r["modelscan_s"]),
                r["alternative"],
                C.fmt_time(r["alternative_s"]),
                C.fmt_ratio(r["ratio"]),
                C.fmt_time(r["fast_parse_s"]),
                C.fmt_ratio(r["ratio_parse"]),
                C.fmt_bytes(r["modelscan_bytes_read"]),
            ]
            for r in rows
        ],
        "data": rows,
    }


# --- scanning in fresh processes ---------------------------------------------------------------

_COLD = r"""
import json, resource, sys, time
def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
def io():
    try:
        with open('/proc/self/io', 'rb', buffering=0) as f:
            return {k.strip(): int(v) for k, v in (l.split(b':') for l in f.read().splitlines())}
    except OSError:
        return {}
def status(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
root, workers = sys.argv[1], (None if sys.argv[2] == 'default' else int(sys.argv[2]))
t0 = time.perf_counter()
import modelscan
t_import = time.perf_counter() - t0
a = io()
c0 = cpu()
t0 = time.perf_counter()
report = modelscan.scan_models(root, workers=workers)
t_scan = time.perf_counter() - t0
c1 = cpu()
b = io()
print(json.dumps({
    'import_s': t_import, 'scan_s': t_scan, 'cpu_s': c1 - c0,
    'models': len(report.models), 'problems': len(report.problems),
    'problem_examples': [str(p)[:200] for p in report.problems[:3]],
    'rchar': b.get(b'rchar', 0) - a.get(b'rchar', 0), 'read_bytes': b.get(b'read_bytes', 0) - a.get(b'read_bytes', 0),
    'syscr': b.get(b'syscr', 0) - a.get(b'syscr', 0), 'hwm_kb': status('VmHWM'),
    'header_bytes': sum(m.header_bytes for m in report.models),
}))
"""

_WARM = r"""
import json, sys, time, statistics
root, rescans = sys.argv[1], int(sys.argv[2])
import modelscan
cache = modelscan.ScanCache()
t0 = time.perf_counter()
first = modelscan.scan_models(root, cache=cache)
t_first = time.perf_counter() - t0
times = []
for _ in range(rescans):
    t0 = time.perf_counter()
    again = modelscan.scan_models(root, cache=cache)
    times.append(time.perf_counter() - t0)
same = [m.key for m in first.models] == [m.key for m in again.models]
print(json.dumps({'first_s': t_first, 'rescan_s': times, 'models': len(again.models),
                  'hits': cache.hits, 'misses': cache.misses, 'same_keys': same}))
"""

_PROFILE = r"""
import cProfile, io, json, pstats, sys
root, workers = sys.argv[1], int(sys.argv[2])
import modelscan
prof = cProfile.Profile()
prof.enable()
report = modelscan.scan_models(root, workers=workers)
prof.disable()
out = io.StringIO()
stats = pstats.Stats(prof, stream=out)
rows = []
for (file, line, func), (cc, nc, tt, ct, callers) in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:25]:
    where = file.split('/modelscan/')[-1] if '/modelscan/' in file else file.rsplit('/', 1)[-1]
    rows.append({'function': f"{where}:{line}({func})", 'calls': nc, 'tottime_s': tt, 'cumtime_s': ct})
total = sum(v[2] for v in stats.stats.values())
print(json.dumps({'models': len(report.models), 'total_s': total, 'top_tottime': rows}))
"""


def _run_py(code: str, *args: str, drop: bool = False) -> dict[str, Any]:
    if drop:
        C.drop_page_cache()
    res = C.run_child_rusage([C.PYTHON, "-c", code, *args], env=C.child_env())
    if res["returncode"] != 0:
        raise RuntimeError(res["stderr"].strip()[-1500:])
    out = C.last_json_line(res["stdout"])
    out["maxrss_kb"] = res["maxrss_kb"]
    out["wall_s"] = res["wall_s"]
    return out


def measure_size(
    root: str, n: int, gen: dict[str, Any], *, runs: int, runs_w1: int, rescans: int, drop: bool, drop_runs: int
) -> dict[str, Any]:
    out: dict[str, Any] = {"n": n, "generated": gen}
    cold = [_run_py(_COLD, root, "default") for _ in range(runs)]
    cold1 = [_run_py(_COLD, root, "1") for _ in range(runs_w1)]
    out["cold_default"] = cold
    out["cold_w1"] = cold1
    # The warm process runs before the page cache is dropped, so that its first scan meets the
    # same warm page cache as the cold rows above.
    out["warm"] = _run_py(_WARM, root, str(rescans))
    if drop:
        out["cold_dropped"] = [_run_py(_COLD, root, "default", drop=True) for _ in range(drop_runs)]
        out["cold_dropped_w1"] = [_run_py(_COLD, root, "1", drop=True) for _ in range(drop_runs)]
    return out


def _med(results: Sequence[dict[str, Any]], key: str) -> float:
    return C.median([r[key] for r in results])


def run(
    *,
    quick: bool = False,
    sizes: Sequence[int] | None = None,
    runs: int | None = None,
    rescans: int | None = None,
    drop: bool | None = None,
    profile: bool = False,
    keep: str | None = None,
) -> dict[str, Any]:
    sizes = list(sizes or ((20, 100) if quick else (100, 1000, 10000)))
    rescans = rescans or (3 if quick else 7)
    notes: list[str] = []
    checks: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    per_size: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    templates = Templates()
    tpl_s = time.perf_counter() - t0
    per_file = per_file_costs(templates, rounds=3 if quick else 15)
    can_drop = C.drop_page_cache() if (drop if drop is not None else not quick) else False
    if drop is not False and not quick and not can_drop:
        notes.append(
            "page cache NOT dropped: /proc/sys/vm/drop_caches is not writable; every 'cold' figure "
            "is a fresh process over a warm page cache"
        )
    base_dir = keep or tempfile.mkdtemp(prefix="bench_tree_")
    try:
        for n in sizes:
            root = os.path.join(base_dir, f"models-{n}")
            t0 = time.perf_counter()
            gen = generate_tree(root, n, templates)
            gen["generate_s"] = time.perf_counter() - t0
            big = n >= 5000
            res = measure_size(
                root,
                n,
                gen,
                runs=runs or (1 if quick else (2 if big else 3)),
                runs_w1=1 if (quick or big) else 2,
                rescans=rescans,
                drop=can_drop,
                drop_runs=1 if big else 2,
            )
            if profile:
                res["profile_w1"] = _run_py(_PROFILE, root, "1")
            per_size.append(res)
            found = res["cold_default"][0]["models"]
            problems = res["cold_default"][0]["problems"]
            checks.append(
                C.check(
                    f"{n} models: scan_models finds every generated model, no problems",
                    found == n and problems == 0 and res["cold_w1"][0]["models"] == n,
                    f"found {found}, {problems} problems {res['cold_default'][0]['problem_examples']}"
                    if found != n or problems
                    else "",
                )
            )
            checks.append(
                C.check(
                    f"{n} models: warm rescans hit the cache for every folder and list the same keys",
                    res["warm"]["same_keys"] and res["warm"]["models"] == n,
                    f"hits {res['warm']['hits']}, misses {res['warm']['misses']}",
                )
            )
            if not keep:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        if not keep:
            shutil.rmtree(base_dir, ignore_errors=True)

    # Rows: one per (size, mode).
    for res in per_size:
        n = res["n"]
        gen = res["generated"]
        hdr_per_model = (gen["header_bytes"] + gen["json_bytes"]) / n
        bound = gen["header_bytes"] + gen["json_bytes"] + READ_BLOCK * (gen["files"] - _json_files(gen))
        modes = [("cold, workers=default", res["cold_default"]), ("cold, workers=1", res["cold_w1"])]
        if "cold_dropped" in res:
            modes += [
                ("cold + page cache dropped, workers=default", res["cold_dropped"]),
                ("cold + page cache dropped, workers=1", res["cold_dropped_w1"]),
            ]
        for mode, results in modes:
            t = [r["scan_s"] for r in results]
            rows.append(
                {
                    "models": n,
                    "mode": mode,
                    "median_s": C.median(t),
                    "runs": len(t),
                    "times_s": t,
                    "cpu_s": _med(results, "cpu_s"),
                    "models_per_s": n / C.median(t),
                    "rchar_per_model": _med(results, "rchar") / n,
                    "disk_read_per_model": _med(results, "read_bytes") / n,
                    "header_bytes_per_model": hdr_per_model,
                    "peak_rss_kb": max(max(r["maxrss_kb"] or 0, r["hwm_kb"] or 0) for r in results),
                }
            )
            if mode == "cold, workers=1":
                rchar = _med(results, "rchar")
                checks.append(
                    C.check(
                        f"{n} models: bytes read (workers=1) <= headers + JSON + one "
                        f"{READ_BLOCK >> 20} MiB block per weight file",
                        rchar <= bound,
                        f"{rchar / n:,.0f} B/model read, headers {hdr_per_model:,.0f} B/model, "
                        f"bound {bound / n:,.0f} B/model",
                    )
                )
        w = res["warm"]
        rows.append(
            {
                "models": n,
                "mode": "warm: rescan with the same ScanCache",
                "median_s": C.median(w["rescan_s"]),
                "runs": len(w["rescan_s"]),
                "times_s": w["rescan_s"],
                "models_per_s": n / C.median(w["rescan_s"]),
                "first_scan_s": w["first_s"],
            }
        )

    ratios: list[dict[str, Any]] = []

    def t_of(n: int, key: str, measure: str = "scan_s") -> float | None:
        res = next((r for r in per_size if r["n"] == n), None)
        if res is None or key not in res:
            return None
        return _med(res[key], measure)

    ns = [r["n"] for r in per_size]
    for a, b in itertools.pairwise(ns):
        for key, label in (("cold_default", "workers=default"), ("cold_w1", "workers=1")):
            ta, tb = t_of(a, key), t_of(b, key)
            if ta and tb:
                factor = b / a
                target = f"<= {1.2 * factor:g}" if (a, b) == (1000, 10000) else None
                ratios.append(
                    C.ratio_entry(
                        f"cold t({b:,})/t({a:,}), {label}",
                        tb / ta,
                        target,
                        (tb / ta <= 1.2 * factor) if target else None,
                        f"{factor:g}x the models; wall-time medians",
                    )
                )
                ca, cb = t_of(a, key, "cpu_s"), t_of(b, key, "cpu_s")
                if ca and cb:
                    ratios.append(
                        C.ratio_entry(
                            f"cold CPU({b:,})/CPU({a:,}), {label}",
                            cb / ca,
                            None,
                            None,
                            "CPU seconds of the scan (workers included): hardly moved by other load",
                        )
                    )
        if "cold_dropped" in per_size[0]:
            ta, tb = t_of(a, "cold_dropped"), t_of(b, "cold_dropped")
            if ta and tb:
                ratios.append(
                    C.ratio_entry(f"cold, page cache dropped: t({b:,})/t({a:,})", tb / ta, None, None, "medians")
                )
    for res in per_size:
        n = res["n"]
        warm = C.median(res["warm"]["rescan_s"])
        cold = _med(res["cold_default"], "scan_s")
        target = ">= 20" if n == 1000 else None
        ratios.append(
            C.ratio_entry(
                f"cold/warm, {n:,} models",
                cold / warm,
                target,
                (cold / warm >= 20) if target else None,
                "fresh-process cold (workers=default) / median warm rescan",
            )
        )
        if "cold_dropped" in res:
            ratios.append(
                C.ratio_entry(
                    f"cold (page cache dropped)/warm, {n:,} models",
                    _med(res["cold_dropped"], "scan_s") / warm,
                    None,
                    None,
                    "medians",
                )
            )

    notes.append(
        "cold = a fresh `python -c` process, no ScanCache; only scan_models() is timed. "
        + (
            "Rows marked 'page cache dropped' ran after `sync; echo 3 > /proc/sys/vm/drop_caches` (a really cold "
            "disk: dentries, inodes and pages); the other cold rows read from a warm page cache."
            if can_drop
            else "The page cache was not dropped (drop_caches not writable or not asked)."
        )
    )
    notes.append(
        "bytes read = rchar of the scanning process (reaped worker processes included); with workers>1 it "
        "also counts the results sent back through pipes. disk read = read_bytes (storage I/O)."
    )
    notes.append(
        f"header templates built in {tpl_s:.2f} s; mix per 20 models: "
        + ", ".join(f"{MIX.count(k)} {k}" for k in dict.fromkeys(MIX))
    )
    result = {
        "benchmark": "tree",
        "quick": quick,
        "inputs": {
            "modelscan": C.modelscan_version(),
            "sizes": sizes,
            "mix (per 20 models)": ", ".join(f"{MIX.count(k)} {k}" for k in dict.fromkeys(MIX)),
            "header bytes per file kind": ", ".join(
                f"{k} {len(v[0]):,}"
                for k, v in (
                    ("small", templates.small),
                    ("big-vocab", templates.big),
                    ("projector", templates.projector),
                )
            ),
            "page cache dropped for cold rows": can_drop,
        },
        "tables": [per_file],
        "rows": rows,
        "row_headers": (
            "models",
            "mode",
            "median",
            "CPU",
            "runs",
            "models/s",
            "read/model",
            "disk read/model",
            "headers/model",
            "peak RSS",
        ),
        "ratios": ratios,
        "checks": checks,
        "notes": notes,
        "per_size": per_size,
    }
    result["row_cells_fn"] = tree_cells
    return result


def _json_files(gen: dict[str, Any]) -> int:
    kinds: dict[str, int] = gen["kinds"]
    # config.json + tokenizer_config.json per MLX folder, + index for the sharded kind.
    return 2 * sum(v for k, v in kinds.items() if k.startswith("mlx-")) + kinds.get("mlx-q4-sharded", 0)


def tree_cells(row: dict[str, Any]) -> list[str]:
    return [
        f"{row['models']:,}",
        row["mode"],
        C.fmt_time(row["median_s"]),
        C.fmt_time(row.get("cpu_s")),
        str(row["runs"]),
        f"{row['models_per_s']:,.0f}",
        C.fmt_bytes(row.get("rchar_per_model")),
        C.fmt_bytes(row.get("disk_read_per_model")),
        C.fmt_bytes(row.get("header_bytes_per_model")),
        C.fmt_bytes(row["peak_rss_kb"] * 1024) if row.get("peak_rss_kb") else "-",
    ]


def profile_text(result: dict[str, Any]) -> str:
    out = []
    for res in result.get("per_size", []):
        prof = res.get("profile_w1")
        if not prof:
            continue
        out.append(
            f"cProfile of scan_models(workers=1), {res['n']:,} models: {prof['total_s']:.2f} s profiled, top by tottime"
        )
        out.append(
            C.render_table(
                ("function", "calls", "tottime", "cumtime"),
                [
                    (r["function"], f"{r['calls']:,}", C.fmt_time(r["tottime_s"]), C.fmt_time(r["cumtime_s"]))
                    for r in prof["top_tottime"][:15]
                ],
            )
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 and 100 models (smoke test)")
    ap.add_argument("--sizes", help="comma-separated model counts (default 100,1000,10000)")
    ap.add_argument("--runs", type=int, help="cold runs per size (default 3, 2 from 5,000 models)")
    ap.add_argument("--rescans", type=int, help="warm rescans (default 7)")
    ap.add_argument("--no-drop", action="store_true", help="never drop the page cache")
    ap.add_argument("--profile", action="store_true", help="also cProfile one workers=1 scan per size")
    ap.add_argument("--keep", metavar="DIR", help="generate under DIR and keep the trees")
    ap.add_argument("--json", metavar="OUT", help="write the result as JSON")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    result = run(
        quick=args.quick,
        sizes=sizes,
        runs=args.runs,
        rescans=args.rescans,
        drop=False if args.no_drop else None,
        profile=args.profile,
        keep=args.keep,
    )
    C.finish(result, args.json)
    if args.profile:
        print(profile_text(result))
    return result


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
