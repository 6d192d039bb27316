"""The committed fixtures (fixtures/make_fixtures.py): one FIELDS.md rule per folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import response_models

import modelscan
from fixtures.make_fixtures import write_all

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"


@pytest.fixture(scope="module")
def report() -> modelscan.ScanReport:
    return modelscan.scan_models(FIXTURES)


@pytest.fixture(scope="module")
def entries(report: modelscan.ScanReport) -> dict[str, dict[str, Any]]:
    return {e["key"]: e for e in response_models(report.to_response())}


def test_committed_fixtures_are_what_the_script_writes(tmp_path: Path) -> None:
    write_all(tmp_path / "models")
    fresh = sorted(p.relative_to(tmp_path / "models") for p in (tmp_path / "models").rglob("*") if p.is_file())
    committed = sorted(p.relative_to(FIXTURES) for p in FIXTURES.rglob("*") if p.is_file())
    assert fresh == committed
    for rel in committed:
        assert (tmp_path / "models" / rel).read_bytes() == (FIXTURES / rel).read_bytes(), rel


def test_keys_and_order(entries: dict[str, dict[str, Any]], report: modelscan.ScanReport) -> None:
    listed = [(e["type"], e["publisher"], e["key"]) for e in response_models(report.to_response())]
    assert listed == [
        ("llm", "acme", "mystery-model"),
        ("llm", "acme", "unlabelled"),
        ("llm", "bartowski", "bartowski/llama-3.2-1b-instruct"),
        ("llm", "hugging-quants", "hugging-quants/llama-3.2-1b-instruct"),
        ("llm", "lmstudio-community", "gemma-3-270m-it-qat"),
        ("llm", "lmstudio-community", "gemma-3-4b-it"),
        ("llm", "lmstudio-community", "qwen2.5-0.5b-instruct@q4_k_m"),
        ("llm", "lmstudio-community", "qwen2.5-0.5b-instruct@q8_0"),
        ("llm", "unsloth", "qwen3-30b-a3b"),
        ("embedding", "gaianet", "text-embedding-nomic-embed-text-v1.5-embedding"),
        ("embedding", "Qwen", "text-embedding-qwen3-embedding-0.6b"),
    ]


def test_several_quants_in_one_folder(entries: dict[str, dict[str, Any]]) -> None:
    q4 = entries["qwen2.5-0.5b-instruct@q4_k_m"]
    assert q4["quantization"] == {"name": "Q4_K_M", "bits_per_weight": 4}
    assert entries["qwen2.5-0.5b-instruct@q8_0"]["quantization"] == {"name": "Q8_0", "bits_per_weight": 8}
    assert q4["display_name"] == "Qwen2.5 0.5B Instruct"
    assert q4["capabilities"] == {"vision": False, "trained_for_tool_use": True}


def test_projector_gives_vision_and_adds_its_size(entries: dict[str, dict[str, Any]]) -> None:
    folder = FIXTURES / "lmstudio-community" / "gemma-3-4b-it-GGUF"
    e = entries["gemma-3-4b-it"]
    assert e["capabilities"]["vision"] is True
    expected = (folder / "gemma-3-4b-it-Q4_K_M.gguf").stat().st_size + (folder / "mmproj-model-f16.gguf").stat().st_size
    assert e["size_bytes"] == expected
    assert not any("mmproj" in k for k in entries)


def test_split_model_is_one_model(entries: dict[str, dict[str, Any]], report: modelscan.ScanReport) -> None:
    folder = FIXTURES / "unsloth" / "Qwen3-30B-A3B-GGUF"
    e = entries["qwen3-30b-a3b"]
    assert e["size_bytes"] == sum(p.stat().st_size for p in folder.glob("*.gguf"))
    assert e["quantization"] == {"name": "UD-Q4_K_XL", "bits_per_weight": 4}
    assert e["params_string"] == "30B-A3B"
    (model,) = [m for m in report.models if m.key == "qwen3-30b-a3b"]
    assert len(model.files) == 2
    # MoE: 8 stacked experts, 2 used per token.
    experts = 2 * 256 * 16 * 8
    dense = 256 * 8 + 256 * 16 + 256 * 8 + 256
    assert model.n_params == dense + experts
    assert model.n_params_active == dense + experts * 2 // 8


def test_missing_shard_is_a_problem_not_a_model(report: modelscan.ScanReport) -> None:
    codes = {(Path(p.path).name, p.code) for p in report.problems}
    assert ("half-Q4_0-00001-of-00003.gguf", "missing_shard") in codes
    assert not any(m.repo == "Half-Downloaded-GGUF" for m in report.models)


def test_not_downloaded_files_are_reported_as_such(report: modelscan.ScanReport) -> None:
    by_name = {Path(p.path).name: p for p in report.problems}
    assert by_name["model-Q4_K_M.gguf"].code == "lfs_pointer"
    assert str(by_name["model-Q4_K_M.gguf"]).endswith(": weights not downloaded (git-lfs pointer)")
    assert by_name["gemma-3-4b-it-Q8_0.gguf.part"].code == "partial_download"
    # AppleDouble and .DS_Store are junk: neither listed nor reported.
    assert not any(Path(p.path).name.startswith(("._", ".DS")) for p in report.problems)
    assert len(report.problems) == 3


def test_embedding_by_pooling_type(entries: dict[str, dict[str, Any]]) -> None:
    e = entries["text-embedding-qwen3-embedding-0.6b"]
    assert e["type"] == "embedding"
    assert "architecture" not in e and "capabilities" not in e and "description" not in e


def test_quant_name_fallbacks(entries: dict[str, dict[str, Any]]) -> None:
    assert entries["mystery-model"]["quantization"] == {"name": "Q4_K_M", "bits_per_weight": 4}  # file_type 15
    assert entries["unlabelled"]["quantization"] == {"name": "Q8_0", "bits_per_weight": 8}  # dominant type
    assert entries["mystery-model"]["display_name"] == "Mystery Model"  # no general.name: the folder
    assert entries["mystery-model"]["params_string"] is None  # no size_label


def test_key_collision_across_folders(entries: dict[str, dict[str, Any]]) -> None:
    assert entries["hugging-quants/llama-3.2-1b-instruct"]["display_name"] == "Llama 3.2 1B Instruct"
    assert entries["bartowski/llama-3.2-1b-instruct"]["quantization"]["name"] == "Q4_K_M"


@pytest.mark.parametrize(
    ("sub", "keys"),
    [
        (
            "lmstudio-community",
            {"gemma-3-270m-it-qat", "gemma-3-4b-it", "qwen2.5-0.5b-instruct@q4_k_m", "qwen2.5-0.5b-instruct@q8_0"},
        ),  # a publisher folder
        ("lmstudio-community/gemma-3-4b-it-GGUF", {"gemma-3-4b-it"}),  # a model folder
        (
            "lmstudio-community/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q8_0.gguf",
            {"qwen2.5-0.5b-instruct@q8_0"},
        ),  # one file of several in its folder
        ("lmstudio-community/gemma-3-4b-it-GGUF/gemma-3-4b-it-Q4_K_M.gguf", {"gemma-3-4b-it"}),
    ],
)
def test_any_level_of_the_layout(sub: str, keys: set[str]) -> None:
    entries = response_models(modelscan.list_models(FIXTURES / sub))
    assert {e["key"] for e in entries} == keys
    for e in entries:
        assert e["publisher"] == "lmstudio-community"
        if e["key"] == "gemma-3-4b-it":
            assert e["capabilities"]["vision"] is True  # the projector is found beside one file too


def test_same_output_every_time(report: modelscan.ScanReport) -> None:
    again = modelscan.scan_models(FIXTURES)
    assert again.to_response() == report.to_response()
    assert [str(p) for p in again.problems] == [str(p) for p in report.problems]


def test_relative_and_absolute_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as mp:
        mp.chdir(FIXTURES)
        relative = modelscan.list_models(".")
    assert relative == modelscan.list_models(FIXTURES)
