"""Architecture numbers and memory estimates, against fixtures whose figures are worked by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from arch_fixtures import FIXTURES, readme_rows, write_fixture

import modelscan
from fixtures.make_fixtures import F16, llm_tensors, write_gguf
from modelscan import UsageError
from modelscan.cli import main
from modelscan.estimate import estimate_memory
from modelscan.facts import ArchNumbers
from modelscan.facts_arch import derive_gguf_arch, derive_mlx_arch, swa_pattern
from modelscan.gguf import GGUFArray
from modelscan.response import to_arch_record, to_facts_record
from modelscan.shapes import FactsRecord

ROOT = Path(__file__).resolve().parent.parent
T, F = True, False


def _record(tmp_path: Path, name: str) -> FactsRecord:
    path = write_fixture(tmp_path, name)
    report = modelscan.scan_models(path)
    assert report.problems == []
    (model,) = report.models
    assert model.warnings == ()
    return to_facts_record(model)


# --- architecture numbers -----------------------------------------------------------------------


def test_gqa_numbers_and_defaults(tmp_path: Path) -> None:
    a = _record(tmp_path, "gqa")["arch"]
    assert (a["architecture"], a["block_count"], a["embedding_length"]) == ("llama", 4, 256)
    assert (a["head_count"], a["head_count_kv"]) == (8, 2)
    # No key_length in the file: llama.cpp's default n_embd / n_head.
    assert (a["key_length"], a["value_length"]) == (32, 32)
    # No llama.vocab_size: the element count of tokenizer.ggml.tokens, which stays undecoded.
    assert a["vocab_size"] == 1000
    assert (a["sliding_window"], a["sliding_window_layers"]) == (None, None)
    assert (a["recurrent_layers"], a["attention_layers"]) == (None, None)
    assert a["tokenizer_model"] == "gpt2"
    assert a["kv_layout_known"] is True


def test_per_layer_arrays_are_decoded_and_the_vocabulary_is_not(tmp_path: Path) -> None:
    path = write_gguf(
        tmp_path / "acme" / "p-GGUF" / "p.gguf",
        "llama",
        {**FIXTURES["per-layer-kv-heads"]()[1], "tokenizer.ggml.tokens": ["a", "b", "c"]},
        llm_tensors(F16),
    )
    (model,) = modelscan.scan_models(path).models
    assert model.arch.head_count_kv == (1, 2, 4, 8)
    assert model.arch.head_count == (8, 8, 8, 8)
    assert model.metadata["llama.attention.head_count_kv"] == [1, 2, 4, 8]
    assert model.metadata["tokenizer.ggml.tokens"] == []  # skipped (R5), only counted
    plain = modelscan.read_gguf_header(path).kv["llama.attention.head_count_kv"]  # asked for nothing
    assert isinstance(plain, GGUFArray) and plain.values is None


def test_gemma3_pattern_is_llama_cpps() -> None:
    # set_swa_pattern(6): the last layer of every six is global.
    assert swa_pattern(12, 6) == (T, T, T, T, T, F, T, T, T, T, T, F)
    assert swa_pattern(5, 4, dense_first=True) == (F, T, T, T, F)
    assert swa_pattern(3, 0) == (T, T, T)


def test_gemma3_sliding_window_layers(tmp_path: Path) -> None:
    a = _record(tmp_path, "gemma3-swa")["arch"]
    assert a["sliding_window"] == 512
    assert a["sliding_window_layers"] == [T, T, T, T, T, F, T, T, T, T, T, F]
    assert a["rope_freq_base"] == 1_000_000.0


def test_a_window_without_a_pattern_is_ignored_as_llama_cpp_does() -> None:
    # Phi-3 names a window, but llama.cpp keeps a full cache on every layer.
    a = derive_gguf_arch({"general.architecture": "phi3", "phi3.block_count": 2, "phi3.attention.sliding_window": 2047})
    assert (a.sliding_window, a.sliding_window_layers) == (2047, None)


def test_mla_numbers(tmp_path: Path) -> None:
    a = _record(tmp_path, "mla")["arch"]
    assert (a["key_length"], a["value_length"]) == (576, 512)
    assert (a["key_length_mla"], a["value_length_mla"]) == (192, 128)
    assert (a["expert_count"], a["expert_used_count"]) == (64, 6)


def test_moe_numbers(tmp_path: Path) -> None:
    a = _record(tmp_path, "moe")["arch"]
    assert (a["expert_count"], a["expert_used_count"], a["head_count_kv"], a["key_length"]) == (128, 8, 4, 128)


def test_hybrid_layers(tmp_path: Path) -> None:
    a = _record(tmp_path, "hybrid")["arch"]
    assert a["recurrent_layers"] == [T, T, T, F]
    assert a["attention_layers"] == [F, F, F, T]
    assert (a["ssm_conv_kernel"], a["ssm_inner_size"], a["ssm_state_size"], a["ssm_group_count"]) == (4, 512, 16, 1)


def test_gemma4_like_array_pattern(tmp_path: Path) -> None:
    a = _record(tmp_path, "gemma4-like")["arch"]
    assert a["sliding_window_layers"] == [T, T, F, T, T, F]
    assert (a["key_length_swa"], a["shared_kv_layers"]) == (64, 2)


def test_recurrent_architectures_have_no_attention() -> None:
    a = derive_gguf_arch({"general.architecture": "mamba", "mamba.block_count": 3, "mamba.embedding_length": 64})
    assert (a.recurrent_layers, a.attention_layers) == ((T, T, T), (F, F, F))
    assert a.key_length is None  # no heads: llama.cpp leaves the head sizes at 0


def test_nemotron_h_layers() -> None:
    kv = {
        "general.architecture": "nemotron_h",
        "nemotron_h.block_count": 3,
        "nemotron_h.attention.head_count_kv": GGUFArray(4, 3, (0, 2, 0)),
        "nemotron_h.feed_forward_length": GGUFArray(4, 3, (0, 0, 1024)),
    }
    a = derive_gguf_arch(kv)
    assert a.recurrent_layers == (T, F, F)  # layer 2 is MLP only: neither
    assert a.attention_layers == (F, T, F)


def test_a_per_layer_array_of_the_wrong_length_is_a_warning() -> None:
    warnings: list[modelscan.ModelScanError] = []
    kv = {
        "general.architecture": "llama",
        "llama.block_count": 3,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": GGUFArray(4, 2, (1, 2)),
    }
    a = derive_gguf_arch(kv, source="m.gguf", warnings=warnings)
    assert a.head_count_kv == 4  # back to the default, n_head
    (w,) = warnings
    assert (w.field, w.code) == ("kv:llama.attention.head_count_kv", "bad_value")
    assert str(w) == "m.gguf: gguf kv:llama.attention.head_count_kv: 2 items, but the model has 3 layers"


def test_an_undecoded_per_layer_array_is_a_warning() -> None:
    warnings: list[modelscan.ModelScanError] = []
    kv = {"general.architecture": "llama", "llama.block_count": 2, "llama.attention.head_count": GGUFArray(4, 2, None)}
    assert derive_gguf_arch(kv, warnings=warnings).head_count is None
    assert "not decoded" in str(warnings[0])


def test_mlx_numbers_from_a_config() -> None:
    config = {
        "model_type": "gemma3",
        "text_config": {
            "model_type": "gemma3_text",
            "num_hidden_layers": 6,
            "hidden_size": 640,
            "intermediate_size": 2048,
            "num_attention_heads": 4,
            "num_key_value_heads": 1,
            "head_dim": 256,
            "sliding_window": 512,
            "vocab_size": 262144,
            "rope_theta": 1_000_000.0,
            "rope_scaling": {"rope_type": "linear", "factor": 8.0},
        },
    }
    a = derive_mlx_arch(config)
    assert (a.block_count, a.embedding_length, a.head_count, a.head_count_kv, a.key_length) == (6, 640, 4, 1, 256)
    assert a.sliding_window_layers == (T, T, T, T, T, F)  # gemma3's default pattern of 6
    assert (a.rope_scaling_type, a.rope_scaling_factor) == ("linear", 8.0)
    layer_types = {
        "num_hidden_layers": 3,
        "sliding_window": 128,
        "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
    }
    assert derive_mlx_arch(layer_types).sliding_window_layers == (T, F, T)
    hybrid = {"num_hidden_layers": 2, "hidden_size": 64, "layer_types": ["mamba", "attention"], "expand": 2}
    h = derive_mlx_arch(hybrid)
    assert (h.recurrent_layers, h.attention_layers, h.ssm_inner_size) == ((T, F), (F, T), 128)


def test_arch_record_lists_and_field_order() -> None:
    record = to_arch_record(ArchNumbers(head_count_kv=(1, 2), sliding_window_layers=(T, F)))
    assert list(record) == list(ArchNumbers._fields)
    assert (record["head_count_kv"], record["sliding_window_layers"]) == ([1, 2], [T, F])
    json.dumps(record)


# --- estimates ----------------------------------------------------------------------------------


def _worked_table() -> dict[str, int]:
    """docs/estimate.md's worked KV-cache figures: fixture name -> bytes."""
    text = (ROOT / "docs" / "estimate.md").read_text(encoding="utf-8")
    section = text.split("## Worked KV-cache figures", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([a-z0-9-]+)` \|.*\| ([\d,]+) \|$", line)
        if m:
            rows[m[1]] = int(m[2].replace(",", ""))
    return rows


def test_every_fixture_has_its_worked_row() -> None:
    assert set(_worked_table()) == set(FIXTURES)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_kv_cache_agrees_with_the_hand_worked_table(tmp_path: Path, name: str) -> None:
    estimate = estimate_memory(_record(tmp_path, name))
    assert estimate["kv_cache_bytes"] == _worked_table()[name]


def test_gqa_estimate_terms(tmp_path: Path) -> None:
    record = _record(tmp_path, "gqa")
    e = estimate_memory(record)
    # 1100 tokens padded to 1120 cells (32 without flash attention), 4 layers x 2 KV heads x 32.
    assert e["kv_cache"] == {
        "cells": 1120,
        "padding": 32,
        "swa_cells": None,
        "attention_layers": 4,
        "swa_layers": 0,
        "recurrent_layers": 0,
        "k_bytes": 4 * 1120 * 32 * 2 * 2,
        "v_bytes": 4 * 1120 * 32 * 2 * 2,
        "recurrent_bytes": 0,
    }
    assert e["weights_bytes"] == sum(t["bytes"] or 0 for t in record["tensor_types"].values())
    # Ollama's rough graph: 4 x batch x max(1 + 4 n_embd + cells (1 + n_head), n_embd + n_vocab).
    assert e["compute_bytes"] == 4 * 512 * max(1 + 4 * 256 + 1120 * 9, 256 + 1000)
    assert e["modelBytes"] == e["weights_bytes"]
    assert e["contextBytes"] == e["kv_cache_bytes"] + e["compute_bytes"]
    assert e["totalBytes"] == e["modelBytes"] + e["contextBytes"]
    assert e["confidence"] == "high"
    with_fa = estimate_memory(record, flash_attention=True)
    assert with_fa["kv_cache"]["cells"] == 1280
    assert with_fa["kv_cache_bytes"] == 4 * 1280 * 256


def test_cache_types(tmp_path: Path) -> None:
    record = _record(tmp_path, "moe")
    f16 = estimate_memory(record, context_length=4096)["kv_cache_bytes"]
    assert estimate_memory(record, context_length=4096, kv_cache_type="f32")["kv_cache_bytes"] == 2 * f16
    # q8_0: 34 bytes per 32 values; q4_0: 18 per 32 (K rows of 512 values are whole blocks).
    q8 = estimate_memory(record, context_length=4096, kv_cache_type="q8_0")
    assert q8["kv_cache_bytes"] == f16 * 34 // 64
    assert q8["flash_attention"] is True
    assert estimate_memory(record, context_length=4096, kv_cache_type="q4_0")["kv_cache_bytes"] == f16 * 18 // 64


def test_gemma3_swa_cells_follow_the_batch(tmp_path: Path) -> None:
    record = _record(tmp_path, "gemma3-swa")
    assert estimate_memory(record)["kv_cache"]["swa_cells"] == 1024  # pad(512 + 512)
    assert estimate_memory(record, batch_size=100)["kv_cache"]["swa_cells"] == 640  # pad32(612)
    assert estimate_memory(record, context_length=300)["kv_cache"]["swa_cells"] == 320  # the whole cache


def test_hybrid_estimate_splits_state_and_cache(tmp_path: Path) -> None:
    kv = estimate_memory(_record(tmp_path, "hybrid"))["kv_cache"]
    # n_embd_r = (4 - 1) x (512 + 2 x 1 x 16), n_embd_s = 16 x 512, in F32, per recurrent layer.
    assert kv["recurrent_bytes"] == 3 * (3 * 544 + 16 * 512) * 4
    assert (kv["recurrent_layers"], kv["attention_layers"]) == (3, 1)


def test_mla_keeps_no_v_cache(tmp_path: Path) -> None:
    e = estimate_memory(_record(tmp_path, "mla"))
    assert e["kv_cache"]["v_bytes"] == 0
    assert any("MLA" in n for n in e["notes"])


def test_unknown_architecture_is_low_confidence(tmp_path: Path) -> None:
    _, kv, tensors = FIXTURES["gqa"]()
    renamed = {k.replace("llama.", "brandnew."): v for k, v in kv.items()}
    path = write_gguf(tmp_path / "a" / "x-GGUF" / "x.gguf", "brandnew", renamed, tensors)
    (model,) = modelscan.scan_models(path).models
    e = estimate_memory(to_facts_record(model))
    assert e["confidence"] == "low"
    assert e["kv_cache_bytes"] == 4 * 1120 * 256  # the generic rules still apply
    assert any("'brandnew' is not in" in n for n in e["notes"])


def test_vision_projector_counts_in_the_weights(tmp_path: Path) -> None:
    folder = tmp_path / "acme" / "v-GGUF"
    arch, kv, tensors = FIXTURES["gqa"]()
    write_gguf(folder / "v-F16.gguf", arch, kv, tensors)
    write_gguf(
        folder / "mmproj-v-f16.gguf",
        "clip",
        {"general.type": "mmproj", "clip.projector_type": "gemma3"},
        [("mm.weight", (256, 64), F16)],
    )
    (model,) = modelscan.scan_models(folder).models
    record = to_facts_record(model)
    assert record["projector_bytes"] == 256 * 64 * 2
    e = estimate_memory(record)
    text_only = sum(t["bytes"] or 0 for t in record["tensor_types"].values())
    assert e["weights_bytes"] == text_only + 256 * 64 * 2


def test_encoders_keep_no_kv_cache(tmp_path: Path) -> None:
    path = write_gguf(
        tmp_path / "a" / "e-GGUF" / "e.gguf",
        "bert",
        {
            "bert.context_length": 512,
            "bert.block_count": 6,
            "bert.embedding_length": 384,
            "bert.attention.head_count": 12,
            "bert.attention.causal": False,
        },
        llm_tensors(F16),
    )
    (model,) = modelscan.scan_models(path).models
    e = estimate_memory(to_facts_record(model))
    assert e["kv_cache_bytes"] == 0
    assert e["compute_bytes"] == 4 * 512 * (1 + 4 * 384 + 512 * 13)  # one batch of the whole input


def test_usage_errors(tmp_path: Path) -> None:
    record = _record(tmp_path, "gqa")
    with pytest.raises(UsageError, match="unknown KV cache type 'q5_0'"):
        estimate_memory(record, kv_cache_type="q5_0")
    with pytest.raises(UsageError, match="context length must be a positive integer"):
        estimate_memory(record, context_length=0)
    record["arch"]["context_length"] = None
    with pytest.raises(UsageError, match="maximum context is unknown"):
        estimate_memory(record)
    assert estimate_memory(record, context_length=64)["context_length"] == 64


def test_estimate_is_pure(tmp_path: Path) -> None:
    record = _record(tmp_path, "hybrid")
    before = json.dumps(record)
    assert estimate_memory(record) == estimate_memory(record)
    assert json.dumps(record) == before


def test_readme_recurrent_and_mla_examples(tmp_path: Path) -> None:
    rows = readme_rows()
    hybrid = estimate_memory(_record(tmp_path, "hybrid"))["kv_cache"]
    assert rows["recurrent state"] == [hybrid["recurrent_bytes"] // hybrid["recurrent_layers"]]
    _, kv, tensors = FIXTURES["mla"]()
    kv.update({"deepseek2.block_count": 61, "deepseek2.context_length": 32768})
    path = write_gguf(tmp_path / "a" / "ds-GGUF" / "ds.gguf", "deepseek2", kv, tensors)
    (model,) = modelscan.scan_models(path).models
    assert rows["MLA"] == [estimate_memory(to_facts_record(model))["kv_cache_bytes"]]


# --- the command line ---------------------------------------------------------------------------


def test_estimate_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_fixture(tmp_path, "gemma3-swa")
    assert main(["estimate", str(path), "--context", "4096", "--kv-type", "q8_0"]) == 0
    out, err = capsys.readouterr()
    (e,) = json.loads(out)["estimates"]
    assert e == estimate_memory(_record(tmp_path, "gemma3-swa"), context_length=4096, kv_cache_type="q8_0")
    assert (e["key"], e["context_length"], e["kv_cache_type"], e["flash_attention"]) == (
        "gemma3-swa",
        4096,
        "q8_0",
        True,
    )
    assert err == ""


def test_estimate_command_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_fixture(tmp_path, "gqa")
    write_fixture(tmp_path, "hybrid")
    assert main(["estimate", str(tmp_path), "--table", "--flash-attention"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "context", "kv", "weights", "kv", "cache", "compute", "total", "confidence"]
    rows = [line.split() for line in lines if not line.startswith(" ")][1:]
    assert [r[0] for r in rows] == ["gqa", "hybrid"]
    assert rows[0][1:3] == ["1100", "f16"]
    assert rows[0][5:7] == ["1.2", "MiB"]  # 4 x 1280 x 256 bytes = 1.25 MiB
    assert any(line.startswith("  note: context padded from 1100 to 1280 cells") for line in lines)


def test_estimate_command_exit_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, kv, tensors = FIXTURES["gqa"]()
    del kv["llama.context_length"]
    path = write_gguf(tmp_path / "a" / "n-GGUF" / "n.gguf", "llama", kv, tensors)
    assert main(["estimate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"estimates": []}
    assert f"{path}: the model's maximum context is unknown; give a context length" in err.splitlines()
    assert main(["estimate", str(path), "--context", "100"]) == 0
    capsys.readouterr()
    assert main(["estimate", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"modelscan: {tmp_path / 'nowhere'}: no such file or folder\n"
    for bad in (["--kv-type", "q5_1"], ["--context", "0"], ["--context", "x"], []):
        with pytest.raises(SystemExit) as exit_info:
            main(["estimate", *bad, *([str(path)] if bad else [])])
        assert exit_info.value.code == 2
    capsys.readouterr()


def test_listing_command_still_takes_paths_and_facts_carry_arch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_fixture(tmp_path, "moe")
    assert main([str(tmp_path)]) == 0
    assert [m["key"] for m in json.loads(capsys.readouterr().out)["models"]] == ["moe"]
    assert main(["--facts", str(tmp_path)]) == 0
    (record,) = json.loads(capsys.readouterr().out)["models"]
    assert (record["arch"]["expert_count"], record["arch"]["expert_used_count"]) == (128, 8)


def test_a_vocabulary_sized_per_layer_array_is_not_decoded(tmp_path: Path) -> None:
    # R5: the reader decodes per-layer keys only up to gguf_array_elements_decoded (65,536);
    # a hostile file that names a 100,000-item array like one stays skipped, with warnings.
    _, kv, tensors = FIXTURES["gqa"]()
    kv["llama.attention.head_count_kv"] = [2] * 100_000
    path = write_gguf(tmp_path / "a" / "h-GGUF" / "h.gguf", "llama", kv, tensors)
    (model,) = modelscan.scan_models(path).models
    assert model.arch.head_count_kv == 8  # back to head_count
    codes = {(w.code, w.field) for w in model.warnings}
    assert ("limit_exceeded", "kv[6:llama.attention.head_count_kv].count") in codes
    assert ("bad_value", "kv:llama.attention.head_count_kv") in codes
    assert model.metadata["llama.attention.head_count_kv"] == []
