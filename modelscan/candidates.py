"""The seam between sources and readers: what a source found, before anything is read.

A source (LM Studio's folder layout, the Hugging Face hub cache, llama.cpp's flat cache, Ollama's
store; remote repos next) walks its roots and yields candidates. A candidate says which
format it is, where its model comes from and how that place names it (:class:`Origin`), and
which files make it, each with the identity the walk saw (:class:`~modelscan._walk.FileEntry`),
or, for a file on a server, the identity its server gave (:class:`RemoteEntry`).
Readers read a candidate; derivation turns what was read into facts. Nothing here does I/O.

A candidate is also the unit of caching: its ``signature`` holds every file it depends on, so a
cached result is reused only while every one of those files keeps its identity.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal, NamedTuple

from ._walk import FileEntry
from .errors import FileAccessError

if TYPE_CHECKING:
    from typing import TypeAlias

__all__ = ["Candidate", "Entry", "GGUFCandidate", "MLXCandidate", "Origin", "RemoteEntry", "SourceName", "mtime_ns"]

#: Where a model was found: LM Studio's ``<root>/<publisher>/<repo>/<files>`` layout (also any
#: plain folder), the Hugging Face hub cache, llama.cpp's flat cache, Ollama's store, or a remote
#: file or Hub repo.
SourceName: TypeAlias = Literal["lmstudio", "hf-cache", "llama.cpp", "ollama", "remote"]


class RemoteEntry(NamedTuple):
    """A file on a server, as a remote source found it (``modelscan.sources.remote``).

    ``path`` is the name it goes by in listings and errors (``hf://org/name/model.gguf``, or the
    URL without credentials), ``url`` what to fetch. ``size`` and ``etag`` are what a listing or a
    ``HEAD`` said (``None`` when the source did not ask: the first read learns them). A tuple,
    like :class:`~modelscan._walk.FileEntry`: a cache's signature holds the entries themselves,
    so a cached result is reused only while every file keeps its URL, size and ETag (the Hub
    listing's object id). A source that gets no version from a server gives a fresh random one,
    never reused.
    """

    name: str
    path: str
    url: str
    size: int | None = None
    etag: str | None = None


#: A file of a candidate: one the folder walk saw, or one on a server.
Entry: TypeAlias = FileEntry | RemoteEntry


def mtime_ns(entry: Entry) -> int:
    """When *entry*'s file last changed, in ns since the epoch; 0 for a remote file (unknown)."""
    return entry.mtime_ns if isinstance(entry, FileEntry) else 0


class Origin(NamedTuple):
    """Where a model comes from, and how that place names it (FIELDS.md sections 1 and 3).

    ``folder`` is the model folder: the models of one folder share it, and several models of one
    folder get ``@<quant>`` keys. ``name`` is a source's own name for the model, used as its key
    verbatim (Ollama's ``llama3.2:latest``); ``None`` where keys follow FIELDS.md.
    """

    source: SourceName
    folder: str
    publisher: str
    repo: str
    name: str | None = None


class GGUFCandidate(NamedTuple):
    """The GGUF files of one model folder.

    ``models`` holds each model's files: one file, or every shard of a split model, shard 1
    first (a split model with a shard missing is not a candidate: the source reports it).
    ``projectors`` are files named like projectors (``*mmproj*``), or an Ollama manifest's
    projector layers; a projector counts only once its header was read and says it is one, as
    does any file of ``models`` whose header says so.

    Two fields serve sources whose files have no telling names (Ollama's blobs):
    ``quant_source`` is the name the quant token is taken from in place of each model's file
    name (``""``: none, so ``general.file_type`` decides); ``template`` is a chat template file
    beside the weights (Ollama's template layer, a Go text/template) that decides tool use
    instead of the GGUF's own template. ``digest`` is the source's own digest of the model, 64 hex
    digits (Ollama's: the sha256 of its manifest), which Ollama's views show; ``manifest`` is the
    file it was computed from, as the walk saw it.
    """

    origin: Origin
    models: tuple[tuple[Entry, ...], ...]
    projectors: tuple[Entry, ...] = ()
    quant_source: str | None = None
    template: FileEntry | None = None
    digest: str | None = None
    manifest: FileEntry | None = None

    @property
    def format(self) -> Literal["gguf"]:
        return "gguf"

    def files(self) -> Iterator[Entry]:
        """Every file the candidate's models depend on."""
        for group in self.models:
            yield from group
        yield from self.projectors
        if self.template is not None:
            yield self.template

    @property
    def signature(self) -> tuple[object, ...]:
        """Everything the candidate's results depend on: where it is, and each file as the walk saw it
        (the template file too, when there is one). ``quant_source`` is not in it: a source derives
        it from what the origin names (Ollama's host and tag). The manifest is, when there is one:
        rewritten over the same blobs, it has another digest."""
        signature: tuple[object, ...] = (self.origin, self.models, self.projectors)
        if self.template is not None:
            signature += ((self.template,),)
        if self.manifest is not None:
            signature += ((self.manifest,),)
        return signature


class MLXCandidate(NamedTuple):
    """One MLX model folder: ``config.json`` beside ``*.safetensors`` weights.

    ``files`` are the folder's own files (the readers pick config, index, shards and sidecars
    from them by name); ``tree`` is every regular file below the folder, itself included, each
    inode once: the model's ``size_bytes`` is theirs (GGUF files left out). ``cut`` names the
    walk limit that left the tree partial, ``partial`` the one that left the folder's own
    listing partial, if one did. ``refused`` are the folder's own entries that may not be read
    (a FIFO, a link out of the roots), with the reason.
    """

    origin: Origin
    files: tuple[Entry, ...]
    tree: tuple[Entry, ...]
    cut: str | None = None
    partial: str | None = None
    refused: tuple[tuple[str, FileAccessError], ...] = ()

    @property
    def format(self) -> Literal["mlx"]:
        return "mlx"

    @property
    def signature(self) -> tuple[object, ...]:
        """Everything the candidate's results depend on: where it is, and each file as the walk saw it."""
        return (self.origin, self.tree)


Candidate: TypeAlias = GGUFCandidate | MLXCandidate
