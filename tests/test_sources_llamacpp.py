"""llama.cpp's older flat cache (SOURCES.md section 3): ``<org>_<repo>_<file>.gguf`` beside its
``.etag``, and ``manifest=<org>=<repo>=<tag>.json`` (the Hub's manifest for that tag) naming a
repo's files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from golden_io import check, listing

import modelscan
from modelscan.sources import layouts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"
LLAMA_Q4 = FIXTURES / "bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf"
QWEN_Q4 = FIXTURES / "lmstudio-community/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"
QWEN_Q8 = FIXTURES / "lmstudio-community/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q8_0.gguf"
GEMMA4B = FIXTURES / "lmstudio-community/gemma-3-4b-it-GGUF"


def _download(cache: Path, org: str, repo: str, source: Path, name: str | None = None) -> Path:
    """One file as llama.cpp's -hf stored it: ``<org>_<repo>_<file>`` and its ETag sidecar."""
    path = cache / f"{org}_{repo}_{name or source.name}"
    shutil.copyfile(source, path)
    (cache / f"{path.name}.etag").write_text('"0123456789abcdef"')
    return path


def _manifest(cache: Path, org: str, repo: str, tag: str, gguf: str, *, mmproj: str | None = None) -> None:
    doc: dict[str, object] = {"ggufFile": {"rfilename": gguf, "size": 1}}
    if mmproj is not None:
        doc["mmprojFile"] = {"rfilename": mmproj, "size": 1}
    (cache / f"manifest={org}={repo}={tag}.json").write_text(json.dumps(doc))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    c = tmp_path / "llama.cpp"
    c.mkdir()
    _download(c, "bartowski", "Llama-3.2-1B-Instruct-GGUF", LLAMA_Q4)
    _manifest(c, "bartowski", "Llama-3.2-1B-Instruct-GGUF", "Q4_K_M", LLAMA_Q4.name)
    _download(c, "Qwen", "Qwen2.5-0.5B-Instruct-GGUF", QWEN_Q4)
    _download(c, "Qwen", "Qwen2.5-0.5B-Instruct-GGUF", QWEN_Q8)
    _manifest(c, "Qwen", "Qwen2.5-0.5B-Instruct-GGUF", "Q4_K_M", QWEN_Q4.name)
    _manifest(c, "Qwen", "Qwen2.5-0.5B-Instruct-GGUF", "Q8_0", QWEN_Q8.name)
    _download(c, "ggml-org", "gemma-3-4b-it-GGUF", GEMMA4B / "gemma-3-4b-it-Q4_K_M.gguf")
    _download(c, "ggml-org", "gemma-3-4b-it-GGUF", GEMMA4B / "mmproj-model-f16.gguf")
    _manifest(
        c, "ggml-org", "gemma-3-4b-it-GGUF", "latest", "gemma-3-4b-it-Q4_K_M.gguf", mmproj="mmproj-model-f16.gguf"
    )
    shutil.copyfile(FIXTURES / "acme/unlabelled-GGUF/weights.gguf", c / "my-own-model.gguf")  # no manifest
    (c / "half.gguf.downloadInProgress").write_bytes(b"GGUF")
    return c


def test_layout_is_recognised(cache: Path) -> None:
    assert layouts(cache) == ("llama.cpp",)


def test_a_manifest_gives_publisher_and_repo(cache: Path) -> None:
    report = modelscan.scan_models(cache)
    (m,) = [m for m in report.models if m.publisher == "bartowski"]
    assert (m.source, m.repo, m.key) == ("llama.cpp", "Llama-3.2-1B-Instruct-GGUF", "llama-3.2-1b-instruct")


def test_several_files_of_one_repo_share_its_folder(cache: Path) -> None:
    report = modelscan.scan_models(cache)
    keys = sorted(m.key for m in report.models if m.publisher == "Qwen")
    assert keys == ["qwen2.5-0.5b-instruct@q4_k_m", "qwen2.5-0.5b-instruct@q8_0"]


def test_the_manifest_projector_gives_vision(cache: Path) -> None:
    (m,) = [m for m in modelscan.scan_models(cache).models if m.publisher == "ggml-org"]
    assert m.vision and m.projector is not None and m.projector.endswith("mmproj-model-f16.gguf")


def test_a_file_no_manifest_names_stands_alone(cache: Path) -> None:
    (m,) = [m for m in modelscan.scan_models(cache).models if m.publisher == "llama.cpp"]
    assert (m.repo, m.key) == ("my-own-model", "my-own-model")


def test_sidecars_are_never_problems_and_a_download_in_progress_is_partial(cache: Path) -> None:
    report = modelscan.scan_models(cache)
    assert [(Path(p.path).name, p.code) for p in report.problems] == [
        ("half.gguf.downloadInProgress", "partial_download")
    ]


def test_an_unusable_manifest_claims_nothing_and_is_no_problem(cache: Path) -> None:
    (cache / "manifest=bartowski=Llama-3.2-1B-Instruct-GGUF=Q4_K_M.json").write_text('{"ggufFile": {"rfilename"')
    report = modelscan.scan_models(cache)
    (m,) = [m for m in report.models if m.repo == "Llama-3.2-1B-Instruct-GGUF"]  # still claimed by its prefix
    assert m.publisher == "bartowski"
    assert [p.code for p in report.problems] == ["partial_download"]


def test_the_older_manifest_name_where_unambiguous(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    cache.mkdir()
    shutil.copyfile(LLAMA_Q4, cache / LLAMA_Q4.name)  # still older: the file under its own name
    (cache / f"{LLAMA_Q4.name}.json").write_text("{}")
    (cache / "manifest=bartowski_Llama-3.2-1B-Instruct-GGUF=latest.json").write_text(
        json.dumps({"ggufFile": {"rfilename": LLAMA_Q4.name}})
    )
    # "bartowski_Llama-3.2-1B-Instruct-GGUF" has one "_": org and repo are known.
    (m,) = modelscan.scan_models(cache).models
    assert (m.publisher, m.repo) == ("bartowski", "Llama-3.2-1B-Instruct-GGUF")


def test_a_flat_cache_beside_a_hub_cache_is_read_by_both_rules(cache: Path) -> None:
    repo = cache / "models--acme--Tiny-GGUF"
    (repo / "snapshots" / ("a" * 40)).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (repo / "blobs").mkdir()
    shutil.copyfile(QWEN_Q4, repo / "blobs" / "etag")
    (repo / "snapshots" / ("a" * 40) / "tiny-Q4_K_M.gguf").symlink_to("../../blobs/etag")
    assert layouts(cache) == ("hf-cache", "llama.cpp")
    report = modelscan.scan_models(cache)
    assert {m.source for m in report.models} == {"hf-cache", "llama.cpp"}
    assert [m.key for m in report.models if m.source == "hf-cache"] == ["tiny"]


def test_golden(cache: Path) -> None:
    check("llamacpp.json", listing(modelscan.scan_models(cache), cache))
