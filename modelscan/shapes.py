"""The JSON shapes modelscan emits, as ``TypedDict`` types (no behaviour here).

``ModelsResponse`` is LM Studio's ``GET /api/v1/models`` body (list-models-endpoint.md): an
embedding model's entry has no ``architecture``, ``capabilities`` or ``description``, and an
embedding instance's config only ``context_length``. ``FactsResponse`` is the extended facts
record of ``modelscan --facts``. The views build plain dicts in the documented key order; these
types let a type checker hold every view to its shape.
"""

from __future__ import annotations

from typing import Literal, TypedDict

__all__ = [
    "Capabilities",
    "ErrorRecord",
    "FactsRecord",
    "FactsResponse",
    "InstanceConfig",
    "LoadedInstance",
    "ModelEntry",
    "ModelsResponse",
    "Quantization",
    "TensorTypeRecord",
]


class Quantization(TypedDict):
    name: str
    bits_per_weight: int | None


class Capabilities(TypedDict):
    vision: bool
    trained_for_tool_use: bool


class InstanceConfig(TypedDict, total=False):
    """An LLM instance has all five; an embedding instance ``context_length`` only."""

    context_length: int
    eval_batch_size: int
    flash_attention: bool
    num_experts: int
    offload_kv_cache_to_gpu: bool


class LoadedInstance(TypedDict):
    id: str
    config: InstanceConfig


class _ModelEntryRequired(TypedDict):
    type: Literal["llm", "embedding"]
    publisher: str
    key: str
    display_name: str
    quantization: Quantization | None
    size_bytes: int
    params_string: str | None
    loaded_instances: list[LoadedInstance]
    max_context_length: int | None
    format: Literal["gguf", "mlx"]


class ModelEntry(_ModelEntryRequired, total=False):
    """One entry; the optional keys are absent for embedding models."""

    architecture: str | None
    capabilities: Capabilities
    description: None


class ModelsResponse(TypedDict):
    models: list[ModelEntry]


class ErrorRecord(TypedDict):
    path: str
    code: str
    format: str | None
    field: str | None
    offset: int | None
    limit: str | None
    detail: str
    retryable: bool


class TensorTypeRecord(TypedDict):
    tensors: int
    elements: int
    bytes: int | None


class FactsRecord(TypedDict):
    key: str
    format: Literal["gguf", "mlx"]
    path: str
    files: list[str]
    projector: str | None
    n_params: int | None
    n_params_active: int | None
    bits_per_weight: float | None
    tensor_types: dict[str, TensorTypeRecord]
    header_bytes: int
    has_chat_template: bool
    warnings: list[ErrorRecord]


class FactsResponse(TypedDict):
    models: list[FactsRecord]
    problems: list[ErrorRecord]
