"""Small GGUF models, one per cache layout, written with the gguf package's own writer.

Each builder gives ``(architecture, key/values, tensors)``; :func:`write_fixture` writes one into
a folder in LM Studio's layout. Their KV-cache figures are worked by hand, gguf-parser style, in
docs/estimate.md's table, which ``tests/test_estimate.py`` checks against ``estimate_memory``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from fixtures.make_fixtures import F16, F32, Tensor, llm_tensors, moe_tensors, write_gguf

Fixture = tuple[str, dict[str, object], list[Tensor]]


def gqa() -> Fixture:
    """Llama-style grouped-query attention: 8 heads share 2 KV heads, head size 256 / 8 = 32."""
    return (
        "llama",
        {
            "llama.context_length": 1100,
            "llama.block_count": 4,
            "llama.embedding_length": 256,
            "llama.feed_forward_length": 1024,
            "llama.attention.head_count": 8,
            "llama.attention.head_count_kv": 2,
            "tokenizer.ggml.model": "gpt2",
            "tokenizer.ggml.tokens": [f"t{i}" for i in range(1000)],
        },
        llm_tensors(F16, layers=4),
    )


def per_layer_kv_heads() -> Fixture:
    """One KV-head count per layer (``head_count_kv`` an array, as DeciLM / Nemotron write it)."""
    return (
        "llama",
        {
            "llama.context_length": 2048,
            "llama.block_count": 4,
            "llama.embedding_length": 512,
            "llama.attention.head_count": [8, 8, 8, 8],
            "llama.attention.head_count_kv": [1, 2, 4, 8],
            "llama.attention.key_length": 64,
            "llama.attention.value_length": 64,
            "llama.vocab_size": 32000,
        },
        llm_tensors(F16, layers=4),
    )


def gemma3_swa() -> Fixture:
    """Gemma 3's pattern: every 6th layer global, the others a 512-token sliding window."""
    return (
        "gemma3",
        {
            "gemma3.context_length": 8192,
            "gemma3.block_count": 12,
            "gemma3.embedding_length": 640,
            "gemma3.feed_forward_length": 2048,
            "gemma3.attention.head_count": 4,
            "gemma3.attention.head_count_kv": 1,
            "gemma3.attention.key_length": 256,
            "gemma3.attention.value_length": 256,
            "gemma3.attention.sliding_window": 512,
            "gemma3.rope.freq_base": 1_000_000.0,
            "gemma3.vocab_size": 262144,
        },
        llm_tensors(F16, layers=2),
    )


def mla() -> Fixture:
    """DeepSeek-style MLA as llama.cpp's converter writes it: one KV head of the latent
    (512) plus the rope part (64) as key_length, the decompressed sizes as ``*_mla``."""
    return (
        "deepseek2",
        {
            "deepseek2.context_length": 4096,
            "deepseek2.block_count": 3,
            "deepseek2.embedding_length": 1024,
            "deepseek2.attention.head_count": 16,
            "deepseek2.attention.head_count_kv": 1,
            "deepseek2.attention.key_length": 576,
            "deepseek2.attention.value_length": 512,
            "deepseek2.attention.key_length_mla": 192,
            "deepseek2.attention.value_length_mla": 128,
            "deepseek2.attention.kv_lora_rank": 512,
            "deepseek2.rope.dimension_count": 64,
            "deepseek2.expert_count": 64,
            "deepseek2.expert_used_count": 6,
            "deepseek2.vocab_size": 102400,
        },
        moe_tensors(F16, experts=4),
    )


def moe() -> Fixture:
    """A Qwen3-MoE: 128 experts, 8 used per token, GQA 32 / 4 with head size 128."""
    return (
        "qwen3moe",
        {
            "qwen3moe.context_length": 40960,
            "qwen3moe.block_count": 2,
            "qwen3moe.embedding_length": 2048,
            "qwen3moe.feed_forward_length": 6144,
            "qwen3moe.expert_feed_forward_length": 768,
            "qwen3moe.expert_count": 128,
            "qwen3moe.expert_used_count": 8,
            "qwen3moe.attention.head_count": 32,
            "qwen3moe.attention.head_count_kv": 4,
            "qwen3moe.attention.key_length": 128,
            "qwen3moe.attention.value_length": 128,
            "qwen3moe.rope.freq_base": 1_000_000.0,
            "qwen3moe.vocab_size": 151936,
        },
        moe_tensors(F16, experts=8),
    )


def hybrid() -> Fixture:
    """A Granite-4-style hybrid: three Mamba-2 layers (``head_count_kv`` 0) and one attention layer."""
    return (
        "granitehybrid",
        {
            "granitehybrid.context_length": 1000,
            "granitehybrid.block_count": 4,
            "granitehybrid.embedding_length": 256,
            "granitehybrid.feed_forward_length": 512,
            "granitehybrid.attention.head_count": 8,
            "granitehybrid.attention.head_count_kv": [0, 0, 0, 4],
            "granitehybrid.ssm.conv_kernel": 4,
            "granitehybrid.ssm.inner_size": 512,
            "granitehybrid.ssm.state_size": 16,
            "granitehybrid.ssm.group_count": 1,
            "granitehybrid.ssm.time_step_rank": 8,
            "granitehybrid.vocab_size": 49160,
        },
        llm_tensors(F16, layers=4),
    )


def gemma4_like() -> Fixture:
    """A per-layer sliding-window array with its own head sizes and shared KV layers."""
    return (
        "gemma4",
        {
            "gemma4.context_length": 4096,
            "gemma4.block_count": 6,
            "gemma4.embedding_length": 512,
            "gemma4.attention.head_count": 8,
            "gemma4.attention.head_count_kv": 2,
            "gemma4.attention.key_length": 128,
            "gemma4.attention.value_length": 128,
            "gemma4.attention.key_length_swa": 64,
            "gemma4.attention.value_length_swa": 64,
            "gemma4.attention.sliding_window": 256,
            "gemma4.attention.sliding_window_pattern": [True, True, False, True, True, False],
            "gemma4.attention.shared_kv_layers": 2,
            "gemma4.vocab_size": 262144,
        },
        [("token_embd.weight", (512, 8), F32)],
    )


FIXTURES: dict[str, Callable[[], Fixture]] = {
    "gqa": gqa,
    "per-layer-kv-heads": per_layer_kv_heads,
    "gemma3-swa": gemma3_swa,
    "mla": mla,
    "moe": moe,
    "hybrid": hybrid,
    "gemma4-like": gemma4_like,
}


def write_fixture(root: Path, name: str) -> Path:
    """Write fixture *name* as ``root/acme/<name>-GGUF/<name>-F16.gguf``; returns the file."""
    arch, kv, tensors = FIXTURES[name]()
    return write_gguf(root / "acme" / f"{name}-GGUF" / f"{name}-F16.gguf", arch, kv, tensors)


def readme_rows() -> dict[str, list[int]]:
    """README.md's worked examples of "Memory estimates": term -> the figures of its last cell."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = text.split("## Memory estimates", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"[\d,; ]+", cells[2]):
            rows[cells[0]] = [int(n.replace(",", "")) for n in cells[2].split(";")]
    return rows
