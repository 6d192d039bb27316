"""config.json of an MLX model, read as FIELDS.md's MLX column wants it. Pure: no I/O.

:class:`Config` gives typed access to the values derivation uses, looking in nested configs of
multimodal models (``text_config``, ``llm_config``, ``language_config``) only when they are
objects (C-10); a value of the wrong type is a warning and counts as absent (C-07).
:func:`derive_quant` validates the ``quantization`` object (C-08) and :func:`derive_context`
follows the context-length fallbacks, YaRN and the Gemma 3 default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from ._json import short_key, type_name
from .errors import ErrorCode, InvalidField, ModelScanError

__all__ = ["Config", "Quant", "derive_context", "derive_quant", "first_count"]

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
MAX_COUNT = (1 << 63) - 1


# -- config values ---------------------------------------------------------------------------------


class Config:
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
                    self.warn(key, f"expected object, got {type_name(value)}", "wrong_type")

    def warn(self, field: str, detail: str, code: ErrorCode) -> None:
        self.warnings.append(InvalidField(self.path, detail, field=field, format="json", code=code))

    def levels(self) -> list[tuple[str, dict[str, object]]]:
        """The top level (prefix ``""``), then each nested config (prefix ``"text_config."``)."""
        return [("", self.data)] + [(f"{key}.", value) for key, value in self.nested]

    def string(self, obj: Mapping[str, object], key: str, prefix: str = "") -> str | None:
        value = obj.get(key)
        if value is None or type(value) is str:
            return value
        self.warn(prefix + key, f"expected str, got {type_name(value)}", "wrong_type")
        return None

    def count(self, obj: Mapping[str, object], key: str, prefix: str = "") -> int | None:
        """A positive int; ``null`` counts as absent, anything else is a warning."""
        value = obj.get(key)
        if value is None:
            return None
        if type(value) is not int:
            self.warn(prefix + key, f"expected int, got {type_name(value)}", "wrong_type")
            return None
        if not 0 < value <= MAX_COUNT:
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


class Quant(NamedTuple):
    """A valid ``quantization`` object of config.json."""

    name: str  # "4bit", "MXFP4", ...
    bits: int
    group_size: int | None
    mode: str
    #: Per-module bits by module path; ``None`` for a module left unquantized (``false``).
    overrides: dict[str, int | None]


_Warn = Callable[[str, str], None]  # (detail, where below the field)


def _parse_quant(value: object, field: str, cfg: Config) -> Quant | None:
    """Validate one quantization object (C-08); ``None`` (with a warning) when it is unusable."""

    def bad(detail: str, where: str) -> None:
        cfg.warn(field + where, detail, "bad_quantization")

    if type(value) is not dict:
        bad(f"expected object, got {type_name(value)}", "")
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
    return Quant(name, bits, group_size, mode, overrides)


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
    return type_name(value)


def derive_quant(cfg: Config) -> tuple[Quant | None, bool]:
    """``quantization``, else ``quantization_config`` (mlx-lm writes both, equal).

    Returns the quantization in force and whether config.json asked for one at all. A
    ``quantization_config`` with a ``quant_method`` is a Hugging Face quantizer's (GPTQ, AWQ,
    FP8...), not MLX's, and is not read.
    """
    data = cfg.data
    candidates: list[tuple[str, Quant | None]] = []
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


# -- context length ------------------------------------------------------------------------------


def derive_context(cfg: Config, model_types: Iterable[str | None]) -> int | None:
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


def _yarn_context(cfg: Config) -> int | None:
    for prefix, obj in cfg.levels():
        for key in ("rope_scaling", "rope_parameters"):  # transformers 5 renamed rope_scaling
            rope = obj.get(key)
            if rope is None:
                continue
            field = prefix + key
            if type(rope) is not dict:
                cfg.warn(field, f"expected object, got {type_name(rope)}", "wrong_type")
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
            if value > MAX_COUNT:
                cfg.warn(
                    field + ".factor", "factor x original_max_position_embeddings exceeds 2**63", "bad_rope_scaling"
                )
                continue
            return value
    return None


def first_count(cfg: Config, keys: Iterable[str]) -> tuple[str, int | None] | None:
    """The first of *keys* present (top level, then nested configs), and its checked value."""
    for prefix, obj in cfg.levels():
        for key in keys:
            if obj.get(key) is not None:
                return prefix + key, cfg.count(obj, key, prefix)
    return None
