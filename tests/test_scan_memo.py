"""A rescan of an unchanged tree reuses the last report whole; any change a walk would see rescans.

``ScanCache`` keeps, per set of roots, the tree's fingerprint taken before the last scan and that
scan's report. These tests check both halves: an unchanged tree is answered from the fingerprint
alone (no candidate is built), and after every kind of change the cached scan equals a fresh one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import count_calls
from hypothesis import given, settings
from hypothesis import strategies as st

import modelscan
from modelscan import scan as scan_module
from modelscan._walk import fingerprint
from modelscan.errors import ChangedDuringScan, LimitExceeded
from modelscan.limits import BATCH_LIMITS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"
GEMMA = "lmstudio-community/gemma-3-270m-it-qat-GGUF/gemma-3-270m-it-QAT-Q4_0.gguf"
QWEN = "lmstudio-community/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"


def _same(a: modelscan.ScanReport, b: modelscan.ScanReport) -> bool:
    return a.models == b.models and [(p.path, p.code, p.detail) for p in a.problems] == [
        (p.path, p.code, p.detail) for p in b.problems
    ]


def _no_discovery(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make candidate discovery count its calls (a reused report needs none)."""
    return count_calls(monkeypatch, scan_module, "_discover")


def _mlx(folder: Path, extra: bytes = b"") -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "max_position_embeddings": 2048}))
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_bytes(b"n" + extra)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "models")
    _mlx(tmp_path / "models" / "acme" / "Tiny-4bit")
    return tmp_path / "models"


def test_an_unchanged_tree_is_answered_from_its_fingerprint(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = modelscan.ScanCache()
    calls = _no_discovery(monkeypatch)
    first = modelscan.scan_models(root, cache=cache)
    assert calls == [1]
    hits = cache.hits
    second = modelscan.scan_models(root, cache=cache)
    assert calls == [1]  # no candidate was built, no file read
    assert cache.hits == hits + len(cache)  # one hit per candidate, as a candidate-by-candidate rescan counts
    assert _same(first, second)
    second.models.clear()  # the caller's lists are its own
    assert modelscan.scan_models(root, cache=cache).models == first.models


def _append(root: Path) -> None:
    with open(root / GEMMA, "ab") as f:
        f.write(b"\0" * 32)


def _same_size_and_mtime_new_inode(root: Path) -> None:
    path = root / GEMMA
    st = path.stat()
    copy = path.with_suffix(".tmp")
    shutil.copy2(path, copy)
    os.replace(copy, path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _touch(root: Path) -> None:
    st = (root / GEMMA).stat()
    os.utime(root / GEMMA, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _add_model(root: Path) -> None:
    shutil.copytree(root / os.path.dirname(GEMMA), root / "someone" / "gemma-copy-GGUF")


def _remove(root: Path) -> None:
    (root / QWEN).unlink()


def _rename(root: Path) -> None:
    (root / QWEN).rename((root / QWEN).with_name("Qwen2.5-0.5B-Instruct-Q3_K_M.gguf"))


def _partial(root: Path) -> None:
    (root / os.path.dirname(GEMMA) / "gemma-3-270m-it-Q8_0.gguf.part").write_bytes(b"x")


def _empty_folder(root: Path) -> None:
    (root / "someone" / "empty").mkdir(parents=True, exist_ok=True)


def _nested_mlx_file(root: Path) -> None:
    with open(root / "acme" / "Tiny-4bit" / "sub" / "notes.txt", "ab") as f:
        f.write(b"more")


def _link_in(root: Path) -> None:
    link = root / "linked" / "Gemma-GGUF" / "gemma-3-270m-it-QAT-Q4_0.gguf"
    if link.is_symlink():
        link.unlink()
        link.symlink_to(root / QWEN)  # retargeted: the link's own stat may not change at all
    else:
        link.parent.mkdir(parents=True)
        link.symlink_to(root / GEMMA)


def _hidden(root: Path) -> None:
    (root / os.path.dirname(GEMMA) / ".hidden-Q8_0.gguf").write_bytes(b"x" * 10)


CHANGES: dict[str, Callable[[Path], None]] = {
    "append": _append,
    "same-size-same-mtime-new-inode": _same_size_and_mtime_new_inode,
    "touch": _touch,
    "add-model": _add_model,
    "remove": _remove,
    "rename": _rename,
    "partial-download": _partial,
    "empty-folder": _empty_folder,
    "nested-mlx-file": _nested_mlx_file,
    "link": _link_in,
    "hidden": _hidden,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_after_a_change_the_cached_scan_is_the_fresh_scan(root: Path, change: str) -> None:
    cache = modelscan.ScanCache()
    before = modelscan.scan_models(root, cache=cache)
    CHANGES[change](root)
    after = modelscan.scan_models(root, cache=cache)
    assert _same(after, modelscan.scan_models(root))
    if change == "hidden":  # a walk never looks at hidden names: nothing it sees changed
        assert _same(after, before)
    else:
        assert fingerprint([str(root)], BATCH_LIMITS) is not None


@settings(max_examples=15, deadline=None)
@given(steps=st.lists(st.sampled_from(sorted(CHANGES)), min_size=1, max_size=6))
def test_any_sequence_of_changes_gives_the_fresh_scan(
    tmp_path_factory: pytest.TempPathFactory, steps: list[str]
) -> None:
    work = tmp_path_factory.mktemp("memo")
    root = work / "models"
    shutil.copytree(FIXTURES, root)
    _mlx(root / "acme" / "Tiny-4bit")
    cache = modelscan.ScanCache()
    modelscan.scan_models(root, cache=cache)
    for step in steps:
        with contextlib.suppress(FileNotFoundError, FileExistsError):  # a step that cannot apply twice
            CHANGES[step](root)
        assert _same(modelscan.scan_models(root, cache=cache), modelscan.scan_models(root))


def test_a_retargeted_link_is_seen(root: Path) -> None:
    _link_in(root)
    cache = modelscan.ScanCache()
    before = modelscan.scan_models(root, cache=cache)
    _link_in(root)  # now to another model: the link's name and folder are the same
    after = modelscan.scan_models(root, cache=cache)
    assert _same(after, modelscan.scan_models(root))
    assert not _same(after, before)


def test_a_link_out_of_the_roots_is_judged_not_followed(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.gguf"
    outside.write_bytes((root / GEMMA).read_bytes())
    (root / "linked").mkdir()
    (root / "linked" / "out.gguf").symlink_to(outside)
    cache = modelscan.ScanCache()
    first = modelscan.scan_models(root, cache=cache)
    assert "outside_root" in {p.code for p in first.problems}
    with open(outside, "ab") as f:  # the outside file changes: nothing the walk may see changed
        f.write(b"\0" * 32)
    assert _same(modelscan.scan_models(root, cache=cache), first)
    assert _same(first, modelscan.scan_models(root))


def test_a_retryable_problem_is_not_kept(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = scan_module._read_candidate
    changed: list[int] = []

    def flaky(job: tuple[object, ...]) -> object:
        result = real(job)  # type: ignore[arg-type]
        if not changed:
            changed.append(1)
            problem = ChangedDuringScan(str(root / GEMMA), "changed while it was read", format="gguf")
            return (result[0], (*result[1], problem))
        return result

    monkeypatch.setattr(scan_module, "_read_candidate", flaky)
    cache = modelscan.ScanCache()
    calls = _no_discovery(monkeypatch)
    first = modelscan.scan_models(root, cache=cache)
    assert any(p.retryable for p in first.problems)
    second = modelscan.scan_models(root, cache=cache)
    assert calls == [1, 1]  # scanned again, not answered from the fingerprint
    assert not any(p.retryable for p in second.problems)


def test_clear_forgets_the_last_scan(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = modelscan.ScanCache()
    calls = _no_discovery(monkeypatch)
    modelscan.scan_models(root, cache=cache)
    cache.clear()
    modelscan.scan_models(root, cache=cache)
    assert calls == [1, 1]


def _hub_repo(hub: Path, revs: list[str], main: str | None) -> Path:
    """``models--acme--Tiny-4bit`` with an MLX model in each snapshot *revs*, its config.json a
    link into the repo's ``blobs/`` as huggingface_hub writes it; ``refs/main`` names *main*."""
    repo = hub / "models--acme--Tiny-4bit"
    for n, rev in enumerate(revs):
        snap = repo / "snapshots" / rev
        _mlx(snap, extra=b"x" * n)
        blob = repo / "blobs" / f"cfg{n}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        (snap / "config.json").rename(blob)
        (snap / "config.json").symlink_to(os.path.relpath(blob, snap))
    if main is not None:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(main)
    return repo


def test_an_unchanged_hugging_face_cache_is_answered_from_its_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = tmp_path / "hub"
    _hub_repo(hub, ["aaa", "bbb"], main="aaa")
    cache = modelscan.ScanCache()
    calls = _no_discovery(monkeypatch)
    first = modelscan.scan_models(hub, cache=cache)
    assert first.models
    assert _same(modelscan.scan_models(hub, cache=cache), first)
    assert calls == [1]
    (hub / "models--acme--Tiny-4bit" / "refs" / "main").write_text("bbb")  # another snapshot
    after = modelscan.scan_models(hub, cache=cache)
    assert calls == [1, 1]
    assert _same(after, modelscan.scan_models(hub)) and not _same(after, first)


def test_without_refs_main_a_newer_snapshot_is_seen(tmp_path: Path) -> None:
    # The repo lists its newest snapshot: a folder's mtime decides, which the fingerprint holds.
    hub = tmp_path / "hub"
    repo = _hub_repo(hub, ["aaa", "bbb"], main=None)
    old, new = repo / "snapshots" / "aaa", repo / "snapshots" / "bbb"
    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    os.utime(new, ns=(2_000_000_000, 2_000_000_000))
    cache = modelscan.ScanCache()
    first = modelscan.scan_models(hub, cache=cache)
    os.utime(old, ns=(3_000_000_000, 3_000_000_000))  # nothing inside changed
    after = modelscan.scan_models(hub, cache=cache)
    assert _same(after, modelscan.scan_models(hub))
    assert not _same(after, first)


def test_a_repo_folder_given_alone_is_always_rescanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its links may lead into the cache's shared blob store beside it, which the fingerprint does not walk.
    repo = _hub_repo(tmp_path / "hub", ["aaa"], main="aaa")
    cache = modelscan.ScanCache()
    calls = _no_discovery(monkeypatch)
    first = modelscan.scan_models(repo, cache=cache)
    assert first.models
    assert _same(modelscan.scan_models(repo, cache=cache), first)
    assert calls == [1, 1]


def test_a_scan_cut_short_is_not_kept(root: Path) -> None:
    cut = LimitExceeded(str(root), "walk took too long", format="fs", limit="walk_seconds", code="scan_truncated")
    assert scan_module.reusable([root], [])
    assert not scan_module.reusable([root], [cut])


def test_files_given_by_name_and_deep_trees_take_the_full_road(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fingerprint([str(root / GEMMA)], BATCH_LIMITS) is None  # not a folder
    deep = root / "deep"
    path = deep
    for i in range(BATCH_LIMITS.walk_depth + 1):
        path = path / f"d{i}"
    path.mkdir(parents=True)
    assert fingerprint([str(root)], BATCH_LIMITS) is None  # the walk would be cut: no vouching
    cache = modelscan.ScanCache()
    calls = _no_discovery(monkeypatch)
    modelscan.scan_models(root / GEMMA, cache=cache)
    modelscan.scan_models(root / GEMMA, cache=cache)
    modelscan.scan_models(root, cache=cache)
    modelscan.scan_models(root, cache=cache)
    assert calls == [1, 1, 1, 1]


def test_without_whole_reports_no_fingerprint_is_taken(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = count_calls(monkeypatch, scan_module, "tree_fingerprint")
    calls = _no_discovery(monkeypatch)
    cache = modelscan.ScanCache(whole_reports=False)
    first = modelscan.scan_models(root, cache=cache)
    second = modelscan.scan_models(root, cache=cache)
    assert taken == [] and calls == [1, 1]  # every candidate a hit, but found by the walk
    assert _same(first, second) and cache.hits == len(cache)
    modelscan.scan_models(root, cache=modelscan.ScanCache())
    assert taken == [1]


def test_a_passing_os_error_is_not_kept(root: Path) -> None:
    # EIO, EMFILE...: the next scan may not meet it, so the report is not reused.
    err = modelscan.FileAccessError(str(root), "cannot list: Input/output error", format="fs", code="os_error")
    denied = modelscan.FileAccessError(
        str(root), "cannot list: permission denied", format="fs", code="permission_denied"
    )
    assert not scan_module.reusable([root], [err])
    assert scan_module.reusable([root], [denied])  # a permission is part of the tree (and of its listing)


def test_a_reused_report_tells_progress_once(root: Path) -> None:
    cache = modelscan.ScanCache()
    first = modelscan.scan_models(root, cache=cache)
    seen: list[modelscan.scan.ScanProgress] = []
    modelscan.scan_models(root, cache=cache, progress=seen.append)
    assert len(seen) == 1
    (done,) = seen
    assert not done.walking and done.to_read == 0 and done.read == 0
    assert (done.candidates, done.models, done.problems) == (len(cache), len(first.models), len(first.problems))
