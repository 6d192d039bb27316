"""A :class:`~modelscan.cache.ScanCache` on disk, so a repeat run of the command line reads no header.

The file is JSON (never ``pickle`` or ``marshal``): a cache file is untrusted input like any
model file. :func:`load` accepts a file only if its version and the fields of the facts it holds
are this modelscan's, within a size cap, and checks the type of every value it keeps; anything
else (a corrupt, truncated, foreign or half-written file) is ignored as if there were no cache.
:func:`save` writes a temporary file beside the cache and renames it over the old one, so a
reader never sees half a file and concurrent writers leave one whole file (the last one).

Entries are reused exactly as an in-memory cache reuses them: only while every file of the
candidate keeps its path, device, inode, size and mtime (a remote file: its URL, ETag and size).
Each entry is decoded into facts only when a scan asks for it. The cache keeps at most
``MAX_ENTRIES`` entries, the most recently used.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, cast

from . import __version__, errors
from ._walk import FileEntry
from .cache import Result, ScanCache
from .candidates import Origin, RemoteEntry
from .facts import ArchNumbers, ModelFacts, TensorTypeStat
from .limits import Limits

if TYPE_CHECKING:
    from .candidates import SourceName

__all__ = [
    "FILE_NAME",
    "MAX_BYTES",
    "MAX_ENTRIES",
    "default_cache_dir",
    "default_cache_file",
    "load",
    "replace_file",
    "save",
]

FILE_NAME = "scan-cache.json"
#: A cache file larger than this is not read (a bound on memory, whatever the file holds).
MAX_BYTES = 512 << 20
#: Entries kept when saving: the most recently used first.
MAX_ENTRIES = 200_000
_FORMAT = "modelscan-scan-cache"
_VERSION = 1

_FACT_FIELDS = list(ModelFacts._fields)
_LIMIT_FIELDS = list(Limits._fields)
_ERROR_CLASSES = {
    name: cls
    for name in errors.__all__
    if isinstance(cls := getattr(errors, name), type) and issubclass(cls, errors.ModelScanError)
}


class _Bad(Exception):
    """The cache file is not one this modelscan wrote."""


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/modelscan``, else ``~/.cache/modelscan``."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "modelscan")


def default_cache_file() -> str:
    """The command line's cache file: :data:`FILE_NAME` in :func:`default_cache_dir`."""
    return os.path.join(default_cache_dir(), FILE_NAME)


# -- encoding ----------------------------------------------------------------------------------


def _encode_error(err: errors.ModelScanError) -> list[object]:
    return [type(err).__name__, err.path, err.detail, err.field, err.offset, err.limit, err.format, err.code]


def _encode_facts(m: ModelFacts) -> list[object]:
    out: list[object] = []
    for name in _FACT_FIELDS:
        value = getattr(m, name)
        if name == "tensor_types":
            value = {k: [v.tensors, v.elements, v.bytes] for k, v in value.items()}
        elif name == "warnings":
            value = [_encode_error(w) for w in value]
        elif isinstance(value, ArchNumbers):
            value = {k: list(v) if isinstance(v, tuple) else v for k, v in value._asdict().items()}
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out.append(value)
    return out


def _encode_origin(origin: Origin) -> list[object]:
    return [origin.source, origin.folder, origin.publisher, origin.repo, origin.name]


def _encode_signature(signature: tuple[object, ...]) -> list[object]:
    """``(origin, *parts)``: each part a tuple of walk entries, or of tuples of them (lists in JSON)."""
    origin, *rest = signature
    assert isinstance(origin, Origin)
    return [_encode_origin(origin), _encode_entries(rest)]


def _encode_entries(node: object) -> object:
    if isinstance(node, (FileEntry, RemoteEntry)):
        return list(node)
    assert isinstance(node, (tuple, list))
    return [_encode_entries(x) for x in node]


# -- decoding (every value checked) ------------------------------------------------------------


def _check(ok: bool) -> None:
    if not ok:
        raise _Bad


def _list(value: object, length: int | None = None) -> list[object]:
    if type(value) is not list or (length is not None and len(value) != length):
        raise _Bad
    return value


def _str(value: object) -> str:
    if type(value) is not str:
        raise _Bad
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _opt_int(value: object) -> int | None:
    if value is not None and type(value) is not int:
        raise _Bad
    return value


def _decode_error(value: object) -> errors.ModelScanError:
    name, path, detail, field, offset, limit, fmt, code = _list(value, 8)
    cls = _ERROR_CLASSES.get(_str(name))
    code = _str(code)
    if cls is None or code not in errors.ERROR_CODES:
        raise _Bad
    return cls(
        _str(path),
        _str(detail),
        field=_opt_str(field),
        offset=_opt_int(offset),
        limit=_opt_str(limit),
        format=_opt_str(fmt),
        code=code,  # type: ignore[arg-type]  # checked against the registry just above
    )


def _decode_tensor_types(value: object) -> dict[str, TensorTypeStat]:
    if type(value) is not dict:
        raise _Bad
    out = {}
    for k, v in value.items():
        tensors, elements, size = _list(v, 3)
        out[_str(k)] = TensorTypeStat(_opt_int(tensors) or 0, _opt_int(elements) or 0, _opt_int(size))
    return out


_NONE = type(None)
_ARCH_FIELDS = list(ArchNumbers._fields)
#: The architecture numbers that are not ``int | None``, and what they may be instead.
_ARCH_TYPES: dict[str, tuple[type, ...]] = {
    "architecture": (str, _NONE),
    "rope_scaling_type": (str, _NONE),
    "tokenizer_model": (str, _NONE),
    "rope_freq_base": (float, _NONE),
    "rope_scaling_factor": (float, _NONE),
    "causal": (bool, _NONE),
    "kv_layout_known": (bool,),
}
#: Per-layer numbers: one int, one int per layer, or ``None``; per-layer flags: bools or ``None``.
_ARCH_PER_LAYER = frozenset({"feed_forward_length", "head_count", "head_count_kv"})
_ARCH_FLAGS = frozenset({"sliding_window_layers", "recurrent_layers", "attention_layers"})


_ARCH_CHECKED: set[tuple[type, ...]] = set()


def _decode_arch(value: object) -> ArchNumbers:
    _check(type(value) is dict)
    assert isinstance(value, dict)
    items = list(value.values())
    _check(len(items) == len(_ARCH_FIELDS) and list(value) == _ARCH_FIELDS)
    kinds = tuple(map(type, items))
    known = kinds in _ARCH_CHECKED
    for i, (name, item) in enumerate(zip(_ARCH_FIELDS, items, strict=True)):
        if type(item) is list:
            wanted = bool if name in _ARCH_FLAGS else int
            _check((name in _ARCH_FLAGS or name in _ARCH_PER_LAYER) and all(type(x) is wanted for x in item))
            items[i] = tuple(item)
        elif not known:
            _check(type(item) in _ARCH_TYPES.get(name, (int, _NONE)) and (name not in _ARCH_FLAGS or item is None))
    if not known and len(_ARCH_CHECKED) < 4096:
        _ARCH_CHECKED.add(kinds)
    return ArchNumbers(*items)  # every value checked above


_DECODERS: dict[str, Callable[[object], object]] = {
    "arch": _decode_arch,
    "tensor_types": _decode_tensor_types,
    "warnings": lambda v: tuple(_decode_error(x) for x in _list(v)),
    "files": lambda v: tuple(_str(x) for x in _list(v)),
}
#: The types each other field may have; a field that is in neither table cannot be loaded, so a
#: new field of ModelFacts must be added here (tests/test_store.py round-trips every field).
_TYPES: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "path": (str,),
    "folder": (str,),
    "publisher": (str,),
    "repo": (str,),
    "type": (str,),
    "architecture": (str, _NONE),
    "name_source": (str,),
    "key_base": (str,),
    "quant_name": (str, _NONE),
    "quant_bits": (int, _NONE),
    "size_bytes": (int,),
    "params_string": (str, _NONE),
    "max_context_length": (int, _NONE),
    "vision": (bool,),
    "trained_for_tool_use": (bool,),
    "n_params": (int, _NONE),
    "n_params_active": (int, _NONE),
    "bits_per_weight": (float, int, _NONE),
    "header_bytes": (int,),
    "projector": (str, _NONE),
    "projector_bytes": (int, _NONE),
    "has_chat_template": (bool,),
    "metadata": (dict,),
    "source": (str,),
    "source_name": (str, _NONE),
    "display_name": (str,),
    "key": (str,),
    "mtime_ns": (int,),
    "digest": (str, _NONE),
}
#: Fields whose value must be one of a few strings.
_CHOICES: dict[str, frozenset[str]] = {
    "format": frozenset({"gguf", "mlx"}),
    "type": frozenset({"llm", "embedding"}),
    "source": frozenset({"lmstudio", "hf-cache", "llama.cpp", "ollama", "remote"}),
}


#: Where each field of ModelFacts sits in a stored record, and how it is decoded or checked.
_FACT_DECODERS = [(i, _DECODERS[name]) for i, name in enumerate(_FACT_FIELDS) if name in _DECODERS]
_FACT_SCALARS = [i for i, name in enumerate(_FACT_FIELDS) if name not in _DECODERS]
_FACT_CHOICES = [(i, _CHOICES[name]) for i, name in enumerate(_FACT_FIELDS) if name in _CHOICES]
#: The types of the scalar fields of records already checked field by field: a record whose
#: scalars have the same types needs no second look (a cache of many models has few patterns).
_CHECKED_KINDS: set[tuple[type, ...]] = set()


def _decode_facts(value: object) -> ModelFacts:
    items = list(_list(value, len(_FACT_FIELDS)))
    kinds = tuple(type(items[i]) for i in _FACT_SCALARS)
    if kinds not in _CHECKED_KINDS:
        for i, kind in zip(_FACT_SCALARS, kinds, strict=True):
            # type(), not isinstance(): a bool is refused where an int is wanted, and the reverse.
            _check(kind in _TYPES[_FACT_FIELDS[i]])
        if len(_CHECKED_KINDS) < 4096:
            _CHECKED_KINDS.add(kinds)
    for i, choices in _FACT_CHOICES:
        _check(items[i] in choices)
    for i, decoder in _FACT_DECODERS:
        items[i] = decoder(items[i])
    return ModelFacts(*items)  # type: ignore[arg-type]  # every value checked above


def _decode_result(value: object) -> Result:
    models, problems = _list(value, 2)
    return tuple(_decode_facts(m) for m in _list(models)), tuple(_decode_error(p) for p in _list(problems))


def _decode_signature(value: object) -> tuple[object, ...]:
    origin, rest = _list(value, 2)
    source, folder, publisher, repo, name = _list(origin, 5)
    _check(source in _CHOICES["source"])
    decoded = Origin(cast("SourceName", source), _str(folder), _str(publisher), _str(repo), _opt_str(name))
    return (decoded, *_decode_entries(rest))


_ENTRY_TYPES = [str, str, str, int, int, int, int]


_REMOTE_TYPES = [(str,), (str,), (str,), (int, type(None)), (str, type(None))]


def _decode_entries(node: object) -> tuple[object, ...]:
    """Nested lists of entries back to tuples of :class:`FileEntry` and :class:`RemoteEntry`."""
    items = _list(node)
    if len(items) == len(_ENTRY_TYPES) and [type(x) for x in items] == _ENTRY_TYPES:
        return FileEntry(*items)  # type: ignore[arg-type]  # every value's type checked
    if items and all(type(x) is not list for x in items):  # not a walk entry: a remote file's
        _check(len(items) == len(_REMOTE_TYPES))
        _check(all(type(x) in kinds for x, kinds in zip(items, _REMOTE_TYPES, strict=True)))
        return RemoteEntry(*items)  # type: ignore[arg-type]  # every value's type checked
    return tuple(_decode_entries(x) for x in items)


_LIMITS_SEEN: dict[tuple[object, ...], Limits] = {}


def _decode_limits(value: object) -> Limits:
    """The limits an entry was read under; entries read under the same ones share one object."""
    items = tuple(_list(value, len(_LIMIT_FIELDS)))
    found = _LIMITS_SEEN.get(items)
    if found is None:
        _check(all(type(v) in (int, float) for v in items))
        found = Limits(*items)  # type: ignore[arg-type]  # every value checked above
        if len(_LIMITS_SEEN) < 64:
            _LIMITS_SEEN[items] = found
    return found


# -- files -------------------------------------------------------------------------------------


def load(cache: ScanCache, path: str | os.PathLike[str]) -> int:
    """Add the entries of the cache file *path* to *cache*; the number of entries added.

    A missing, unreadable, oversized, corrupt or foreign file adds nothing (returns 0).
    """
    from ._fs import read_small_file  # noqa: PLC0415

    try:  # a regular file only (a FIFO or a device in its place is refused, never waited on), capped
        doc = json.loads(read_small_file(path, MAX_BYTES, "cache_bytes", format="fs"))
    except (errors.ModelScanError, OSError, ValueError, RecursionError):
        return 0
    try:
        _check(type(doc) is dict)
        _check(doc.get("format") == _FORMAT and doc.get("version") == _VERSION)
        _check(doc.get("modelscan") == __version__ and doc.get("fields") == _FACT_FIELDS)
        _check(doc.get("limits") == _LIMIT_FIELDS)
        entries = doc.get("entries")
        _check(type(entries) is list and len(entries) <= MAX_ENTRIES)
        decoded = []
        for entry in entries:
            _check(type(entry) is list and len(entry) == 5)
            fmt, folder, limits, signature, result = entry
            _check(fmt in ("gguf", "mlx"))
            key = (fmt, _str(folder), _decode_limits(limits))
            decoded.append((key, _decode_signature(signature), result))
    except (_Bad, TypeError, ValueError):
        return 0
    cache.restore(decoded, _lazy_result)
    return len(decoded)


def _lazy_result(raw: object) -> Result | None:
    """Decode a stored result when a scan first asks for it; ``None`` if it does not check out."""
    try:
        return _decode_result(raw)
    except (_Bad, TypeError, ValueError):
        return None


def save(cache: ScanCache, path: str | os.PathLike[str]) -> None:
    """Write *cache* to *path* atomically (a temporary file renamed over it). Raises ``OSError``."""
    target = os.fspath(path)
    entries = []
    for (fmt, folder, limits), signature, result in cache.entries(MAX_ENTRIES):
        stored = (
            result
            if not isinstance(result, tuple)
            else [
                [_encode_facts(m) for m in result[0]],
                [_encode_error(p) for p in result[1]],
            ]
        )
        entries.append([fmt, folder, [getattr(limits, n) for n in _LIMIT_FIELDS], _encode_signature(signature), stored])
    doc = {
        "format": _FORMAT,
        "version": _VERSION,
        "modelscan": __version__,
        "fields": _FACT_FIELDS,
        "limits": _LIMIT_FIELDS,
        "entries": entries,
    }
    replace_file(target, json.dumps(doc, separators=(",", ":")).encode("utf-8"))


def replace_file(path: str, data: bytes | Sequence[bytes]) -> None:
    """Write *data* (bytes, or chunks of bytes) to *path* atomically: into a temporary file beside
    it, renamed over it, so a reader never sees half a file. The folder is made (mode 0700) if
    missing. Raises ``OSError``."""
    parent = os.path.dirname(path) or os.curdir
    os.makedirs(parent, mode=0o700, exist_ok=True)
    # A name no other writer uses (this process and thread): concurrent writers each write their
    # own file and rename it over the target, the last one wins whole. Created exclusively and
    # never through a link (a leftover of a killed run is removed first).
    tmp = os.path.join(parent, f".{os.path.basename(path)}-{os.getpid()}-{threading.get_ident()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                for chunk in data:
                    f.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
