"""Model facts -> the endpoint's objects (list-models-endpoint.md), in the spec's key order.

Pure: no I/O. ``to_response`` orders entries as FIELDS.md section 2 says (LLMs, then embedding
models; each by publisher, then key, case-insensitively) and shapes each one; embedding entries
omit ``architecture``, ``capabilities`` and ``description``. ``loaded`` instances (FIELDS.md
section 8) are validated here, because only here is the set of keys known. ``to_facts`` shapes
the extended facts record (FIELDS.md section 7) beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

from .errors import ModelScanError, UsageError
from .facts import ArchNumbers, ModelFacts

if TYPE_CHECKING:
    from .shapes import ArchRecord, FactsRecord, FactsResponse, LoadedInstance, ModelEntry, ModelsResponse, Quantization

__all__ = [
    "LLM_INSTANCE_DEFAULTS",
    "PARALLEL_DEFAULT",
    "check_loaded",
    "sort_models",
    "to_arch_record",
    "to_entry",
    "to_facts",
    "to_facts_record",
    "to_response",
]

#: Config of a loaded LLM instance when the caller leaves a field out (LM Studio's defaults).
LLM_INSTANCE_DEFAULTS: Mapping[str, object] = {
    "context_length": 4096,
    "eval_batch_size": 512,
    "flash_attention": False,
    "num_experts": 0,
    "offload_kv_cache_to_gpu": True,
}
_EMBEDDING_INSTANCE_DEFAULTS: Mapping[str, object] = {"context_length": 2048}
#: ``config.parallel`` of a loaded LLM instance when the caller leaves it out (LM Studio's "Max
#: Concurrent Predictions" default). Shown only when asked for (VIEWS.md section 1).
PARALLEL_DEFAULT = 4


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


def _with_parallel(defaults: Mapping[str, object]) -> dict[str, object]:
    """LLM defaults with ``parallel`` between ``eval_batch_size`` and ``flash_attention``."""
    out: dict[str, object] = {}
    for field, value in defaults.items():
        out[field] = value
        if field == "eval_batch_size":
            out["parallel"] = PARALLEL_DEFAULT
    return out


def _instances(model: ModelFacts, given: object, parallel: bool = False) -> list[LoadedInstance]:
    key = model.key
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise UsageError(f"loaded[{key!r}] must be a list of instances, got {type(given).__name__}")
    embedding = model.type == "embedding"
    defaults = _EMBEDDING_INSTANCE_DEFAULTS if embedding else _with_parallel(LLM_INSTANCE_DEFAULTS)
    out: list[LoadedInstance] = []
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
        shaped = {
            f: _check_value(key, f, config.get(f, d), d) for f, d in defaults.items() if parallel or f != "parallel"
        }
        out.append(cast("LoadedInstance", {"id": inst_id, "config": shaped}))
    if len({i["id"] for i in out}) < len(out):
        raise UsageError(f"loaded[{key!r}]: instance ids repeat")
    return out


def to_entry(model: ModelFacts, loaded: object = (), *, parallel: bool = False) -> ModelEntry:
    """One model entry, keys in the order of list-models-endpoint.md.

    *loaded* is the model's loaded instances, as ``to_response`` takes them; with *parallel*, an
    LLM instance's config also shows ``parallel`` (VIEWS.md section 1).
    """
    quantization: Quantization | None = (
        None if model.quant_name is None else {"name": model.quant_name, "bits_per_weight": model.quant_bits}
    )
    instances = _instances(model, loaded, parallel)
    if model.type == "embedding":  # no architecture, capabilities or description
        return {
            "type": model.type,
            "publisher": model.publisher,
            "key": model.key,
            "display_name": model.display_name,
            "quantization": quantization,
            "size_bytes": model.size_bytes,
            "params_string": model.params_string,
            "loaded_instances": instances,
            "max_context_length": model.max_context_length,
            "format": model.format,
        }
    return {
        "type": model.type,
        "publisher": model.publisher,
        "key": model.key,
        "display_name": model.display_name,
        "architecture": model.architecture,
        "quantization": quantization,
        "size_bytes": model.size_bytes,
        "params_string": model.params_string,
        "loaded_instances": instances,
        "max_context_length": model.max_context_length,
        "format": model.format,
        "capabilities": {"vision": model.vision, "trained_for_tool_use": model.trained_for_tool_use},
        "description": None,
    }


def check_loaded(
    models: Sequence[ModelFacts], loaded: Mapping[str, object] | None, *, parallel: bool = False
) -> dict[str, list[LoadedInstance]]:
    """*loaded* checked against *models* and shaped: each key's instances, defaults filled in.

    Raises :class:`UsageError` when *loaded* is not a mapping, names a key that no model has, or
    an instance is malformed.
    """
    loaded = {} if loaded is None else loaded
    if not isinstance(loaded, Mapping):
        raise UsageError(f"loaded must be a mapping of model key to instances, got {type(loaded).__name__}")
    by_key = {m.key: m for m in models}
    unknown = sorted(str(k) for k in loaded if k not in by_key)
    if unknown:
        raise UsageError(f"loaded names unknown model key(s): {', '.join(map(repr, unknown))}")
    return {key: _instances(by_key[key], given, parallel) for key, given in loaded.items()}


def to_response(
    models: Sequence[ModelFacts], loaded: Mapping[str, object] | None = None, *, parallel: bool = False
) -> ModelsResponse:
    """``{"models": [...]}`` for *models* (keys already assigned).

    With *parallel*, loaded LLM instances also show ``config.parallel`` (a later LM Studio
    field, VIEWS.md section 1; default :data:`PARALLEL_DEFAULT`). Raises :class:`UsageError`
    when *loaded* names a key that no model has, or an instance is malformed.
    """
    instances = check_loaded(models, loaded, parallel=parallel)
    return {"models": [_shaped_entry(m, instances.get(m.key, [])) for m in sort_models(models)]}


def _shaped_entry(model: ModelFacts, instances: list[LoadedInstance]) -> ModelEntry:
    """``to_entry`` for instances already checked and shaped."""
    entry = to_entry(model)
    entry["loaded_instances"] = instances
    return entry


def to_arch_record(numbers: ArchNumbers) -> ArchRecord:
    """Architecture numbers as JSON, in field order; per-layer tuples become lists."""
    record = {name: list(value) if isinstance(value, tuple) else value for name, value in numbers._asdict().items()}
    return cast("ArchRecord", record)


def to_facts_record(model: ModelFacts) -> FactsRecord:
    """The extended facts of one model (FIELDS.md section 7), as ``modelscan --facts`` prints them."""
    return {
        "key": model.key,
        "source": model.source,
        "format": model.format,
        "path": model.path,
        "files": list(model.files),
        "projector": model.projector,
        "projector_bytes": model.projector_bytes,
        "n_params": model.n_params,
        "n_params_active": model.n_params_active,
        "bits_per_weight": model.bits_per_weight,
        "tensor_types": {
            k: {"tensors": v.tensors, "elements": v.elements, "bytes": v.bytes} for k, v in model.tensor_types.items()
        },
        "header_bytes": model.header_bytes,
        "has_chat_template": model.has_chat_template,
        "arch": to_arch_record(model.arch),
        "warnings": [w.to_dict() for w in model.warnings],
    }


def to_facts(models: Sequence[ModelFacts], problems: Sequence[ModelScanError]) -> FactsResponse:
    """``{"models": [facts records], "problems": [error records]}``, models in listing order."""
    return {"models": [to_facts_record(m) for m in models], "problems": [p.to_dict() for p in problems]}
