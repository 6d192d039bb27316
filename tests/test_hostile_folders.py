"""HOSTILE.md section 7.4 (folder layouts) and the walk's limits: R7, R11, R12, R14.

Root ``r = tmp_path/'models'``, model folder ``m = r/'pub'/'model'``, as in the catalogue. We
run as root in CI, so "permission denied" is made by denying ``os.open``/``os.scandir`` for one
path (chmod does not stop root); the chmod variants run too when the tests are not root.
Anything that could kill the process (SIGBUS) or hang (a FIFO) runs in a child process under a
CPU-time limit (``helpers.run_python``), and a FIFO is only ever opened with ``os.open`` guarded
against blocking opens (``helpers.blocking_open_guard``). Work is judged by counting it (folders
listed, entries looked at, bytes read), never by the clock.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import IS_ROOT, count_reads, count_scandir, python_code, response_models, run_python
from hostile_catalogue import (
    APPLEDOUBLE,
    ARCH,
    FOLDERS,
    GOOD_KV,
    T_STR,
    VALID_CONFIG,
    VALID_GGUF,
    VALID_ST,
    Entry,
    gstr,
    hdr,
    kv_arr,
    make_deep_tree,
    pad,
    tinfo,
)

import modelscan
from fixtures.make_fixtures import Q4_0, llm_tensors, write_gguf
from modelscan import _fs, _walk, gguf, sources
from modelscan import safetensors as st_module
from modelscan.candidates import Candidate, GGUFCandidate
from modelscan.errors import ChangedDuringScan, FileAccessError, ModelScanError
from modelscan.limits import BATCH_LIMITS, Limits

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX folder layouts"),
    pytest.mark.usefixtures("remove_deep_trees", "no_blocking_opens"),
]


def good(path: Path) -> Path:
    return write_gguf(path, "llama", GOOD_KV, llm_tensors(Q4_0))


def rel_problems(report: modelscan.ScanReport, base: Path) -> list[tuple[str, str]]:
    return sorted((os.path.relpath(p.path, base), p.code) for p in report.problems)


def run_child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run *code* in a fresh interpreter with the project on its path, under a CPU-time limit."""
    return run_python(*python_code(code), *args, text=True)


@pytest.fixture
def r(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    return root


@pytest.fixture
def m(r: Path) -> Path:
    folder = r / "pub" / "model"
    folder.mkdir(parents=True)
    return folder


# --- every static 7.4 entry of the catalogue, as data -------------------------------------------

STATIC = [e for e in FOLDERS if not e.dynamic]


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.id) for e in STATIC])
def test_catalogue_folder_entry(entry: Entry, m: Path, r: Path) -> None:
    if entry.posix_root and not IS_ROOT:
        pytest.skip("mknod needs root")
    entry.write(m)
    report = modelscan.scan_models(r)
    got = rel_problems(report, m)
    warnings = {w.code for model in report.models for w in model.warnings}
    assert entry.scan.matches(got, len(report.models), warnings), (got, len(report.models), warnings)
    for p in report.problems:
        assert isinstance(p, ModelScanError)
        if entry.cls is not None and p.code == entry.code:
            assert isinstance(p, entry.cls)


# --- F-02, F-03, F-04: links ----------------------------------------------------------------------


def test_f02_symlink_cycle_is_reported_per_file(m: Path, r: Path) -> None:
    good(m / "model.gguf")
    os.symlink("b.gguf", m / "a.gguf")
    os.symlink("a.gguf", m / "b.gguf")
    report = modelscan.scan_models(r)
    assert rel_problems(report, m) == [("a.gguf", "symlink_loop"), ("b.gguf", "symlink_loop")]
    assert all(isinstance(p, FileAccessError) for p in report.problems)
    assert len(report.models) == 1


def test_f03_dangling_symlink(m: Path, r: Path) -> None:
    good(m / "model.gguf")
    os.symlink("nope.gguf", m / "x.gguf")
    report = modelscan.scan_models(r)
    assert rel_problems(report, m) == [("x.gguf", "broken_symlink")]
    assert len(report.models) == 1


def _record_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        opened.append(os.path.realpath(os.fspath(path)) if not isinstance(path, int) else str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    return opened


def test_f04_link_out_of_the_root_is_never_opened(
    tmp_path: Path, m: Path, r: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.mkfifo(outside / "pipe.gguf")  # opened for reading without O_NONBLOCK, it would block forever
    good(outside / "model.gguf")
    good(m / "model.gguf")
    os.symlink(outside / "pipe.gguf", m / "pipe.gguf")
    os.symlink("../../../outside/model.gguf", m / "o.gguf")
    os.symlink("/etc/passwd", m / "passwd.gguf")
    opened = _record_opens(monkeypatch)
    report = modelscan.scan_models(r)
    assert rel_problems(report, m) == [
        ("o.gguf", "outside_root"),
        ("passwd.gguf", "outside_root"),
        ("pipe.gguf", "outside_root"),
    ]
    assert [list(mm.files) for mm in report.models] == [[str(m / "model.gguf")]]
    assert not [p for p in opened if p.startswith((str(outside), "/etc/"))]


def test_f04_outside_whether_or_not_the_target_exists(tmp_path: Path, m: Path, r: Path) -> None:
    # The same answer for a present and a missing target: no file-existence oracle (R15).
    good(tmp_path / "exists.gguf")
    os.symlink("../../../exists.gguf", m / "a.gguf")
    os.symlink("../../../missing.gguf", m / "b.gguf")
    os.symlink("/nonexistent/x.gguf", m / "c.gguf")
    report = modelscan.scan_models(r)
    assert rel_problems(report, m) == [
        ("a.gguf", "outside_root"),
        ("b.gguf", "outside_root"),
        ("c.gguf", "outside_root"),
    ]
    details = {p.detail for p in report.problems}
    assert len(details) == 1


def test_f04_link_between_two_roots_is_allowed(tmp_path: Path, m: Path, r: Path) -> None:
    other = tmp_path / "other"
    good(other / "pub2" / "model2" / "real.gguf")
    os.symlink(other / "pub2" / "model2" / "real.gguf", m / "linked.gguf")
    only_r = modelscan.scan_models(r)
    assert rel_problems(only_r, m) == [("linked.gguf", "outside_root")]
    both = modelscan.scan_models(r, other)
    assert both.problems == []
    assert len(both.models) == 1  # one file, reached two ways: counted once (R11)


def test_f04_a_file_named_on_the_command_line_may_be_a_link_anywhere(tmp_path: Path, m: Path) -> None:
    good(tmp_path / "elsewhere" / "real.gguf")
    os.symlink(tmp_path / "elsewhere" / "real.gguf", m / "model.gguf")
    report = modelscan.scan_models(m / "model.gguf")
    assert report.problems == []
    assert len(report.models) == 1


def test_f04b_hf_cache_scanned_from_the_hub_folder(tmp_path: Path) -> None:
    # Regression: the walk met blobs/ before snapshots/ and counted the blob there, so the
    # snapshot's link to it was dropped as a duplicate and the model vanished.
    hub = tmp_path / "hub"
    repo = hub / "models--o--n"
    good(repo / "blobs" / ("ab" * 32))
    for rev in ("rev1", "rev2"):
        (repo / "snapshots" / rev).mkdir(parents=True)
        os.symlink("../../blobs/" + "ab" * 32, repo / "snapshots" / rev / "model-Q4_0.gguf")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("rev1")
    for root in (hub, repo, repo / "snapshots", repo / "snapshots" / "rev1"):
        report = modelscan.scan_models(root)
        assert report.problems == [], root
        assert len(report.models) == 1, root  # two revisions, one blob: counted once


def test_f04b_blobs_that_is_a_link_opens_nothing(tmp_path: Path) -> None:
    # A "blobs" folder that is itself a link to / would let a snapshot link reach any file.
    repo = tmp_path / "hub" / "models--o--n"
    (repo / "snapshots" / "rev").mkdir(parents=True)
    os.symlink("/", repo / "blobs")
    os.symlink("../../blobs/etc/passwd", repo / "snapshots" / "rev" / "model.gguf")
    report = modelscan.scan_models(repo / "snapshots" / "rev")
    assert [(os.path.basename(p.path), p.code) for p in report.problems] == [("model.gguf", "outside_root")]


# --- F-06, FIFOs: special files ---------------------------------------------------------------


def test_f06_devices_behind_links(tmp_path: Path, m: Path, r: Path) -> None:
    # Links to exactly two devices and one FIFO of our own: nothing else of /dev is listed, so what
    # other programs keep there cannot change the answer.
    good(m / "model.gguf")
    special = tmp_path / "special"
    special.mkdir()
    os.mkfifo(special / "pipe")
    os.symlink("/dev/zero", m / "z.gguf")
    os.symlink("/dev/urandom", m / "r.safetensors")
    os.symlink(special / "pipe", m / "p.gguf")
    report = modelscan.scan_models(r)
    assert rel_problems(report, m) == [
        ("p.gguf", "outside_root"),
        ("r.safetensors", "outside_root"),
        ("z.gguf", "outside_root"),
    ]
    # With the special files' own paths among the roots, they are inside them: refused as not regular.
    report = modelscan.scan_models(r, special, "/dev/zero", "/dev/urandom")
    assert sorted((p.path, p.code) for p in report.problems) == [
        ("/dev/urandom", "not_regular_file"),  # the roots themselves
        ("/dev/zero", "not_regular_file"),
        (str(m / "p.gguf"), "not_regular_file"),
        (str(m / "r.safetensors"), "not_regular_file"),
        (str(m / "z.gguf"), "not_regular_file"),
    ]
    assert len(report.models) == 1


@pytest.mark.skipif(not IS_ROOT, reason="mknod needs root")
def test_f06_device_node_inside_the_root(m: Path, r: Path) -> None:
    good(m / "model.gguf")
    os.mknod(m / "zero.gguf", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    report = modelscan.scan_models(r)
    assert rel_problems(report, m) == [("zero.gguf", "not_regular_file")]
    with pytest.raises(FileAccessError) as info:
        modelscan.read_gguf_header(m / "zero.gguf")
    assert info.value.code == "not_regular_file"


FIFO_CHILD = """
    import json, os, sys
    from helpers import blocking_open_guard
    os.open = blocking_open_guard(os.open)  # a blocking open of the FIFO fails at once
    import modelscan
    from modelscan.safetensors import read_safetensors_header
    m = sys.argv[1]
    report = modelscan.scan_models(os.path.dirname(os.path.dirname(m)))
    out = {"problems": sorted((os.path.relpath(p.path, m), p.code) for p in report.problems),
           "models": len(report.models)}
    # Named on its own, and read directly: still no hang.
    out["named"] = [p.code for p in modelscan.scan_models(os.path.join(m, "model.gguf")).problems]
    codes = []
    for read, name in ((modelscan.read_gguf_header, "model.gguf"), (read_safetensors_header, "model.safetensors")):
        try:
            read(os.path.join(m, name))
        except modelscan.ModelScanError as err:
            codes.append(err.code)
    out["direct"] = codes
    print(json.dumps(out))
"""


def test_fifo_named_model_gguf_does_not_hang(m: Path) -> None:
    os.mkfifo(m / "model.gguf")
    os.mkfifo(m / "model.safetensors")
    (m / "config.json").write_bytes(VALID_CONFIG)
    good(m / "other-Q4_0.gguf")
    proc = run_child(FIFO_CHILD, str(m))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["problems"] == [["model.gguf", "not_regular_file"], ["model.safetensors", "not_regular_file"]]
    assert out["models"] == 1
    assert out["named"] == ["not_regular_file"]
    assert out["direct"] == ["not_regular_file", "not_regular_file"]


def test_open_regular_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p")
    proc = run_child(
        """
        import os, sys
        from helpers import blocking_open_guard
        os.open = blocking_open_guard(os.open)
        from modelscan import _fs
        try:
            _fs.open_regular(sys.argv[1])
        except Exception as err:
            print(type(err).__name__, err.code)
    """,
        str(tmp_path / "p"),
    )
    assert proc.stdout.split() == ["FileAccessError", "not_regular_file"]


# --- F-07 ------------------------------------------------------------------------------------------


def test_f07_directory_with_a_model_extension(m: Path, r: Path) -> None:
    good(m / "model.gguf")
    (m / "dir.gguf").mkdir()
    (m / "dir.safetensors").mkdir()
    os.symlink("dir.gguf", m / "link-to-dir.gguf")
    report = modelscan.scan_models(r)
    assert report.problems == []
    assert len(report.models) == 1


# --- F-08, F-20: permissions -------------------------------------------------------------------


def _deny(monkeypatch: pytest.MonkeyPatch, name: str, target: Path) -> None:
    """Make ``os.<name>`` raise EACCES for *target*, as it does for a user without permission."""
    real = getattr(os, name)
    denied = os.path.realpath(target)

    def fake(path: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(path, int) and os.path.realpath(os.fspath(path)) == denied:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, name, fake)


def test_f08_unreadable_file(m: Path, r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good(m / "model.gguf")
    good(r / "pub" / "other" / "model.gguf")
    _deny(monkeypatch, "open", m / "model.gguf")
    report = modelscan.scan_models(r)
    assert rel_problems(report, m) == [("model.gguf", "permission_denied")]
    assert isinstance(report.problems[0], FileAccessError)
    assert [os.path.basename(x.folder) for x in report.models] == ["other"]


def test_f08_unreadable_folder(r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good(r / "pub" / "locked" / "model.gguf")
    good(r / "pub" / "open" / "model.gguf")
    _deny(monkeypatch, "scandir", r / "pub" / "locked")
    report = modelscan.scan_models(r)
    assert rel_problems(report, r) == [("pub/locked", "permission_denied")]
    assert [os.path.basename(x.folder) for x in report.models] == ["open"]


@pytest.mark.skipif(IS_ROOT or not hasattr(os, "geteuid"), reason="chmod does not stop root")
def test_f08_chmod_0(m: Path, r: Path) -> None:  # pragma: no cover - CI runs as root
    good(m / "model.gguf")
    good(r / "pub" / "locked" / "model.gguf")
    good(r / "pub" / "open" / "model.gguf")
    os.chmod(m / "model.gguf", 0)
    os.chmod(r / "pub" / "locked", 0)
    try:
        report = modelscan.scan_models(r)
    finally:
        os.chmod(m / "model.gguf", 0o644)
        os.chmod(r / "pub" / "locked", 0o755)
    assert rel_problems(report, r) == [
        ("pub/locked", "permission_denied"),
        ("pub/model/model.gguf", "permission_denied"),
    ]
    assert len(report.models) == 1


def test_f20_unreadable_directory_mid_walk(r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good(r / "a-pub" / "m1" / "model.gguf")
    good(r / "pub" / "m2" / "model.gguf")
    good(r / "z-pub" / "m3" / "model.gguf")
    _deny(monkeypatch, "scandir", r / "pub")
    report = modelscan.scan_models(r)
    assert rel_problems(report, r) == [("pub", "permission_denied")]
    assert sorted(os.path.basename(x.folder) for x in report.models) == ["m1", "m3"]


@pytest.mark.skipif(IS_ROOT or not hasattr(os, "geteuid"), reason="chmod does not stop root")
def test_f20_chmod_300(r: Path) -> None:  # pragma: no cover - CI runs as root
    good(r / "a-pub" / "m1" / "model.gguf")
    good(r / "pub" / "m2" / "model.gguf")
    os.chmod(r / "pub", 0o300)
    try:
        report = modelscan.scan_models(r)
    finally:
        os.chmod(r / "pub", 0o755)
    assert rel_problems(report, r) == [("pub", "permission_denied")]
    assert len(report.models) == 1


def test_a_root_that_cannot_be_read(r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _deny(monkeypatch, "stat", r)
    report = modelscan.scan_models(r)
    assert [(p.path, p.code) for p in report.problems] == [(str(r), "permission_denied")]


# --- F-09, F-10: files that change while they are read ---------------------------------------


def _vocab_gguf(path: Path, n: int = 200_000) -> Path:
    """A valid GGUF whose header (about 3 MB) takes several reads."""
    tokens = b"".join(gstr(f"tok{i:06d}") for i in range(n))
    data = hdr(1, 2) + ARCH + kv_arr("tokenizer.ggml.tokens", T_STR, n, tokens)
    path.write_bytes(pad(data + tinfo("w", [4])) + b"\0" * 32)
    return path


def test_f10_growing_file_is_changed_during_scan_and_retryable(
    m: Path, r: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _vocab_gguf(m / "model.gguf")

    def grow(n: int) -> None:  # a download in progress: it grows during every read
        with open(path, "ab") as f:
            f.write(b"\0" * 4096)

    count_reads(monkeypatch, gguf, hook=grow)
    report = modelscan.scan_models(r)
    assert rel_problems(report, m) == [("model.gguf", "changed_during_scan")]
    (err,) = report.problems
    assert isinstance(err, ChangedDuringScan)
    assert err.retryable is True
    assert "grew" in err.detail
    monkeypatch.undo()
    assert modelscan.scan_models(r).problems == []  # scanning again succeeds


def test_a_file_that_changed_once_during_its_read_is_read_again(
    m: Path, r: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _vocab_gguf(m / "model.gguf")

    def grow(n: int) -> None:  # a copy that finishes during the first read
        if n == 1:
            with open(path, "ab") as f:
                f.write(b"\0" * 4096)

    count_reads(monkeypatch, gguf, hook=grow)
    report = modelscan.scan_models(r)
    assert report.problems == []  # the retry read the finished file: no flicker out of the listing
    (model,) = report.models
    assert model.size_bytes == path.stat().st_size


def test_f10_growing_safetensors(m: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = m / "model.safetensors"
    path.write_bytes(VALID_ST)

    def grow(n: int) -> None:
        if n == 1:
            with open(path, "ab") as f:
                f.write(b"\0" * 16)

    count_reads(monkeypatch, st_module, hook=grow)
    with pytest.raises(ChangedDuringScan) as info:
        st_module.read_safetensors_header(path)
    assert info.value.retryable


def test_f10_appending_in_a_thread_never_gives_anything_but_a_result_or_changed(m: Path) -> None:
    # Not deterministic by design (a real download): each read either sees one consistent size
    # or reports ChangedDuringScan. Anything else fails.
    path = _vocab_gguf(m / "model.gguf", 50_000)
    stop = threading.Event()

    def append() -> None:
        with open(path, "ab") as f:
            while not stop.is_set():
                f.write(b"\0" * 512)
                f.flush()

    thread = threading.Thread(target=append)
    thread.start()
    seen: set[str] = set()
    try:
        for _ in range(30):
            try:
                modelscan.read_gguf_header(path)
                seen.add("ok")
            except ChangedDuringScan as err:
                assert err.retryable
                seen.add(err.code)
    finally:
        stop.set()
        thread.join()
    assert seen <= {"ok", "changed_during_scan"}


TRUNCATE_CHILD = """
    import io, json, os, sys, threading
    import modelscan
    from modelscan import _cursor, _fs, gguf, safetensors

    path, st_path = sys.argv[1], sys.argv[2]
    results = {}

    class Truncating(io.FileIO):
        target = ""
        reads = 0
        def read(self, size=-1):
            data = super().read(size)
            type(self).reads += 1
            if type(self).reads == 1:
                os.truncate(type(self).target, 10)   # between the first read and the next
            return data

    real_read_at = _cursor.FileSource.read_at
    def read_at(self, offset, n):  # the GGUF reader reads with os.pread, not read()
        data = real_read_at(self, offset, n)
        Truncating.reads += 1
        if Truncating.reads == 1:
            os.truncate(Truncating.target, 10)
        return data
    _cursor.FileSource.read_at = read_at

    def patch(module, target):
        real = _fs.open_regular
        Truncating.target = target; Truncating.reads = 0
        if not hasattr(module, "open_regular"):  # the GGUF reader preads a bare descriptor
            return
        def opener(p, **kw):
            f, st = real(p, **kw)
            fd = os.dup(f.fileno()); f.close()
            return Truncating(fd, "rb", closefd=True), st
        module.open_regular = opener

    for name, module, reader, p in (("gguf", gguf, modelscan.read_gguf_header, path),
                                     ("safetensors", safetensors, safetensors.read_safetensors_header, st_path)):
        saved = getattr(module, "open_regular", None)
        patch(module, p)
        try:
            reader(p)
            results[name] = "ok"
        except modelscan.ModelScanError as err:
            results[name] = type(err).__name__
        if saved is not None:
            module.open_regular = saved

    # A thread truncating and restoring a big file while it is read, many times over (no mmap
    # anywhere, so no SIGBUS can come of it).
    data = open(path, "rb").read() if os.path.getsize(path) > 10 else b""
    big = path + ".big.gguf"
    src = sys.argv[3]
    original = open(src, "rb").read()
    open(big, "wb").write(original)
    stop = threading.Event()
    def churn():
        while not stop.is_set():
            os.truncate(big, 10)
            with open(big, "r+b") as f:
                f.write(original)
    t = threading.Thread(target=churn); t.start()
    kinds = set()
    try:
        for _ in range(200):
            try:
                modelscan.read_gguf_header(big)
                kinds.add("ok")
            except modelscan.ModelScanError as err:
                kinds.add(type(err).__name__)
    finally:
        stop.set(); t.join()
    results["threaded"] = sorted(kinds)
    print(json.dumps(results))
"""


def test_f09_truncated_during_the_scan_never_sigbus(m: Path) -> None:
    path = _vocab_gguf(m / "model.gguf")
    st_path = m / "model.safetensors"
    big_header = {
        f"t{i:05d}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(20_000)
    }
    raw = json.dumps(big_header).encode()
    st_path.write_bytes(len(raw).to_bytes(8, "little") + raw + b"\0" * 80_000)
    source = _vocab_gguf(m / "source.bin")
    proc = run_child(TRUNCATE_CHILD, str(path), str(st_path), str(source))
    assert proc.returncode != -signal.SIGBUS
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["gguf"] in ("Truncated", "ChangedDuringScan")
    assert out["safetensors"] in ("Truncated", "ChangedDuringScan")
    assert set(out["threaded"]) <= {"ok", "Truncated", "ChangedDuringScan"}


# --- the file read is the file walked (R7) ----------------------------------------------------


def _walk_one(r: Path) -> _walk.FileEntry:
    problems: list[ModelScanError] = []
    (folder,) = list(_walk.Walk([r], BATCH_LIMITS, problems).folders())
    assert problems == []
    (entry,) = [f for f in folder.files if f.name == "model.gguf"]
    return entry


def test_identity_unchanged_opens(m: Path, r: Path) -> None:
    good(m / "model.gguf")
    entry = _walk_one(r)
    f, st = _fs.open_regular(entry.real, expect=(entry.dev, entry.ino))
    f.close()
    assert (st.st_dev, st.st_ino) == (entry.dev, entry.ino)


@pytest.mark.parametrize("swap", ["symlink-outside", "other-file", "removed", "fifo"])
def test_identity_file_replaced_after_the_walk(swap: str, tmp_path: Path, m: Path, r: Path) -> None:
    good(m / "model.gguf")
    secret = good(tmp_path / "secret.gguf")
    entry = _walk_one(r)
    path = m / "model.gguf"
    # Made under another name, then renamed over the walked file (as a downloader would), so the
    # new inode is allocated while the old one still exists.
    new = m / "new.tmp"
    if swap == "symlink-outside":
        os.symlink(secret, new)
    elif swap == "other-file":
        shutil.copy(secret, new)
    elif swap == "fifo":
        os.mkfifo(new)
    if swap == "removed":
        path.unlink()
    else:
        os.replace(new, path)
    with pytest.raises(ChangedDuringScan) as info:
        _fs.open_regular(entry.real, expect=(entry.dev, entry.ino))
    assert info.value.retryable
    assert info.value.path == str(path)


def test_nofollow_without_identity_refuses_a_link(tmp_path: Path) -> None:
    good(tmp_path / "real.gguf")
    os.symlink("real.gguf", tmp_path / "link.gguf")
    with pytest.raises(FileAccessError) as info:
        _fs.open_regular(tmp_path / "link.gguf", nofollow=True)
    assert info.value.code == "not_regular_file"


def test_read_small_file_checks_identity(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(b"{}")
    st = os.stat(tmp_path / "config.json")
    assert _fs.read_small_file(tmp_path / "config.json", 100, "x", expect=(st.st_dev, st.st_ino)) == b"{}"
    with pytest.raises(ChangedDuringScan):
        _fs.read_small_file(tmp_path / "config.json", 100, "x", expect=(st.st_dev, st.st_ino + 1))


def _swap_after_walk(monkeypatch: pytest.MonkeyPatch, secret: Path, name: str) -> None:
    """Replace the walked file *name* by a link to *secret* (outside the root) once the walk saw it."""
    real = sources.discover

    def walk_then_swap(*args: Any, **kwargs: Any) -> Iterator[Candidate]:
        for candidate in real(*args, **kwargs):
            for f in candidate.files() if isinstance(candidate, GGUFCandidate) else candidate.files:
                if f.name == name:
                    os.unlink(f.path)
                    os.symlink(secret, f.path)
            yield candidate

    monkeypatch.setattr(sources, "discover", walk_then_swap)


def test_scan_refuses_a_file_swapped_for_a_link_after_the_walk(
    tmp_path: Path, m: Path, r: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good(m / "model.gguf")
    secret = tmp_path / "secret"
    write_gguf(
        secret / "secret.gguf",
        "qwen2",
        {"qwen2.context_length": 4096, "qwen2.block_count": 1, "qwen2.embedding_length": 256},
        llm_tensors(Q4_0),
    )
    _swap_after_walk(monkeypatch, secret / "secret.gguf", "model.gguf")
    report = modelscan.scan_models(r)
    assert [m.architecture for m in report.models] == []  # the file outside the root was not read
    assert rel_problems(report, m) == [("model.gguf", "changed_during_scan")]
    assert report.problems[0].retryable


def _mlx_model_and_secret(m: Path, tmp_path: Path) -> Path:
    """An MLX model in *m*, and a valid safetensors file outside the root to swap in for its weights."""
    (m / "config.json").write_bytes(VALID_CONFIG)
    (m / "model.safetensors").write_bytes(VALID_ST)
    secret = tmp_path / "secret.safetensors"
    secret.write_bytes(VALID_ST)
    return secret


def test_scan_refuses_mlx_weights_swapped_for_a_link_after_the_walk(
    tmp_path: Path, m: Path, r: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = _mlx_model_and_secret(m, tmp_path)
    _swap_after_walk(monkeypatch, secret, "model.safetensors")
    report = modelscan.scan_models(r)
    assert report.models == []
    # The reader opens what the walk saw, or nothing: the swapped-in link is refused unread.
    assert rel_problems(report, m) == [("model.safetensors", "changed_during_scan")]


# --- F-11, F-12: names classified before parsing -------------------------------------------------


def test_f11_partial_downloads_are_incomplete_never_parsed(m: Path, r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good(m / "model.gguf")
    names = [
        "model.gguf.part",
        "model.gguf.partial",
        "x.crdownload",
        "blobs/etag.incomplete",
        ".cache/huggingface/download/ab12.etag.incomplete",
        "sha256-" + "ab" * 32 + "-partial",
        "sha256-" + "ab" * 32 + "-partial-0",
        "model.safetensors.download",
        "y.gguf.tmp",
    ]
    for name in names:
        (m / name).parent.mkdir(parents=True, exist_ok=True)
        (m / name).write_bytes(VALID_GGUF)
    opened = _record_opens(monkeypatch)
    report = modelscan.scan_models(r)
    ignored = ("x.crdownload", ".cache/huggingface/download/ab12.etag.incomplete")  # not model names; hidden
    assert rel_problems(report, m) == sorted((n, "partial_download") for n in names if n not in ignored)
    assert all(p.retryable is False and p.format == "fs" for p in report.problems)
    assert len(report.models) == 1
    partial = (".part", ".partial", ".incomplete", ".tmp", ".download", ".crdownload")
    assert [p for p in opened if "-partial" in os.path.basename(p) or p.endswith(partial)] == []


def test_f12_os_junk_is_ignored_silently(m: Path, r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good(m / "model.gguf")
    for name in (
        "._model.safetensors",
        "._model.gguf",
        "._config.json",
        ".DS_Store",
        "Thumbs.db",
        "desktop.ini",
        ".hidden.gguf",
    ):
        (m / name).write_bytes(APPLEDOUBLE)
    (r / ".DS_Store").write_bytes(b"junk")
    (r / "pub" / "Thumbs.db").write_bytes(b"junk")
    opened = _record_opens(monkeypatch)
    report = modelscan.scan_models(r)
    assert report.problems == []
    assert len(report.models) == 1
    assert [p for p in opened if os.path.basename(p).startswith((".", "Thumbs", "desktop"))] == []


# --- F-14: control characters in names --------------------------------------------------------


def test_f14_control_characters_in_names(m: Path, r: Path) -> None:
    good(m / "evil\n[OK] fake.gguf")
    good(m / "\x1b[31mred.gguf")
    (m / "bad\r\n\x1b[2Jname.gguf").write_bytes(b"GGML" + b"\0" * 28)
    bad_folder = r / "pub" / "\x07bell\nfolder"
    bad_folder.mkdir()
    (bad_folder / "x\x1b.gguf").write_bytes(b"")
    proc = run_python("-m", "modelscan", str(r), "--strict")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)  # valid JSON whatever the names
    assert len(out["models"]) == 2
    lines = proc.stderr.decode("utf-8").splitlines()
    assert len(lines) == 2  # one line per problem, whatever newlines the names hold
    for line in lines:
        assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in line), line
    assert any("bad\\x0d\\x0a\\x1b[2Jname.gguf" in line and "magic" in line for line in lines)
    assert any("\\x07bell\\x0afolder/x\\x1b.gguf" in line and "empty" in line for line in lines)
    facts = run_python("-m", "modelscan", str(r), "--facts")
    files = sorted(os.path.basename(f) for x in json.loads(facts.stdout)["models"] for f in x["files"])
    assert files == ["\x1b[31mred.gguf", "evil\n[OK] fake.gguf"]


def test_f14_undecodable_bytes_in_names(r: Path) -> None:
    folder = os.path.join(os.fsencode(r), b"pub", b"m\xff\xfe")
    os.makedirs(folder)
    good(Path(os.fsdecode(os.path.join(folder, b"model-\xc3\x28.gguf"))))
    with open(os.path.join(folder, b"broken\xff.gguf"), "wb") as f:
        f.write(b"GG")
    proc = run_python("-m", "modelscan", str(r))
    assert proc.returncode == 0
    assert len(json.loads(proc.stdout)["models"]) == 1
    (line,) = proc.stderr.decode("utf-8").splitlines()
    assert "m\\xff\\xfe/broken\\xff.gguf" in line


# --- F-15 and the walk's limits -----------------------------------------------------------------


def test_f15_deep_tree_stops_at_the_depth_limit(r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good(r / "pub" / "model" / "model.gguf")
    make_deep_tree(r / "deep", 2000)
    listed = count_scandir(monkeypatch)
    report = modelscan.scan_models(r)
    (p,) = report.problems
    assert (p.code, p.limit, type(p).__name__) == ("scan_truncated", "walk_depth", "LimitExceeded")
    assert os.path.relpath(p.path, r) == "/".join(["deep"] + ["a"] * (BATCH_LIMITS.walk_depth - 1))
    assert len(report.models) == 1
    # The walk went down to the limit and stopped: a handful of the 2,000 folders were listed.
    depth = BATCH_LIMITS.walk_depth
    assert depth - 2 <= listed.folders(r / "deep") <= depth + 2, listed.listings


def test_f15_deep_tree_without_a_depth_limit_has_no_recursion_error(r: Path) -> None:
    # 2,100 levels: past the recursion limit, and past PATH_MAX (4096) for the deepest folders.
    # The walk meets neither a RecursionError nor an unhandled "file name too long".
    make_deep_tree(r / "deep", 2100)
    good(r / "pub" / "model" / "model.gguf")
    report = modelscan.scan_models(r, limits=BATCH_LIMITS.replace(walk_depth=10_000))
    assert [os.path.basename(x.folder) for x in report.models] == ["model"]
    (p,) = report.problems
    assert (type(p), p.code) == (FileAccessError, "os_error")
    assert "too long" in p.detail
    assert len(os.fsencode(p.path)) >= 4096


def test_f15_deep_leaf_is_found_within_the_limit(r: Path) -> None:
    make_deep_tree(r / "deep", 6)  # deep/a/a/a/a/a/a/leaf.gguf: depth 7 <= 8
    report = modelscan.scan_models(r)
    assert report.problems == []
    assert len(report.models) == 1
    report = modelscan.scan_models(r, limits=BATCH_LIMITS.replace(walk_depth=3))
    assert report.models == []
    assert [(p.code, p.limit) for p in report.problems] == [("scan_truncated", "walk_depth")]


def _many_entries(folder: Path, n: int) -> None:
    """*n* empty non-model files in *folder*: hard links to two files beside it (five times
    faster than creating inodes; a file takes at most 65,000 links on ext4)."""
    folder.mkdir(parents=True)
    sources = [folder.parent / f".{folder.name}-{k}" for k in range(2)]
    for source in sources:
        source.write_bytes(b"")
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(n):
            os.link(sources[i % 2], f"f{i:06d}", dst_dir_fd=fd)
    finally:
        os.close(fd)


def test_f15_100k_entry_directory_with_a_lowered_limit(r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good(r / "pub" / "model" / "model.gguf")
    _many_entries(r / "pub" / "huge", 100_000)
    limits = BATCH_LIMITS.replace(walk_entries_per_dir=1_000)
    listed = count_scandir(monkeypatch)
    report = modelscan.scan_models(r, limits=limits)
    assert [(os.path.relpath(p.path, r), p.code, p.limit) for p in report.problems] == [
        ("pub/huge", "scan_truncated", "walk_entries_per_dir")
    ]
    assert len(report.models) == 1
    # The listing of the huge folder stopped at the limit: about 1,000 of its 100,000 entries.
    assert 1_000 <= listed.entries(r / "pub" / "huge") <= 1_001, listed.listings


def test_walk_entries_total(r: Path) -> None:
    for i in range(5):
        good(r / "pub" / f"m{i}" / "model.gguf")
    # models/ holds pub (1 entry), pub holds m0..m4 (6), each m holds one file (7, 8, ...).
    report = modelscan.scan_models(r, limits=BATCH_LIMITS.replace(walk_entries_total=8))
    assert [(p.code, p.limit) for p in report.problems] == [("scan_truncated", "walk_entries_total")]
    assert [os.path.basename(x.folder) for x in report.models] == ["m0", "m1"]


def test_walk_seconds_with_a_clock_that_runs_out(r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        good(r / "pub" / f"m{i}" / "model.gguf")
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # every look at the clock costs a second
        return now[0]

    monkeypatch.setattr(_walk, "_clock", clock)
    report = modelscan.scan_models(r, limits=BATCH_LIMITS.replace(walk_seconds=4.5))
    assert [(p.code, p.limit) for p in report.problems] == [("scan_truncated", "walk_seconds")]
    assert "4.5 s" in report.problems[0].detail
    assert len(report.models) < 5


def test_walk_seconds_within_one_huge_folder(r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _many_entries(r / "pub" / "huge", 2_100)
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr(_walk, "_clock", clock)
    problems: list[ModelScanError] = []
    list(_walk.Walk([r], BATCH_LIMITS.replace(walk_seconds=3.5), problems).folders())
    assert [(os.path.relpath(p.path, r), p.limit) for p in problems] == [("pub/huge", "walk_seconds")]


def test_f15_deep_tree_inside_an_mlx_folder_with_a_cache(m: Path, r: Path) -> None:
    (m / "config.json").write_bytes(VALID_CONFIG)
    (m / "model.safetensors").write_bytes(VALID_ST)
    make_deep_tree(m / "deep", 1500)
    report = modelscan.scan_models(r, cache=modelscan.ScanCache())
    assert len(report.models) == 1


def test_each_limit_hit_is_reported_once(r: Path) -> None:
    for i in range(3):
        _many_entries(r / f"p{i}" / "m", 20)
    make_deep_tree(r / "deep", 12)
    limits = BATCH_LIMITS.replace(walk_entries_per_dir=10, walk_depth=4)
    report = modelscan.scan_models(r, limits=limits)
    assert sorted(str(p.limit) for p in report.problems) == ["walk_depth", "walk_entries_per_dir"]


def test_limits_in_use_by_the_walk_are_all_tested() -> None:
    # Every walk_* limit of Limits is hit by a test above; a new one needs a test too.
    walk_limits = {name for name in Limits._fields if name.startswith("walk_")}
    assert walk_limits == {"walk_depth", "walk_entries_per_dir", "walk_entries_total", "walk_seconds"}


# --- F-16, F-17, F-19 ------------------------------------------------------------------------------


def test_f16_hard_link_and_overlapping_roots_count_once(m: Path, r: Path) -> None:
    good(m / "model.gguf")
    (r / "other").mkdir()
    os.link(m / "model.gguf", r / "other" / "model.gguf")
    for roots in ([r], [r, r / "pub"], [r / "pub", r], [r, r], [m / "model.gguf", r], [r, m / "model.gguf"]):
        report = modelscan.scan_models(*roots)
        assert report.problems == [], roots
        assert len(report.models) == 1, roots
        response = report.to_response()
        assert len(response_models(response)) == 1


def test_f17_sparse_1tib_gguf(m: Path, r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = m / "big.gguf"
    with open(path, "wb") as f:
        f.write(VALID_GGUF)
        f.truncate(1 << 40)
    # Reading on past 2 MB fails at once (a read to EOF would take hours, not hang a CPU limit).
    read = count_reads(monkeypatch, gguf, cap=2 << 20)
    report = modelscan.scan_models(r)
    assert report.problems == []
    (model,) = report.models
    assert model.size_bytes == 1 << 40
    assert 0 < read.nbytes < 2 << 20  # the header only: never read to EOF


def test_f19_mixed_folder(m: Path, r: Path) -> None:
    pytest.importorskip("modelscan.mlx")
    good(m / "model-Q4_K_M.gguf")
    good(m / "model-Q8_0.gguf")
    write_gguf(m / "mmproj-model-f16.gguf", "clip", {"general.type": "mmproj"}, [])
    (m / "model.safetensors").write_bytes(VALID_ST)
    (m / "config.json").write_bytes(VALID_CONFIG)
    first = modelscan.scan_models(r)
    assert first.problems == []
    # The projector is a sidecar of each GGUF quant (vision), not a model; the MLX model is apart.
    assert [(x.format, x.projector) for x in first.models] == [
        ("gguf", str(m / "mmproj-model-f16.gguf")),
        ("gguf", str(m / "mmproj-model-f16.gguf")),
        ("mlx", None),
    ]
    response = response_models(first.to_response())
    assert sorted((e["format"], e["capabilities"]["vision"]) for e in response) == [
        ("gguf", True),
        ("gguf", True),
        ("mlx", False),
    ]
    again = modelscan.scan_models(r)
    assert [x.key for x in again.models] == [x.key for x in first.models]  # deterministic grouping


# --- folders and files that vanish mid-walk -----------------------------------------------------


def test_folder_vanishing_mid_walk(r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good(r / "pub" / "a" / "model.gguf")
    good(r / "pub" / "b" / "model.gguf")
    real = os.scandir
    victim = str(r / "pub" / "b")

    def scandir(path: Any = ".") -> Any:
        if not isinstance(path, int) and os.fspath(path) == victim:
            shutil.rmtree(victim)  # gone between the parent's listing and its own
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = modelscan.scan_models(r)
    assert report.problems == []
    assert [os.path.basename(x.folder) for x in report.models] == ["a"]


def test_file_vanishing_between_walk_and_read(m: Path, r: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good(m / "model.gguf")
    good(r / "pub" / "other" / "model.gguf")
    real = sources.discover

    def walk_then_remove(*args: Any, **kwargs: Any) -> Iterator[Candidate]:
        for candidate in real(*args, **kwargs):
            if candidate.origin.folder == str(m):
                os.unlink(m / "model.gguf")
            yield candidate

    monkeypatch.setattr(sources, "discover", walk_then_remove)
    report = modelscan.scan_models(r)
    assert len(report.models) == 1
    assert rel_problems(report, m) == [("model.gguf", "changed_during_scan")]
    assert isinstance(report.problems[0], ChangedDuringScan) and report.problems[0].retryable
