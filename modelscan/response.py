"""Model facts -> the endpoint's objects (list-models-endpoint.md), in the spec's key order.

Pure: no I/O. ``to_response`` orders entries as FIELDS.md section 2 says (LLMs, then embedding
models; each by publisher, then key, case-insensitively) and shapes each one; embedding entries
omit ``architecture``, ``capabilities`` and ``description``. ``loaded`` instances (FIELDS.md
section 8) are validated here, because only here is the set of keys known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import UsageError
from .facts import ModelFacts

__all__ = ["LLM_INSTANCE_DEFAULTS", "sort_models", "to_entry", "to_response"]

#: Config of a loaded LLM instance when the caller leaves a field out (LM Studio's defaults).
LLM_INSTANCE_DEFAULTS: Mapping[str, object] = {
    "context_length": 4096,
    "eval_batch_size": 512,
    "flash_attention": False,
    "num_experts": 0,
    "offload_kv_cache_to_gpu": True,
}
_EMBEDDING_INSTANCE_DEFAULTS: Mapping[str, object] = {"context_length": 2048}


def sort_models(models: Sequence[ModelFacts]) -> list[ModelFacts]:
    """LLMs first, then embedding models; by publisher, then key, case-insensitively."""
    return sorted(
        models,
        key=lambda m: (m.type == "embedding", m.publisher.lower(), m.key.lower(), m.publisher, m.key, m.path),
    )


def _check_value(key: str, field: str, value: object, default: object) -> object:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UsageError(f"loaded[{key!r}]: config.{field} must be a bool, got {type(value).__name__}")
    elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"loaded[{key!r}]: config.{field} must be a non-negative int, got {value!r}")
    return value


def _instances(model: ModelFacts, given: object) -> list[dict[str, object]]:
    key = model.key
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise UsageError(f"loaded[{key!r}] must be a list of instances, got {type(given).__name__}")
    defaults = _EMBEDDING_INSTANCE_DEFAULTS if model.type == "embedding" else LLM_INSTANCE_DEFAULTS
    out: list[dict[str, object]] = []
    for n, inst in enumerate(given, start=1):
        if not isinstance(inst, Mapping):
            raise UsageError(f"loaded[{key!r}][{n - 1}] must be a mapping with 'id' and 'config'")
        unknown = set(inst) - {"id", "config"}
        if unknown:
            raise UsageError(f"loaded[{key!r}][{n - 1}]: unknown field(s) {sorted(map(str, unknown))}")
        inst_id = inst.get("id", key if n == 1 else f"{key}:{n}")
        if not isinstance(inst_id, str) or not inst_id:
            raise UsageError(f"loaded[{key!r}][{n - 1}]: id must be a non-empty string")
        config = inst.get("config", {})
        if not isinstance(config, Mapping):
            raise UsageError(f"loaded[{key!r}][{n - 1}]: config must be a mapping")
        extra = set(config) - set(defaults)
        kind = "an embedding" if model.type == "embedding" else "an LLM"
        if extra:
            raise UsageError(
                f"loaded[{key!r}][{n - 1}]: config field(s) {sorted(map(str, extra))} not allowed for {kind} model"
            )
        shaped = {f: _check_value(key, f, config.get(f, d), d) for f, d in defaults.items()}
        out.append({"id": inst_id, "config": shaped})
    if len({i["id"] for i in out}) < len(out):
        raise UsageError(f"loaded[{key!r}]: instance ids repeat")
    return out


def to_entry(model: ModelFacts, loaded: Sequence[Mapping[str, object]] = ()) -> dict[str, object]:
    """One model entry, keys in the order of list-models-endpoint.md."""
    entry: dict[str, object] = {
        "type": model.type,
        "publisher": model.publisher,
        "key": model.key,
        "display_name": model.display_name,
    }
    if model.type != "embedding":
        entry["architecture"] = model.architecture
    entry["quantization"] = (
        None if model.quant_name is None else {"name": model.quant_name, "bits_per_weight": model.quant_bits}
    )
    entry["size_bytes"] = model.size_bytes
    entry["params_string"] = model.params_string
    entry["loaded_instances"] = _instances(model, loaded)
    entry["max_context_length"] = model.max_context_length
    entry["format"] = model.format
    if model.type != "embedding":
        entry["capabilities"] = {"vision": model.vision, "trained_for_tool_use": model.trained_for_tool_use}
        entry["description"] = None
    return entry


def to_response(models: Sequence[ModelFacts], loaded: Mapping[str, object] | None = None) -> dict[str, object]:
    """``{"models": [...]}`` for *models* (keys already assigned).

    Raises :class:`UsageError` when *loaded* names a key that no model has, or an instance is
    malformed.
    """
    loaded = {} if loaded is None else loaded
    if not isinstance(loaded, Mapping):
        raise UsageError(f"loaded must be a mapping of model key to instances, got {type(loaded).__name__}")
    keys = {m.key for m in models}
    unknown = sorted(str(k) for k in loaded if k not in keys)
    if unknown:
        raise UsageError(f"loaded names unknown model key(s): {', '.join(map(repr, unknown))}")
    return {"models": [to_entry(m, loaded.get(m.key, ())) for m in sort_models(models)]}  # type: ignore[arg-type]
