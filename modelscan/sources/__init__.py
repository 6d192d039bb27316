"""Sources: where models live, each turned into candidates (``modelscan.candidates``).

``discover(roots, limits, problems)`` yields the candidates of every root. Today every root is
read with LM Studio's layout rules (``sources.lmstudio``), which also fit any plain folder of
models; each further source (the Hugging Face cache, llama.cpp's caches, Ollama's store, remote
repos) is one more candidate producer here, and nothing downstream changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from ..candidates import Candidate
from ..errors import ModelScanError
from ..limits import Limits
from . import lmstudio

__all__ = ["discover"]


def discover(
    roots: Sequence[str | os.PathLike[str]], limits: Limits, problems: list[ModelScanError]
) -> Iterator[Candidate]:
    """Every candidate under *roots*; what cannot be a candidate is appended to *problems*."""
    yield from lmstudio.candidates(roots, limits, problems)
