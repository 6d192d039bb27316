"""MLX folders (modelscan.mlx): each rule of FIELDS.md's MLX column, the parameter count of
section 7, and the JSON sidecar catalogue of HOSTILE.md (C-01 to C-14), each with its exact code.

Folders are written in ``tmp_path`` with ``safetensors.numpy.save_file`` (the reference writer)
and ``json``; BF16, which numpy lacks, and hostile headers use the small raw writer below.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from helpers import response_models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlx_reading import read_mlx_model
from safetensors.numpy import save_file

import modelscan
from modelscan.errors import (
    DuplicateKey,
    FileAccessError,
    IncompleteModel,
    InvalidField,
    LimitExceeded,
    ModelScanError,
)
from modelscan.facts import ModelFacts, TensorTypeStat
from modelscan.limits import BATCH_LIMITS, Limits

TOOLS = "{%- if tools %}{% for tool in tools %}{{ tool | tojson }}{% endfor %}{% endif %}{{ messages[0].content }}"
PLAIN = "{% for message in messages %}{{ message.content }}{% endfor %}"
# "tools" only inside a string literal and as an attribute: not the variable.
TOOLS_AS_TEXT = "{{ 'tools' }}{% for m in messages %}{{ m.tools }}{% endfor %}"


# -- builders ------------------------------------------------------------------------------------


def u32(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.uint32)


def f16(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float16)


def f32(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


def u8(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.uint8)


ONE_TENSOR = {"w": f32(4)}

_ITEM = {"BF16": 2, "F16": 2, "F32": 4, "U32": 4, "U8": 1, "I64": 8}


def write_raw_safetensors(path: Path, tensors: Mapping[str, tuple[str, tuple[int, ...]]]) -> None:
    """A safetensors file from dtype names and shapes (zeros), for dtypes numpy cannot write."""
    header: dict[str, object] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = int(np.prod(shape)) * _ITEM[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def make_model(
    folder: Path,
    config: object = None,
    tensors: Mapping[str, np.ndarray] | None = ONE_TENSOR,
    files: Mapping[str, object] | None = None,
    *,
    typed: bool = True,
) -> Path:
    """An MLX folder: config.json (a dict, or raw bytes), model.safetensors, and extra *files*
    (dicts are written as JSON, str and bytes as they are). A dict config gets
    ``"model_type": "llama"`` unless it has one or *typed* is false."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {} if config is None else config
    if isinstance(config, dict) and typed:
        config = {"model_type": "llama", **config}
    (folder / "config.json").write_bytes(config if isinstance(config, bytes) else json.dumps(config).encode())
    if tensors is not None:
        save_file(dict(tensors), str(folder / "model.safetensors"))
    for name, content in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")
    return folder


def read(folder: Path, limits: Limits = BATCH_LIMITS) -> ModelFacts:
    return read_mlx_model(folder, publisher=folder.parent.name, repo=folder.name, limits=limits)


def codes(facts: ModelFacts) -> list[str]:
    return [w.code for w in facts.warnings]


def fields(facts: ModelFacts) -> list[tuple[str, str | None]]:
    return [(w.code, w.field) for w in facts.warnings]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tmp_path / "models" / "pub" / "model"


# -- quantization ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 8])
def test_affine_bits_give_name_and_count(model: Path, bits: int) -> None:
    # 64 inputs packed into 64 * bits / 32 U32 words per row.
    make_model(
        model,
        {"model_type": "llama", "quantization": {"group_size": 64, "bits": bits}},
        {"m.weight": u32(8, 2 * bits), "m.scales": f16(8, 1), "m.biases": f16(8, 1), "m.bias": f16(8)},
    )
    facts = read(model)
    assert (facts.quant_name, facts.quant_bits) == (f"{bits}bit", bits)
    assert facts.n_params == 8 * 64 + 8  # the weight unpacked, plus X.bias; scales and biases are not params
    assert facts.warnings == ()


def test_mode_affine_written_out(model: Path) -> None:
    make_model(
        model,
        {"quantization": {"group_size": 32, "bits": 4, "mode": "affine"}},
        {"m.weight": u32(8, 8), "m.scales": f16(8, 2), "m.biases": f16(8, 2)},
    )
    facts = read(model)
    assert (facts.quant_name, facts.quant_bits, facts.n_params) == ("4bit", 4, 512)


@pytest.mark.parametrize(
    ("mode", "group_size", "name", "bits"),
    [("mxfp4", 32, "MXFP4", 4), ("nvfp4", 16, "NVFP4", 4), ("mxfp8", 32, "MXFP8", 8)],
)
def test_microscaling_modes(model: Path, mode: str, group_size: int, name: str, bits: int) -> None:
    # These modes have .scales (U8 exponents) and no .biases.
    make_model(
        model,
        {"model_type": "gpt_oss", "quantization": {"group_size": group_size, "bits": bits, "mode": mode}},
        {"m.weight": u32(8, 2 * bits), "m.scales": u8(8, 64 // group_size), "norm.weight": f16(64)},
    )
    facts = read(model)
    assert (facts.quant_name, facts.quant_bits) == (name, bits)
    assert facts.n_params == 512 + 64
    assert facts.warnings == ()


def test_per_module_override(model: Path) -> None:
    config = {
        "quantization": {
            "group_size": 64,
            "bits": 4,
            "model.layers.0.mlp.down_proj": {"group_size": 64, "bits": 8},  # mlx-lm mixed recipes
            "lm_head": False,  # left unquantized
            "model.embed_tokens": True,  # the defaults
        }
    }
    make_model(
        model,
        config,
        {
            "model.layers.0.mlp.down_proj.weight": u32(8, 16),  # 8-bit: 16 words hold 64 values
            "model.layers.0.mlp.down_proj.scales": f16(8, 1),
            "model.layers.0.mlp.down_proj.biases": f16(8, 1),
            "model.layers.0.mlp.gate_proj.weight": u32(8, 8),  # default 4-bit: 8 words hold 64 values
            "model.layers.0.mlp.gate_proj.scales": f16(8, 1),
            "model.layers.0.mlp.gate_proj.biases": f16(8, 1),
            "model.embed_tokens.weight": u32(16, 8),
            "model.embed_tokens.scales": f16(16, 1),
            "model.embed_tokens.biases": f16(16, 1),
            "lm_head.weight": f16(8, 64),
        },
    )
    facts = read(model)
    assert facts.n_params == 512 + 512 + 16 * 64 + 512
    assert (facts.quant_name, facts.quant_bits) == ("4bit", 4)
    assert facts.warnings == ()


def test_per_module_override_with_bad_bits_uses_the_default(model: Path) -> None:
    make_model(
        model,
        {"quantization": {"group_size": 64, "bits": 4, "a": {"group_size": 64, "bits": 7}}},
        {"a.weight": u32(8, 8), "a.scales": f16(8, 1), "a.biases": f16(8, 1)},
    )
    facts = read(model)
    assert fields(facts) == [("bad_quantization", "quantization.a.bits")]
    assert facts.n_params == 512


def test_u32_without_scales_is_not_packed(model: Path) -> None:
    make_model(
        model,
        {"quantization": {"group_size": 64, "bits": 4}},
        {"ids.weight": u32(4, 4), "m.weight": u32(8, 8), "m.scales": f16(8, 1), "m.biases": f16(8, 1)},
    )
    assert read(model).n_params == 16 + 512


def test_biases_of_an_unquantized_module_count(model: Path) -> None:
    # "biases" (plural) is only the quantization offsets of a packed weight.
    make_model(model, {}, {"m.weight": f16(8, 8), "m.biases": f16(8)})
    assert read(model).n_params == 72


@pytest.mark.parametrize(
    ("tensors", "name", "bits"),
    [
        ({"a": ("F16", (100,)), "b": ("F32", (40,))}, "F16", 16),  # 200 bytes against 160
        ({"a": ("F16", (10,)), "b": ("F32", (40,))}, "F32", 32),
        ({"a": ("BF16", (64, 64)), "b": ("F32", (64,))}, "BF16", 16),
        ({"a": ("F16", (8,)), "b": ("BF16", (8,))}, "BF16", 16),  # a tie: the first by name
    ],
)
def test_unquantized_dominant_dtype(
    model: Path, tensors: dict[str, tuple[str, tuple[int, ...]]], name: str, bits: int
) -> None:
    make_model(model, {"model_type": "llama"}, None)
    write_raw_safetensors(model / "model.safetensors", tensors)
    facts = read(model)
    assert (facts.quant_name, facts.quant_bits) == (name, bits)
    assert facts.n_params == sum(int(np.prod(s)) for _, s in tensors.values())


def test_quantization_config_alone_is_read(model: Path) -> None:
    make_model(
        model,
        {"quantization_config": {"group_size": 64, "bits": 8}},
        {"m.weight": u32(8, 16), "m.scales": f16(8, 1), "m.biases": f16(8, 1)},
    )
    facts = read(model)
    assert (facts.quant_name, facts.quant_bits, facts.n_params) == ("8bit", 8, 512)


def test_hugging_face_quantization_config_is_not_mlx(model: Path) -> None:
    make_model(model, {"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128}}, {"w": f16(8)})
    facts = read(model)
    assert (facts.quant_name, facts.quant_bits) == ("F16", 16)
    assert facts.warnings == ()


# C-08: each hazard warns with its field; the fallback is the dominant dtype (F32 here).
@pytest.mark.parametrize(
    ("config", "expected_fields", "name", "bits"),
    [
        ({"quantization": {"bits": 0, "group_size": 0}}, [("bad_quantization", "quantization.bits")], "F32", 32),
        ({"quantization": {"bits": 4, "group_size": 0}}, [("bad_quantization", "quantization.group_size")], "F32", 32),
        (
            {"quantization": {"bits": 4, "group_size": -64}},
            [("bad_quantization", "quantization.group_size")],
            "F32",
            32,
        ),
        ({"quantization": {"bits": "4"}}, [("bad_quantization", "quantization.bits")], "F32", 32),
        ({"quantization": {"bits": True, "group_size": 64}}, [("bad_quantization", "quantization.bits")], "F32", 32),
        ({"quantization": {"bits": 4.0, "group_size": 64}}, [("bad_quantization", "quantization.bits")], "F32", 32),
        ({"quantization": {"bits": 7, "group_size": 64}}, [("bad_quantization", "quantization.bits")], "F32", 32),
        ({"quantization": [4, 64]}, [("bad_quantization", "quantization")], "F32", 32),
        ({"quantization": "4bit"}, [("bad_quantization", "quantization")], "F32", 32),
        (
            {"quantization": {"bits": 4, "group_size": 64, "mode": "nf4"}},
            [("bad_quantization", "quantization.mode")],
            "F32",
            32,
        ),
        (
            {"quantization": {"bits": 4, "group_size": 64, "mode": 4}},
            [("bad_quantization", "quantization.mode")],
            "F32",
            32,
        ),
        # The mode decides the bits; a contradicting "bits" is reported.
        (
            {"quantization": {"bits": 8, "group_size": 32, "mode": "mxfp4"}},
            [("bad_quantization", "quantization.bits")],
            "MXFP4",
            4,
        ),
        # Both present and disagreeing: quantization wins, the conflict is reported.
        (
            {"quantization": {"bits": 4}, "quantization_config": {"bits": 8}},
            [("quantization_conflict", "quantization_config")],
            "4bit",
            4,
        ),
        # A broken quantization falls back to a valid quantization_config.
        (
            {"quantization": {"bits": 0}, "quantization_config": {"bits": 8, "group_size": 64}},
            [("bad_quantization", "quantization.bits")],
            "8bit",
            8,
        ),
        # mlx-lm writes both, equal: no warning.
        (
            {"quantization": {"bits": 4, "group_size": 64}, "quantization_config": {"bits": 4, "group_size": 64}},
            [],
            "4bit",
            4,
        ),
        ({"quantization": None}, [], "F32", 32),
    ],
)
def test_c08_quantization_hazards(
    model: Path, config: dict[str, object], expected_fields: list[tuple[str, str]], name: str, bits: int
) -> None:
    make_model(model, {"model_type": "llama", **config})
    facts = read(model)
    assert fields(facts) == expected_fields
    assert (facts.quant_name, facts.quant_bits) == (name, bits)


def test_c08_message_names_the_bad_value(model: Path) -> None:
    make_model(model, {"model_type": "llama", "quantization": {"bits": 0, "group_size": 0}})
    (warning,) = read(model).warnings
    assert isinstance(warning, InvalidField)
    assert str(warning) == (
        f"{model / 'config.json'}: json quantization.bits: bits must be one of [2, 3, 4, 5, 6, 8], got 0"
    )


def test_packed_weights_without_usable_quantization(model: Path) -> None:
    packed = {"m.weight": u32(8, 8), "m.scales": f16(8, 1), "m.biases": f16(8, 1)}
    make_model(model, {"model_type": "llama", "quantization": {"bits": "4"}}, packed)
    facts = read(model)
    # Neither U32 nor a guess would be true: no quantization, no count.
    assert (facts.quant_name, facts.quant_bits, facts.n_params, facts.params_string) == (None, None, None, None)
    assert facts.bits_per_weight is None
    assert codes(facts) == ["bad_quantization"]

    make_model(model, {"model_type": "llama"}, packed)
    facts = read(model)
    assert fields(facts) == [("bad_quantization", "quantization")]
    assert facts.warnings[0].detail == "weights are MLX-quantized but config.json has no quantization"
    assert facts.quant_name is None


# -- parameters, params_string, bits per weight ---------------------------------------------------------


def test_params_string_prefers_the_size_token(tmp_path: Path) -> None:
    folder = make_model(
        tmp_path / "m" / "Qwen3-30B-A3B-4bit",
        {"quantization": {"group_size": 64, "bits": 4}},
        {"m.weight": u32(8, 8), "m.scales": f16(8, 1), "m.biases": f16(8, 1)},
    )
    assert read(folder).params_string == "30B-A3B"


def test_params_string_from_the_count(model: Path) -> None:
    make_model(model, {}, {"a": f32(40, 64)})  # 2560 elements
    facts = read(model)
    assert (facts.n_params, facts.params_string) == (2560, "2.6K")


def test_extended_facts(model: Path) -> None:
    make_model(
        model,
        {"quantization": {"group_size": 64, "bits": 4}},
        {"m.weight": u32(8, 8), "m.scales": f16(8, 1), "m.biases": f16(8, 1), "norm": f32(64)},
    )
    facts = read(model)
    assert facts.n_params == 512 + 64
    data = 8 * 8 * 4 + 8 * 2 + 8 * 2 + 64 * 4
    assert facts.bits_per_weight == round(data * 8 / 576, 4)
    assert facts.tensor_types == {
        "F16": TensorTypeStat(tensors=2, elements=16, bytes=32),
        "F32": TensorTypeStat(tensors=1, elements=64, bytes=256),
        "U32": TensorTypeStat(tensors=1, elements=64, bytes=256),
    }
    header_len = struct.unpack("<Q", (model / "model.safetensors").read_bytes()[:8])[0]
    assert facts.header_bytes == 8 + header_len
    assert facts.files == (str(model / "model.safetensors"),)
    assert (facts.format, facts.path, facts.folder, facts.publisher, facts.repo) == (
        "mlx",
        str(model),
        str(model),
        "pub",
        "model",
    )
    assert (facts.key_base, facts.name_source, facts.projector) == ("model", "model", None)


def test_key_base_strips_the_bits_token(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "mlx-community" / "Llama-3.2-1B-Instruct-4bit")
    facts = read(folder)
    assert (facts.key_base, facts.name_source) == ("Llama-3.2-1B-Instruct", "Llama-3.2-1B-Instruct")


# -- mixture of experts ------------------------------------------------------------------------------

MOE_TENSORS = {
    "model.layers.0.mlp.switch_mlp.gate_proj.weight": u32(4, 8, 8),  # 4 experts x 8 x 64
    "model.layers.0.mlp.switch_mlp.gate_proj.scales": f16(4, 8, 1),
    "model.layers.0.mlp.switch_mlp.gate_proj.biases": f16(4, 8, 1),
    "model.layers.0.mlp.gate.weight": f16(4, 64),  # the router: leading 4, but not an expert
    "model.layers.0.mlp.shared_expert.up_proj.weight": f16(4, 64),  # always runs
}


@pytest.mark.parametrize(
    "moe",
    [
        {"num_experts": 4, "num_experts_per_tok": 2},  # Qwen3-MoE
        {"num_local_experts": 4, "num_experts_per_tok": 2},  # Mixtral, gpt-oss
        {"n_routed_experts": 4, "num_experts_per_tok": 2},  # DeepSeek
        {"moe_num_experts": 4, "moe_topk": 2},
        {"num_experts": 4, "top_k_experts": 2},
        {"num_local_experts": 4, "num_experts_per_token": 2},
        {"text_config": {"num_experts": 4, "num_experts_per_tok": 2}},  # a VLM's language model
    ],
)
def test_moe_active_params(model: Path, moe: dict[str, object]) -> None:
    make_model(model, {"model_type": "qwen3_moe", "quantization": {"group_size": 64, "bits": 4}, **moe}, MOE_TENSORS)
    facts = read(model)
    assert facts.n_params == 2048 + 256 + 256
    assert facts.n_params_active == 2560 - 2048 + 2048 * 2 // 4
    assert facts.warnings == ()


def test_moe_unstacked_experts(model: Path) -> None:
    tensors = {f"model.layers.0.block_sparse_moe.experts.{i}.w1.weight": f16(8, 8) for i in range(4)}
    tensors["model.norm.weight"] = f16(64)
    make_model(model, {"num_local_experts": 4, "num_experts_per_tok": 1}, tensors)
    facts = read(model)
    assert (facts.n_params, facts.n_params_active) == (320, 64 + 256 // 4)


def test_dense_model_has_no_active_count(model: Path) -> None:
    make_model(model, {"num_experts": 0}, MOE_TENSORS)
    assert read(model).n_params_active is None


@pytest.mark.parametrize(
    ("moe", "expected_fields"),
    [
        ({"num_experts": 4, "num_experts_per_tok": 8}, [("bad_value", "num_experts_per_tok")]),
        ({"num_experts": 4, "moe_topk": [2, 2]}, [("wrong_type", "moe_topk")]),
        ({"num_experts": "4", "num_experts_per_tok": 2}, [("wrong_type", "num_experts")]),
        ({"num_experts": True, "num_experts_per_tok": 2}, [("wrong_type", "num_experts")]),
    ],
)
def test_moe_bad_counts(model: Path, moe: dict[str, object], expected_fields: list[tuple[str, str]]) -> None:
    make_model(model, {"quantization": {"group_size": 64, "bits": 4}, **moe}, MOE_TENSORS)
    facts = read(model)
    assert fields(facts) == expected_fields
    assert facts.n_params_active is None
    assert facts.n_params == 2560


# -- context length ------------------------------------------------------------------------------

YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}


@pytest.mark.parametrize(
    ("config", "context", "expected_fields"),
    [
        ({"max_position_embeddings": 4096}, 4096, []),
        ({"text_config": {"max_position_embeddings": 8192}}, 8192, []),
        ({"llm_config": {"max_position_embeddings": 8192}}, 8192, []),
        ({"language_config": {"max_position_embeddings": 8192}}, 8192, []),
        # The top level first, then text_config, llm_config, language_config.
        ({"max_position_embeddings": 2048, "text_config": {"max_position_embeddings": 8192}}, 2048, []),
        ({"llm_config": {"max_position_embeddings": 1}, "text_config": {"max_position_embeddings": 2}}, 2, []),
        ({"n_positions": 1024}, 1024, []),
        ({"max_sequence_length": 2048}, 2048, []),
        ({"seq_length": 512}, 512, []),
        ({"text_config": {"seq_length": 777}}, 777, []),
        # max_position_embeddings anywhere beats n_positions at the top.
        ({"n_positions": 1024, "text_config": {"max_position_embeddings": 4096}}, 4096, []),
        ({"n_positions": 1024, "max_sequence_length": 2048, "seq_length": 512}, 1024, []),
        ({}, None, []),
        # YaRN raises it to factor x original when larger.
        ({"max_position_embeddings": 32768, "rope_scaling": YARN}, 131072, []),
        ({"max_position_embeddings": 32768, "rope_scaling": {**YARN, "rope_type": None, "type": "yarn"}}, 131072, []),
        ({"max_position_embeddings": 32768, "rope_scaling": {**YARN, "factor": 4}}, 131072, []),
        ({"text_config": {"max_position_embeddings": 32768, "rope_scaling": YARN}}, 131072, []),
        ({"max_position_embeddings": 32768, "rope_parameters": YARN}, 131072, []),
        ({"rope_scaling": YARN}, 131072, []),
        # DeepSeek-V3: 40 x 4096 = 163840, not larger.
        (
            {
                "max_position_embeddings": 163840,
                "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096},
            },
            163840,
            [],
        ),
        ({"max_position_embeddings": 200000, "rope_scaling": YARN}, 200000, []),
        # Llama 3's rope is not YaRN.
        (
            {
                "max_position_embeddings": 131072,
                "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "original_max_position_embeddings": 8192},
            },
            131072,
            [],
        ),
        ({"max_position_embeddings": 4096, "rope_scaling": None}, 4096, []),
        (
            {"max_position_embeddings": 32768, "rope_scaling": {**YARN, "factor": 1.00001}},
            32768,
            [("bad_rope_scaling", "rope_scaling.factor")],
        ),
        (
            {"max_position_embeddings": 32768, "rope_scaling": {**YARN, "factor": "4"}},
            32768,
            [("bad_rope_scaling", "rope_scaling.factor")],
        ),
        (
            {"max_position_embeddings": 32768, "rope_scaling": {**YARN, "factor": -4.0}},
            32768,
            [("bad_rope_scaling", "rope_scaling.factor")],
        ),
        (
            {"max_position_embeddings": 32768, "rope_scaling": {**YARN, "factor": 1e300}},
            32768,
            [("bad_rope_scaling", "rope_scaling.factor")],
        ),  # finite and whole, but past 2**63
        (
            {"max_position_embeddings": 32768, "rope_scaling": {**YARN, "original_max_position_embeddings": 32768.0}},
            32768,
            [("wrong_type", "rope_scaling.original_max_position_embeddings")],
        ),
        ({"max_position_embeddings": 32768, "rope_scaling": [YARN]}, 32768, [("wrong_type", "rope_scaling")]),
        # Gemma 3 leaves it to the transformers default.
        ({"model_type": "gemma3", "text_config": {"model_type": "gemma3_text"}}, 131072, []),
        ({"model_type": "gemma3_text"}, 131072, []),
        ({"model_type": "gemma3", "text_config": {"max_position_embeddings": 32768}}, 32768, []),
        ({"model_type": "gemma2"}, None, []),
        # C-07: wrong types warn and count as absent; the chain carries on.
        ({"max_position_embeddings": True}, None, [("wrong_type", "max_position_embeddings")]),
        ({"max_position_embeddings": "4096", "n_positions": 1024}, 1024, [("wrong_type", "max_position_embeddings")]),
        ({"max_position_embeddings": 4096.0}, None, [("wrong_type", "max_position_embeddings")]),
        ({"max_position_embeddings": 0}, None, [("bad_value", "max_position_embeddings")]),
        ({"max_position_embeddings": -1}, None, [("bad_value", "max_position_embeddings")]),
        ({"max_position_embeddings": 2**64}, None, [("bad_value", "max_position_embeddings")]),
        ({"max_position_embeddings": None, "seq_length": 77}, 77, []),
        (
            {"text_config": {"max_position_embeddings": [4096]}},
            None,
            [("wrong_type", "text_config.max_position_embeddings")],
        ),
    ],
)
def test_context_length(
    model: Path, config: dict[str, object], context: int | None, expected_fields: list[tuple[str, str]]
) -> None:
    make_model(model, {"model_type": "llama", **config})
    facts = read(model)
    assert facts.max_context_length == context
    assert fields(facts) == expected_fields


def test_c07_wrong_types_for_used_fields(model: Path) -> None:
    # 1e400 parses to inf; nothing may call int() on it.
    make_model(
        model,
        b'{"model_type": "llama", "num_hidden_layers": "32", "max_position_embeddings": true, '
        b'"hidden_size": -1, "intermediate_size": 3.5, "vocab_size": 1e400}',
    )
    facts = read(model)
    assert facts.max_context_length is None
    (warning,) = facts.warnings
    assert str(warning) == f"{model / 'config.json'}: json max_position_embeddings: expected int, got bool"


def test_c07_infinite_yarn_factor(model: Path) -> None:
    make_model(
        model,
        b'{"max_position_embeddings": 4096, "rope_scaling": '
        b'{"rope_type": "yarn", "factor": 1e400, "original_max_position_embeddings": 4096}}',
    )
    facts = read(model)
    assert facts.max_context_length == 4096
    assert fields(facts) == [("missing_field", "model_type"), ("bad_rope_scaling", "rope_scaling.factor")]


def test_c12_model_max_length_is_not_the_context(model: Path) -> None:
    make_model(
        model,
        {"model_type": "llama"},
        files={"tokenizer_config.json": {"model_max_length": 1000000000000000019884624838656}},
    )
    assert read(model).max_context_length is None
    make_model(
        model,
        {"model_type": "llama", "max_position_embeddings": 2048},
        files={"tokenizer_config.json": {"model_max_length": 1000000000000000019884624838656}},
    )
    assert read(model).max_context_length == 2048


# -- architecture and type ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "architecture", "expected_fields"),
    [
        ({"model_type": "llama"}, "llama", []),
        ({"model_type": "llava", "text_config": {"model_type": "mistral"}}, "llava", []),
        ({"text_config": {"model_type": "mistral"}}, "mistral", []),
        ({"model_type": "Qwen3_MoE"}, "Qwen3_MoE", []),  # verbatim
        ({}, None, [("missing_field", "model_type")]),
        ({"model_type": 5, "text_config": {"model_type": "qwen2"}}, "qwen2", [("wrong_type", "model_type")]),
        ({"model_type": ["llama"]}, None, [("wrong_type", "model_type"), ("missing_field", "model_type")]),
        # C-09: hostile strings are kept verbatim (escaped only when printed), never used as a path.
        ({"model_type": "\u001b[2J../../x", "architectures": ["A"] * 1000}, "\u001b[2J../../x", []),
    ],
)
def test_architecture(
    model: Path, config: dict[str, object], architecture: str | None, expected_fields: list[tuple[str, str]]
) -> None:
    make_model(model, config, typed=False)
    facts = read(model)
    assert facts.architecture == architecture
    assert fields(facts) == expected_fields


def test_c09_a_million_architectures(model: Path) -> None:
    raw = json.dumps({"model_type": "llama", "architectures": ["A"] * 1_000_000}, separators=(",", ":")).encode()
    assert len(raw) < BATCH_LIMITS.config_json_bytes
    make_model(model, raw)
    assert read(model).architecture == "llama"


@pytest.mark.parametrize("name", ["modules.json", "config_sentence_transformers.json", "sentence_bert_config.json"])
def test_sentence_transformers_files_make_an_embedding_model(model: Path, name: str) -> None:
    # Qwen3-Embedding is a decoder: only the sentence-transformers files tell.
    make_model(model, {"model_type": "qwen3"}, files={name: {}})
    assert read(model).type == "embedding"


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        ({"model_type": "bert"}, "embedding"),
        ({"model_type": "xlm-roberta"}, "embedding"),
        ({"model_type": "nomic_bert"}, "embedding"),
        ({"model_type": "modernbert"}, "embedding"),
        ({"model_type": "custom", "text_config": {"model_type": "roberta"}}, "embedding"),
        ({"model_type": "llama"}, "llm"),
        ({"model_type": "qwen3"}, "llm"),
        ({}, "llm"),
    ],
)
def test_encoder_model_types_are_embedding_models(model: Path, config: dict[str, object], kind: str) -> None:
    make_model(model, config, typed=False)
    assert read(model).type == kind


def test_sentence_transformers_file_in_a_subfolder_does_not_count(model: Path) -> None:
    make_model(model, {"model_type": "llama"}, files={"1_Pooling/modules.json": {}})
    assert read(model).type == "llm"


# -- vision ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "vision", "expected_fields"),
    [
        ({"vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152}}, True, []),
        ({"vision_config": {}}, False, []),
        ({"vision_config": None}, False, []),
        ({}, False, []),
        ({"vision_config": "oops"}, False, [("wrong_type", "vision_config")]),
        ({"vision_config": [{"hidden_size": 1}]}, False, [("wrong_type", "vision_config")]),
        # C-10: vision from vision_config alone; LLM fields from text_config only when an object.
        ({"model_type": "llava", "text_config": "oops", "vision_config": {}}, False, [("wrong_type", "text_config")]),
        (
            {"model_type": "llava", "text_config": None, "vision_config": {"a": 1}},
            True,
            [("wrong_type", "text_config")],
        ),
    ],
)
def test_vision(model: Path, config: dict[str, object], vision: bool, expected_fields: list[tuple[str, str]]) -> None:
    make_model(model, {"model_type": "llava", **config})
    facts = read(model)
    assert facts.vision is vision
    assert fields(facts) == expected_fields


def test_c10_text_config_not_an_object_is_not_read(model: Path) -> None:
    make_model(model, {"model_type": "llava", "text_config": "oops", "vision_config": {"x": 1}})
    facts = read(model)
    assert (facts.architecture, facts.max_context_length, facts.vision) == ("llava", None, True)
    (warning,) = facts.warnings
    assert str(warning) == f"{model / 'config.json'}: json text_config: expected object, got str"


# -- chat template and tool use ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "has_template", "tools", "expected_codes"),
    [
        ({}, False, False, []),
        ({"chat_template.jinja": TOOLS}, True, True, []),
        ({"chat_template.jinja": PLAIN}, True, False, []),
        # chat_template.jinja comes first, as in transformers.
        ({"chat_template.jinja": PLAIN, "tokenizer_config.json": {"chat_template": TOOLS}}, True, False, []),
        ({"tokenizer_config.json": {"chat_template": TOOLS}}, True, True, []),
        ({"tokenizer_config.json": {"chat_template": PLAIN}}, True, False, []),
        ({"tokenizer_config.json": {"chat_template": TOOLS_AS_TEXT}}, True, False, []),
        # C-11: a list of named templates; one named tool_use counts, as does one that uses tools.
        (
            {
                "tokenizer_config.json": {
                    "chat_template": [{"name": "default", "template": PLAIN}, {"name": "tool_use", "template": PLAIN}]
                }
            },
            True,
            True,
            [],
        ),
        ({"tokenizer_config.json": {"chat_template": [{"name": "default", "template": TOOLS}]}}, True, True, []),
        (
            {
                "tokenizer_config.json": {
                    "chat_template": [{"name": "default", "template": PLAIN}, {"name": "rag", "template": PLAIN}]
                }
            },
            True,
            False,
            [],
        ),
        ({"tokenizer_config.json": {"chat_template": 5}}, False, False, ["bad_chat_template"]),
        (
            {"tokenizer_config.json": {"chat_template": [5, {"name": "default"}, {"name": "d", "template": TOOLS}]}},
            True,
            True,
            ["bad_chat_template"],
        ),
        ({"tokenizer_config.json": {"chat_template": None}}, False, False, []),
        # tokenizer_config.json without a template: chat_template.json is next.
        (
            {"tokenizer_config.json": {"model_max_length": 512}, "chat_template.json": {"chat_template": TOOLS}},
            True,
            True,
            [],
        ),
        ({"chat_template.json": {"chat_template": PLAIN}}, True, False, []),
        # An unreadable source is a warning, and the next one is read.
        (
            {"tokenizer_config.json": b"{", "chat_template.json": {"chat_template": TOOLS}},
            True,
            True,
            ["invalid_field"],
        ),
        ({"tokenizer_config.json": b'{"chat_template": "a", "chat_template": "b"}'}, False, False, ["duplicate_key"]),
        # The SSTI payload of CVE-2024-34359 is searched as text, never rendered.
        (
            {
                "chat_template.jinja": (
                    "{{ self.__init__.__globals__.__builtins__.__import__('os').system('touch pwned') }}"
                )
            },
            True,
            False,
            [],
        ),
        ({"chat_template.jinja": b"\xef\xbb\xbf" + TOOLS.encode()}, True, True, []),
        ({"chat_template.jinja": b"\xff" + TOOLS.encode()}, True, True, ["not_utf8"]),
    ],
)
def test_tool_use(
    model: Path, files: dict[str, object], has_template: bool, tools: bool, expected_codes: list[str]
) -> None:
    make_model(model, {"model_type": "llama"}, files=files)
    facts = read(model)
    assert (facts.has_chat_template, facts.trained_for_tool_use) == (has_template, tools)
    assert codes(facts) == expected_codes
    assert not (model / "pwned").exists()


def test_c11_template_over_the_cap_is_not_searched(model: Path) -> None:
    make_model(model, {"model_type": "llama"}, files={"tokenizer_config.json": {"chat_template": TOOLS + " " * 200}})
    facts = read(model, BATCH_LIMITS.replace(gguf_chat_template_bytes=100))
    assert (facts.has_chat_template, facts.trained_for_tool_use) == (True, False)
    assert fields(facts) == [("not_decoded", "chat_template")]


def test_c11_tokenizer_config_over_its_size_limit(model: Path) -> None:
    make_model(model, {"model_type": "llama"}, files={"tokenizer_config.json": {"chat_template": TOOLS + " " * 200}})
    facts = read(model, BATCH_LIMITS.replace(tokenizer_config_bytes=100))
    assert (facts.has_chat_template, facts.trained_for_tool_use) == (False, False)
    (warning,) = facts.warnings
    assert isinstance(warning, LimitExceeded)
    assert warning.limit == "tokenizer_config_bytes"


# -- size ----------------------------------------------------------------------------------------


def test_size_counts_every_file_recursively_without_junk(model: Path, tmp_path: Path) -> None:
    make_model(model, {"model_type": "llama"})
    counted = {
        "tokenizer.json": b"t" * 1000,
        "README.md": b"r" * 10,
        "1_Pooling/config.json": b"{}" * 7,
        "sub/deeper/weights.bin": b"w" * 333,
        "__pycache__/x.pyc": b"p" * 5,
    }
    ignored = {
        ".cache/huggingface/download/model.safetensors.metadata": b"m" * 100,
        ".cache/huggingface/.gitignore": b"*",
        ".gitattributes": b"g" * 1519,
        "._model.safetensors": bytes.fromhex("0005160700020000") + b"Mac OS X        " + b"\0" * 60,
        "._config.json": b"\0" * 4096,
        ".DS_Store": b"d" * 6148,
        "sub/.hidden": b"h" * 50,
        "model.safetensors.part": b"x" * 70,
        "tokenizer.json.incomplete": b"x" * 80,
        "model-Q4_K_M.gguf": b"GGUF" + b"\0" * 100,  # listed as its own model, with its own size
    }
    for name, content in {**counted, **ignored}.items():
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        (model / name).write_bytes(content)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big.bin").write_bytes(b"o" * 4000)
    os.symlink(outside, model / "linked_dir")  # a directory symlink: not followed
    os.symlink(outside / "big.bin", model / "linked.bin")  # a file symlink out of the folder: not counted
    os.symlink("README.md", model / "readme-link.md")  # inside: the same file, counted once
    os.link(model / "tokenizer.json", model / "sub" / "hardlink.json")  # one file, counted once

    expected = sum(len(c) for c in counted.values())
    expected += (model / "config.json").stat().st_size + (model / "model.safetensors").stat().st_size
    facts = read(model)
    assert facts.size_bytes == expected
    assert facts.warnings == ()


def test_size_is_bounded_by_the_walk_limits(model: Path) -> None:
    make_model(model, {"model_type": "llama"})
    (model / "a" / "b" / "c").mkdir(parents=True)
    (model / "a" / "b" / "c" / "deep.bin").write_bytes(b"d" * 100)
    for i in range(5):
        (model / f"f{i}.txt").write_bytes(b"f")
    base = (model / "config.json").stat().st_size + (model / "model.safetensors").stat().st_size
    assert read(model).size_bytes == base + 5 + 100
    assert read(model, BATCH_LIMITS.replace(walk_depth=2)).size_bytes == base + 5
    facts = read(model, BATCH_LIMITS.replace(walk_entries_total=100))
    assert facts.size_bytes == base + 5 + 100
    # The model folder holds 8 entries, a/ and a/b/ one each: the budget runs out inside a/b/.
    facts = read(model, BATCH_LIMITS.replace(walk_entries_total=9))
    assert facts.size_bytes == base + 5
    assert fields(facts) == [("scan_truncated", None)]
    assert facts.warnings[0].limit == "walk_entries_total"
    with pytest.raises(LimitExceeded) as total:
        read(model, BATCH_LIMITS.replace(walk_entries_total=2))  # the model folder cannot be listed whole
    assert total.value.limit == "walk_entries_total"
    facts = read(model, BATCH_LIMITS.replace(walk_entries_per_dir=8))
    assert facts.size_bytes == base + 5 + 100
    with pytest.raises(LimitExceeded) as info:
        read(model, BATCH_LIMITS.replace(walk_entries_per_dir=7))  # the model folder holds 8 entries
    assert info.value.limit == "walk_entries_per_dir"


def test_hugging_face_snapshot_links_into_blobs(tmp_path: Path) -> None:
    # F-04b: snapshots/<rev>/file -> ../../blobs/<sha>; the blobs are the sizes.
    repo = tmp_path / "hub" / "models--mlx-community--Tiny-4bit"
    blobs = repo / "blobs"
    snap = repo / "snapshots" / "abc123"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (blobs / "c1").write_text(json.dumps({"model_type": "llama"}))
    save_file(dict(ONE_TENSOR), str(blobs / "s1"))
    os.symlink("../../blobs/c1", snap / "config.json")
    os.symlink("../../blobs/s1", snap / "model.safetensors")
    facts = read_mlx_model(snap, publisher="x", repo="Tiny-4bit")
    assert facts.size_bytes == (blobs / "c1").stat().st_size + (blobs / "s1").stat().st_size
    assert facts.n_params == 4


def test_config_symlink_out_of_the_folder_is_not_read(model: Path, tmp_path: Path) -> None:
    make_model(model, {"model_type": "llama"})
    (model / "config.json").unlink()
    (tmp_path / "elsewhere.json").write_text('{"model_type": "llama"}')
    os.symlink(tmp_path / "elsewhere.json", model / "config.json")
    with pytest.raises(FileAccessError) as info:
        read(model)
    assert info.value.code == "outside_root"


# -- shards -------------------------------------------------------------------------------------

SHARD_1 = {
    "model.embed_tokens.weight": u32(16, 8),
    "model.embed_tokens.scales": f16(16, 1),
    "model.embed_tokens.biases": f16(16, 1),
}
SHARD_2 = {
    "model.layers.0.self_attn.q_proj.weight": u32(64, 8),
    "model.layers.0.self_attn.q_proj.scales": f16(64, 1),
    "model.layers.0.self_attn.q_proj.biases": f16(64, 1),
    "model.norm.weight": f16(64),
}
N_PARAMS = 16 * 64 + 64 * 64 + 64
DATA_BYTES = 16 * 8 * 4 + 2 * 16 * 2 + 64 * 8 * 4 + 2 * 64 * 2 + 64 * 2
NAMES = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")


def sharded(
    folder: Path, *, metadata: object = None, weight_map: object = None, write: tuple[str, ...] = NAMES
) -> Path:
    make_model(folder, {"model_type": "llama", "quantization": {"group_size": 64, "bits": 4}}, None)
    for name, tensors in zip(NAMES, (SHARD_1, SHARD_2), strict=True):
        if name in write:
            save_file(dict(tensors), str(folder / name))
    if weight_map is None:
        weight_map = {**dict.fromkeys(SHARD_1, NAMES[0]), **dict.fromkeys(SHARD_2, NAMES[1])}
    index: dict[str, object] = {"weight_map": weight_map}
    if metadata is not None:
        index["metadata"] = metadata
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


def test_sharded_model(model: Path) -> None:
    sharded(model, metadata={"total_size": DATA_BYTES, "total_parameters": N_PARAMS})
    facts = read(model)
    assert facts.files == tuple(str(model / n) for n in NAMES)
    assert (facts.n_params, facts.quant_name) == (N_PARAMS, "4bit")
    headers = sum(8 + struct.unpack("<Q", (model / n).read_bytes()[:8])[0] for n in NAMES)
    assert facts.header_bytes == headers
    assert facts.warnings == ()


def test_c14_shard_listed_but_missing(model: Path) -> None:
    sharded(model, write=NAMES[:1])
    with pytest.raises(IncompleteModel) as info:
        read(model)
    assert info.value.code == "missing_shard"
    assert info.value.detail == "1 of 2 shard(s) missing: model-00002-of-00002.safetensors"


def test_c14_shard_on_disk_but_not_listed(model: Path) -> None:
    sharded(model)
    save_file({"x": f32(1000)}, str(model / "consolidated.safetensors"))
    facts = read(model)
    assert fields(facts) == [("unlisted_shard", "weight_map")]
    assert facts.warnings[0].path == str(model / "consolidated.safetensors")
    assert facts.n_params == N_PARAMS  # not part of the model
    assert str(model / "consolidated.safetensors") not in facts.files


@pytest.mark.parametrize(
    "shard",
    [
        "../outside.safetensors",
        "/etc/passwd",
        "sub/model.safetensors",
        "sub\\model.safetensors",
        "..",
        "model.bin",
        "C:model.safetensors",
        ".hidden.safetensors",
        "._model.safetensors",
        "a\u0000.safetensors",
        5,
        None,
        ["model.safetensors"],
    ],
)
def test_c14_shard_names_are_file_names_in_the_folder(model: Path, tmp_path: Path, shard: object) -> None:
    # R10: a weight_map value is never used as a path outside the folder; the file exists to prove it.
    sharded(model, weight_map={"w": shard})
    save_file({"w": f32(4)}, str(tmp_path / "models" / "pub" / "outside.safetensors"))
    with pytest.raises(InvalidField) as info:
        read(model)
    assert info.value.code == "bad_shard_name"
    assert info.value.field == "weight_map.w"


@pytest.mark.parametrize("weight_map", [[], {}, "model.safetensors", 5])
def test_c14_weight_map_must_be_an_object(model: Path, weight_map: object) -> None:
    sharded(model)
    (model / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(InvalidField) as info:
        read(model)
    assert (info.value.code, info.value.field) == ("wrong_type", "weight_map")


def test_c14_index_not_json(model: Path) -> None:
    sharded(model)
    (model / "model.safetensors.index.json").write_bytes(b"{")
    with pytest.raises(InvalidField):
        read(model)


@pytest.mark.parametrize(
    ("metadata", "expected_fields"),
    [
        ({"total_size": DATA_BYTES, "total_parameters": N_PARAMS}, []),
        ({"total_parameters": N_PARAMS + 1}, [("param_mismatch", "metadata.total_parameters")]),
        ({"total_size": DATA_BYTES + 1}, [("size_mismatch", "metadata.total_size")]),
        (
            {"total_size": "1", "total_parameters": 1.5},
            [("wrong_type", "metadata.total_size"), ("wrong_type", "metadata.total_parameters")],
        ),
        ({"total_parameters": True}, [("wrong_type", "metadata.total_parameters")]),
        ("oops", [("wrong_type", "metadata")]),
        ({}, []),
    ],
)
def test_c14_index_metadata(model: Path, metadata: object, expected_fields: list[tuple[str, str]]) -> None:
    sharded(model, metadata=metadata)
    facts = read(model)
    assert fields(facts) == expected_fields
    assert facts.n_params == N_PARAMS


def test_c14_total_parameters_mismatch_message(model: Path) -> None:
    sharded(model, metadata={"total_parameters": 6_000_000})
    (warning,) = read(model).warnings
    assert warning.detail == f"6000000 parameters, but the headers give {N_PARAMS}"


def test_c14_tensor_in_another_shard_than_listed(model: Path) -> None:
    weight_map = {**dict.fromkeys(SHARD_1, NAMES[0]), **dict.fromkeys(SHARD_2, NAMES[1])}
    weight_map["model.norm.weight"] = NAMES[0]
    weight_map["ghost.weight"] = NAMES[1]
    del weight_map["model.embed_tokens.biases"]
    sharded(model, weight_map=weight_map)
    facts = read(model)
    assert [w.detail for w in facts.warnings] == [
        "1 tensor(s) listed but in no shard, first 'ghost.weight'",
        "1 tensor(s) in another shard than listed, first 'model.norm.weight'",
        "1 tensor(s) in a shard but not listed, first 'model.embed_tokens.biases'",
    ]
    assert set(codes(facts)) == {"index_mismatch"}
    assert facts.n_params == N_PARAMS  # the headers decide


def test_c14_huge_weight_map(model: Path) -> None:
    weight_map = {f"t{i:07d}": NAMES[0] for i in range(1_000_000)}
    weight_map.update({**dict.fromkeys(SHARD_1, NAMES[0]), **dict.fromkeys(SHARD_2, NAMES[1])})
    sharded(model, weight_map=weight_map)
    facts = read(model)
    assert codes(facts) == ["index_mismatch"]
    assert facts.n_params == N_PARAMS


def test_c14_index_over_its_size_limit(model: Path) -> None:
    sharded(model)
    with pytest.raises(LimitExceeded) as info:
        read(model, BATCH_LIMITS.replace(index_json_bytes=10))
    assert info.value.limit == "index_json_bytes"


def test_without_index_every_safetensors_file_is_a_shard(model: Path) -> None:
    sharded(model)
    (model / "model.safetensors.index.json").unlink()
    facts = read(model)
    assert facts.files == tuple(str(model / n) for n in NAMES)
    assert facts.n_params == N_PARAMS


def test_tensor_in_two_shards_counts_once(model: Path) -> None:
    make_model(model, {"model_type": "llama"}, None)
    save_file({"a": f32(4), "b": f32(8)}, str(model / "model-00001-of-00002.safetensors"))
    save_file({"a": f32(4), "c": f32(2)}, str(model / "model-00002-of-00002.safetensors"))
    facts = read(model)
    assert facts.n_params == 14
    assert fields(facts) == [("duplicate_tensor", "tensor[a]")]


def test_bad_weights_file_raises(model: Path) -> None:
    make_model(model, {"model_type": "llama"}, None)
    (model / "model.safetensors").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 9\n")
    with pytest.raises(ModelScanError) as info:
        read(model)
    assert info.value.code == "lfs_pointer"


# -- the JSON catalogue, C-01 to C-05 -----------------------------------------------------------------


def test_c01_missing_config(model: Path) -> None:
    make_model(model)
    (model / "config.json").unlink()
    with pytest.raises(IncompleteModel) as info:
        read(model)
    assert info.value.code == "missing_config"
    # Through a scan the folder is a problem, not a model, and not an exception.
    report = modelscan.scan_models(model.parent.parent)
    assert report.models == []
    assert [p.code for p in report.problems] == ["missing_config"]


@pytest.mark.parametrize(
    ("raw", "detail"),
    [(b"", "JSON: Expecting value at line 1 column 1"), (b"  \n", "JSON: Expecting value at line 2 column 1")],
)
def test_c02_empty_config(model: Path, raw: bytes, detail: str) -> None:
    make_model(model, raw)
    with pytest.raises(InvalidField) as info:
        read(model)
    assert (info.value.detail, info.value.field) == (detail, "config.json")


@pytest.mark.parametrize("raw", [b'\xef\xbb\xbf{"model_type":"llama"}', '{"model_type":"llama"}'.encode("utf-16")])
def test_c03_bom_and_utf16_are_accepted(model: Path, raw: bytes) -> None:
    make_model(model, raw)
    assert read(model).architecture == "llama"


def test_c03_invalid_utf8(model: Path) -> None:
    make_model(model, b'{"model_type":"\xff"}')
    with pytest.raises(InvalidField) as info:
        read(model)
    assert info.value.detail == "not UTF-8 at byte 15"


@pytest.mark.parametrize(("raw", "what"), [(b"[]", "list"), (b'"llama"', "string"), (b"null", "null")])
def test_c04_top_level_not_an_object(model: Path, raw: bytes, what: str) -> None:
    make_model(model, raw)
    with pytest.raises(InvalidField) as info:
        read(model)
    assert info.value.detail == f"top level is {what}"


def test_c05_config_too_large(model: Path) -> None:
    make_model(model)
    with open(model / "config.json", "wb") as f:
        f.truncate(2 << 30)  # sparse: 2 GiB apparent, never read
    with pytest.raises(LimitExceeded) as info:
        read(model)
    assert info.value.limit == "config_json_bytes"
    assert info.value.detail == "2147483648 bytes exceed the limit of 4194304"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'{"model_type": "llama", "model_type": "qwen2"}', DuplicateKey),  # R8: duplicates are not last-wins
        (b'{"max_position_embeddings": NaN}', InvalidField),
        (b'{"a": "\\ud800"}', InvalidField),  # a lone surrogate
        (b"[" * 100_000 + b"]" * 100_000, LimitExceeded),  # json.loads' RecursionError, typed
        (b'{"a":' * 1000 + b"1" + b"}" * 1000, LimitExceeded),  # deeper than limits.json_depth
    ],
)
def test_strict_json(model: Path, raw: bytes, error: type[ModelScanError]) -> None:
    make_model(model, raw)
    with pytest.raises(error):
        read(model)


def test_warnings_pickle(model: Path) -> None:
    make_model(model, {"quantization": [4], "max_position_embeddings": True, "vision_config": 3})
    facts = read(model)
    again = pickle.loads(pickle.dumps(facts.warnings))
    assert [str(w) for w in again] == [str(w) for w in facts.warnings]


# -- through the scan ---------------------------------------------------------------------------


def test_list_models_entry(tmp_path: Path) -> None:
    folder = make_model(
        tmp_path / "models" / "mlx-community" / "Qwen3-4B-4bit",
        {"model_type": "qwen3", "max_position_embeddings": 40960, "quantization": {"group_size": 64, "bits": 4}},
        {"m.weight": u32(8, 8), "m.scales": f16(8, 1), "m.biases": f16(8, 1)},
        files={"chat_template.jinja": TOOLS},
    )
    models = response_models(modelscan.list_models(tmp_path / "models"))
    assert models == [
        {
            "type": "llm",
            "publisher": "mlx-community",
            "key": "qwen3-4b",
            "display_name": "Qwen3 4B",
            "architecture": "qwen3",
            "quantization": {"name": "4bit", "bits_per_weight": 4},
            "size_bytes": sum(p.stat().st_size for p in folder.iterdir()),
            "params_string": "4B",
            "loaded_instances": [],
            "max_context_length": 40960,
            "format": "mlx",
            "capabilities": {"vision": False, "trained_for_tool_use": True},
            "description": None,
        }
    ]


# -- anything in config.json: a ModelScanError or facts, never another exception --------------------

_KEYS = st.sampled_from(
    [
        "model_type",
        "quantization",
        "quantization_config",
        "bits",
        "group_size",
        "mode",
        "quant_method",
        "text_config",
        "llm_config",
        "language_config",
        "vision_config",
        "max_position_embeddings",
        "n_positions",
        "max_sequence_length",
        "seq_length",
        "rope_scaling",
        "rope_parameters",
        "rope_type",
        "type",
        "factor",
        "original_max_position_embeddings",
        "num_experts",
        "num_local_experts",
        "n_routed_experts",
        "moe_num_experts",
        "num_experts_per_tok",
        "num_experts_per_token",
        "moe_topk",
        "top_k_experts",
        "chat_template",
        "name",
        "template",
        "m",
        "e",
        "yarn",
    ]
) | st.text(max_size=4)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([0, 1, 2, 4, 8, 32, 64, 4096])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["yarn", "affine", "mxfp4", "nvfp4", "mxfp8", "tool_use", TOOLS, "gemma3", "bert", ""])
    | st.text(max_size=8)
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=6), max_leaves=24
)
_CONFIGS = st.dictionaries(_KEYS, _VALUES, max_size=10)
_FUZZ_TENSORS = {
    "m.weight": u32(8, 8),
    "m.scales": f16(8, 1),
    "m.biases": f16(8, 1),
    "e.switch_mlp.up.weight": u32(4, 8, 8),
    "e.switch_mlp.up.scales": f16(4, 8, 1),
    "w": f32(4),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=_CONFIGS, sidecar=_CONFIGS)
def test_any_config_gives_facts_or_a_typed_error(config: dict[str, object], sidecar: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_model(
            Path(tmp) / "pub" / "Model-4bit",
            config,
            _FUZZ_TENSORS,
            files={"tokenizer_config.json": sidecar, "chat_template.json": sidecar},
            typed=False,
        )
        try:
            facts = read(folder)
        except ModelScanError:
            return
        assert all(isinstance(w, ModelScanError) for w in facts.warnings)
        assert facts.type in ("llm", "embedding")
        assert facts.max_context_length is None or type(facts.max_context_length) is int
        assert facts.quant_bits is None or type(facts.quant_bits) is int
        assert facts.n_params is None or facts.n_params >= 0
        json.dumps([str(w) for w in facts.warnings])


def test_fifo_config_is_never_opened(model: Path) -> None:
    make_model(model)
    (model / "config.json").unlink()
    os.mkfifo(model / "config.json")  # opening it for reading would block (R7)
    with pytest.raises(FileAccessError) as info:
        read(model)
    assert info.value.code == "not_regular_file"


def test_fifo_sidecar_is_a_warning(model: Path) -> None:
    make_model(model)
    os.mkfifo(model / "tokenizer_config.json")
    os.mkfifo(model / "notes.txt")  # not read, not counted
    facts = read(model)
    assert codes(facts) == ["not_regular_file"]
    assert facts.size_bytes == (model / "config.json").stat().st_size + (model / "model.safetensors").stat().st_size


# -- C-14: a big index parsed lean (modelscan._json.parse_json_flat_member) -----------------------

from modelscan import _json as json_module  # noqa: E402
from modelscan._json import parse_json, parse_json_flat_member  # noqa: E402

INDEX = "model.safetensors.index.json"


def _pairs(n: int, start: int = 0) -> list[bytes]:
    return [
        b'"model.layers.%d.mlp.down_proj.weight": "model-%05d-of-00009.safetensors"' % (i, i % 9 + 1)
        for i in range(start, start + n)
    ]


def _doc(
    pairs: list[bytes], *, before: bytes = b'"metadata": {"total_size": 5}, ', after: bytes = b"", sep: bytes = b", "
) -> bytes:
    return b"{" + before + b'"weight_map": {' + sep.join(pairs) + b"}" + after + b"}"


def _outcome(error: ModelScanError) -> tuple[object, ...]:
    return type(error), error.code, error.field


def _whole(data: bytes) -> tuple[object, ...]:
    try:
        return ("ok", list(parse_json(data, source="i", what=INDEX, limits=BATCH_LIMITS).items()))
    except ModelScanError as err:
        return _outcome(err)


def _lean(data: bytes) -> tuple[tuple[object, ...], bool]:
    """What mlx.py gets: the lean result, or the whole parse it falls back to; and whether it was lean."""
    try:
        found = parse_json_flat_member(data, "weight_map", source="i", what=INDEX, limits=BATCH_LIMITS)
    except ModelScanError as err:
        return _outcome(err), True
    if found is None:
        return _whole(data), False
    rest, weight_map = found
    assert len(weight_map) == len(dict(weight_map.items()))
    firsts: dict[str, str] = {}
    for tensor, shard in weight_map.items():
        firsts.setdefault(shard, tensor)
    assert list(weight_map.first_use.items()) == list(firsts.items())
    rest["weight_map"] = dict(weight_map.items())
    return ("ok", list(rest.items())), True


def _agree(data: bytes, lean: bool | None = None) -> tuple[object, ...]:
    assert len(data) > 1 << 20
    got, was_lean = _lean(data)
    assert got == _whole(data)
    if lean is not None:
        assert was_lean is lean
    return got


BIG = 25_000  # about 1.8 MB: two chunks


def test_lean_index_agrees_with_the_whole_parse() -> None:
    got = _agree(_doc(_pairs(BIG)), lean=True)
    assert got[0] == "ok"


@pytest.mark.parametrize("where", ["first", "middle", "last", "alone"])
def test_lean_index_weight_map_anywhere(where: str) -> None:
    other = b'"metadata": {"total_size": 5, "nested": [1, {"a": null}]}'
    before, after = {
        "first": (b"", b", " + other),
        "middle": (other + b", ", b', "x": [true, 2.5]'),
        "last": (other + b", ", b""),
        "alone": (b"", b""),
    }[where]
    _agree(_doc(_pairs(BIG), before=before, after=after), lean=True)


@pytest.mark.parametrize("sep", [b",", b" ,\n", b"\r\n\t,\t", b",\n        "])
def test_lean_index_whitespace(sep: bytes) -> None:
    data = b"\n {\n" + b'"weight_map"\t:\r\n{ ' + sep.join(_pairs(BIG)).replace(b'": "', b'"\n:  "') + b"\n}\n}\n"
    _agree(data, lean=True)


@pytest.mark.parametrize("sep", [b",\x0c", b",\x0b", b"\x00,"])
def test_lean_index_bad_whitespace_is_rejected(sep: bytes) -> None:
    assert _agree(_doc(_pairs(BIG), sep=sep))[0] is InvalidField


@pytest.mark.parametrize(
    ("first", "second"), [(7, BIG - 3), (BIG // 2, BIG // 2 + 1), (0, 1), (BIG - 2, BIG - 1), (3, BIG // 4 * 3)]
)
def test_lean_index_duplicate_key(first: int, second: int) -> None:
    pairs = _pairs(BIG)
    pairs[second] = pairs[first].replace(b"-of-", b"-OF-")  # the same key, another value
    got = _agree(_doc(pairs), lean=True)
    assert got == (DuplicateKey, "duplicate_key", f"{INDEX}.weight_map.model.layers.{first}.mlp.down_proj.weight")


def test_lean_index_first_repeated_key_is_reported() -> None:
    pairs = _pairs(BIG)
    pairs[BIG - 10] = pairs[10]  # repeats 10, but late
    pairs[BIG // 2] = pairs[20]  # repeats 20, earlier: the whole parse names this one
    got = _agree(_doc(pairs), lean=True)
    assert got[2] == f"{INDEX}.weight_map.model.layers.20.mlp.down_proj.weight"


@pytest.mark.parametrize(
    ("key", "twin"),
    [
        (rb"q\"uote", rb"q\"uote"),
        (rb"caf\u00e9", "café".encode()),
        (rb"\ud83d\ude00", "\U0001f600".encode()),
        (rb"\u0041bc", b"Abc"),
        (rb"back\\slash\/", rb"back\\slash/"),
        (rb"tab\t", rb"tab\u0009"),
    ],
)
def test_lean_index_escaped_keys(key: bytes, twin: bytes) -> None:
    pairs = _pairs(BIG)
    pairs[5] = b'"%s": "a.safetensors"' % key
    got = _agree(_doc(pairs), lean=True)
    assert got[0] == "ok"
    pairs[BIG - 5] = b'"%s": "b.safetensors"' % twin  # equal once unescaped: a duplicate
    got = _agree(_doc(pairs), lean=True)
    assert got[:2] == (DuplicateKey, "duplicate_key")


@pytest.mark.parametrize(
    "pair",
    [
        rb'"\ud800x": "a.safetensors"',
        rb'"x": "\udc00.safetensors"',
        rb'"a\x": "b"',
        b'"a\x01": "b"',
        rb'"a": "b\u12"',
        b'"\xff": "b"',
        b'"a": 5',
        b'"a": null',
        b'"a": true',
        b'"a": NaN',
        b'"a": -Infinity',
        b'"a": ["b"]',
        b'"a": {}',
        b'"a": {"b": "c"}',
        b'"a": {"b": "c", "b": "d"}',
        b'"a" "b"',
        b'"a": "b",',
        b'"a": "b" "c": "d"',
        b'"a": 1' + b"0" * 5000,
    ],
)
@pytest.mark.parametrize("at", [0, BIG // 2, BIG - 1])
def test_lean_index_odd_pairs_agree(pair: bytes, at: int) -> None:
    pairs = _pairs(BIG)
    pairs[at] = pair
    _agree(_doc(pairs))
    pairs[at + 1 if at + 1 < BIG else 0] = pairs[at]  # and with a duplicate too
    _agree(_doc(pairs))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b'"metadata": {"x": "\\"weight_map\\": {"}, ', b""),  # a decoy in a string
        (b'"metadata": {"weight_map": {"a": "b"}}, ', b""),  # a decoy nested
        (b"", b', "weight_map": {"a": "b"}'),  # the member twice
        (b'"weight_map": {"a": "b"}, ', b""),
        (b"", b', "metadata": {"a": 1, "a": 2}'),  # a repeat elsewhere: the parse order decides which is named
        (b'"metadata": {"a": 1, "a": 2}, ', b""),
        (b"", b', "metadata": NaN'),
        (b"", b', "metadata": "\\udc00"'),
        (b'"metadata": [' * 600 + b"]" * 600 + b", ", b""),  # too deep
        (b"", b"} trailing"),
        (b"", b"]"),
    ],
)
@pytest.mark.parametrize("repeat", [False, True])
def test_lean_index_rest_of_document_agrees(before: bytes, after: bytes, repeat: bool) -> None:
    pairs = _pairs(BIG)
    if repeat:
        pairs[BIG - 1] = pairs[1]
    _agree(_doc(pairs, before=before, after=after))


def test_lean_index_decoy_before_the_real_member_still_lean() -> None:
    _agree(_doc(_pairs(BIG), before=b'"metadata": {"x": "\\"weight_map\\": {", "weight_map": {"a": "b"}}, '), lean=True)


@pytest.mark.parametrize(
    "data",
    [
        _doc(_pairs(BIG)).replace(b'"weight_map"', rb'"weight\u005fmap"'),  # spelled with an escape
        _doc(_pairs(BIG)).decode().encode("utf-16"),
        b"\xef\xbb\xbf" + _doc(_pairs(BIG)),
        b'{"weight_map": {}, "metadata": {"pad": "' + b"x" * (2 << 20) + b'"}}',
        b"[" + _doc(_pairs(BIG)) + b"]",
    ],
)
def test_lean_index_falls_back(data: bytes) -> None:
    _agree(data, lean=False)


def test_lean_index_small_document_is_parsed_whole() -> None:
    assert parse_json_flat_member(_doc(_pairs(10)), "weight_map", source="i", what=INDEX, limits=BATCH_LIMITS) is None


def test_lean_index_in_a_model_gives_the_whole_parse_warnings(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real tensors, listed among 60,000 that are in no shard, two of them in the wrong shard.
    weight_map = {f"model.layers.{i}.mlp.down_proj.weight": NAMES[i % 2] for i in range(BIG)}
    weight_map.update(dict.fromkeys(SHARD_1, NAMES[1]))
    weight_map.update(dict.fromkeys(list(SHARD_2)[:-1], NAMES[1]))  # the last one unmapped
    sharded(model, metadata={"total_size": 1}, weight_map=weight_map)
    lean = read(model)
    monkeypatch.setattr(json_module, "_LEAN_BYTES", 1 << 40)  # parsed whole, as before
    whole = read(model)
    assert [str(w) for w in lean.warnings] == [str(w) for w in whole.warnings]
    assert codes(lean).count("index_mismatch") == 3
    assert lean.files == whole.files and lean.n_params == whole.n_params


def test_lean_index_bad_shard_name(model: Path) -> None:
    weight_map = {f"model.layers.{i}.mlp.down_proj.weight": NAMES[i % 2] for i in range(BIG)}
    weight_map["model.layers.77.x"] = "../outside.safetensors"
    sharded(model, weight_map=weight_map)
    with pytest.raises(InvalidField) as info:
        read(model)
    assert (info.value.code, info.value.field) == ("bad_shard_name", "weight_map.model.layers.77.x")
