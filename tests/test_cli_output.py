"""The command line's outputs for people and pipelines: --table, --jsonl, --quiet, the progress line."""

from __future__ import annotations

import io
import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_python

import modelscan
from modelscan import cli
from modelscan._progress import ProgressLine
from modelscan.scan import ScanProgress
from modelscan.text import human_size, models_table

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "models"


def test_human_sizes() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 241_410_208, 4_920_000_000)] == [
        "0 B",
        "999 B",
        "1.00 KB",
        "241.41 MB",
        "4.92 GB",
    ]
    assert human_size(3 << 30, binary=True) == "3.00 GiB"
    assert human_size(None) == "-"


def test_table_groups_llms_then_embeddings(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--table", "--no-cache", str(FIXTURES)]) == 0
    out = capsys.readouterr().out.splitlines()
    report = modelscan.scan_models(FIXTURES)
    llms = [m for m in report.models if m.type == "llm"]
    embeddings = [m for m in report.models if m.type == "embedding"]
    total = human_size(sum(m.size_bytes for m in report.models))
    assert out[0] == f"You have {len(report.models)} models, taking up {total} of disk space."
    llm_head = out.index(next(line for line in out if line.startswith("LLM ")))
    emb_head = out.index(next(line for line in out if line.startswith("EMBEDDING ")))
    assert llm_head < emb_head
    assert out[llm_head].split() == ["LLM", "PARAMS", "ARCH", "SIZE", "QUANT", "CONTEXT", "CAPABILITIES"]
    assert [line.split()[0] for line in out[llm_head + 1 : emb_head - 1]] == [
        m.key for m in modelscan.response.sort_models(llms)
    ]
    assert {line.split()[0] for line in out[emb_head + 1 :]} == {m.key for m in embeddings}
    gemma = next(line for line in out if line.startswith("gemma-3-4b-it "))
    assert gemma.split()[-1] == "vision"


def test_table_escapes_what_files_say() -> None:
    (model,) = [m for m in modelscan.scan_models(FIXTURES).models if m.key == "mystery-model"]
    hostile = model._replace(key="x\x1b[2Jy")
    assert "\x1b" not in models_table([hostile])
    assert "x\\x1b[2Jy" in models_table([hostile])


def test_jsonl_streams_the_facts_in_a_stable_order(tmp_path: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(FIXTURES, root)
    runs = [run_python("-m", "modelscan", "--jsonl", "--no-cache", str(root), cwd=ROOT) for _ in range(2)]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    lines = [json.loads(line) for line in runs[0].stdout.splitlines()]
    problems = [line["problem"] for line in lines if "problem" in line]
    models = [line for line in lines if "problem" not in line]
    report = modelscan.scan_models(root)
    assert sorted((p["path"], p["code"]) for p in problems) == sorted((p.path, p.code) for p in report.problems)
    by_path = {m.path: m for m in report.models}
    assert sorted(m["path"] for m in models) == sorted(by_path)
    for record in models:
        expected = modelscan.response.to_facts_record(by_path[record["path"]])
        # Keys are the folder's own: equal to the listing's unless another folder shares one.
        if record["key"] != expected["key"]:
            assert expected["key"] == f"{by_path[record['path']].publisher.lower()}/{record['key']}"
        assert {**record, "key": expected["key"]} == expected


def test_jsonl_lines_come_as_models_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each line is flushed before the next model is read: a consumer sees it at once."""
    root = tmp_path / "models"
    shutil.copytree(FIXTURES, root)
    out = io.StringIO()
    seen_before_read: list[int] = []
    real = modelscan.scan._read_candidate

    def reading(job: object) -> object:
        seen_before_read.append(out.getvalue().count("\n"))
        return real(job)  # type: ignore[arg-type]

    monkeypatch.setattr(modelscan.scan, "_read_candidate", reading)
    monkeypatch.setattr(sys, "stdout", out)
    assert cli.main(["--jsonl", "--no-cache", "--workers", "1", "-q", str(root)]) == 0
    assert len(seen_before_read) > 5
    assert seen_before_read == sorted(seen_before_read)
    assert seen_before_read[-1] > seen_before_read[0]  # lines were written between the reads


def test_two_outputs_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--table", "--jsonl", str(FIXTURES)]) == 2
    assert capsys.readouterr().err == "modelscan: --table and --jsonl ask for two outputs; give one\n"
    assert cli.main(["--view", "v0", "--table", str(FIXTURES)]) == 2


def test_quiet_prints_no_problem_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--no-cache", str(FIXTURES)]) == 0
    loud = capsys.readouterr()
    assert loud.err
    assert cli.main(["--no-cache", "-q", str(FIXTURES)]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == ""
    assert quiet.out == loud.out
    assert cli.main(["--no-cache", "-q", "--strict", str(FIXTURES)]) == 1


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _step(walking: bool, read: int = 0) -> ScanProgress:
    return ScanProgress(walking, 10, 8, read, 3, 1)


def test_progress_line_waits_half_a_second_and_is_cleared() -> None:
    stream = io.StringIO()
    clock = _Clock()
    line = ProgressLine(stream, clock=clock)
    line(_step(True))
    clock.now = 0.4
    line(_step(True))
    assert stream.getvalue() == ""  # a quick scan shows nothing
    clock.now = 0.6
    line(_step(True))
    assert stream.getvalue() == "\r\x1b[Kmodelscan: walking: 10 folders with models so far, 3 models, 1 problem"
    clock.now = 0.65
    line(_step(False, 2))  # within a tenth of a second of the last draw: not redrawn
    clock.now = 0.8
    line(_step(False, 2))
    assert stream.getvalue().endswith("\r\x1b[Kmodelscan: reading: 6 folders left, 3 models found, 1 problem")
    line.close()
    assert stream.getvalue().endswith("\r\x1b[K")
    size = len(stream.getvalue())
    line.close()
    assert len(stream.getvalue()) == size


def test_progress_only_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the scan of a slow tree draws the line and clears it; in a pipe, nothing."""
    code = (
        "import sys, modelscan._progress as p\n"
        "from modelscan import cli\n"
        "orig = p.ProgressLine.__init__\n"
        "def init(self, stream, **kw):\n"
        "    orig(self, stream, delay=0.0, interval=0.0)\n"
        "p.ProgressLine.__init__ = init\n"
        "sys.exit(cli.main(['--no-cache', sys.argv[1]]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    piped = subprocess.run(
        [sys.executable, "-c", code, str(FIXTURES)], capture_output=True, env=env, timeout=600, check=False
    )
    assert piped.returncode == 0
    assert b"modelscan: walking" not in piped.stderr
    main_fd, child_fd = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(FIXTURES)],
            stdout=subprocess.PIPE,
            stderr=child_fd,
            env=env,
            timeout=600,
            check=False,
        )
        os.close(child_fd)
        child_fd = -1
        seen = b""
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if child_fd >= 0:
            os.close(child_fd)
        os.close(main_fd)
    assert proc.returncode == 0
    assert b"modelscan: walking" in seen
    assert b"modelscan: reading" in seen
    # Cleared before the problem lines: each problem starts on a clean line.
    first_problem = seen.index(os.fsencode(FIXTURES))
    assert seen[:first_problem].endswith(b"\r\x1b[K")
    assert json.loads(proc.stdout)["models"]
