"""The one walk: what discovery, an MLX model's size and the cache signature all see.

Regression tests for the bugs that three walkers with three symlink policies let through: a
Hugging Face snapshot whose ``blobs`` is a link to ``/`` let the MLX reader read and count files
outside the scanned roots; the cache signature did not follow the links the size followed; and
an MLX folder was listed up to three times per scan.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import modelscan
from modelscan import _walk
from modelscan.limits import BATCH_LIMITS

TOOLS = "{%- if tools %}{{ tools }}{% endif %}"
CONFIG = json.dumps({"model_type": "llama", "max_position_embeddings": 2048}).encode()


def _safetensors() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * 16


def _snapshot(cache: Path) -> tuple[Path, Path]:
    """``models--acme--Tiny-4bit`` with one snapshot holding a small MLX model; (repo, snapshot)."""
    repo = cache / "models--acme--Tiny-4bit"
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_bytes(CONFIG)
    (snap / "model.safetensors").write_bytes(_safetensors())
    return repo, snap


def _own_size(snap: Path) -> int:
    return (snap / "config.json").stat().st_size + (snap / "model.safetensors").stat().st_size


def test_blobs_linked_to_the_root_reads_and_counts_nothing_outside(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    repo, snap = _snapshot(cache)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "tokenizer_config.json").write_text(json.dumps({"chat_template": TOOLS}))
    (outside / "secret.bin").write_bytes(b"s" * 12345)
    os.symlink("/", repo / "blobs")
    os.symlink(outside / "tokenizer_config.json", snap / "tokenizer_config.json")
    os.symlink(outside / "secret.bin", snap / "extra.bin")

    report = modelscan.scan_models(cache)
    (model,) = report.models
    assert model.trained_for_tool_use is False  # the template outside the roots was not read
    assert model.size_bytes == _own_size(snap)  # nor counted: no file-size oracle (R15)
    refused = sorted((os.path.basename(p.path), p.code) for p in report.problems)
    assert ("tokenizer_config.json", "outside_root") in refused


def test_cache_follows_the_links_the_size_follows(tmp_path: Path) -> None:
    cache_dir = tmp_path / "hub"
    repo, snap = _snapshot(cache_dir)
    (repo / "blobs").mkdir()
    blob = repo / "blobs" / "abc"
    blob.write_bytes(b"x" * 100)
    (snap / "sub").mkdir()
    os.symlink("../../../blobs/abc", snap / "sub" / "extra.bin")

    cache = modelscan.ScanCache()
    (first,) = modelscan.scan_models(cache_dir, cache=cache).models
    assert first.size_bytes == _own_size(snap) + 100
    with open(blob, "ab") as f:
        f.write(b"y" * 50)
    (cached,) = modelscan.scan_models(cache_dir, cache=cache).models
    (fresh,) = modelscan.scan_models(cache_dir).models
    assert cached.size_bytes == fresh.size_bytes == _own_size(snap) + 150


def _count_scandirs(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    counts: dict[str, int] = {}
    real = os.scandir

    def scandir(path: Any = ".") -> Iterator[os.DirEntry[str]]:
        key = os.path.abspath(os.fspath(path))
        counts[key] = counts.get(key, 0) + 1
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return counts


@pytest.mark.parametrize("use_cache", [False, True])
def test_an_mlx_folder_is_listed_once_per_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_cache: bool
) -> None:
    model = tmp_path / "models" / "pub" / "Tiny-4bit"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_bytes(CONFIG)
    (model / "model.safetensors").write_bytes(_safetensors())
    (model / "sub" / "notes.txt").write_bytes(b"n")
    cache = modelscan.ScanCache() if use_cache else None
    counts = _count_scandirs(monkeypatch)
    # With a cache, the first scan lists each folder once for the tree's fingerprint and once in
    # the walk; the rescan only takes the fingerprint (the tree did not change).
    for listings in [2, 1] if use_cache else [1]:
        counts.clear()
        (found,) = modelscan.scan_models(tmp_path / "models", cache=cache).models
        assert found.size_bytes == _own_size(model) + 1
        assert counts[str(model)] == listings
        assert counts[str(model / "sub")] == listings


def test_a_folder_tree_counts_each_inode_once_and_names_the_cut(tmp_path: Path) -> None:
    root = tmp_path / "m"
    (root / "a" / "b").mkdir(parents=True)
    (root / "config.json").write_bytes(b"{}")
    (root / "a" / "x.bin").write_bytes(b"x" * 10)
    os.link(root / "a" / "x.bin", root / "a" / "b" / "y.bin")
    problems: list[modelscan.ModelScanError] = []
    walk = _walk.Walk([root], BATCH_LIMITS, problems)
    (top,) = [f for f in walk.folders(collect=lambda f: f.path == str(root)) if f.path == str(root)]
    assert top.tree is not None and top.cut is None
    assert sorted(f.name for f in top.tree) == ["config.json", "x.bin"]
    walk = _walk.Walk([root], BATCH_LIMITS.replace(walk_depth=1), problems)
    (top,) = [f for f in walk.folders(collect=lambda f: f.path == str(root)) if f.path == str(root)]
    assert top.cut == "walk_depth"
    assert top.tree is not None and sorted(f.name for f in top.tree) == ["config.json", "x.bin"]
