"""HOSTILE.md in every source: manifests and refs are untrusted input, links stay inside the
store, and every bad input is one problem with its code, never a crash, a hang or a read outside.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import shutil
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import modelscan
from modelscan._walk import Walk
from modelscan.limits import BATCH_LIMITS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"
GGUF = (FIXTURES / "bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf").read_bytes()
MODEL = "application/vnd.ollama.image.model"


# --- Ollama -----------------------------------------------------------------------------------


def _blob(store: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (store / "blobs").mkdir(parents=True, exist_ok=True)
    (store / "blobs" / f"sha256-{digest}").write_bytes(data)
    return {"mediaType": MODEL, "digest": f"sha256:{digest}", "size": len(data)}


def _manifest(store: Path, body: bytes | dict[str, object], name: str = "registry.ollama.ai/library/m/latest") -> Path:
    path = store / "manifests" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body if isinstance(body, bytes) else json.dumps(body).encode())
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    s = tmp_path / "models"
    (s / "blobs").mkdir(parents=True)
    (s / "manifests").mkdir()
    return s


def _problems(root: Path) -> list[tuple[str, str]]:
    report = modelscan.scan_models(root)
    assert report.models == []
    return [(p.code, p.field or "") for p in report.problems]


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every path opened or stat()ed (following links) during the test. (``os.path.realpath``
    lstat()s the components of a link's target to resolve it, which reads no file.)"""
    seen: list[str] = []
    real_open, real_stat = os.open, os.stat

    def spy(fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(path: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(path, (str, os.PathLike)):
                seen.append(os.path.abspath(os.fspath(path)))
            return fn(path, *args, **kwargs)

        return inner

    monkeypatch.setattr(os, "open", spy(real_open))
    monkeypatch.setattr(os, "stat", spy(real_stat))
    yield seen


def test_ollama_a_good_manifest_is_listed(store: Path) -> None:
    _manifest(store, {"schemaVersion": 2, "layers": [_blob(store, GGUF)]})
    (model,) = modelscan.scan_models(store).models
    assert model.key == "m:latest"


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:../../../../etc/passwd",
        "sha256-../../secret",
        "../secret",
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 64 + "/../../secret",
        "sha512:" + "a" * 128,
        "sha256:" + "g" * 64,
    ],
)
def test_ollama_a_digest_that_is_not_sha256_hex_never_becomes_a_path(
    store: Path, tmp_path: Path, digest: str, opened: list[str]
) -> None:
    (tmp_path / "secret").write_bytes(GGUF)
    _manifest(store, {"layers": [{"mediaType": MODEL, "digest": digest, "size": len(GGUF)}]})
    assert _problems(store) == [("bad_digest", "manifest.layers[0].digest")]
    assert not [p for p in opened if not p.startswith(str(store)) and "secret" in p]


def test_ollama_a_missing_blob_and_a_wrong_size(store: Path) -> None:
    layer = _blob(store, GGUF)
    _manifest(store, {"layers": [{**layer, "size": len(GGUF) + 1}]}, "registry.ollama.ai/library/wrong/latest")
    missing = {**layer, "digest": "sha256:" + "0" * 64}
    _manifest(store, {"layers": [missing]}, "registry.ollama.ai/library/gone/latest")
    assert sorted(_problems(store)) == [
        ("blob_size_mismatch", "manifest.layers[0].size"),
        ("missing_blob", "manifest.layers[0].digest"),
    ]


def test_ollama_a_missing_config_blob_is_a_problem_too(store: Path) -> None:
    config = {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "sha256:" + "1" * 64, "size": 2}
    _manifest(store, {"config": config, "layers": [_blob(store, GGUF)]})
    assert _problems(store) == [("missing_blob", "manifest.config.digest")]


def test_ollama_a_blob_linked_out_of_the_store_is_refused_unopened(
    store: Path, tmp_path: Path, opened: list[str]
) -> None:
    outside = tmp_path / "outside.gguf"
    outside.write_bytes(GGUF)
    layer = _blob(store, GGUF)
    blob = store / "blobs" / str(layer["digest"]).replace(":", "-")
    blob.unlink()
    blob.symlink_to(outside)
    _manifest(store, {"layers": [layer]})
    assert _problems(store) == [("outside_root", "")]
    assert str(outside) not in opened


def test_ollama_a_manifest_linked_out_of_the_store_is_refused(store: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.write_text(json.dumps({"layers": [_blob(store, GGUF)]}))
    path = store / "manifests" / "registry.ollama.ai" / "library" / "m" / "latest"
    path.parent.mkdir(parents=True)
    path.symlink_to(outside)
    assert _problems(store) == [("outside_root", "")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_ollama_fifos_as_manifest_and_blob_are_never_opened(store: Path) -> None:
    path = store / "manifests" / "registry.ollama.ai" / "library" / "m" / "latest"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    os.mkfifo(store / "blobs" / ("sha256-" + "2" * 64))
    _manifest(store, {"layers": [{"mediaType": MODEL, "digest": "sha256:" + "2" * 64, "size": 1}]}, "h.io/n/f/t")
    assert sorted(c for c, _ in _problems(store)) == ["not_regular_file", "not_regular_file"]


def test_ollama_a_manifest_over_the_size_limit_is_not_read(store: Path) -> None:
    path = _manifest(store, b"{}")
    with open(path, "r+b") as f:
        f.truncate(BATCH_LIMITS.config_json_bytes + 1)  # sparse: nothing on disk
    tracemalloc.start()
    try:
        problems = _problems(store)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [c for c, _ in problems] == ["limit_exceeded"]
    assert peak < BATCH_LIMITS.config_json_bytes // 4  # decided from fstat: the body was never held


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"layers": ' + b"[" * 5000 + b"]" * 5000 + b"}", "limit_exceeded"),  # deep nesting
        (b'{"layers": [], "layers": []}', "duplicate_key"),
        (b'{"schemaVersion": NaN, "layers": []}', "invalid_field"),
        (b"[]", "invalid_field"),  # top level not an object
        (b"\xff\xfe{", "invalid_field"),
        (b'{"layers": {"0": 1}}', "wrong_type"),
        (b'{"schemaVersion": 2}', "missing_field"),
        (b'{"layers": [1]}', "wrong_type"),
        (b'{"layers": [{"mediaType": "x", "digest": "sha256:00", "size": true}]}', "wrong_type"),
        (b'{"layers": [{"mediaType": "x", "digest": "sha256:00", "size": -1}]}', "wrong_type"),
        (b'{"layers": [{"mediaType": 7, "digest": "sha256:00", "size": 1}]}', "wrong_type"),
        (b'{"layers": [{"mediaType": "x", "digest": "sha256:00", "size": ' + b"9" * 5000 + b"}]}", "invalid_field"),
        (b'{"layers": []}', "not_a_model"),
    ],
)
def test_ollama_manifest_json_is_parsed_strictly(store: Path, body: bytes, code: str) -> None:
    _manifest(store, body)
    assert [c for c, _ in _problems(store)] == [code]


def test_ollama_a_manifest_bomb_of_many_layers_costs_one_stat_per_weights_layer(store: Path, opened: list[str]) -> None:
    layer = _blob(store, GGUF)
    junk = {"mediaType": "application/vnd.ollama.image.license", "digest": "sha256:" + "3" * 64, "size": 1}
    _manifest(store, {"layers": [junk] * 25_000 + [layer]})  # about 3.8 MB, under the cap
    (model,) = modelscan.scan_models(store).models
    assert model.key == "m:latest"
    assert not [p for p in opened if p.endswith("3" * 64)]  # layers that are not weights are never looked up


def test_ollama_names_ollama_rejects_are_a_problem(store: Path) -> None:
    layer = _blob(store, GGUF)
    _manifest(store, {"layers": [layer]}, "registry.ollama.ai/bad.namespace/m/latest")
    _manifest(store, {"layers": [layer]}, "registry.ollama.ai/library/-m/latest")
    assert _problems(store) == [("invalid_field", "name"), ("invalid_field", "name")]


def test_ollama_manifests_at_another_depth_are_not_manifests(store: Path) -> None:
    layer = _blob(store, GGUF)
    _manifest(store, {"layers": [layer]}, "registry.ollama.ai/library/m")
    _manifest(store, {"layers": [layer]}, "registry.ollama.ai/library/n/x/latest")
    report = modelscan.scan_models(store)
    assert report.models == [] and report.problems == []


# --- Hugging Face hub cache -------------------------------------------------------------------


def _repo(cache: Path, name: str = "models--acme--x-GGUF", commit: str = "c" * 40) -> Path:
    repo = cache / name
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    (repo / "blobs" / "e1").write_bytes(GGUF)
    (repo / "snapshots" / commit / "x-Q4_K_M.gguf").symlink_to("../../blobs/e1")
    return repo


def test_hf_a_snapshot_link_out_of_the_cache_is_refused_unopened(tmp_path: Path, opened: list[str]) -> None:
    cache = tmp_path / "hub"
    repo = _repo(cache)
    outside = tmp_path / "outside.gguf"
    outside.write_bytes(GGUF)
    (repo / "snapshots" / ("c" * 40) / "y-Q8_0.gguf").symlink_to(outside)
    report = modelscan.scan_models(cache)
    assert [m.key for m in report.models] == ["x"]
    assert [(Path(p.path).name, p.code) for p in report.problems] == [("y-Q8_0.gguf", "outside_root")]
    assert str(outside) not in opened


@pytest.mark.parametrize("root", ["cache", "repo"])
def test_hf_a_second_hop_out_of_the_cache_is_refused(tmp_path: Path, root: str) -> None:
    cache = tmp_path / "hub"
    repo = _repo(cache)
    outside = tmp_path / "outside.gguf"
    outside.write_bytes(GGUF)
    (repo / "blobs" / "e1").unlink()
    (repo / "blobs" / "e1").symlink_to(outside)  # snapshot -> repo blob -> out of the cache
    report = modelscan.scan_models(cache if root == "cache" else repo)
    assert report.models == []
    assert [p.code for p in report.problems] == ["outside_root"]


def test_hf_a_shared_store_that_is_a_link_opens_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    repo = _repo(cache)
    (tmp_path / "elsewhere" / "ab").mkdir(parents=True)
    (tmp_path / "elsewhere" / "ab" / ("ab" * 32)).write_bytes(GGUF)
    (cache / "blobs").symlink_to(tmp_path / "elsewhere")  # the shared store itself a link out
    (repo / "blobs" / "e1").unlink()
    (repo / "blobs" / "e1").symlink_to(f"../../blobs/ab/{'ab' * 32}")
    report = modelscan.scan_models(repo)
    assert report.models == [] and [p.code for p in report.problems] == ["outside_root"]


@pytest.mark.parametrize("ref", ["../../../../etc", "c" * 40 + "/../..", "..", "", "\0", "c" * 300])
def test_hf_refs_main_never_becomes_a_path(tmp_path: Path, ref: str) -> None:
    cache = tmp_path / "hub"
    repo = _repo(cache)
    (repo / "refs" / "main").write_text(ref)
    report = modelscan.scan_models(cache)
    assert [m.key for m in report.models] == ["x"]  # the newest snapshot instead
    assert [p.code for p in report.problems] == ["invalid_field"]


def test_hf_refs_main_over_the_limit_is_not_read(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "hub")
    with open(repo / "refs" / "main", "r+b") as f:
        f.truncate(BATCH_LIMITS.config_json_bytes + 1)
    report = modelscan.scan_models(repo)
    assert [m.key for m in report.models] == ["x"]
    assert [p.code for p in report.problems] == ["limit_exceeded"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_hf_refs_main_as_a_fifo_is_never_opened(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "hub")
    (repo / "refs" / "main").unlink()
    os.mkfifo(repo / "refs" / "main")
    report = modelscan.scan_models(repo)
    assert [m.key for m in report.models] == ["x"]
    assert [p.code for p in report.problems] == ["not_regular_file"]


def test_hf_what_is_not_a_model_repo_is_skipped(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    _repo(cache)
    _repo(cache, "datasets--acme--d")
    _repo(cache, "spaces--acme--s")
    no_exist = cache / "models--acme--x-GGUF" / ".no_exist" / ("c" * 40)
    no_exist.mkdir(parents=True)
    (no_exist / "z-Q8_0.gguf").write_bytes(b"")
    (cache / ".locks" / "models--acme--x-GGUF").mkdir(parents=True)
    (cache / ".locks" / "models--acme--x-GGUF" / "e1.lock").write_bytes(b"")
    report = modelscan.scan_models(cache)
    assert [m.key for m in report.models] == ["x"] and report.problems == []


def test_hf_a_directory_link_in_a_snapshot_is_not_followed(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    repo = _repo(cache)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "w-Q8_0.gguf").write_bytes(GGUF)
    (repo / "snapshots" / ("c" * 40) / "sub").symlink_to(elsewhere, target_is_directory=True)
    report = modelscan.scan_models(cache)
    assert [m.key for m in report.models] == ["x"] and report.problems == []


def test_hf_one_blob_of_two_repos_belongs_to_both(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    a = _repo(cache, "models--acme--a-GGUF")
    b = _repo(cache, "models--acme--b-GGUF")
    os.unlink(b / "blobs" / "e1")
    os.link(a / "blobs" / "e1", b / "blobs" / "e1")  # one inode, two repos
    assert sorted(m.key for m in modelscan.scan_models(cache).models) == ["a", "b"]


# --- llama.cpp's flat cache -------------------------------------------------------------------


def test_flat_a_manifest_cannot_name_a_file_outside_the_cache(tmp_path: Path, opened: list[str]) -> None:
    cache = tmp_path / "llama.cpp"
    cache.mkdir()
    (tmp_path / "secret.gguf").write_bytes(GGUF)
    (cache / "manifest=acme=x=latest.json").write_text(json.dumps({"ggufFile": {"rfilename": "../secret.gguf"}}))
    shutil.copyfile(FIXTURES / "acme/unlabelled-GGUF/weights.gguf", cache / "acme_x_model-Q4_0.gguf")
    report = modelscan.scan_models(cache)
    assert [(m.publisher, m.repo) for m in report.models] == [("acme", "x")]
    assert str(tmp_path / "secret.gguf") not in opened and report.problems == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"ggufFile": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"ggufFile": {"rfilename": 7}}',
        b'{"a": 1, "a": 2}',
        b"\x00\x01",
    ],
)
def test_flat_an_unusable_manifest_is_a_sidecar_not_a_crash(tmp_path: Path, body: bytes) -> None:
    cache = tmp_path / "llama.cpp"
    cache.mkdir()
    (cache / "manifest=acme=x=latest.json").write_bytes(body)
    shutil.copyfile(FIXTURES / "acme/unlabelled-GGUF/weights.gguf", cache / "acme_x_model-Q4_0.gguf")
    report = modelscan.scan_models(cache)
    assert [(m.publisher, m.repo) for m in report.models] == [("acme", "x")] and report.problems == []


# --- the walk's own link resolution -----------------------------------------------------------


def _outcome(fn: Callable[[], str]) -> str:
    try:
        return fn()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop, on older Pythons' realpath
        return "loop" if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP else f"errno {exc.errno}"


def _real_of(walk: Walk, path: str, is_link: bool) -> str:
    real, st = walk._resolve(path, is_link)
    assert (st.st_dev, st.st_ino) == (os.stat(real).st_dev, os.stat(real).st_ino)
    return real


def test_the_walk_resolves_links_exactly_as_realpath_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_bytes(b"x")
    (tmp_path / "d").symlink_to("a")  # a folder link in the middle of a target
    links = tmp_path / "links"
    links.mkdir()
    cases = {
        "rel": "../a/b/f",
        "abs": str(tmp_path / "a" / "b" / "f"),
        "via-dir-link": "../d/b/f",
        "dotdot-after-dir-link": "../d/b/../b/f",
        "chain": "rel",
        "missing": "../a/b/nope",
        "through-a-file": "../a/b/f/g",
        "loop1": "loop2",
        "loop2": "loop1",
        "self": "self",
        "dots": "./../a/./b//f",
        "to-root": "/",
    }
    for name, target in cases.items():
        (links / name).symlink_to(target)
    (tmp_path / "a" / "b" / "inner").symlink_to("f")
    paths = [str(links / name) for name in cases]
    paths += [
        str(tmp_path / "d" / "b" / "inner"),
        os.path.join("links", "rel"),
        os.path.join("d", "..", "links", "abs"),
    ]
    monkeypatch.chdir(tmp_path)  # for the relative ones
    walk = Walk([tmp_path], BATCH_LIMITS, [])
    for path in paths:
        theirs = _outcome(functools.partial(os.path.realpath, path, strict=True))
        for is_link in (False, True):  # every path here is a link: told or found out
            ours = _outcome(functools.partial(_real_of, walk, path, is_link))
            assert ours == theirs, (path, is_link)


def test_overlapping_roots_list_each_model_once(store: Path, tmp_path: Path) -> None:
    manifest = _manifest(store, {"layers": [_blob(store, GGUF)]})
    for roots in ((store, manifest), (manifest, store), (store, store)):
        assert [m.key for m in modelscan.scan_models(*roots).models] == ["m:latest"], roots
    cache = tmp_path / "hub"
    repo = _repo(cache)
    for hub_roots in ((cache, repo), (repo, cache)):
        assert [m.key for m in modelscan.scan_models(*hub_roots).models] == ["x"], hub_roots


# --- a store's own folders as links out of the roots -------------------------------------------


def _outside_copy(tmp_path: Path, folder: Path) -> Path:
    """Move *folder* out of the scanned tree and leave a link to it in its place."""
    outside = tmp_path / "elsewhere" / folder.name
    outside.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(folder), str(outside))
    folder.symlink_to(outside, target_is_directory=True)
    return outside


@pytest.mark.parametrize("linked", ["snapshots", "refs", "blobs"])
def test_hf_a_repo_folder_linked_out_of_the_cache_is_never_looked_into(
    tmp_path: Path, opened: list[str], linked: str
) -> None:
    cache = tmp_path / "hub"
    repo = _repo(cache)
    commit = "c" * 40
    (repo / "snapshots" / commit / "x-Q4_K_M.gguf").unlink()
    (repo / "snapshots" / commit / "x-Q4_K_M.gguf").write_bytes(GGUF)  # a plain file: only the link matters
    (repo / "blobs" / "e2.incomplete").write_bytes(b"x")
    outside = _outside_copy(tmp_path, repo / linked)
    opened.clear()  # what setting up the tree touched
    report = modelscan.scan_models(cache)
    refused = repo / linked / "main" if linked == "refs" else repo / linked  # refs/main: the file named
    assert ("outside_root", str(refused)) in {(p.code, p.path) for p in report.problems}
    assert not any(p.startswith(str(outside)) for p in opened)  # nothing there opened or stat()ed
    codes = {p.code for p in report.problems}
    if linked == "snapshots":
        assert report.models == []
    else:  # the snapshot itself is inside: listed as ever (refs/main refused: the newest snapshot)
        assert [m.key for m in report.models] == ["x"]
    assert ("partial_download" in codes) == (linked != "blobs")


@pytest.mark.parametrize("linked", ["manifests", "blobs"])
def test_ollama_a_store_folder_linked_out_of_the_store_is_never_looked_into(
    store: Path, tmp_path: Path, opened: list[str], linked: str
) -> None:
    _manifest(store, {"layers": [_blob(store, GGUF)]})
    outside = _outside_copy(tmp_path, store / linked)
    opened.clear()  # what setting up the tree touched
    report = modelscan.scan_models(store)
    # A store is recognised by its two real folders: with one a link, the root is a plain folder,
    # whose walk follows no folder link.
    assert modelscan.sources.layouts(store) == ("lmstudio",)
    assert report.models == [] and report.problems == []
    assert not any(p.startswith(str(outside)) for p in opened)


# --- hidden names are never looked at ---------------------------------------------------------


def test_hidden_names_do_not_make_a_folder_a_llamacpp_cache(tmp_path: Path) -> None:
    root = tmp_path / "models"
    (root / "pub" / "repo").mkdir(parents=True)
    (root / "pub" / "repo" / "x-Q4_K_M.gguf").write_bytes(GGUF)
    (root / ".x-Q4_K_M.gguf.etag").write_text("e")  # a llama.cpp sidecar's name, hidden
    assert modelscan.sources.layouts(root) == ("lmstudio",)
    assert [m.key for m in modelscan.scan_models(root).models] == ["repo"]


def test_hf_a_hidden_partial_download_and_a_hidden_snapshot_are_not_looked_at(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    repo = _repo(cache)
    (repo / "blobs" / ".e2.incomplete").write_bytes(b"x")
    hidden = repo / "snapshots" / ".abc"
    hidden.mkdir()
    (hidden / "y-Q8_0.gguf").write_bytes(GGUF)
    (repo / "refs" / "main").write_text(".abc")
    report = modelscan.scan_models(cache)
    assert [m.key for m in report.models] == ["x"]  # refs/main is no commit: the newest visible snapshot
    assert [p.code for p in report.problems] == ["invalid_field"]
