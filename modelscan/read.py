"""Reading what the walk saw: each file opened as the very version the walk measured.

Every read here takes a :class:`~modelscan._walk.FileEntry`: the file is opened at its resolved
path with ``expect=entry.identity`` (so a file swapped or rewritten since the walk is
:class:`~modelscan.errors.ChangedDuringScan`, never a mixed listing), and every error names the
file as it was found (``entry.path``). A :class:`~modelscan.candidates.RemoteEntry` (a file on a
server) is read the same way by ``modelscan.remote``, over HTTP ``Range`` requests; only that
dispatch knows the difference, and a scan without remote files never imports HTTP.
:func:`read_gguf_candidate` reads the headers of a :class:`~modelscan.candidates.GGUFCandidate`
and its template file (Ollama's template layer); the MLX reader (``modelscan.mlx``) reads its
folders through the same functions.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Container
from typing import TYPE_CHECKING, NamedTuple, cast

from ._fs import read_small_file
from ._walk import FileEntry
from .candidates import Candidate, Entry, GGUFCandidate, MLXCandidate, RemoteEntry
from .errors import ModelScanError, os_error
from .limits import BATCH_LIMITS, Limits

if TYPE_CHECKING:
    from typing import TypeAlias

    from .gguf import GGUFHeader
    from .safetensors import SafetensorsHeader

    #: What reading one GGUF model gave: its shards' headers (shard 1 first), or the first error.
    GGUFRead: TypeAlias = tuple[GGUFHeader, ...] | ModelScanError

__all__ = [
    "PER_LAYER_ARRAYS",
    "PER_LAYER_SUFFIXES",
    "GGUFRecord",
    "read_gguf_candidate",
    "read_gguf_entry",
    "read_safetensors_entry",
    "read_small_entry",
    "read_template_entry",
    "restat_candidate",
]


class GGUFRecord(NamedTuple):
    """The headers of a GGUF candidate's files, each model's and each projector's on its own;
    the text of its template file, if it has one (or why it could not be read)."""

    candidate: GGUFCandidate
    models: tuple[tuple[tuple[Entry, ...], GGUFRead], ...]
    projectors: tuple[tuple[Entry, GGUFHeader | ModelScanError], ...]
    template: str | ModelScanError | None = None


#: Per-layer GGUF keys (``{arch}`` + suffix) whose arrays are decoded, for the architecture
#: numbers (``facts_arch``). Every other array stays skipped (HOSTILE.md R5): these hold one item
#: per layer, never one per token, and the reader's ``gguf_array_elements_decoded`` caps them.
PER_LAYER_SUFFIXES = (
    ".feed_forward_length",
    ".attention.head_count",
    ".attention.head_count_kv",
    ".attention.sliding_window_pattern",
)


class _SuffixKeys(Container[str]):
    """``key in PER_LAYER_ARRAYS``: the key ends with one of the suffixes (any architecture)."""

    def __init__(self, suffixes: tuple[str, ...]) -> None:
        self.suffixes = suffixes

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and not key.startswith("tokenizer.") and key.endswith(self.suffixes)


#: The ``decode_arrays`` that :func:`read_gguf_entry` passes to the header reader.
PER_LAYER_ARRAYS: Container[str] = _SuffixKeys(PER_LAYER_SUFFIXES)


def read_gguf_entry(entry: Entry, limits: Limits) -> GGUFHeader:
    """The GGUF header of *entry*, per-layer arrays decoded, tensor infos summed and not kept;
    raises :class:`~modelscan.errors.ModelScanError`."""
    if isinstance(entry, RemoteEntry):
        from .remote import read_remote_gguf  # noqa: PLC0415 -- local scans never import HTTP

        return read_remote_gguf(entry, limits, decode_arrays=PER_LAYER_ARRAYS, keep_tensors=False)
    from .gguf import read_gguf_header  # noqa: PLC0415 -- a scan whose models are all cached reads no header

    return read_gguf_header(
        entry.real,
        limits=limits,
        expect=entry.identity,
        source=entry.path,
        decode_arrays=PER_LAYER_ARRAYS,
        keep_tensors=False,
    )


def read_safetensors_entry(entry: Entry, limits: Limits) -> SafetensorsHeader:
    """The safetensors header of *entry*; raises :class:`~modelscan.errors.ModelScanError`."""
    if isinstance(entry, RemoteEntry):
        from .remote import read_remote_safetensors  # noqa: PLC0415

        return read_remote_safetensors(entry, limits)
    try:
        from .safetensors import read_safetensors_header  # noqa: PLC0415 -- as for GGUF

        return read_safetensors_header(entry.real, limits=limits, expect=entry.identity, source=entry.path)
    except OSError as exc:  # a read() that fails (EIO) is the file's problem, named as one
        raise os_error(entry.path, exc, "cannot read") from exc


def read_small_entry(
    entry: Entry, cap: int, limit_name: str, format: str = "json", limits: Limits = BATCH_LIMITS
) -> bytes:
    """The whole of a small sidecar file of at most *cap* bytes (*limits*: a remote file's time)."""
    if isinstance(entry, RemoteEntry):
        from .remote import read_remote_small  # noqa: PLC0415

        return read_remote_small(entry, cap, limit_name, format, limits)
    return read_small_file(entry.real, cap, limit_name, format=format, expect=entry.identity, source=entry.path)


def _read_group(files: tuple[Entry, ...], limits: Limits) -> GGUFRead:
    headers = []
    for f in files:
        try:
            headers.append(read_gguf_entry(f, limits))
        except ModelScanError as err:
            return err
    return tuple(headers)


def read_template_entry(entry: FileEntry, limits: Limits) -> str:
    """A chat template file's text (``limits.tokenizer_config_bytes`` at most), undecodable
    bytes replaced: it is searched, never rendered (R10)."""
    data = read_small_entry(entry, limits.tokenizer_config_bytes, "tokenizer_config_bytes", format="fs")
    return data.decode("utf-8", errors="replace")


def read_gguf_candidate(candidate: GGUFCandidate, limits: Limits) -> GGUFRecord:
    """Read every header of *candidate*, and its template file: a file that fails fails its own
    model only."""
    projectors: list[tuple[Entry, GGUFHeader | ModelScanError]] = []
    for f in candidate.projectors:
        try:
            projectors.append((f, read_gguf_entry(f, limits)))
        except ModelScanError as err:
            projectors.append((f, err))
    template: str | ModelScanError | None = None
    if candidate.template is not None:
        try:
            template = read_template_entry(candidate.template, limits)
        except ModelScanError as err:
            template = err
    return GGUFRecord(
        candidate,
        tuple((files, _read_group(files, limits)) for files in candidate.models),
        tuple(projectors),
        template,
    )


def _restat(entry: Entry) -> Entry | None:
    """*entry* as its file is now (the same resolved path, not followed further), or ``None``.
    A remote file is read once more as the server has it now: what its listing said is dropped."""
    if isinstance(entry, RemoteEntry):
        return entry._replace(size=None, etag=None)
    try:
        st = os.lstat(entry.real)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return entry._replace(size=st.st_size, dev=st.st_dev, ino=st.st_ino, mtime_ns=st.st_mtime_ns)


def restat_candidate(candidate: Candidate) -> Candidate | None:
    """*candidate* with a fresh ``stat`` of each of its files, for one more read after a file
    changed under the first; ``None`` when a file is gone or is no longer a regular file."""
    fresh: dict[str, Entry] = {}
    files = candidate.files() if isinstance(candidate, GGUFCandidate) else candidate.tree
    for entry in files:
        new = _restat(entry)
        if new is None:
            return None
        fresh[entry.path] = new
    if isinstance(candidate, GGUFCandidate):
        return candidate._replace(
            models=tuple(tuple(fresh[f.path] for f in group) for group in candidate.models),
            projectors=tuple(fresh[f.path] for f in candidate.projectors),
            template=None if candidate.template is None else cast(FileEntry, fresh[candidate.template.path]),
        )
    assert isinstance(candidate, MLXCandidate)
    return candidate._replace(
        files=tuple(fresh.get(f.path, f) for f in candidate.files),
        tree=tuple(fresh[f.path] for f in candidate.tree),
    )
