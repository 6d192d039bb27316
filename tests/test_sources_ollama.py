"""Ollama's store (SOURCES.md section 4), written by a writer that follows Ollama's Go source
(``ollama_store``), with the real Gemma GGUF as a model layer. What ``ollama list`` and
``ollama show`` would say for the same store is built by Ollama's rules and checked through the
``ollama`` client's own types (``ListResponse``, ``ShowResponse``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import ollama
import pytest
from gguf import GGUFReader, LlamaFileType
from golden_io import check, listing
from ollama_store import (
    ADAPTER,
    LICENSE,
    MODEL,
    PARAMS,
    PLAIN_TEMPLATE,
    PROJECTOR,
    TEMPLATE,
    TENSOR,
    TOOLS_TEMPLATE,
    Store,
    human_number,
)

import modelscan
from fixtures.make_fixtures import Q4_K, Q8_0, llm_tensors, write_gguf

pytestmark = pytest.mark.real

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


def _params(path: Path) -> int:
    return sum(int(t.n_elements) for t in GGUFReader(path).tensors)


def _quant(path: Path) -> str:
    value = GGUFReader(path).fields["general.file_type"].contents()
    return LlamaFileType(value).name.removeprefix("MOSTLY_")


def _model(path: Path, arch: str, name: str, file_type: int, qtype: Any) -> Path:
    """A small GGUF as Ollama's blobs hold them: general.file_type set (15 Q4_K_M, 7 Q8_0)."""
    kv = {"general.name": name, "general.file_type": file_type, f"{arch}.context_length": 8192}
    return write_gguf(path, arch, kv, llm_tensors(qtype))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, gemma_gguf: Path, gemma_reader: Any) -> Store:
    work = tmp_path_factory.mktemp("ollama-src")
    s = Store(tmp_path_factory.mktemp("ollama") / "models")
    plain = s.add_blob(PLAIN_TEMPLATE.encode(), TEMPLATE)
    tools = s.add_blob(TOOLS_TEMPLATE.encode(), TEMPLATE)
    params = s.add_blob(b'{"stop":["<end_of_turn>"]}', PARAMS)
    licence = s.add_blob(b"Gemma Terms of Use\n", LICENSE)

    gemma = s.link_blob(gemma_gguf, GEMMA_SHA256, MODEL)
    gemma_params = sum(int(t.n_elements) for t in gemma_reader.tensors)
    layers = [gemma, plain, licence, params]
    config = s.add_config(gemma, "gemma3", gemma_params, "Q4_K_M", layers)
    s.write_manifest("registry.ollama.ai/library/gemma3:270m", config, layers)
    s.write_manifest("registry.ollama.ai/library/gemma3:latest", config, layers)  # a second tag, same blobs

    vision_file = _model(work / "vision.gguf", "gemma3", "Vision Chat", 15, Q4_K)
    vision = s.add_blob(vision_file.read_bytes(), MODEL)
    projector = s.add_blob(
        (FIXTURES / "lmstudio-community/gemma-3-4b-it-GGUF/mmproj-model-f16.gguf").read_bytes(), PROJECTOR
    )
    layers = [vision, projector, tools]
    config = s.add_config(vision, "gemma3", _params(vision_file), _quant(vision_file), layers)
    s.write_manifest("registry.ollama.ai/acme/vision-chat:latest", config, layers)

    hub_file = _model(work / "hub.gguf", "llama", "Llama 3.2 1B Instruct", 15, Q4_K)
    hub = s.add_blob(hub_file.read_bytes(), MODEL)
    layers = [hub, tools]
    config = s.add_config(hub, "llama", _params(hub_file), _quant(hub_file), layers)
    s.write_manifest("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", config, layers)

    lora_file = _model(work / "qwen.gguf", "qwen2", "Qwen2.5 0.5B Instruct", 7, Q8_0)
    base = s.add_blob(lora_file.read_bytes(), MODEL)
    adapter = s.add_blob(b"GGUF" + b"\0" * 60, ADAPTER)  # never read: an adapter is not the model
    layers = [base, adapter, plain]
    config = s.add_config(base, "qwen2", _params(lora_file), _quant(lora_file), layers)
    s.write_manifest("registry.ollama.ai/library/qwen-lora:latest", config, layers)

    tensor = s.add_blob(b"\0" * 64, TENSOR)
    s.write_manifest("registry.ollama.ai/library/new-arch:latest", config, [tensor, plain])

    half = "ef" * 32  # a pull cut short: the body and one part file of Ollama's downloader
    (s.root / "blobs" / f"sha256-{half}-partial").write_bytes(b"GGUF" + b"\0" * 100)
    (s.root / "blobs" / f"sha256-{half}-partial-0").write_text('{"N":0,"Offset":0,"Size":1000,"Completed":104}')
    return s


@pytest.fixture(scope="module")
def report(store: Store) -> modelscan.ScanReport:
    return modelscan.scan_models(store.root)


def _manifests(store: Store) -> list[Path]:
    return sorted(p for p in (store.root / "manifests").rglob("*") if p.is_file())


def test_names_sizes_and_details_match_ollama_list(store: Store, report: modelscan.ScanReport) -> None:
    listed = ollama.ListResponse.model_validate({"models": [store.listed(p) for p in _manifests(store)]})
    by_key = {m.key: m for m in report.models}
    gguf_listed = [m for m in listed.models if m.model != "new-arch:latest"]
    assert set(by_key) == {m.model for m in gguf_listed}
    for entry in gguf_listed:
        assert entry.model is not None
        model = by_key[entry.model]
        doc = json.loads(Path(model.folder).read_bytes())
        others = sum(layer["size"] for layer in doc["layers"] if layer["mediaType"] not in (MODEL, PROJECTOR))
        # ollama list counts every layer and the config; size_bytes is the weights: model + projector.
        assert entry.size == model.size_bytes + others + doc["config"]["size"], entry.model
        details = entry.details
        assert details is not None
        assert (details.format, details.family, details.quantization_level) == (
            model.format,
            model.architecture,
            model.quant_name,
        ), entry.model
        assert details.parameter_size == human_number(model.n_params or 0), entry.model


def test_capabilities_and_model_info_match_ollama_show(store: Store, report: modelscan.ScanReport) -> None:
    by_key = {m.key: m for m in report.models}
    expected = {  # buildModelListSummary: vision from a projector layer, tools from .Tools in the template
        "gemma3:270m": ["completion"],
        "gemma3:latest": ["completion"],
        "acme/vision-chat:latest": ["completion", "vision", "tools"],
        "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M": ["completion", "tools"],
        "qwen-lora:latest": ["completion"],
    }
    for key, capabilities in expected.items():
        model = by_key[key]
        shown = ollama.ShowResponse.model_validate(
            {
                "capabilities": ["completion"]
                + (["vision"] if model.vision else [])
                + (["tools"] if model.trained_for_tool_use else []),
                "model_info": model.metadata,
                "details": {"format": model.format, "family": model.architecture},
            }
        )
        assert shown.capabilities == capabilities, key
        assert shown.modelinfo is not None and shown.modelinfo["general.architecture"] == model.architecture


def test_each_manifest_is_its_own_model_even_on_one_blob(report: modelscan.ScanReport) -> None:
    tags = [m for m in report.models if m.repo == "gemma3"]
    assert sorted(m.key for m in tags) == ["gemma3:270m", "gemma3:latest"]
    assert tags[0].files == tags[1].files and tags[0].size_bytes == tags[1].size_bytes == 253_113_024


def test_key_of_the_default_namespace_is_model_and_tag(report: modelscan.ScanReport) -> None:
    (m,) = [m for m in report.models if m.key == "gemma3:270m"]
    assert (m.source, m.publisher, m.repo, m.source_name) == ("ollama", "library", "gemma3", "gemma3:270m")


def test_key_of_another_namespace_keeps_it(report: modelscan.ScanReport) -> None:
    (m,) = [m for m in report.models if m.repo == "vision-chat"]
    assert (m.key, m.publisher) == ("acme/vision-chat:latest", "acme")


def test_key_of_another_host_keeps_host_namespace_and_case(report: modelscan.ScanReport) -> None:
    (m,) = [m for m in report.models if m.repo == "Llama-3.2-1B-Instruct-GGUF"]
    assert (m.key, m.publisher) == ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "bartowski")


def test_projector_layer_gives_vision_and_counts_in_the_size(store: Store, report: modelscan.ScanReport) -> None:
    (m,) = [m for m in report.models if m.repo == "vision-chat"]
    doc = json.loads(Path(m.folder).read_bytes())
    assert m.vision and m.projector is not None
    assert m.size_bytes == sum(layer["size"] for layer in doc["layers"] if layer["mediaType"] in (MODEL, PROJECTOR))


def test_template_layer_decides_tool_use(report: modelscan.ScanReport) -> None:
    assert {m.key: m.trained_for_tool_use for m in report.models} == {
        "gemma3:270m": False,
        "gemma3:latest": False,
        "acme/vision-chat:latest": True,
        "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M": True,
        "qwen-lora:latest": False,
    }


def test_an_adapter_is_not_the_model(report: modelscan.ScanReport, store: Store) -> None:
    (m,) = [m for m in report.models if m.key == "qwen-lora:latest"]
    doc = json.loads(Path(m.folder).read_bytes())
    (model_layer,) = [layer for layer in doc["layers"] if layer["mediaType"] == MODEL]
    assert m.size_bytes == model_layer["size"] and m.architecture == "qwen2"


def test_safetensors_based_model_is_unsupported_and_pulls_are_partial(report: modelscan.ScanReport) -> None:
    found = sorted((os.path.basename(p.path), p.code) for p in report.problems)
    assert found == [
        ("latest", "unsupported"),
        (f"sha256-{'ef' * 32}-partial", "partial_download"),
        (f"sha256-{'ef' * 32}-partial-0", "partial_download"),
    ]


def test_quant_comes_from_the_file_type_and_a_hub_quant_tag(store: Store, tmp_path: Path) -> None:
    # A blob has no file name: general.file_type decides, unless an hf.co tag is a quant token.
    s = Store(tmp_path / "models")
    data = _model(tmp_path / "x.gguf", "llama", "X", 15, Q4_K).read_bytes()
    layer = s.add_blob(data, MODEL)
    config = s.add_config(layer, "llama", 1, "Q4_K_M", [layer])
    s.write_manifest("hf.co/acme/x-GGUF:IQ4_XS", config, [layer])
    s.write_manifest("hf.co/acme/x-GGUF:latest", config, [layer])
    s.write_manifest("registry.ollama.ai/library/x:q8_0", config, [layer])
    quants = {m.key: m.quant_name for m in modelscan.scan_models(s.root).models}
    assert quants == {"hf.co/acme/x-GGUF:IQ4_XS": "IQ4_XS", "hf.co/acme/x-GGUF:latest": "Q4_K_M", "x:q8_0": "Q4_K_M"}


def test_one_manifest_file_as_root(store: Store, report: modelscan.ScanReport) -> None:
    path = store.root / "manifests" / "registry.ollama.ai" / "acme" / "vision-chat" / "latest"
    alone = modelscan.scan_models(path)
    assert [m.key for m in alone.models] == ["acme/vision-chat:latest"]
    assert alone.problems == []


def test_the_command_line_lists_the_store(store: Store) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelscan", "--facts", "--workers", "1", str(store.root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert {r["source"] for r in json.loads(proc.stdout)["models"]} == {"ollama"}


def test_golden(report: modelscan.ScanReport, store: Store) -> None:
    check("ollama.json", listing(report, store.root))
