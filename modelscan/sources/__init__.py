"""Sources: where models live, each turned into candidates (``modelscan.candidates``).

``discover(roots, limits, problems)`` yields the candidates of every root. A local root is read
with LM Studio's layout rules (``sources.lmstudio``), which also fit any plain folder of models;
a URL or ``hf://`` repo is read by ``sources.remote`` (imported only when one is given). Each
further source (the Hugging Face cache, llama.cpp's caches, Ollama's store) is one more
candidate producer here, and nothing downstream changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from ..candidates import Candidate
from ..errors import ModelScanError
from ..limits import Limits
from . import lmstudio

__all__ = ["discover", "is_remote"]


def is_remote(root: object) -> bool:
    """Whether *root* names a remote file or repo (``http://``, ``https://``, ``hf://``)."""
    return isinstance(root, str) and root[:8].lower().startswith(("http://", "https://", "hf://"))


def discover(
    roots: Sequence[str | os.PathLike[str]],
    limits: Limits,
    problems: list[ModelScanError],
    *,
    identify: bool = False,
) -> Iterator[Candidate]:
    """Every candidate under *roots*; what cannot be a candidate is appended to *problems*.

    *identify*: the caller compares candidates' identities (a cache), so a source that must ask a
    server for a file's version (a URL's ETag) asks before reading; without it the read learns it.
    """
    local = [r for r in roots if not is_remote(r)]
    remote = [r for r in roots if is_remote(r)]
    if local:
        yield from lmstudio.candidates(local, limits, problems)
    if remote:
        from . import remote as remote_source  # noqa: PLC0415 -- local scans never import HTTP

        yield from remote_source.candidates([os.fspath(r) for r in remote], limits, problems, identify=identify)
