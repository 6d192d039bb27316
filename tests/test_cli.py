"""The ``modelscan`` command: stdout JSON, stderr problem lines, exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import child_env, run_python

from fixtures.make_fixtures import Q4_0, gemma_270m_kv, llm_tensors, write_gguf

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return run_python("-m", "modelscan", *args, env=env)


def test_fixtures_exit_0_and_problems_on_stderr() -> None:
    proc = run(str(FIXTURES))
    assert proc.returncode == 0
    models = json.loads(proc.stdout)["models"]
    assert len(models) == 11
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 3
    assert all(line.startswith(str(FIXTURES)) for line in lines)


def test_strict_exits_1_on_a_problem() -> None:
    assert run("--strict", str(FIXTURES)).returncode == 1
    assert run("--strict", str(FIXTURES / "unsloth")).returncode == 0


def test_no_path_and_no_lmstudio_folder_exits_2(tmp_path: Path) -> None:
    proc = run(env=child_env(HOME=str(tmp_path)))
    assert proc.returncode == 2
    assert proc.stdout == b""
    err = proc.stderr.decode()
    assert "LM Studio's models folder was not found" in err
    assert str(tmp_path / ".lmstudio" / "models") in err


def test_no_path_scans_the_lmstudio_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lms = tmp_path / "elsewhere" / "lmstudio"
    home.mkdir()
    (home / ".lmstudio-home-pointer").write_text(str(lms) + "\n")
    lms.mkdir(parents=True)
    (lms / "settings.json").write_text(json.dumps({"downloadsFolder": str(tmp_path / "dl")}))
    write_gguf(
        tmp_path / "dl" / "lmstudio-community" / "gemma-3-270m-it-qat-GGUF" / "x-Q4_0.gguf",
        "gemma3",
        gemma_270m_kv(),
        llm_tensors(Q4_0),
    )
    proc = run(env=child_env(HOME=str(home)))
    assert proc.returncode == 0, proc.stderr
    assert [m["key"] for m in json.loads(proc.stdout)["models"]] == ["gemma-3-270m-it-qat"]


def test_hostile_file_names_keep_stdout_json_and_stderr_lines(tmp_path: Path) -> None:
    root = tmp_path / "models"
    folder = root / "pub" / "evil\n[OK] fake-GGUF"
    write_gguf(
        folder / "model-Q4_0.gguf",
        "llama",
        {"general.name": "\x1b[2J\x1b[31mpwned\r\nFAKE LOG LINE", "llama.context_length": 4096},
        llm_tensors(Q4_0),
    )
    raw = os.fsencode(root / "pub" / "bad") + b"\xff\xfe-GGUF"
    os.makedirs(raw)
    with open(raw + b"/m-Q4_0.gguf", "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00")  # truncated: a problem line naming a non-UTF-8 path
    proc = run(str(root))
    assert proc.returncode == 0
    models = json.loads(proc.stdout)["models"]
    assert models[0]["key"] == "evil\n[ok] fake"
    assert b"\x1b" not in proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert b"bad\\xff\\xfe-GGUF" in lines[0] and b"\x1b" not in lines[0]


def test_loaded_file(tmp_path: Path) -> None:
    loaded = tmp_path / "loaded.json"
    loaded.write_text(json.dumps({"gemma-3-270m-it-qat": [{"config": {"context_length": 8192}}]}))
    proc = run(str(FIXTURES / "lmstudio-community"), "--loaded", str(loaded))
    assert proc.returncode == 0
    (gemma,) = [m for m in json.loads(proc.stdout)["models"] if m["key"] == "gemma-3-270m-it-qat"]
    assert gemma["loaded_instances"][0]["config"]["context_length"] == 8192


def test_loaded_unknown_key_exits_2(tmp_path: Path) -> None:
    loaded = tmp_path / "loaded.json"
    loaded.write_text(json.dumps({"no-such-model": [{}]}))
    proc = run(str(FIXTURES), "--loaded", str(loaded))
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr.decode() == "modelscan: --loaded: loaded names unknown model key(s): 'no-such-model'\n"


def test_facts_output() -> None:
    proc = run("--facts", str(FIXTURES / "unsloth"))
    facts = json.loads(proc.stdout)
    (moe,) = facts["models"]
    assert moe["key"] == "qwen3-30b-a3b"
    assert moe["n_params_active"] < moe["n_params"]
    assert len(moe["files"]) == 2
    assert facts["problems"] == []


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version(flag: str) -> None:
    proc = run(flag)
    assert proc.returncode == 0
    assert proc.stdout.startswith(b"usage: modelscan" if flag == "--help" else b"modelscan ")


def test_workers_option() -> None:
    serial = run("--workers", "1", str(FIXTURES))
    assert serial.returncode == 0
    assert serial.stdout == run(str(FIXTURES)).stdout
    bad = run("--workers", "0", str(FIXTURES))
    assert (bad.returncode, bad.stdout) == (2, b"")
    assert bad.stderr == b"modelscan: --workers must be at least 1\n"
