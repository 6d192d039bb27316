"""Smoke tests of benchmarks/: every script runs at its smallest size, and modelscan agrees with
the baselines on the facts they both report. No timing is asserted (CI machines are noisy), the
page cache is never dropped, temporary files and the children's bytecode stay in this session's
own folders, and nothing touches the network: the @huggingface/gguf column runs
only when ``benchmarks/.node/node_modules`` is already there.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import _common  # noqa: E402
import bench_gguf  # noqa: E402
import bench_import  # noqa: E402
import bench_safetensors  # noqa: E402
import bench_sources  # noqa: E402
import bench_tree  # noqa: E402
import run_all  # noqa: E402

import modelscan  # noqa: E402

pytest.importorskip("gguf")
pytest.importorskip("safetensors")


@pytest.fixture(scope="module", autouse=True)
def _private_bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The benchmarks' children cache bytecode in a folder of this session, not in the one under
    /tmp that every benchmark run on the machine shares."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_common, "PYCACHE_PREFIX", tmp_path_factory.mktemp("pycache"))
        yield


def _failed(result: dict[str, Any]) -> list[str]:
    return [f"{c['name']}: {c['detail']}" for c in result["checks"] if not c["ok"]]


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    return {}


# --- GGUF ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bench_gguf.write_small_gguf(tmp_path_factory.mktemp("gguf") / "bench-tiny-Q8_0.gguf", vocab=500)


def test_gguf_readers_agree_on_small_file(small_gguf: Path) -> None:
    from gguf import GGUFReader  # noqa: PLC0415 - gguf is optional (importorskip above)

    ms = bench_gguf.modelscan_facts(str(small_gguf))
    ref = bench_gguf.reader_facts(GGUFReader(small_gguf))
    assert ms["n_tensors"] == ref["n_tensors"] == 20
    assert ms["n_kv"] == ref["n_kv"]
    assert ms["tensors"] == ref["tensors"]  # names, shapes (ne order) and ggml types, in file order
    assert ms["data_offset"] == ref["data_offset"]
    assert ms["vocab_size"] == ref["vocab_size"] == 500

    skip = bench_gguf.skip_gguf_header(small_gguf)
    assert (skip["n_tensors"], skip["n_kv"], skip["data_offset"]) == (ms["n_tensors"], ms["n_kv"], ms["data_offset"])
    assert skip["strings_skipped"] == 500
    parsed = bench_gguf.fast_parse_gguf_header(small_gguf)
    assert [[n, list(s), t] for n, s, t, _ in parsed["tensors"]] == ms["tensors"]
    assert bench_gguf.read_floor(str(small_gguf), ms["data_offset"]) == ms["data_offset"]


def test_skip_survives_refills(tmp_path: Path) -> None:
    """The skip's unrolled walk restarts a block when the buffer runs out: a header bigger than
    the first read, with a count that is no multiple of 8, must still end at the same offset."""
    path = bench_gguf.write_small_gguf(tmp_path / "bigger.gguf", vocab=40_003, layers=1)
    ms = bench_gguf.modelscan_facts(str(path))
    assert ms["data_offset"] > 256 * 1024
    skip = bench_gguf.skip_gguf_header(path)
    assert skip["data_offset"] == ms["data_offset"]
    assert skip["strings_skipped"] == 40_003


def test_bench_gguf_quick(tmp_path: Path, results: dict[str, dict[str, Any]]) -> None:
    out = tmp_path / "gguf.json"
    node_present = (_common.NODE_DIR / "node_modules" / "@huggingface" / "gguf").is_dir()
    result = bench_gguf.main(
        [
            "--quick",
            "--node",
            "present",
            "--rounds",
            "2",
            "--reader-runs",
            "1",
            "--node-runs",
            "2",
            "--no-cold",
            "--no-reader-trace",
            "--json",
            str(out),
        ]
    )
    assert result is not None
    assert _failed(result) == []
    methods = {r["method"] for r in result["rows"] if not r.get("error")}
    assert {
        "modelscan.read_gguf_header",
        "fastest pure-Python skip",
        "floor: os.read(header_bytes)",
        "gguf.GGUFReader",
    } <= methods
    names = {c["name"] for c in result["checks"]}
    assert any("gguf.GGUFReader" in n for n in names)
    if node_present and _common.node_binary():
        assert any("@huggingface/gguf" in n for n in names)
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "gguf" and saved["rows"]
    results["gguf"] = result


# --- safetensors ---------------------------------------------------------------------------------


def test_bench_safetensors_quick(tmp_path: Path, results: dict[str, dict[str, Any]]) -> None:
    out = tmp_path / "st.json"
    result = bench_safetensors.main(["--quick", "--rounds", "2", "--json", str(out)])
    assert result is not None
    assert _failed(result) == []
    names = " | ".join(c["name"] for c in result["checks"])
    assert "== safetensors.safe_open" in names  # names, shapes and dtypes compared for the file and the folder
    assert "huggingface_hub" in names
    errors = [r for r in result["rows"] if r.get("error")]
    assert errors == []
    assert json.loads(out.read_text())["benchmark"] == "safetensors"
    results["safetensors"] = result


def test_safetensors_listings_agree_on_synthetic_file(tmp_path: Path) -> None:
    path = bench_safetensors.write_synthetic_file(tmp_path / "model.safetensors")
    ms = bench_safetensors.modelscan_listing(str(path))
    assert ms == bench_safetensors.safe_open_listing(str(path))
    assert ms == bench_safetensors.hub_listing(str(path))


# --- the tree ------------------------------------------------------------------------------------


def test_generated_tree_is_scanned_whole(tmp_path: Path) -> None:
    gen = bench_tree.generate_tree(tmp_path / "models", 20)
    assert gen["models"] == 20 and set(gen["kinds"]) == set(bench_tree.MIX)
    report = modelscan.scan_models(tmp_path / "models", workers=1)
    assert report.problems == []
    assert len(report.models) == 20
    kinds = gen["kinds"]
    n_mlx = kinds["mlx-q4"] + kinds["mlx-q4-sharded"] + kinds["mlx-bf16"]
    assert sum(m.format == "mlx" for m in report.models) == n_mlx
    assert sum(m.projector is not None for m in report.models) == gen["kinds"]["projector"]
    # Distinct inodes: no file of the tree is a hard link of another.
    inodes = [p.stat().st_ino for p in (tmp_path / "models").rglob("*") if p.is_file()]
    assert len(inodes) == len(set(inodes)) == gen["files"]


def test_bench_tree_quick(tmp_path: Path, results: dict[str, dict[str, Any]]) -> None:
    out = tmp_path / "tree.json"
    result = bench_tree.main(["--quick", "--sizes", "20", "--rescans", "2", "--no-drop", "--json", str(out)])
    assert _failed(result) == []
    assert any(c["name"].startswith("20 models: scan_models finds every generated model") for c in result["checks"])
    modes = {r["mode"] for r in result["rows"]}
    assert {"cold, workers=default", "cold, workers=1", "warm: rescan with the same ScanCache"} <= modes
    assert not any("dropped" in m for m in modes)
    assert json.loads(out.read_text())["benchmark"] == "tree"
    results["tree"] = result


# --- import --------------------------------------------------------------------------------------


def test_bench_import_quick(tmp_path: Path, results: dict[str, dict[str, Any]]) -> None:
    out = tmp_path / "import.json"
    result = bench_import.main(["--quick", "--runs", "2", "--json", str(out)])
    assert _failed(result) == []  # numpy is never imported, and modelscan came from this checkout
    # The rows are timings, never judged (on a busy machine "import minus `python -c pass`" can come
    # out below zero): each row must only be there, with a number.
    rows = result["rows"]
    assert [r["what"] for r in rows][:2] == [
        "import modelscan (wall, minus `python -c pass`; bytecode cached, as installed)",
        "import modelscan (-X importtime, cumulative; bytecode cached, as installed)",
    ]
    assert all(isinstance(r["median_ms"], float) and math.isfinite(r["median_ms"]) for r in rows)
    results["import"] = result


# --- sources -------------------------------------------------------------------------------------


def test_generated_hub_cache_is_what_scan_cache_dir_and_modelscan_see(tmp_path: Path) -> None:
    from huggingface_hub import scan_cache_dir  # noqa: PLC0415 - a test dependency, loaded here only

    gen = bench_sources.generate_cache(tmp_path / "hub", 12)
    info = scan_cache_dir(tmp_path / "hub")
    assert len(info.repos) == gen["repos"] == 12 and not info.warnings
    report = modelscan.scan_models(tmp_path / "hub")
    assert len(report.models) == 12 and report.problems == []
    assert {m.size_bytes for m in report.models} == {gen["gguf_bytes_declared"]}


def test_bench_sources_quick(tmp_path: Path) -> None:
    result = bench_sources.main(
        ["--repos", "12", "--rounds", "1", "--rescans", "2", "--json", str(tmp_path / "s.json")]
    )
    assert set(result["listed"].values()) == {12}  # every method saw every repo
    assert result["warm"]["hits"] >= 12  # the rescans came from the cache
    assert json.loads((tmp_path / "s.json").read_text())["rows"]


# --- run_all -------------------------------------------------------------------------------------


def test_run_all_summary_and_markdown(results: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    if set(results) != set(run_all.ALL):
        pytest.skip("needs the results of the other smoke tests (run the whole module)")
    lines = run_all.summarize(results)
    assert {x["benchmark"] for x in lines} == set(run_all.ALL)
    assert run_all.render_summary(lines)
    md = run_all.markdown(results, _common.machine_info(), "python benchmarks/run_all.py")
    assert md.startswith("## Performance") and "| gguf |" in md and "cores" in md
    out = tmp_path / "all.json"
    _common.write_json(out, {"results": results, "summary": lines})
    assert json.loads(out.read_text())["summary"]


def test_run_all_cli(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    md = tmp_path / "perf.md"
    doc = run_all.main(["--quick", "--only", "import", "--json", str(out), "--markdown", str(md)])
    assert doc["results"]["import"]["checks"]
    assert json.loads(out.read_text())["machine"]["cores"]
    assert md.read_text().startswith("## Performance")
