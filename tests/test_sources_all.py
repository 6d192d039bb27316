"""``modelscan --all`` and ``default_roots()``: every default location of SOURCES.md that exists,
each read under its own layout's rules, in one report."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import modelscan
from modelscan.sources import layouts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"
GGUF = FIXTURES / "bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf"


def _places(env: dict[str, str], home: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for source, path in modelscan.default_locations(env, home):
        out.setdefault(source, []).append(str(path))
    return out


@pytest.mark.parametrize(
    ("env", "hub"),
    [
        ({}, "{home}/.cache/huggingface/hub"),
        ({"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub"),
        ({"XDG_CACHE_HOME": "/x", "HF_HOME": "/h"}, "/h/hub"),
        ({"HF_HOME": "/h", "HUGGINGFACE_HUB_CACHE": "/old"}, "/old"),
        ({"HUGGINGFACE_HUB_CACHE": "/old", "HF_HUB_CACHE": "/new"}, "/new"),
    ],
)
def test_the_hub_cache_is_the_first_variable_set(tmp_path: Path, env: dict[str, str], hub: str) -> None:
    assert _places(env, tmp_path)["hf-cache"] == [hub.format(home=tmp_path)]


def test_llama_cpp_and_ollama_locations(tmp_path: Path) -> None:
    places = _places({}, tmp_path)
    assert places["llama.cpp"] == [f"{tmp_path}/.cache/llama.cpp"]
    assert places["ollama"] == [f"{tmp_path}/.ollama/models", "/usr/share/ollama/.ollama/models"]
    places = _places({"LLAMA_CACHE": "/l", "OLLAMA_MODELS": "/o", "XDG_CACHE_HOME": "/x"}, tmp_path)
    assert places["llama.cpp"] == ["/l"]
    assert places["ollama"][0] == "/o"
    assert places["lmstudio"] == [f"{tmp_path}/.lmstudio/models"]


def _machine(home: Path) -> dict[str, str]:
    """A home with an LM Studio folder, a hub cache, a flat llama.cpp cache and an Ollama store."""
    lm = home / ".lmstudio" / "models" / "bartowski" / "Llama-3.2-1B-Instruct-GGUF"
    lm.mkdir(parents=True)
    shutil.copyfile(GGUF, lm / GGUF.name)
    repo = home / "hub" / "models--acme--Hub-GGUF"
    (repo / "snapshots" / ("a" * 40)).mkdir(parents=True)
    (repo / "blobs").mkdir()
    shutil.copyfile(GGUF, repo / "blobs" / "e")
    (repo / "snapshots" / ("a" * 40) / "hub-Q4_K_M.gguf").symlink_to("../../blobs/e")
    flat = home / ".cache" / "llama.cpp"
    flat.mkdir(parents=True)
    shutil.copyfile(GGUF, flat / "acme_Flat-GGUF_flat-Q4_K_M.gguf")
    (flat / "manifest=acme=Flat-GGUF=latest.json").write_text("{}")
    store = home / "ollama"
    (store / "blobs").mkdir(parents=True)
    digest = hashlib.sha256(GGUF.read_bytes()).hexdigest()
    shutil.copyfile(GGUF, store / "blobs" / f"sha256-{digest}")
    manifest = store / "manifests" / "registry.ollama.ai" / "library" / "llama3.2" / "latest"
    manifest.parent.mkdir(parents=True)
    size = GGUF.stat().st_size
    layer = {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}", "size": size}
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": [layer]}))
    return {"HF_HUB_CACHE": str(home / "hub"), "OLLAMA_MODELS": str(store)}


def _clean_env() -> dict[str, str]:
    """This process's environment without any variable that names a models location."""
    named = ("HF_", "HUGGINGFACE_", "LLAMA_", "OLLAMA_", "XDG_")
    return {k: v for k, v in os.environ.items() if not k.startswith(named)}


def test_default_roots_are_the_existing_locations_once(tmp_path: Path) -> None:
    env = _machine(tmp_path)
    env["LLAMA_CACHE"] = str(tmp_path / "hub")  # newer llama.cpp: the hub layout, same folder
    roots = modelscan.default_roots(env, tmp_path)
    assert [str(r) for r in roots] == [
        str(tmp_path / ".lmstudio" / "models"),
        str(tmp_path / "hub"),
        str(tmp_path / "ollama"),
    ]
    assert [layouts(r) for r in roots] == [("lmstudio",), ("hf-cache",), ("ollama",)]


def test_all_scans_every_source_in_one_report(tmp_path: Path) -> None:
    env = _clean_env()
    env.update(_machine(tmp_path), HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "modelscan", "--all", "--facts", "--workers", "1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert sorted((r["source"], r["key"]) for r in records["models"]) == [
        ("hf-cache", "hub"),  # keys from each source's repo folder: Hub-GGUF, Flat-GGUF, ...
        ("llama.cpp", "flat"),
        ("lmstudio", "llama-3.2-1b-instruct"),
        ("ollama", "llama3.2:latest"),  # Ollama's own name
    ]
    assert records["problems"] == []
    again = subprocess.run(  # from the on-disk cache this time: the same report
        [sys.executable, "-m", "modelscan", "--all", "--facts", "--workers", "1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert again.returncode == 0 and json.loads(again.stdout) == records
    stored = (tmp_path / ".cache" / "modelscan" / "scan-cache.json").read_text()
    assert all(name in stored for name in ("hf-cache", "llama.cpp", "ollama", "llama3.2:latest"))


def test_all_without_any_location_exits_2_and_says_where_it_looked(tmp_path: Path) -> None:
    env = _clean_env()
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "modelscan", "--all"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert f"{tmp_path}/.cache/huggingface/hub (hf-cache)" in proc.stderr
