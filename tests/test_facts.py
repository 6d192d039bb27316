"""GGUF derivations of FIELDS.md section 2, each from a small file written with gguf's writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import response_models

import modelscan
from fixtures.make_fixtures import F16, F32, Q4_K, Q8_0, TOOLS_TEMPLATE, llm_tensors, write_gguf


def scan_one(
    tmp_path: Path,
    arch: str,
    kv: dict[str, object],
    *,
    name: str = "m-Q4_K_M.gguf",
    tensors: Any = None,
    repo: str = "Model-GGUF",
) -> tuple[dict[str, Any], modelscan.ScanReport]:
    write_gguf(tmp_path / "models" / "pub" / repo / name, arch, kv, llm_tensors(Q4_K) if tensors is None else tensors)
    report = modelscan.scan_models(tmp_path / "models")
    entries = response_models(report.to_response())
    assert len(entries) == 1, report.problems
    return entries[0], report


@pytest.mark.parametrize(
    ("arch", "kv", "kind"),
    [
        ("bert", {}, "embedding"),  # an embedding architecture
        ("gemma-embedding", {}, "embedding"),
        ("qwen2", {"qwen2.pooling_type": 1}, "embedding"),  # gte-Qwen2: mean pooling
        ("qwen3", {"qwen3.pooling_type": 3}, "embedding"),  # Qwen3-Embedding: last-token pooling
        ("llama", {"llama.pooling_type": 2}, "embedding"),  # cls
        ("llama", {"llama.pooling_type": 0}, "llm"),  # "none" pooling is a generator
        ("llama", {"llama.pooling_type": 4}, "llm"),  # rank pooling (rerankers) is not 1, 2 or 3
        ("mistral", {"mistral.attention.causal": False}, "embedding"),  # E5-Mistral style
        ("mistral", {"mistral.attention.causal": True}, "llm"),
        ("llama", {"qwen3.pooling_type": 1}, "llm"),  # another architecture's key does not count
    ],
)
def test_type(tmp_path: Path, arch: str, kv: dict[str, object], kind: str) -> None:
    entry, _ = scan_one(tmp_path, arch, {f"{arch}.context_length": 512, **kv})
    assert entry["type"] == kind
    assert entry["key"] == ("text-embedding-model" if kind == "embedding" else "model")


@pytest.mark.parametrize(
    ("kv", "tools"),
    [
        ({"tokenizer.chat_template": TOOLS_TEMPLATE}, True),
        (
            {
                "tokenizer.chat_template": "{{ messages }}",
                "tokenizer.chat_template.tool_use": "{% if tools %}{% endif %}",
            },
            True,
        ),  # a named tool_use template
        ({"tokenizer.chat_template": "{{ messages }} tools"}, False),  # text, not the variable
        ({"tokenizer.chat_template.rag": "{% for d in tools %}{% endfor %}"}, False),  # other named templates don't
        ({}, False),
    ],
)
def test_tool_use(tmp_path: Path, kv: dict[str, object], tools: bool) -> None:
    entry, _ = scan_one(tmp_path, "llama", {"llama.context_length": 512, **kv})
    assert entry["capabilities"]["trained_for_tool_use"] is tools


def test_vision_from_vision_keys(tmp_path: Path) -> None:
    entry, _ = scan_one(tmp_path, "llama4", {"llama4.context_length": 512, "llama4.vision.image_size": 336})
    assert entry["capabilities"]["vision"] is True


def test_projector_known_by_header_not_name(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "pub" / "Model-GGUF"
    write_gguf(folder / "m-Q8_0.gguf", "llama", {"llama.context_length": 512}, llm_tensors(Q8_0))
    write_gguf(folder / "vision-encoder-f16.gguf", "clip", {}, [("v.w", (16, 16), F16)])
    write_gguf(folder / "adapter-f16.gguf", "llama", {"general.type": "adapter"}, [("a.w", (16, 16), F16)])
    report = modelscan.scan_models(tmp_path / "models")
    (entry,) = response_models(report.to_response())
    assert entry["key"] == "model"  # projector and LoRA adapter are sidecars: one model, no @suffix
    assert entry["capabilities"]["vision"] is True
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    assert entry["size_bytes"] == sizes["m-Q8_0.gguf"] + sizes["vision-encoder-f16.gguf"]
    assert report.models[0].projector == str(folder / "vision-encoder-f16.gguf")


def test_first_projector_by_name_counts(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "pub" / "Model-GGUF"
    write_gguf(folder / "m-Q8_0.gguf", "llama", {"llama.context_length": 512}, llm_tensors(Q8_0))
    write_gguf(folder / "mmproj-b-f32.gguf", "clip", {}, [("v.w", (16, 64), F32)])
    write_gguf(folder / "mmproj-a-f16.gguf", "clip", {}, [("v.w", (16, 16), F16)])
    (entry,) = response_models(modelscan.list_models(folder))
    assert (
        entry["size_bytes"] == (folder / "m-Q8_0.gguf").stat().st_size + (folder / "mmproj-a-f16.gguf").stat().st_size
    )


def test_missing_architecture_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "models" / "pub" / "M-GGUF" / "m.gguf"
    write_gguf(path, "llama", {}, llm_tensors(Q8_0))
    # Rewrite general.architecture's key so that the file has none (same length keeps offsets valid).
    data = path.read_bytes().replace(b"general.architecture", b"general.architectur_", 1)
    path.write_bytes(data)
    report = modelscan.scan_models(tmp_path / "models")
    assert report.models == []
    (problem,) = report.problems
    assert (problem.code, problem.field) == ("missing_field", "kv:general.architecture")


def test_missing_context_length_lists_null_with_a_warning(tmp_path: Path) -> None:
    entry, report = scan_one(tmp_path, "llama", {})
    assert entry["max_context_length"] is None
    (warning,) = report.warnings
    assert warning.field == "kv:llama.context_length"


def test_context_length_of_any_integer_type(tmp_path: Path) -> None:
    entry, _ = scan_one(tmp_path, "llama", {"llama.context_length": 2**40})  # written as INT64
    assert entry["max_context_length"] == 2**40


def test_quant_from_file_type_when_the_name_has_none(tmp_path: Path) -> None:
    entry, _ = scan_one(tmp_path, "llama", {"llama.context_length": 512, "general.file_type": 38}, name="model.gguf")
    assert entry["quantization"] == {"name": "MXFP4_MOE", "bits_per_weight": 4}


def test_quant_from_dominant_type_ignores_1d_tensors(tmp_path: Path) -> None:
    tensors = [("big.norm", (256 * 64,), F32), ("w", (256, 4), Q8_0)]  # the F32 tensor is larger but 1-D
    entry, _ = scan_one(tmp_path, "llama", {"llama.context_length": 512}, name="model.gguf", tensors=tensors)
    assert entry["quantization"] == {"name": "Q8_0", "bits_per_weight": 8}


def test_no_quantization_at_all(tmp_path: Path) -> None:
    entry, _ = scan_one(tmp_path, "llama", {"llama.context_length": 512}, name="model.gguf", tensors=[])
    assert entry["quantization"] is None


def test_extended_facts(tmp_path: Path) -> None:
    _, report = scan_one(tmp_path, "llama", {"llama.context_length": 512})
    (m,) = report.models
    tensors = llm_tensors(Q4_K)
    assert m.n_params == sum(_prod(ne) for _, ne, _ in tensors)
    q4k_elems = sum(_prod(ne) for _, ne, t in tensors if t == Q4_K)
    f32_elems = sum(_prod(ne) for _, ne, t in tensors if t == F32)
    assert m.tensor_types["Q4_K"].elements == q4k_elems
    assert m.tensor_types["Q4_K"].bytes == q4k_elems // 256 * 144
    assert m.tensor_types["F32"].bytes == f32_elems * 4
    assert m.bits_per_weight == round((q4k_elems // 256 * 144 + f32_elems * 4) * 8 / m.n_params, 4)
    assert m.has_chat_template is False


def _prod(ne: tuple[int, ...]) -> int:
    out = 1
    for d in ne:
        out *= d
    return out
