"""Hostile input, round two (issue 9): regression tests for what an outside attack found.

Findings 5, 6, 9-14 live here; each test failed on the code before its fix. The reader findings
(1-4, 7, 8) are catalogue entries (tests/hostile_catalogue.py) run under the process guards.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_catalogue import GOOD_KV, LFS_POINTER, VALID_ST

import modelscan
from fixtures.make_fixtures import Q4_0, llm_tensors, write_gguf
from modelscan import read as read_module
from modelscan import sources
from modelscan.candidates import Candidate
from modelscan.errors import ChangedDuringScan

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def r(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def m(r: Path) -> Path:
    folder = r / "pub" / "Model-GGUF"
    folder.mkdir(parents=True)
    return folder


def _model(path: Path, **extra: object) -> Path:
    write_gguf(path, "llama", {**GOOD_KV, **extra}, llm_tensors(Q4_0))
    return path


# --- finding 5: every fact of one file comes from one version --------------------------------


def _versions(tmp: Path, n: int) -> dict[str, bytes]:
    """*n* versions of one file: version v's ``general.name`` is ``v<v>`` and it is v blocks longer."""
    out = {}
    for v in range(n):
        path = _model(tmp / f"v{v}.gguf", **{"general.name": f"v{v}"})
        out[f"v{v}"] = path.read_bytes() + b"\0" * (32 * v)
    return out


def _rewrite(path: Path, data: bytes) -> None:
    """Rewrite *path* in place (same inode), as an editor or a careless copy would."""
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data)


def test_a_file_rewritten_between_the_walk_and_the_read(
    tmp_path: Path, m: Path, r: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = _versions(tmp_path, 2)
    path = m / "model-Q4_0.gguf"
    path.write_bytes(versions["v0"])
    real = sources.discover

    def walk_then_rewrite(*args: object, **kwargs: object) -> Iterator[Candidate]:
        for candidate in real(*args, **kwargs):  # type: ignore[arg-type]
            _rewrite(path, versions["v1"])  # the walk measured v0; the reader finds v1, same inode
            yield candidate

    monkeypatch.setattr(sources, "discover", walk_then_rewrite)
    (model,) = modelscan.scan_models(r).models
    # Read once more from a fresh stat: name and size are both v1's, never v1's name with v0's size.
    assert (model.name_source, model.size_bytes) == ("v1", len(versions["v1"]))


def test_an_mlx_config_rewritten_between_the_walk_and_the_read(
    m: Path, r: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (m / "model.safetensors").write_bytes(VALID_ST)
    config = m / "config.json"

    def version(context: int) -> bytes:  # a longer file for a longer context
        return json.dumps({"model_type": "llama", "max_position_embeddings": context}).encode() + b" " * context

    config.write_bytes(version(100))
    real = sources.discover

    def walk_then_rewrite(*args: object, **kwargs: object) -> Iterator[Candidate]:
        for candidate in real(*args, **kwargs):  # type: ignore[arg-type]
            _rewrite(config, version(200))
            yield candidate

    monkeypatch.setattr(sources, "discover", walk_then_rewrite)
    (model,) = modelscan.scan_models(r).models
    weights = (m / "model.safetensors").stat().st_size
    assert (model.max_context_length, model.size_bytes) == (200, weights + len(version(200)))


def test_a_file_rewritten_in_place_never_gives_a_mixed_listing(tmp_path: Path, m: Path, r: Path) -> None:
    versions = _versions(tmp_path, 8)
    sizes = {name: len(data) for name, data in versions.items()}
    path = m / "model-Q4_0.gguf"
    path.write_bytes(versions["v0"])
    stop = threading.Event()
    rewrites = [0]

    def writer() -> None:
        datas = list(versions.values())
        while not stop.is_set():
            _rewrite(path, datas[rewrites[0] % len(datas)])
            rewrites[0] += 1

    cache = modelscan.ScanCache()
    thread = threading.Thread(target=writer)
    thread.start()
    mixed: list[str] = []
    codes: set[str] = set()
    try:
        for i in range(300):  # a bounded number of scans, not a time
            report = modelscan.scan_models(r, cache=cache if i % 2 else None)
            mixed += [
                f"{x.name_source}: {x.size_bytes}" for x in report.models if sizes.get(x.name_source) != x.size_bytes
            ]
            codes |= {p.code for p in report.problems}
    finally:
        stop.set()
        thread.join()
    assert rewrites[0] > 0
    assert mixed == []
    # A read that met a half-written file says so; nothing else can go wrong.
    assert codes <= {"changed_during_scan", "truncated", "empty_file", "bad_magic"}
    assert modelscan.scan_models(r, cache=cache).to_response() == modelscan.scan_models(r).to_response()


# --- finding 6: a retryable problem is never cached ------------------------------------------


def test_a_changed_during_scan_problem_is_not_cached(m: Path, r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _model(m / "model-Q4_0.gguf")
    real = read_module.read_gguf_entry

    def changing(entry: object, limits: object) -> object:
        raise ChangedDuringScan(str(m / "model-Q4_0.gguf"), "file changed while it was read")

    cache = modelscan.ScanCache()
    monkeypatch.setattr(read_module, "read_gguf_entry", changing)
    report = modelscan.scan_models(r, cache=cache)
    assert [p.code for p in report.problems] == ["changed_during_scan"]  # after its one retry
    monkeypatch.setattr(read_module, "read_gguf_entry", real)
    report = modelscan.scan_models(r, cache=cache)  # the folder is in exactly the state the walk saw
    assert report.problems == []
    assert len(report.models) == 1


# --- finding 9: a projector counts only once its header says it is one ------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"", "empty_file"), (LFS_POINTER, "lfs_pointer"), ("model", "not_a_projector")],
    ids=["empty", "lfs-pointer", "a-model"],
)
def test_a_file_named_like_a_projector_must_be_one(m: Path, r: Path, content: bytes | str, code: str) -> None:
    model = _model(m / "model-Q4_0.gguf")
    fake = m / "mmproj-model-f16.gguf"
    if isinstance(content, bytes):
        fake.write_bytes(content)
    else:
        _model(fake)
    report = modelscan.scan_models(r)
    (listed,) = report.models
    assert listed.vision is False
    assert listed.projector is None
    assert listed.size_bytes == model.stat().st_size
    assert [(os.path.basename(p.path), p.code) for p in report.problems] == [(fake.name, code)]


def test_a_real_projector_still_counts(m: Path, r: Path) -> None:
    model = _model(m / "model-Q4_0.gguf")
    projector = m / "mmproj-model-f16.gguf"
    write_gguf(projector, "clip", {"general.type": "mmproj"}, llm_tensors(Q4_0))
    (listed,) = modelscan.scan_models(r).models
    assert listed.vision is True
    assert listed.size_bytes == model.stat().st_size + projector.stat().st_size


# --- finding 10: bad path arguments are usage errors ------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["models\0/x", "caf\ud800", b"models"],
    ids=["nul-byte", "lone-surrogate", "bytes"],
)
def test_bad_path_arguments_are_usage_errors(tmp_path: Path, path: object) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "x.gguf").write_bytes(b"GGUF")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(modelscan.UsageError):
            modelscan.scan_models(path)  # type: ignore[arg-type]
        with pytest.raises(modelscan.UsageError):
            modelscan.list_models(path)  # type: ignore[arg-type]
    finally:
        os.chdir(cwd)


def test_an_undecodable_file_name_is_still_a_path(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9")  # a real Linux file name that is not UTF-8: kept as a surrogate
    (tmp_path / name).mkdir()
    assert modelscan.scan_models(tmp_path / name).problems == []


# --- findings 11, 12: the command line -------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelscan", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,  # a deadlock guard only; the command takes well under a second
        check=False,
    )


def test_a_mistyped_path_is_a_usage_error(tmp_path: Path) -> None:
    proc = _cli(str(tmp_path / "no-such-folder"), "fixtures/models")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [f"modelscan: {tmp_path / 'no-such-folder'}: no such file or folder"]


INTERRUPTED = textwrap.dedent(
    """
    import os, signal, sys
    from modelscan import cli, scan

    pids = sys.argv[1]
    real = scan._read_candidate

    def job(item):
        with open(os.path.join(pids, str(os.getpid())), "w"):
            pass
        if len(os.listdir(pids)) == 2:  # both workers are busy: the user presses Ctrl-C, once
            try:
                os.mkdir(pids + ".sent")
            except FileExistsError:
                pass
            else:
                os.kill(os.getppid(), signal.SIGINT)
        signal.pause()  # work that would not end on its own

    scan._read_candidate = job
    scan.PARALLEL_MIN_FOLDERS = 2
    sys.exit(cli.main([sys.argv[2], "--workers", "2"]))
    """
)


def test_ctrl_c_stops_the_workers_and_says_one_line(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    for i in range(4):
        _model(tmp_path / "models" / "pub" / f"m{i}" / "model-Q4_0.gguf")
    proc = subprocess.run(
        [sys.executable, "-c", INTERRUPTED, str(pids), str(tmp_path / "models")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,  # a deadlock guard only: the workers are stopped at once
        check=False,
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.splitlines() == ["modelscan: interrupted"]
    workers = [int(p.name) for p in pids.iterdir()]
    assert len(workers) == 2
    for pid in workers:  # terminated, not left running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# --- finding 13: problems reach a server's log, once -----------------------------------------


def test_problems_are_logged_once_per_cache(m: Path, r: Path, caplog: pytest.LogCaptureFixture) -> None:
    _model(m / "model-Q4_0.gguf")
    (m / "broken-Q8_0.gguf").write_bytes(LFS_POINTER)
    cache = modelscan.ScanCache()
    with caplog.at_level(logging.WARNING, logger="modelscan"):
        modelscan.list_models(r, cache=cache)
        first = [rec.getMessage() for rec in caplog.records if rec.name == "modelscan"]
        caplog.clear()
        modelscan.list_models(r, cache=cache)
        again = [rec.getMessage() for rec in caplog.records if rec.name == "modelscan"]
    assert first == [f"lfs_pointer: {m / 'broken-Q8_0.gguf'}: weights not downloaded (git-lfs pointer)"]
    assert again == []


def test_the_library_logs_nothing_on_stderr_unless_configured(tmp_path: Path) -> None:
    folder = tmp_path / "pub" / "x"
    folder.mkdir(parents=True)
    (folder / "x.gguf").write_bytes(LFS_POINTER)
    code = f"import json, modelscan; print(json.dumps(modelscan.list_models({str(tmp_path)!r})))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600, check=False
    )
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"models": []}
    assert proc.stderr == ""
