"""Reading files on servers: the same readers as for local files, over HTTP ``Range`` requests.

Each function takes a :class:`~modelscan.candidates.RemoteEntry` (what a remote source found) and
reads it as ``modelscan.read`` reads a local file: the GGUF or safetensors header through
:class:`~modelscan._range.RemoteFile` (a byte source: nothing past the header is fetched, within
``Limits.remote_bytes``), a small sidecar whole within its cap. Errors name the file as it was
found (``entry.path``). A file whose size or version differs from what its listing said is
:class:`~modelscan.errors.ChangedDuringScan`.
"""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from ._http import Target, fetch_small
from ._hub import token_for
from ._range import RemoteFile, RemoteStream
from .candidates import RemoteEntry
from .errors import ChangedDuringScan, FileAccessError, LimitExceeded, NotAModel
from .gguf import GGUFHeader, parse_gguf_header
from .limits import Limits
from .safetensors import SafetensorsHeader, parse_safetensors_header

__all__ = ["open_remote", "read_remote_gguf", "read_remote_safetensors", "read_remote_small", "target_of"]


def target_of(entry: RemoteEntry) -> Target:
    """What to fetch for *entry*, with the Hub token when its URL is on the Hub's host."""

    return Target(entry.url, entry.path, token_for(entry.url))


def open_remote(entry: RemoteEntry, limits: Limits) -> RemoteFile:
    """*entry* opened: its first ``Range`` request sent, its size checked against the listing's."""
    source = RemoteFile(target_of(entry), limits, etag=entry.etag).open()
    if entry.size is not None and source.size != entry.size:
        source.close()
        raise ChangedDuringScan(
            entry.path,
            f"the server says {source.size} bytes, the listing said {entry.size}",
            format="http",
            code="changed_during_scan",
        )
    return source


def read_remote_gguf(entry: RemoteEntry, limits: Limits, **options: Any) -> GGUFHeader:
    """The GGUF header of a file on a server; *options* are the header reader's (``decode_arrays``
    and the like). Raises :class:`~modelscan.errors.ModelScanError`."""
    with open_remote(entry, limits) as source:
        if source.size == 0:
            raise NotAModel(entry.path, "empty file", format="gguf", code="empty_file")
        # The stream is also a byte source (size, read_at): a reader that takes one reads it so.
        return parse_gguf_header(
            cast(BinaryIO, RemoteStream(source)), source=entry.path, file_size=source.size, limits=limits, **options
        )


def read_remote_safetensors(entry: RemoteEntry, limits: Limits) -> SafetensorsHeader:
    """The safetensors header of a file on a server; raises :class:`~modelscan.errors.ModelScanError`."""
    with open_remote(entry, limits) as source:
        return parse_safetensors_header(
            cast(BinaryIO, RemoteStream(source)), source=entry.path, file_size=source.size, limits=limits
        )


def read_remote_small(entry: RemoteEntry, cap: int, limit_name: str, format: str, limits: Limits) -> bytes:
    """The whole of a small file on a server, of at most *cap* bytes (checked against the
    listing's size before anything is fetched, and against the body as it comes)."""
    if entry.size is not None and entry.size > cap:
        raise LimitExceeded(
            entry.path, f"{entry.size} bytes exceed the limit of {cap}", format=format, limit=limit_name
        )
    data = fetch_small(target_of(entry), cap, limit_name, limits)
    if data is None:
        raise FileAccessError(entry.path, "no such file on the server (404)", format="http", code="not_found")
    if entry.size is not None and len(data) != entry.size:
        raise ChangedDuringScan(
            entry.path,
            f"the server sent {len(data)} bytes, the listing said {entry.size}",
            format="http",
            code="changed_during_scan",
        )
    return data
