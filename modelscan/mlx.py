"""Reading an MLX model folder: small JSON files and safetensors headers, nothing derived.

An MLX model is one folder holding ``config.json`` and safetensors weights: every
``*.safetensors`` in the folder, or the shards ``model.safetensors.index.json`` names.
:func:`read_mlx_candidate` reads, each capped by a limit (HOSTILE.md 7.3, R8, R10, R11):

- ``config.json`` (``limits.config_json_bytes``), strictly parsed;
- ``model.safetensors.index.json`` (``limits.index_json_bytes``): which shards make the model,
  each a plain file name inside the folder (R10); a million-entry ``weight_map`` stays text;
- every shard's safetensors header;
- the chat template sources in transformers' order: ``chat_template.jinja``, then
  ``tokenizer_config.json``'s ``chat_template``, then ``chat_template.json``'s
  (``limits.tokenizer_config_bytes``), stopping at the first that holds a template;
- which files the folder holds (the sentence-transformers files count by their presence), and
  the size of its tree as the walk measured it.

The result is an :class:`MLXFolder`; ``facts_mlx.derive_mlx_facts`` turns it into facts. Only a
missing or unreadable ``config.json``, a weights file that cannot be read, or an unusable shard
index stops the model: those raise a :class:`~modelscan.errors.ModelScanError`. Everything else
found wrong while reading is in ``MLXFolder.warnings``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from . import _rules
from ._json import FlatStringMap, parse_json, parse_json_flat_member, short_key, type_name
from ._walk import Walk
from .candidates import Entry, MLXCandidate, Origin, mtime_ns
from .errors import FileAccessError, IncompleteModel, InvalidField, LimitExceeded, ModelScanError
from .limits import BATCH_LIMITS, Limits
from .read import read_safetensors_entry, read_small_entry
from .safetensors import SafetensorsHeader

__all__ = ["MLXFolder", "read_mlx_candidate", "read_mlx_folder"]

CONFIG = "config.json"
INDEX = "model.safetensors.index.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
CHAT_TEMPLATE_JINJA = "chat_template.jinja"
CHAT_TEMPLATE_JSON = "chat_template.json"


class MLXFolder(NamedTuple):
    """What was read of one MLX model folder."""

    origin: Origin
    path: str
    limits: Limits
    #: ``config.json``, parsed, and its path.
    config: dict[str, object]
    config_path: str
    #: Every shard's header with its file name, sorted by name.
    shards: tuple[tuple[SafetensorsHeader, str], ...]
    #: The shard index's ``weight_map`` and ``metadata`` (``None`` without an index, or for
    #: metadata that is not an object), and the index's path.
    weight_map: Mapping[str, str] | FlatStringMap | None
    index_metadata: Mapping[str, object] | None
    index_path: str | None
    #: Chat template sources in the order read: ``(file, field, value)``; the value is the text
    #: of ``chat_template.jinja``, or the raw ``chat_template`` value of a JSON file.
    templates: tuple[tuple[str, str, object], ...]
    #: Names of the folder's own files.
    names: frozenset[str]
    #: Bytes of every regular file of the folder's tree, each counted once, GGUF files left out.
    size: int
    warnings: tuple[ModelScanError, ...]
    #: The newest modification time (``st_mtime_ns``) of the files ``size`` counts.
    mtime_ns: int = 0


def read_mlx_candidate(candidate: MLXCandidate, limits: Limits = BATCH_LIMITS) -> MLXFolder:
    """Read the MLX folder a source found.

    Raises :class:`IncompleteModel` (``missing_config``, ``missing_shard``, ``missing_weights``),
    :class:`InvalidField` (``config.json`` not strict JSON or not an object; a shard index whose
    ``weight_map`` is not an object or names a file outside the folder: ``bad_shard_name``),
    :class:`LimitExceeded` (a file over its size limit) and whatever reading a safetensors
    header raises.
    """
    path = candidate.origin.folder
    if candidate.partial is not None:
        raise LimitExceeded(
            path,
            f"the model folder could not be listed whole ({candidate.partial})",
            format="fs",
            limit=candidate.partial,
        )
    files: dict[str, Entry | FileAccessError] = dict(candidate.refused)
    files.update((f.name, f) for f in candidate.files)
    warnings: list[ModelScanError] = []
    if candidate.cut is not None:
        warnings.append(
            LimitExceeded(
                path,
                f"the walk stopped at {candidate.cut}; size_bytes is partial",
                format="fs",
                limit=candidate.cut,
                code="scan_truncated",
            )
        )
    config_file = _usable(files, CONFIG)
    if config_file is None:
        raise IncompleteModel(path, "no config.json: not an MLX model", format="fs", code="missing_config")
    config = _read_json(config_file, limits.config_json_bytes, "config_json_bytes", limits)
    shards, weight_map, metadata, index_path = _shard_files(path, files, limits, warnings)
    headers = tuple((read_safetensors_entry(f, limits), f.name) for f in shards)
    counted = [f for f in candidate.tree if not f.name.lower().endswith(".gguf")]
    return MLXFolder(
        origin=candidate.origin,
        path=path,
        limits=limits,
        config=config,
        config_path=config_file.path,
        shards=headers,
        weight_map=weight_map,
        index_metadata=metadata,
        index_path=index_path,
        templates=_read_templates(files, limits, warnings),
        names=frozenset(f.name for f in candidate.files),
        size=sum(f.size or 0 for f in counted),
        warnings=tuple(warnings),
        mtime_ns=max((mtime_ns(f) for f in counted), default=0),
    )


def read_mlx_folder(
    folder: str | os.PathLike[str], *, origin: Origin | None = None, limits: Limits = BATCH_LIMITS
) -> MLXFolder:
    """Read the MLX model in *folder* on its own, walked with the one walk's rules.

    *origin* names it (default: LM Studio's layout, ``publisher`` the parent folder's name).
    A folder the walk cannot list whole, or that holds no MLX model, raises the walk's first
    problem, else :class:`IncompleteModel`; a walk limit hit below the folder is a warning
    (``scan_truncated``: ``size_bytes`` is partial).
    """
    from .sources.lmstudio import origin_of  # noqa: PLC0415 -- sources import this module's readers

    path = os.fspath(folder)
    problems: list[ModelScanError] = []
    walk = Walk([path], limits, problems)
    found = next((f for f in walk.folders(collect=lambda f: f.path == path) if f.path == path), None)
    if found is None or found.tree is None or not any(f.name == CONFIG for f in found.files):
        if problems:
            raise problems[0]
        raise IncompleteModel(path, "no config.json: not an MLX model", format="fs", code="missing_config")
    candidate = MLXCandidate(
        origin or origin_of(path), found.files, found.tree, found.cut, found.partial, found.refused
    )
    return read_mlx_candidate(candidate, limits)


def _usable(files: Mapping[str, Entry | FileAccessError], name: str) -> Entry | None:
    """The folder's file *name*; raises why it may not be read, if the walk refused it."""
    found = files.get(name)
    if isinstance(found, FileAccessError):
        raise found
    return found


def _read_json(file: Entry, cap: int, limit_name: str, limits: Limits) -> dict[str, object]:
    """A sidecar parsed strictly (R8); raises what reading or parsing raises."""
    data = read_small_entry(file, cap, limit_name, limits=limits)
    return parse_json(data, source=file.path, what=file.name, limits=limits)


def _read_index(file: Entry, limits: Limits) -> dict[str, object]:
    """The shard index as :func:`_read_json` reads it, but a big flat ``weight_map`` stays text.

    C-14: a million entries parsed whole take about 310 MB; as a :class:`FlatStringMap` (decoded
    a chunk at a time, keys proved unique by their hashes) they take the file's size and a little.
    Accepts and rejects exactly what :func:`parse_json` does: whatever the lean path cannot prove
    is parsed whole.
    """
    data = read_small_entry(file, limits.index_json_bytes, "index_json_bytes", limits=limits)
    lean = parse_json_flat_member(data, "weight_map", source=file.path, what=INDEX, limits=limits)
    if lean is None:
        return parse_json(data, source=file.path, what=INDEX, limits=limits)
    index, weight_map = lean
    index["weight_map"] = weight_map
    return index


# -- chat template sources -------------------------------------------------------------------------


def _holds_template(value: object) -> bool:
    """Whether a ``chat_template`` value can hold a template: a string, or a list with at least
    one ``{"name": str, "template": str}``. Anything else is passed on, and the next file read."""
    if type(value) is str:
        return True
    if type(value) is list:
        return any(
            type(item) is dict and type(item.get("name")) is str and type(item.get("template")) is str for item in value
        )
    return False


def _read_templates(
    files: Mapping[str, Entry | FileAccessError], limits: Limits, warnings: list[ModelScanError]
) -> tuple[tuple[str, str, object], ...]:
    """The chat template sources, read in order up to the first that holds a template.

    Unreadable files are warnings; a ``chat_template.jinja`` that is not UTF-8 is searched with
    replacement characters (and a warning).
    """
    jinja = files.get(CHAT_TEMPLATE_JINJA)
    if isinstance(jinja, FileAccessError):
        warnings.append(jinja)
    elif jinja is not None:
        try:
            data = read_small_entry(
                jinja, limits.tokenizer_config_bytes, "tokenizer_config_bytes", format="fs", limits=limits
            )
        except ModelScanError as err:
            warnings.append(err)
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                warnings.append(
                    InvalidField(
                        jinja.path,
                        f"not UTF-8 at byte {exc.start}; searched with replacements",
                        format="fs",
                        code="not_utf8",
                    )
                )
                text = data.decode("utf-8", "replace")
            return ((jinja.path, CHAT_TEMPLATE_JINJA, text),)
    sources: list[tuple[str, str, object]] = []
    for name in (TOKENIZER_CONFIG, CHAT_TEMPLATE_JSON):
        try:
            file = _usable(files, name)
            if file is None:
                continue
            obj = _read_json(file, limits.tokenizer_config_bytes, "tokenizer_config_bytes", limits)
        except ModelScanError as err:
            warnings.append(err)
            continue
        value = obj.get("chat_template")
        if value is not None:
            sources.append((file.path, "chat_template", value))
            if _holds_template(value):
                break
    return tuple(sources)


# -- shards --------------------------------------------------------------------------------------


def _shard_files(
    folder: str, files: Mapping[str, Entry | FileAccessError], limits: Limits, warnings: list[ModelScanError]
) -> tuple[list[Entry], Mapping[str, str] | FlatStringMap | None, Mapping[str, object] | None, str | None]:
    """The weight files of the model: ``(shards sorted by name, weight_map, index metadata, index path)``.

    With ``model.safetensors.index.json`` the shards are its ``weight_map`` values: each must be a
    file name inside this folder (InvalidField ``bad_shard_name``) that exists (IncompleteModel
    ``missing_shard``); other ``*.safetensors`` files are warnings (``unlisted_shard``). Without an
    index every ``*.safetensors`` file in the folder is a shard.
    """
    on_disk = sorted(n for n in files if n.lower().endswith(".safetensors"))
    index_file = _usable(files, INDEX)
    if index_file is None:
        if not on_disk:
            raise IncompleteModel(folder, "no .safetensors weights in the folder", format="fs", code="missing_weights")
        return [_shard(files, n) for n in on_disk], None, None, None
    index = _read_index(index_file, limits)
    index_path = index_file.path
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, (dict, FlatStringMap)) or not weight_map:
        raise InvalidField(
            index_path,
            f"expected a non-empty object, got {type_name(weight_map)}",
            field="weight_map",
            format="json",
            code="wrong_type",
        )

    def bad_shard(shard: object, tensor: str) -> InvalidField:
        what = repr(shard) if type(shard) is str and len(shard) <= 60 else type_name(shard)
        return InvalidField(
            index_path,
            f"shard {what} is not a .safetensors file name in this folder",
            field=f"weight_map.{short_key(tensor)}",
            format="json",
            code="bad_shard_name",
        )

    if isinstance(weight_map, FlatStringMap):  # every value a string, already proved
        first_use = weight_map.first_use
    else:
        first_use = {}  # each distinct shard name, and the first tensor naming it
        for tensor, shard in weight_map.items():
            if type(shard) is not str:
                raise bad_shard(shard, tensor)
            if shard not in first_use:
                first_use[shard] = tensor
    for shard, tensor in first_use.items():
        if _rules.bad_shard_name(shard):
            raise bad_shard(shard, tensor)
    listed = set(first_use)
    missing = sorted(listed - set(on_disk))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise IncompleteModel(
            index_path,
            f"{len(missing)} of {len(listed)} shard(s) missing: {shown}",
            field="weight_map",
            format="json",
            code="missing_shard",
        )
    for name in on_disk:
        if name not in listed:
            warnings.append(
                InvalidField(
                    os.path.join(folder, name),
                    f"not listed in {INDEX}; not part of the model",
                    field="weight_map",
                    format="json",
                    code="unlisted_shard",
                )
            )
    metadata = index.get("metadata")
    if metadata is not None and type(metadata) is not dict:
        warnings.append(
            InvalidField(
                index_path,
                f"expected object, got {type_name(metadata)}",
                field="metadata",
                format="json",
                code="wrong_type",
            )
        )
        metadata = None
    return [_shard(files, n) for n in sorted(listed)], weight_map, metadata, index_path


def _shard(files: Mapping[str, Entry | FileAccessError], name: str) -> Entry:
    found = _usable(files, name)
    assert found is not None  # a name of the folder's listing
    return found
