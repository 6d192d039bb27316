"""Real model files installed from PyPI packages (REAL-MODELS.md), checked against their headers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import response_models, run_python

import modelscan
from modelscan import _rules

pytestmark = pytest.mark.real


def _field(reader: Any, key: str) -> Any:
    return reader.fields[key].contents()


def test_real_gemma_entry_matches_its_header(gemma_gguf: Path, gemma_reader: Any) -> None:
    root = gemma_gguf.parent.parent.parent
    report = modelscan.scan_models(root)
    assert report.problems == []
    (entry,) = response_models(report.to_response())
    arch = _field(gemma_reader, "general.architecture")
    # Every field, derived here from GGUFReader's view of the same header and the rulebook.
    assert entry == {
        "type": "llm",  # gemma3 is no embedding architecture; no pooling_type, no causal key
        "publisher": "ggml-org",
        "key": "gemma-3-270m",
        "display_name": _rules.display_name(_field(gemma_reader, "general.name")),
        "architecture": arch,
        "quantization": {"name": "Q4_K_M", "bits_per_weight": 4},  # from the file name
        "size_bytes": gemma_gguf.stat().st_size,
        "params_string": _field(gemma_reader, "general.size_label"),
        "loaded_instances": [],
        "max_context_length": _field(gemma_reader, f"{arch}.context_length"),
        "format": "gguf",
        "capabilities": {"vision": False, "trained_for_tool_use": False},
        "description": None,
    }
    # The header's own values, as the oracle reads them, pinned once so that a reader bug shows.
    assert entry["display_name"] == "Gemma 3 270m"
    assert (arch, entry["params_string"], entry["max_context_length"]) == ("gemma3", "270M", 32768)
    assert "tokenizer.chat_template" not in gemma_reader.fields  # hence no tool use
    assert not any(k.startswith(f"{arch}.vision.") for k in gemma_reader.fields)


def test_real_gemma_extended_facts(gemma_gguf: Path, gemma_reader: Any) -> None:
    (model,) = modelscan.scan_models(gemma_gguf).models
    tensors = gemma_reader.tensors
    assert model.n_params == sum(int(t.n_elements) for t in tensors)
    assert model.n_params_active is None  # not a MoE model
    assert model.header_bytes == gemma_reader.data_offset
    total_bytes = sum(int(t.n_bytes) for t in tensors)
    assert model.bits_per_weight == round(total_bytes * 8 / model.n_params, 4)
    hist: dict[str, int] = {}
    for t in tensors:
        hist[t.tensor_type.name] = hist.get(t.tensor_type.name, 0) + 1
    assert {k: v.tensors for k, v in model.tensor_types.items()} == hist
    assert model.files == (str(gemma_gguf),)
    assert model.has_chat_template is False
    # general.file_type agrees with the name token.
    assert _field(gemma_reader, "general.file_type") == 15  # LlamaFileType.MOSTLY_Q4_K_M


def test_real_gemma_through_the_command_line(gemma_gguf: Path) -> None:
    proc = run_python("-m", "modelscan", "--strict", str(gemma_gguf), text=True)
    assert proc.returncode == 0, proc.stderr
    (entry,) = json.loads(proc.stdout)["models"]
    assert entry["key"] == "gemma-3-270m" and entry["size_bytes"] == 253_113_024
