"""The command line's kept outputs (modelscan.runs): a repeat run on an unchanged tree prints what
the last run printed without scanning; any change, another option or a bad file means a scan."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from helpers import BlockingOpen, count_calls

from modelscan import cli, runs, store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"
GEMMA = "lmstudio-community/gemma-3-270m-it-qat-GGUF/gemma-3-270m-it-QAT-Q4_0.gguf"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "models")
    return tmp_path / "models"


def _scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the command line's scans."""
    return count_calls(monkeypatch, cli, "scan_models")


def _kept() -> list[Path]:
    return sorted(Path(store.default_cache_dir()).glob("run-*.out"))


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli.main(args)
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize(
    "options",
    [[], ["--strict"], ["-q"], ["-v"], ["--view", "openai"], ["--facts"], ["--table"], ["--view", "ollama"]],
)
def test_a_repeat_run_prints_the_same_without_scanning(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, options: list[str]
) -> None:
    calls = _scans(monkeypatch)
    first = _run([*options, str(root)], capsys)
    assert calls == [1] and len(_kept()) == 1
    second = _run([*options, str(root)], capsys)
    assert calls == [1]
    assert second == first  # stdout byte for byte, the same problem lines, the same exit status
    assert _run(["--no-cache", *options, str(root)], capsys) == first
    assert calls == [1, 1]


def test_options_that_change_the_output_are_kept_apart(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _scans(monkeypatch)
    v1 = _run([str(root)], capsys)
    openai = _run(["--view", "openai", str(root)], capsys)
    assert v1[1] != openai[1] and calls == [1, 1]
    assert _run([str(root)], capsys) == v1
    assert _run(["--view", "openai", str(root)], capsys) == openai
    assert calls == [1, 1] and len(_kept()) == 2
    # The problem lines are the same for -q and for the plain run: -q only hides them.
    assert _run(["-q", str(root)], capsys) == (0, v1[1], "")
    assert calls == [1, 1]


def test_a_relative_path_from_another_folder_is_another_command(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _scans(monkeypatch)
    monkeypatch.chdir(root.parent)
    here = _run(["--facts", "models"], capsys)
    monkeypatch.chdir(root.parent.parent)
    there = _run(["--facts", os.path.join(root.parent.name, "models")], capsys)
    assert calls == [1, 1]
    assert here[1] != there[1]  # the facts name paths as given
    assert there == _run(["--no-cache", "--facts", os.path.join(root.parent.name, "models")], capsys)


def test_a_loaded_file_is_part_of_the_command(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = tmp_path / "loaded.json"
    loaded.write_text(json.dumps({"gemma-3-270m-it-qat": [{"id": "a", "config": {"context_length": 4096}}]}))
    calls = _scans(monkeypatch)
    first = _run(["--loaded", str(loaded), str(root)], capsys)
    loaded.write_text(json.dumps({"gemma-3-270m-it-qat": [{"id": "b", "config": {"context_length": 8192}}]}))
    second = _run(["--loaded", str(loaded), str(root)], capsys)
    assert calls == [1, 1]
    assert first[1] != second[1]
    assert '"id": "b"' in second[1]


@pytest.mark.parametrize("change", ["append", "touch", "new-model", "partial", "remove"])
def test_after_a_change_a_run_scans_again(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    calls = _scans(monkeypatch)
    _run([str(root)], capsys)
    gemma = root / GEMMA
    if change == "append":
        with open(gemma, "ab") as f:
            f.write(b"\0" * 32)
    elif change == "touch":
        st = gemma.stat()
        os.utime(gemma, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    elif change == "new-model":
        shutil.copytree(gemma.parent, root / "someone" / "copy-GGUF")
    elif change == "partial":
        (gemma.parent / "more-Q8_0.gguf.part").write_bytes(b"x")
    else:
        gemma.unlink()
    after = _run([str(root)], capsys)
    assert calls == [1, 1]
    assert after == _run(["--no-cache", str(root)], capsys)
    assert _run([str(root)], capsys) == after  # and that output is kept in turn
    assert calls == [1, 1, 1]


@pytest.mark.parametrize("damage", ["truncate", "flip", "meta-types", "other-version", "other-command", "no-newline"])
def test_a_bad_kept_output_is_no_kept_output(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    first = _run([str(root)], capsys)
    (path,) = _kept()
    data = path.read_bytes()
    head, _, body = data.partition(b"\n")
    meta = json.loads(head)
    if damage == "truncate":
        path.write_bytes(data[:-100])
    elif damage == "flip":
        path.write_bytes(head + b"\n" + body.replace(b"gemma", b"GEMMA", 1))
    elif damage == "meta-types":
        meta["problems"] = [1, 2]
        path.write_bytes(json.dumps(meta).encode() + b"\n" + body)
    elif damage == "other-version":
        meta["version"] = 999
        path.write_bytes(json.dumps(meta).encode() + b"\n" + body)
    elif damage == "other-command":
        meta["identity"] = meta["identity"].replace("models", "elsewhere")
        path.write_bytes(json.dumps(meta).encode() + b"\n" + body)
    else:
        path.write_bytes(head)
    calls = _scans(monkeypatch)
    assert _run([str(root)], capsys) == first
    assert calls == [1]


def test_at_most_max_runs_are_kept(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "MAX_RUNS", 3)
    views = ["v1", "v0", "openai", "lms", "ollama"]
    for n, view in enumerate(views):
        before = set(_kept())
        _run(["--view", view, str(root)], capsys)
        for path in set(_kept()) - before:  # distinct mtimes, whatever the file system's granularity
            os.utime(path, ns=(n * 1_000_000_000, n * 1_000_000_000))
    assert len(_kept()) == 3
    calls = _scans(monkeypatch)
    _run(["--view", views[-1], str(root)], capsys)  # the newest is kept
    assert calls == []
    _run(["--view", views[0], str(root)], capsys)  # the oldest was removed
    assert calls == [1]


def test_what_cannot_be_vouched_for_is_always_scanned(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _scans(monkeypatch)
    for _ in range(2):
        _run([str(root / GEMMA)], capsys)  # a file given by name
        _run(["--jsonl", str(root)], capsys)  # streamed as read
    assert len(calls) == 2  # --jsonl does not call scan_models
    assert _kept() == []
    _run(["--no-cache", str(root)], capsys)
    assert _kept() == []


def test_a_cache_folder_that_cannot_be_written_is_one_line_each(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    status, out, err = _run(["-q", str(root)], capsys)
    assert status == 0 and json.loads(out)["models"]
    assert "cache not saved" in err and "output not kept" in err
    assert len(err.splitlines()) == 2


def test_a_removed_working_folder_scans(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    calls = _scans(monkeypatch)
    first = _run([str(root)], capsys)
    assert first[0] == 0 and json.loads(first[1])["models"]
    assert _run([str(root)], capsys) == first
    assert calls == [1, 1] and _kept() == []  # relative paths cannot be told apart: nothing kept


@pytest.mark.parametrize("bad", ["\x1b]0;owned\x07", "\x9b31m", "\u2028", "\x00"])
def test_a_kept_output_with_control_characters_is_no_kept_output(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    first = _run([str(root)], capsys)
    (path,) = _kept()
    head, _, body = path.read_bytes().partition(b"\n")
    meta = json.loads(head)
    for where in ("body", "problems"):
        if where == "body":  # digest and length made to match: only the content check is left
            new_body = body.replace(b"{", ("{" + bad).encode("utf-8"), 1)
            meta.update(bytes=len(new_body), blake2b=hashlib.blake2b(new_body, digest_size=32).hexdigest())
        else:
            new_body = body
            meta["problems"] = [bad + "x.gguf: fine"]
            meta.update(bytes=len(body), blake2b=hashlib.blake2b(body, digest_size=32).hexdigest())
        path.write_bytes(json.dumps(meta).encode() + b"\n" + new_body)
        calls = _scans(monkeypatch)
        assert _run([str(root)], capsys) == first
        assert calls == [1]
        monkeypatch.undo()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("which", ["kept output", "header cache"])
def test_a_fifo_in_place_of_a_cache_file_is_not_waited_on(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    # conftest's guard turns a blocking os.open of a FIFO into an error instead of a hang; this
    # one does the same for the built-in open(), which does not go through os.open.
    real_open = builtins.open

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)):
            with contextlib.suppress(OSError):
                if stat.S_ISFIFO(os.stat(file).st_mode):
                    raise BlockingOpen(f"open({file!r}) of a FIFO would block")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    first = _run([str(root)], capsys)
    if which == "header cache":
        runs.clear(store.default_cache_dir())  # so that the next run loads the header cache
    (path,) = _kept() if which == "kept output" else [Path(store.default_cache_file())]
    path.unlink()
    os.mkfifo(path)
    assert _run(["--no-cache", str(root)], capsys) == first
    status, out, _ = _run([str(root)], capsys)
    assert (status, out) == first[:2]


def test_clear_cache_says_what_it_could_not_delete(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _run([str(root)], capsys)
    real_unlink = os.unlink

    def unlink(path: str, *args: Any, **kwargs: Any) -> None:
        if os.path.basename(path).startswith("run-"):
            raise PermissionError(13, "Permission denied", path)
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    status, _, err = _run(["--clear-cache"], capsys)
    assert status == 0
    assert "cannot delete" in err and "run-" in err and "cleared the cache" not in err
