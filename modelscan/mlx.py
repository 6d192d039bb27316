"""MLX model folders: FIELDS.md section 2 (the MLX column), sections 3, 4, 6 and 7, and the JSON
sidecar catalogue of HOSTILE.md (section 7.3, C-01 to C-14; rules R8, R10, R11).

An MLX model is one folder holding ``config.json`` and safetensors weights, either every
``*.safetensors`` in the folder or the shards that ``model.safetensors.index.json`` names.
:func:`read_mlx_model` reads only small files and headers, each capped by a limit:

- ``config.json`` (``limits.config_json_bytes``): type, architecture, quantization, context
  length, vision, MoE expert counts;
- every shard's safetensors header: the true parameter count, the tensor-type histogram and,
  for unquantized models, the dominant dtype;
- ``model.safetensors.index.json`` (``limits.index_json_bytes``): which shards make the model;
- ``chat_template.jinja``, ``tokenizer_config.json``, ``chat_template.json``
  (``limits.tokenizer_config_bytes``): chat template presence and tool use, searched as text and
  never rendered (R10);
- the sentence-transformers files, for their existence only.

Every value taken from a JSON file is type-checked before use (``type(x) is int`` keeps ``True``
out, C-07); a value of the wrong type becomes a warning and counts as absent. Only a missing or
unreadable ``config.json``, a weights file that cannot be read, or a shard index that is unusable
stops the model: those raise a :class:`~modelscan.errors.ModelScanError`.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from . import _rules
from ._fs import read_small_file
from ._json import FlatStringMap, parse_json, parse_json_flat_member, short_key
from .discover import is_junk_name, partial_download_name
from .errors import FileAccessError, IncompleteModel, InvalidField, LimitExceeded, ModelScanError
from .facts import ModelFacts, TensorTypeStat
from .limits import BATCH_LIMITS, Limits
from .safetensors import DTYPE_BITS, SafetensorsHeader, SafetensorsTensor, read_safetensors_header

__all__ = ["read_mlx_model"]

CONFIG = "config.json"
INDEX = "model.safetensors.index.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
CHAT_TEMPLATE_JINJA = "chat_template.jinja"
CHAT_TEMPLATE_JSON = "chat_template.json"

#: mlx ``quantize`` modes (mlx.core.quantize, mlx 0.29+): the reported name and the fixed bits of
#: each; affine's name comes from its ``bits`` ("4bit").
_MODES: Mapping[str, tuple[str, int] | None] = {
    "affine": None,
    "mxfp4": ("MXFP4", 4),
    "nvfp4": ("NVFP4", 4),
    "mxfp8": ("MXFP8", 8),
}
#: Affine bit widths that mlx-lm writes (``mlx_lm.convert --q-bits``).
_AFFINE_BITS = frozenset({2, 3, 4, 5, 6, 8})
#: Keys of a ``quantization`` object that are settings, not per-module overrides.
_QUANT_SETTINGS = frozenset({"bits", "group_size", "mode", "quant_method"})

#: Sub-configs of multimodal configs that hold the language model's fields (C-10).
_NESTED_CONFIGS = ("text_config", "llm_config", "language_config")
#: Context-length keys, in FIELDS.md's fallback order.
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
#: Gemma 3 leaves ``max_position_embeddings`` to the transformers default, which is this.
_GEMMA3_TYPES = frozenset({"gemma3", "gemma3_text"})
_GEMMA3_CONTEXT = 131_072
#: Counts above this are not believed: no model has 2**63 positions or experts.
_MAX_COUNT = (1 << 63) - 1

#: MoE config keys across model families: experts per layer, and experts used per token.
_EXPERT_COUNT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
_EXPERTS_USED_KEYS = ("num_experts_per_tok", "num_experts_per_token", "moe_topk", "top_k_experts")
#: An unstacked expert (``...experts.7.w1.weight``), as Hugging Face checkpoints store them.
_UNSTACKED_EXPERT = re.compile(r"(?:^|\.)experts\.\d+\.")

_TYPE_NAMES: Mapping[type, str] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    list: "list",
    dict: "object",
    type(None): "null",
}


def _type_name(value: object) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


# -- the folder ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _File:
    path: str
    size: int
    real: str  # the path to open: the link's target for a permitted file symlink
    ident: tuple[int, int]  # (st_dev, st_ino) the walk saw: what is opened must be this file (R7)


@dataclasses.dataclass
class _Folder:
    """What one walk of the model folder found."""

    path: str
    #: Top-level regular files by name (junk, hidden and partial downloads left out); a file
    #: symlink that may not be followed maps to the error that says why.
    top: dict[str, _File | ModelScanError]
    #: Bytes of every regular file in the tree, each counted once.
    size: int


def _hf_blobs(folder: str) -> str | None:
    """The ``blobs`` folder of a Hugging Face cache repo when *folder* is inside a snapshot."""
    parts = os.path.abspath(folder).split(os.sep)
    if "snapshots" not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index("snapshots")
    return os.path.realpath(os.sep.join([*parts[:i], "blobs"]))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk_folder(folder: str, limits: Limits, warnings: list[ModelScanError]) -> _Folder:
    """List the folder tree without following directory symlinks (R11).

    A file symlink counts only when it resolves to a regular file inside the model folder, or in
    the ``blobs/`` of the Hugging Face cache repo it sits in (snapshots link there). Hard links
    and links to one blob are counted once, by ``(st_dev, st_ino)``. GGUF files are left out of
    the size: a folder holding both formats lists them as models of their own, with their sizes.
    """
    real_root = os.path.realpath(folder)
    blobs = _hf_blobs(folder)
    allowed = [real_root] if blobs is None else [real_root, blobs]
    top: dict[str, _File | ModelScanError] = {}
    seen: set[tuple[int, int]] = set()
    total = 0
    entries = 0
    stack: list[tuple[str, int]] = [(folder, 0)]
    while stack:
        directory, depth = stack.pop()
        try:
            it = os.scandir(directory)
        except OSError as exc:
            err = FileAccessError(
                directory,
                f"cannot list: {exc.strerror or exc}",
                format="fs",
                code="permission_denied" if isinstance(exc, PermissionError) else "os_error",
            )
            if depth == 0:
                raise err from exc
            warnings.append(err)
            continue
        with it:
            in_dir = 0
            for entry in _entries(it, directory, warnings):
                in_dir += 1
                entries += depth > 0  # the top level is always listed whole: the model is there
                if in_dir > limits.walk_entries_per_dir or entries > limits.walk_entries_total:
                    limit = "walk_entries_per_dir" if in_dir > limits.walk_entries_per_dir else "walk_entries_total"
                    if depth == 0:  # the model's own folder cannot be listed whole
                        raise LimitExceeded(
                            directory,
                            f"more than {limits.walk_entries_per_dir} entries in the model folder",
                            format="fs",
                            limit=limit,
                        )
                    warnings.append(
                        LimitExceeded(
                            directory,
                            f"more entries than {limit} allows; size_bytes is partial",
                            format="fs",
                            limit=limit,
                            code="scan_truncated",
                        )
                    )
                    return _Folder(folder, top, total)
                name = entry.name
                if name.startswith(".") or is_junk_name(name) or partial_download_name(name):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if depth < limits.walk_depth:
                            stack.append((entry.path, depth + 1))
                        continue
                    found = _regular_file(entry, allowed)
                except OSError as exc:
                    found = FileAccessError(
                        entry.path, f"cannot stat: {exc.strerror or exc}", format="fs", code="os_error"
                    )
                if isinstance(found, ModelScanError):
                    if depth == 0:
                        top[name] = found
                    continue
                if found is None:
                    continue
                st = found
                if depth == 0:
                    real = os.path.realpath(entry.path) if entry.is_symlink() else entry.path
                    top[name] = _File(entry.path, st.st_size, real, (st.st_dev, st.st_ino))
                if (st.st_dev, st.st_ino) in seen or name.lower().endswith(".gguf"):
                    continue
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return _Folder(folder, top, total)


def _entries(
    it: Iterator[os.DirEntry[str]], directory: str, warnings: list[ModelScanError]
) -> Iterator[os.DirEntry[str]]:
    """The entries of a ``scandir``; a listing that fails midway is a warning and ends early."""
    try:
        yield from it
    except OSError as exc:
        warnings.append(
            FileAccessError(directory, f"listing failed: {exc.strerror or exc}", format="fs", code="os_error")
        )


def _regular_file(entry: os.DirEntry[str], allowed: Sequence[str]) -> os.stat_result | ModelScanError | None:
    """The ``stat`` of a regular file (following a permitted file symlink), an error, or ``None``
    for a symlink to a directory (never followed)."""
    if entry.is_symlink():
        real = os.path.realpath(entry.path)
        if not any(_inside(real, root) for root in allowed):
            return FileAccessError(
                entry.path, "symbolic link points outside the model folder", format="fs", code="outside_root"
            )
        try:
            st = os.stat(real)
        except OSError as exc:
            loop = exc.errno == errno.ELOOP
            return FileAccessError(
                entry.path,
                "symbolic link loop" if loop else "symbolic link target is missing",
                format="fs",
                code="symlink_loop" if loop else "broken_symlink",
            )
        if stat.S_ISDIR(st.st_mode):
            return None
    else:
        st = entry.stat(follow_symlinks=False)
    if not stat.S_ISREG(st.st_mode):
        # A FIFO or a device: never opened (a FIFO would block, R7).
        return FileAccessError(entry.path, "not a regular file", format="fs", code="not_regular_file")
    return st


def _read(file: _File, cap: int, limit_name: str, format: str = "json") -> bytes:
    """:func:`read_small_file` of the very file the walk saw, with a failing ``read()`` (EIO) typed too."""
    try:
        return read_small_file(file.real, cap, limit_name, format=format, expect=file.ident)
    except ModelScanError as err:
        err.path = file.path  # named as it was found
        err.args = (str(err),)
        raise
    except OSError as exc:
        raise FileAccessError(file.path, f"cannot read: {exc.strerror or exc}", format="fs", code="os_error") from exc


def _read_json(folder: _Folder, name: str, cap: int, limit_name: str, limits: Limits) -> dict[str, object] | None:
    """A sidecar parsed strictly (R8), ``None`` when absent; raises what reading or parsing raises."""
    found = folder.top.get(name)
    if found is None:
        return None
    if isinstance(found, ModelScanError):
        raise found
    return parse_json(_read(found, cap, limit_name), source=found.path, what=name, limits=limits)


def _read_index(folder: _Folder, limits: Limits) -> dict[str, object] | None:
    """The shard index as :func:`_read_json` reads it, but a big flat ``weight_map`` stays text.

    C-14: a million entries parsed whole take about 310 MB; as a :class:`FlatStringMap` (decoded
    a chunk at a time, keys proved unique by their hashes) they take the file's size and a little.
    Accepts and rejects exactly what :func:`parse_json` does: whatever the lean path cannot prove
    is parsed whole.
    """
    found = folder.top.get(INDEX)
    if found is None:
        return None
    if isinstance(found, ModelScanError):
        raise found
    data = _read(found, limits.index_json_bytes, "index_json_bytes")
    lean = parse_json_flat_member(data, "weight_map", source=found.path, what=INDEX, limits=limits)
    if lean is None:
        return parse_json(data, source=found.path, what=INDEX, limits=limits)
    index, weight_map = lean
    index["weight_map"] = weight_map
    return index


def _read_header(file: _File, limits: Limits) -> SafetensorsHeader:
    try:
        return read_safetensors_header(file.real, limits=limits, expect=file.ident)
    except ModelScanError as err:
        err.path = file.path
        err.args = (str(err),)
        raise
    except OSError as exc:
        raise FileAccessError(file.path, f"cannot read: {exc.strerror or exc}", format="fs", code="os_error") from exc


# -- config values ---------------------------------------------------------------------------------


class _Config:
    """``config.json`` with typed getters; a value of the wrong type is a warning and ``None``."""

    def __init__(self, data: dict[str, object], path: str, warnings: list[ModelScanError]) -> None:
        self.data = data
        self.path = path
        self.warnings = warnings
        # C-10: nested configs are used only when they are objects.
        self.nested: list[tuple[str, dict[str, object]]] = []
        for key in _NESTED_CONFIGS:
            if key in data:
                value = data[key]
                if type(value) is dict:
                    self.nested.append((key, value))
                else:
                    self.warn(key, f"expected object, got {_type_name(value)}", "wrong_type")

    def warn(self, field: str, detail: str, code: str) -> None:
        self.warnings.append(InvalidField(self.path, detail, field=field, format="json", code=code))

    def levels(self) -> list[tuple[str, dict[str, object]]]:
        """The top level (prefix ``""``), then each nested config (prefix ``"text_config."``)."""
        return [("", self.data)] + [(f"{key}.", value) for key, value in self.nested]

    def string(self, obj: Mapping[str, object], key: str, prefix: str = "") -> str | None:
        value = obj.get(key)
        if value is None or type(value) is str:
            return value
        self.warn(prefix + key, f"expected str, got {_type_name(value)}", "wrong_type")
        return None

    def count(self, obj: Mapping[str, object], key: str, prefix: str = "") -> int | None:
        """A positive int; ``null`` counts as absent, anything else is a warning."""
        value = obj.get(key)
        if value is None:
            return None
        if type(value) is not int:
            self.warn(prefix + key, f"expected int, got {_type_name(value)}", "wrong_type")
            return None
        if not 0 < value <= _MAX_COUNT:
            self.warn(
                prefix + key,
                f"expected a positive int, got {value if abs(value) < 10**12 else 'a huge int'}",
                "bad_value",
            )
            return None
        return value

    def model_type(self) -> tuple[str | None, str | None]:
        """``model_type`` at the top level and in ``text_config`` (each ``None`` when unusable)."""
        top = self.string(self.data, "model_type")
        text = dict(self.nested).get("text_config")
        return top, self.string(text, "model_type", "text_config.") if text is not None else None


# -- quantization ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Quant:
    """A valid ``quantization`` object of config.json."""

    name: str  # "4bit", "MXFP4", ...
    bits: int
    group_size: int | None
    mode: str
    #: Per-module bits by module path; ``None`` for a module left unquantized (``false``).
    overrides: dict[str, int | None]


_Warn = Callable[[str, str], None]  # (detail, where below the field)


def _parse_quant(value: object, field: str, cfg: _Config) -> _Quant | None:
    """Validate one quantization object (C-08); ``None`` (with a warning) when it is unusable."""

    def bad(detail: str, where: str) -> None:
        cfg.warn(field + where, detail, "bad_quantization")

    if type(value) is not dict:
        bad(f"expected object, got {_type_name(value)}", "")
        return None
    mode, bits = _mode_and_bits(value, bad, "affine")
    if mode is None or bits is None:
        return None
    group_size = value.get("group_size")
    if group_size is not None and (type(group_size) is not int or group_size <= 0):
        # mlx divides by it; no valid file has it zero or negative.
        bad(f"group_size must be a positive int, got {_shown(group_size)}", ".group_size")
        return None
    overrides: dict[str, int | None] = {}
    for key, item in value.items():
        if key in _QUANT_SETTINGS:
            continue
        if item is False:
            overrides[key] = None
        elif item is True:
            overrides[key] = bits
        elif type(item) is dict:
            # mlx-lm's mixed recipes write {"group_size": g, "bits": b} under a module path, and
            # mlx.nn.quantize passes it to to_quantized(), whose mode defaults to affine.
            def bad_here(detail: str, where: str, key: str = key) -> None:
                bad(detail, f".{short_key(key)}{where}")

            sub_mode, sub_bits = _mode_and_bits(item, bad_here, "affine")
            overrides[key] = sub_bits if sub_mode is not None and sub_bits is not None else bits
        # Other scalars under unknown keys are settings of newer writers: ignored.
    fixed = _MODES[mode]
    name = fixed[0] if fixed is not None else f"{bits}bit"
    return _Quant(name, bits, group_size, mode, overrides)


def _mode_and_bits(obj: Mapping[str, object], bad: _Warn, default_mode: str) -> tuple[str | None, int | None]:
    """``mode`` (default *default_mode*) and its bits, checked; ``(None, None)`` after a warning."""
    mode = obj.get("mode", default_mode)
    if type(mode) is not str or mode not in _MODES:
        bad(f"unknown mode {_shown(mode)}", ".mode")
        return None, None
    bits = obj.get("bits")
    fixed = _MODES[mode]
    if fixed is not None:
        if bits is not None and (type(bits) is not int or bits != fixed[1]):
            bad(f"mode {mode} has {fixed[1]} bits, not {_shown(bits)}", ".bits")
        return mode, fixed[1]
    if type(bits) is not int or bits not in _AFFINE_BITS:
        bad(f"bits must be one of {sorted(_AFFINE_BITS)}, got {_shown(bits)}", ".bits")
        return None, None
    return mode, bits


def _shown(value: object) -> str:
    """A JSON value for a message: short scalars as JSON writes them, anything else by type."""
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in (int, float, str) and len(repr(value)) <= 24:
        return repr(value)
    return _type_name(value)


def _derive_quant(cfg: _Config) -> tuple[_Quant | None, bool]:
    """``quantization``, else ``quantization_config`` (mlx-lm writes both, equal).

    Returns the quantization in force and whether config.json asked for one at all. A
    ``quantization_config`` with a ``quant_method`` is a Hugging Face quantizer's (GPTQ, AWQ,
    FP8...), not MLX's, and is not read.
    """
    data = cfg.data
    candidates: list[tuple[str, _Quant | None]] = []
    if data.get("quantization") is not None:
        candidates.append(("quantization", _parse_quant(data["quantization"], "quantization", cfg)))
    hf = data.get("quantization_config")
    if hf is not None and not (type(hf) is dict and "quant_method" in hf):
        candidates.append(("quantization_config", _parse_quant(hf, "quantization_config", cfg)))
    valid = [(key, q) for key, q in candidates if q is not None]
    if len(valid) == 2:
        (_, a), (_, b) = valid
        if (a.mode, a.bits, a.group_size) != (b.mode, b.bits, b.group_size):
            cfg.warn(
                "quantization_config",
                f"disagrees with quantization ({b.name}, group_size {b.group_size} against {a.name}, "
                f"group_size {a.group_size}); quantization wins",
                "quantization_conflict",
            )
    return (valid[0][1] if valid else None), bool(candidates)


# -- parameters --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Counts:
    n_params: int | None
    n_active: int | None
    packed: bool  # some weight is MLX-packed (U32 with .scales beside it)


def _module_of(name: str, suffix: str) -> str | None:
    return name[: -len(suffix)] if name.endswith(suffix) else None


def _count_params(tensors: Sequence[SafetensorsTensor], quant: _Quant | None, cfg: _Config) -> _Counts:
    """Parameters from the headers (FIELDS.md section 7).

    A U32 ``X.weight`` with an ``X.scales`` beside it holds ``32 / bits`` values per element, bits
    from the per-module override in ``quantization`` (``false``: not quantized), else the default;
    ``X.scales`` and ``X.biases`` of such a weight are not parameters. Everything else, ``X.bias``
    included, counts its elements. Without valid bits a packed weight cannot be counted: ``None``.
    """
    names = {t.name for t in tensors}
    overrides = quant.overrides if quant is not None else {}
    packed: dict[str, int | None] = {}  # module -> bits (None: unknown)
    for t in tensors:
        module = _module_of(t.name, ".weight")
        if module is None or t.dtype != "U32" or module + ".scales" not in names:
            continue
        if module in overrides:
            if overrides[module] is None:
                continue  # config says this module is not quantized
            packed[module] = overrides[module]
        else:
            packed[module] = quant.bits if quant is not None else None

    per_tensor: list[int] = []
    unknown = False
    for t in tensors:
        module = _module_of(t.name, ".weight")
        if module is not None and module in packed:
            bits = packed[module]
            if bits is None:
                unknown = True
                per_tensor.append(0)
                continue
            *outer, last = t.shape or (1,)
            per_tensor.append(math.prod(outer) * last * 32 // bits)
            continue
        side = _module_of(t.name, ".scales") or _module_of(t.name, ".biases")
        per_tensor.append(0 if side is not None and side in packed else t.n_elements)
    if unknown:
        return _Counts(None, None, True)
    total = sum(per_tensor)
    return _Counts(total, _active_params(tensors, per_tensor, total, cfg), bool(packed))


def _first_count(cfg: _Config, keys: Iterable[str]) -> tuple[str, int | None] | None:
    """The first of *keys* present (top level, then nested configs), and its checked value."""
    for prefix, obj in cfg.levels():
        for key in keys:
            if obj.get(key) is not None:
                return prefix + key, cfg.count(obj, key, prefix)
    return None


def _active_params(
    tensors: Sequence[SafetensorsTensor], per_tensor: Sequence[int], total: int, cfg: _Config
) -> int | None:
    """Parameters used per token of a mixture of experts, else ``None``.

    Stacked expert tensors (``switch_mlp`` in MLX, ``experts`` in Hugging Face names) carry a
    leading dimension of ``num_experts``; of those, ``experts_per_token / num_experts`` run per
    token. Shared experts always run.
    """
    found = _first_count(cfg, _EXPERT_COUNT_KEYS)
    if found is None or found[1] is None or found[1] < 2:
        return None
    n_experts = found[1]
    used = _first_count(cfg, _EXPERTS_USED_KEYS)
    if used is None or used[1] is None:
        return None
    if used[1] > n_experts:
        cfg.warn(used[0], f"{used[1]} experts per token, but only {n_experts} experts", "bad_value")
        return None
    expert = 0
    for t, params in zip(tensors, per_tensor, strict=True):
        lower = t.name.lower()
        if "shared_expert" in lower or not ("switch_mlp" in lower or "experts" in lower):
            continue
        if (t.shape and t.shape[0] == n_experts) or _UNSTACKED_EXPERT.search(lower):
            expert += params
    if not expert:
        return None
    return total - expert + expert * used[1] // n_experts


# -- context length ------------------------------------------------------------------------------


def _derive_context(cfg: _Config, model_types: Iterable[str | None]) -> int | None:
    """``max_position_embeddings`` (top level, then ``text_config``, ``llm_config``,
    ``language_config``), then ``n_positions``, ``max_sequence_length``, ``seq_length`` the same
    way; raised by YaRN to ``factor * original_max_position_embeddings``; Gemma 3 defaults to
    131072. ``tokenizer_config.json`` ``model_max_length`` is never used: it is often a sentinel
    of about 1e30 (C-12).
    """
    context: int | None = None
    for key in _CONTEXT_KEYS:
        for prefix, obj in cfg.levels():
            if key in obj:
                context = cfg.count(obj, key, prefix)  # wrong types warn and fall through (C-07)
                if context is not None:
                    break
        if context is not None:
            break
    yarn = _yarn_context(cfg)
    if yarn is not None and (context is None or yarn > context):
        context = yarn
    if context is None and any(t in _GEMMA3_TYPES for t in model_types):
        context = _GEMMA3_CONTEXT
    return context


def _yarn_context(cfg: _Config) -> int | None:
    for prefix, obj in cfg.levels():
        for key in ("rope_scaling", "rope_parameters"):  # transformers 5 renamed rope_scaling
            rope = obj.get(key)
            if rope is None:
                continue
            field = prefix + key
            if type(rope) is not dict:
                cfg.warn(field, f"expected object, got {_type_name(rope)}", "wrong_type")
                continue
            kind = rope.get("rope_type")
            if kind is None:  # older configs say "type"
                kind = rope.get("type")
            if kind != "yarn":
                continue
            factor = rope.get("factor")
            original = cfg.count(rope, "original_max_position_embeddings", field + ".")
            if original is None:
                continue
            if type(factor) is int and factor > 0:
                product: int | float = factor * original
            elif type(factor) is float and math.isfinite(factor) and factor > 0:
                product = factor * original
                if not math.isfinite(product) or not product.is_integer():
                    cfg.warn(
                        field + ".factor",
                        f"factor x original_max_position_embeddings = {product!r} is not a whole number",
                        "bad_rope_scaling",
                    )
                    continue
            else:
                cfg.warn(field + ".factor", f"expected a positive number, got {_shown(factor)}", "bad_rope_scaling")
                continue
            value = int(product)
            if value > _MAX_COUNT:
                cfg.warn(
                    field + ".factor", "factor x original_max_position_embeddings exceeds 2**63", "bad_rope_scaling"
                )
                continue
            return value
    return None


# -- chat template -----------------------------------------------------------------------------


def _template_tools(text: str, source: str, field: str, limits: Limits, warnings: list[ModelScanError]) -> bool:
    """Whether a template uses ``tools``; a template over the cap is not searched (C-11)."""
    if len(text) > limits.gguf_chat_template_bytes:
        warnings.append(
            InvalidField(
                source,
                f"chat template of {len(text)} characters is over the limit of "
                f"{limits.gguf_chat_template_bytes}; tool use not checked",
                field=field,
                format="json",
                limit="gguf_chat_template_bytes",
                code="not_decoded",
            )
        )
        return False
    return _rules.mentions_tools(text)


def _templates_of(
    value: object, source: str, field: str, limits: Limits, warnings: list[ModelScanError]
) -> tuple[bool, bool]:
    """``(has a template, trained for tool use)`` of a ``chat_template`` value.

    A string is one template. A list holds ``{"name", "template"}`` objects: a template named
    ``tool_use`` counts as tool use, as does any template that mentions ``tools``. Anything else
    is a warning (C-11).
    """
    if value is None:
        return False, False
    if type(value) is str:
        return True, _template_tools(value, source, field, limits, warnings)
    if type(value) is list:
        has = tools = False
        bad: list[int] = []
        for i, item in enumerate(value):
            name = item.get("name") if type(item) is dict else None
            template = item.get("template") if type(item) is dict else None
            if type(name) is not str or type(template) is not str:
                bad.append(i)
                continue
            has = True
            if name == "tool_use" or (
                not tools and _template_tools(template, source, f"{field}[{i}]", limits, warnings)
            ):
                tools = True
        if bad:  # one warning for the list, however long it is
            warnings.append(
                InvalidField(
                    source,
                    f'{len(bad)} item(s) not {{"name": str, "template": str}}, ignored',
                    field=f"{field}[{bad[0]}]",
                    format="json",
                    code="bad_chat_template",
                )
            )
        return has, tools
    warnings.append(
        InvalidField(
            source,
            f"expected str or list, got {_type_name(value)}",
            field=field,
            format="json",
            code="bad_chat_template",
        )
    )
    return False, False


def _derive_chat_template(folder: _Folder, limits: Limits, warnings: list[ModelScanError]) -> tuple[bool, bool]:
    """``(has a chat template, trained for tool use)`` from the first source that has a template:
    ``chat_template.jinja``, then ``tokenizer_config.json`` ``chat_template``, then
    ``chat_template.json`` (transformers' own order). Unreadable files are warnings.
    """
    jinja = folder.top.get(CHAT_TEMPLATE_JINJA)
    if isinstance(jinja, ModelScanError):
        warnings.append(jinja)
    elif jinja is not None:
        try:
            data = _read(jinja, limits.tokenizer_config_bytes, "tokenizer_config_bytes", format="fs")
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
            return True, _template_tools(text, jinja.path, CHAT_TEMPLATE_JINJA, limits, warnings)
    for name in (TOKENIZER_CONFIG, CHAT_TEMPLATE_JSON):
        try:
            obj = _read_json(folder, name, limits.tokenizer_config_bytes, "tokenizer_config_bytes", limits)
        except ModelScanError as err:
            warnings.append(err)
            continue
        if obj is None:
            continue
        source = folder.top[name].path
        has, tools = _templates_of(obj.get("chat_template"), source, "chat_template", limits, warnings)
        if has:
            return has, tools
    return False, False


# -- shards --------------------------------------------------------------------------------------


def _bad_shard_name(name: str) -> bool:
    """A ``weight_map`` value that is not a plain file name in this folder (R10)."""
    return (
        not name.lower().endswith(".safetensors")
        or any(c in name for c in "/\\:\0")  # separators, Windows drives, and what os.open refuses
        or name.startswith(".")  # "..", hidden files and AppleDouble sidecars
        or os.path.isabs(name)
    )


def _shard_files(
    folder: _Folder, limits: Limits, warnings: list[ModelScanError]
) -> tuple[list[_File], dict[str, object] | None, Mapping[str, str] | FlatStringMap | None, str | None]:
    """The weight files of the model: ``(shards sorted by name, index metadata, weight_map, index path)``.

    With ``model.safetensors.index.json`` the shards are its ``weight_map`` values: each must be a
    file name inside this folder (InvalidField ``bad_shard_name``) that exists (IncompleteModel
    ``missing_shard``); other ``*.safetensors`` files are warnings (``unlisted_shard``). Without an
    index every ``*.safetensors`` file in the folder is a shard.
    """
    on_disk = sorted(n for n in folder.top if n.lower().endswith(".safetensors"))
    index = _read_index(folder, limits)
    if index is None:
        files = [_usable(folder, n) for n in on_disk]
        if not files:
            raise IncompleteModel(
                folder.path, "no .safetensors weights in the folder", format="fs", code="missing_weights"
            )
        return files, None, None, None
    index_path = folder.top[INDEX].path
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, (dict, FlatStringMap)) or not weight_map:
        raise InvalidField(
            index_path,
            f"expected a non-empty object, got {_type_name(weight_map)}",
            field="weight_map",
            format="json",
            code="wrong_type",
        )

    def bad_shard(shard: object, tensor: str) -> InvalidField:
        what = repr(shard) if type(shard) is str and len(shard) <= 60 else _type_name(shard)
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
        if _bad_shard_name(shard):
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
                    os.path.join(folder.path, name),
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
                f"expected object, got {_type_name(metadata)}",
                field="metadata",
                format="json",
                code="wrong_type",
            )
        )
        metadata = None
    return [_usable(folder, n) for n in sorted(listed)], metadata, weight_map, index_path


def _usable(folder: _Folder, name: str) -> _File:
    found = folder.top[name]
    if isinstance(found, ModelScanError):
        raise found
    return found


def _check_index(
    tensors: Sequence[tuple[SafetensorsTensor, str]],
    *,
    metadata: Mapping[str, object] | None,
    weight_map: Mapping[str, str] | FlatStringMap,
    index_path: str,
    n_params: int | None,
    warnings: list[ModelScanError],
) -> None:
    """C-14: the index must agree with the headers: where each tensor is, total_size, total_parameters."""

    def warn(field: str, detail: str, code: str) -> None:
        warnings.append(InvalidField(index_path, detail, field=field, format="json", code=code))

    actual = {t.name: shard for t, shard in tensors}
    # One walk of the map, a part at a time (a FlatStringMap decodes itself again on each walk),
    # with set operations in C: the map may hold a million tensors. Its keys are unique.
    absent: list[str] = []  # the first one, and how many
    elsewhere: list[str] = []
    n_absent = n_elsewhere = 0
    listed: set[str] = set()  # the tensors of the headers the map names
    parts = weight_map.chunks() if isinstance(weight_map, FlatStringMap) else (weight_map,)
    for part in parts:
        common = part.keys() & actual.keys()
        listed |= common
        if len(common) != len(part):
            n_absent += len(part) - len(common)
            if not absent:
                absent.append(next(n for n in part if n not in common))
        moved = {n for n in common if actual[n] != part[n]}
        if moved:
            n_elsewhere += len(moved)
            if not elsewhere:
                elsewhere.append(next(n for n in part if n in moved))
    unmapped = [n for n in actual if n not in listed]
    for names, count, what in (
        (absent, n_absent, "listed but in no shard"),
        (elsewhere, n_elsewhere, "in another shard than listed"),
        (unmapped, len(unmapped), "in a shard but not listed"),
    ):
        if names:
            warn("weight_map", f"{count} tensor(s) {what}, first '{names[0][:40]}'", "index_mismatch")
    if metadata is None:
        return
    total_size = metadata.get("total_size")
    data_bytes = sum(t.end - t.begin for t, _ in tensors)
    if total_size is not None:
        if type(total_size) is not int:
            warn("metadata.total_size", f"expected int, got {_type_name(total_size)}", "wrong_type")
        elif total_size != data_bytes:
            warn(
                "metadata.total_size", f"{total_size} bytes, but the shards' tensors hold {data_bytes}", "size_mismatch"
            )
    total_params = metadata.get("total_parameters")
    if total_params is not None:
        if type(total_params) is not int:
            warn("metadata.total_parameters", f"expected int, got {_type_name(total_params)}", "wrong_type")
        elif n_params is not None and total_params != n_params:
            warn(
                "metadata.total_parameters",
                f"{total_params} parameters, but the headers give {n_params}",
                "param_mismatch",
            )


def _collect_tensors(
    headers: Sequence[tuple[SafetensorsHeader, str]], warnings: list[ModelScanError]
) -> list[tuple[SafetensorsTensor, str]]:
    """All tensors with their shard's file name; a name in two shards counts once (the first)."""
    seen: set[str] = set()
    out: list[tuple[SafetensorsTensor, str]] = []
    for header, shard in headers:
        repeated = [t.name for t in header.tensors if t.name in seen]
        if repeated:
            warnings.append(
                InvalidField(
                    header.path,
                    f"{len(repeated)} tensor(s) also in an earlier shard, ignored here; first '{repeated[0][:40]}'",
                    field=f"tensor[{short_key(repeated[0])}]",
                    format="safetensors",
                    code="duplicate_tensor",
                )
            )
        for t in header.tensors:
            if t.name not in seen:
                seen.add(t.name)
                out.append((t, shard))
    return out


# -- facts ---------------------------------------------------------------------------------------


def _histogram(tensors: Iterable[SafetensorsTensor]) -> dict[str, TensorTypeStat]:
    acc: dict[str, list[int]] = {}
    for t in tensors:
        row = acc.setdefault(t.dtype, [0, 0, 0])
        row[0] += 1
        row[1] += t.n_elements
        row[2] += t.end - t.begin
    return {dtype: TensorTypeStat(r[0], r[1], r[2]) for dtype, r in sorted(acc.items())}


def _dominant_dtype(histogram: Mapping[str, TensorTypeStat]) -> str | None:
    """The dtype holding the most bytes (ties: the first by name)."""
    if not histogram:
        return None
    return max(sorted(histogram), key=lambda d: histogram[d].bytes or 0)


def read_mlx_model(
    folder: str | os.PathLike[str], *, publisher: str, repo: str, limits: Limits = BATCH_LIMITS
) -> ModelFacts:
    """Facts of the MLX model in *folder* (``key`` and ``display_name`` are left to ``assign_keys``).

    Raises :class:`IncompleteModel` (``missing_config``, ``missing_shard``, ``missing_weights``),
    :class:`InvalidField` (``config.json`` not strict JSON or not an object; a shard index whose
    ``weight_map`` is not an object or names a file outside the folder: ``bad_shard_name``),
    :class:`~modelscan.errors.LimitExceeded` (a file over its size limit) and whatever reading a
    safetensors header raises. Everything else found wrong is in ``facts.warnings``.
    """
    path = os.fspath(folder)
    warnings: list[ModelScanError] = []
    tree = _walk_folder(path, limits, warnings)

    if CONFIG not in tree.top:
        raise IncompleteModel(path, "no config.json: not an MLX model", format="fs", code="missing_config")
    raw_config = _read_json(tree, CONFIG, limits.config_json_bytes, "config_json_bytes", limits)
    assert raw_config is not None
    cfg = _Config(raw_config, os.path.join(path, CONFIG), warnings)

    shards, metadata, weight_map, index_path = _shard_files(tree, limits, warnings)
    headers = [(_read_header(f, limits), os.path.basename(f.path)) for f in shards]
    pairs = _collect_tensors(headers, warnings)
    tensors = [t for t, _ in pairs]

    top_type, text_type = cfg.model_type()
    architecture = top_type if top_type is not None else text_type
    if architecture is None:
        cfg.warn("model_type", "missing (also in text_config)", "missing_field")
    embedding = any(n in tree.top for n in _rules.SENTENCE_TRANSFORMERS_FILES) or any(
        t in _rules.ENCODER_MODEL_TYPES for t in (top_type, text_type) if t is not None
    )

    quant, asked = _derive_quant(cfg)
    counts = _count_params(tensors, quant, cfg)
    histogram = _histogram(tensors)
    if quant is not None:
        quant_name: str | None = quant.name
        quant_bits: int | None = quant.bits
    elif counts.packed:
        # Packed weights but no usable quantization: neither the dtype (U32) nor a guess is true.
        if not asked:
            cfg.warn(
                "quantization", "weights are MLX-quantized but config.json has no quantization", "bad_quantization"
            )
        quant_name = quant_bits = None
    else:
        quant_name = _dominant_dtype(histogram)
        quant_bits = DTYPE_BITS.get(quant_name) if quant_name is not None else None

    if weight_map is not None and index_path is not None:
        _check_index(
            pairs,
            metadata=metadata,
            weight_map=weight_map,
            index_path=index_path,
            n_params=counts.n_params,
            warnings=warnings,
        )

    vision_config = raw_config.get("vision_config")
    if vision_config is not None and type(vision_config) is not dict:
        cfg.warn("vision_config", f"expected object, got {_type_name(vision_config)}", "wrong_type")
    has_template, tools = _derive_chat_template(tree, limits, warnings)

    n_params = counts.n_params
    data_bytes = sum(t.end - t.begin for t in tensors)
    key_base = _rules.mlx_key_base(repo)
    params_string = _rules.size_token(repo)
    if params_string is None and n_params:
        params_string = _rules.rounded_count(n_params)

    return ModelFacts(
        format="mlx",
        path=path,
        folder=path,
        publisher=publisher,
        repo=repo,
        type="embedding" if embedding else "llm",
        architecture=architecture,
        name_source=key_base,  # MLX has no general.name
        key_base=key_base,
        quant_name=quant_name,
        quant_bits=quant_bits,
        size_bytes=tree.size,
        params_string=params_string,
        max_context_length=_derive_context(cfg, (top_type, text_type)),
        vision=type(vision_config) is dict and bool(vision_config),
        trained_for_tool_use=tools,
        n_params=n_params,
        n_params_active=counts.n_active,
        bits_per_weight=round(data_bytes * 8 / n_params, 4) if n_params else None,
        tensor_types=histogram,
        header_bytes=sum(h.header_bytes for h, _ in headers),
        files=tuple(sorted(h.path for h, _ in headers)),
        projector=None,
        has_chat_template=has_template,
        warnings=warnings,
    )
