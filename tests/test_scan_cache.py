"""The incremental cache and worker processes give the same report as a plain scan."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import response_models

import modelscan
from modelscan import scan as scan_module

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "models")
    return tmp_path / "models"


def test_warm_scan_reuses_every_folder(root: Path) -> None:
    cache = modelscan.ScanCache()
    cold = modelscan.scan_models(root, cache=cache)
    assert cache.hits == 0 and cache.misses == len(cache) > 5
    warm = modelscan.scan_models(root, cache=cache)
    assert cache.hits == len(cache)
    assert warm.to_response() == cold.to_response()
    assert [str(p) for p in warm.problems] == [str(p) for p in cold.problems]


def test_a_changed_file_is_read_again(root: Path) -> None:
    cache = modelscan.ScanCache()
    modelscan.scan_models(root, cache=cache)
    gemma = next(root.rglob("gemma-3-270m-it-QAT-Q4_0.gguf"))
    with open(gemma, "ab") as f:
        f.write(b"\0" * 32)  # size changes
    hits_before = cache.hits
    report = modelscan.scan_models(root, cache=cache)
    assert cache.hits == hits_before + len(cache) - 1
    (entry,) = [e for e in response_models(report.to_response()) if e["key"] == "gemma-3-270m-it-qat"]
    assert entry["size_bytes"] == gemma.stat().st_size


def test_a_replaced_file_with_the_same_size_and_mtime_is_read_again(root: Path) -> None:
    cache = modelscan.ScanCache()
    modelscan.scan_models(root, cache=cache)
    gemma = next(root.rglob("gemma-3-270m-it-QAT-Q4_0.gguf"))
    st = gemma.stat()
    copy = gemma.with_suffix(".tmp")
    shutil.copy2(gemma, copy)
    os.replace(copy, gemma)  # a new inode
    os.utime(gemma, ns=(st.st_atime_ns, st.st_mtime_ns))
    misses = cache.misses
    modelscan.scan_models(root, cache=cache)
    assert cache.misses == misses + 1


def test_cached_results_are_not_shared_with_the_caller(root: Path) -> None:
    cache = modelscan.ScanCache()
    first = modelscan.scan_models(root, cache=cache)
    with pytest.raises(AttributeError):
        first.models[0].key = "changed"  # type: ignore[misc]  # facts are immutable
    first.models.clear()
    first.problems.clear()
    second = modelscan.scan_models(root, cache=cache)
    assert second.to_response() == modelscan.scan_models(root).to_response()


def test_worker_processes_give_the_same_report(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_module, "PARALLEL_MIN_FOLDERS", 2)
    serial = modelscan.scan_models(root, workers=1)
    parallel = modelscan.scan_models(root, workers=2)
    assert parallel.to_response() == serial.to_response()
    assert parallel.to_facts() == serial.to_facts()
