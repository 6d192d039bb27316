"""The JSON shapes modelscan emits, as ``TypedDict`` types (no behaviour here).

``ModelsResponse`` is LM Studio's ``GET /api/v1/models`` body (list-models-endpoint.md): an
embedding model's entry has no ``architecture``, ``capabilities`` or ``description``, and an
embedding instance's config only ``context_length``. ``FactsResponse`` is the extended facts
record of ``modelscan --facts``; ``MemoryEstimate`` what ``modelscan estimate`` prints. The
views build plain dicts in the documented key order; these types let a type checker hold every
view to its shape.
"""

from __future__ import annotations

from typing import Literal, TypedDict

__all__ = [
    "ArchRecord",
    "Capabilities",
    "ErrorRecord",
    "FactsRecord",
    "FactsResponse",
    "InstanceConfig",
    "KVCacheRecord",
    "LoadedInstance",
    "MemoryEstimate",
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


class ArchRecord(TypedDict):
    """``facts.ArchNumbers`` as JSON: per-layer values are lists, absent ones ``null``."""

    architecture: str | None
    block_count: int | None
    context_length: int | None
    embedding_length: int | None
    feed_forward_length: int | list[int] | None
    head_count: int | list[int] | None
    head_count_kv: int | list[int] | None
    key_length: int | None
    value_length: int | None
    key_length_mla: int | None
    value_length_mla: int | None
    key_length_swa: int | None
    value_length_swa: int | None
    vocab_size: int | None
    sliding_window: int | None
    sliding_window_layers: list[bool] | None
    shared_kv_layers: int | None
    expert_count: int | None
    expert_used_count: int | None
    rope_freq_base: float | None
    rope_scaling_type: str | None
    rope_scaling_factor: float | None
    rope_original_context_length: int | None
    tokenizer_model: str | None
    causal: bool | None
    ssm_conv_kernel: int | None
    ssm_inner_size: int | None
    ssm_state_size: int | None
    ssm_group_count: int | None
    ssm_time_step_rank: int | None
    wkv_head_size: int | None
    token_shift_count: int | None
    shortconv_l_cache: int | None
    recurrent_layers: list[bool] | None
    attention_layers: list[bool] | None
    kv_layout_known: bool


class FactsRecord(TypedDict):
    key: str
    source: Literal["lmstudio", "hf-cache", "llama.cpp", "ollama", "remote"]
    format: Literal["gguf", "mlx"]
    path: str
    files: list[str]
    projector: str | None
    projector_bytes: int | None
    n_params: int | None
    n_params_active: int | None
    bits_per_weight: float | None
    tensor_types: dict[str, TensorTypeRecord]
    header_bytes: int
    has_chat_template: bool
    arch: ArchRecord
    warnings: list[ErrorRecord]


class FactsResponse(TypedDict):
    models: list[FactsRecord]
    problems: list[ErrorRecord]


class KVCacheRecord(TypedDict):
    """How an estimate's ``kv_cache_bytes`` divide (``estimate.estimate_memory``)."""

    cells: int  # the context as the cache holds it, padded
    padding: int
    swa_cells: int | None
    attention_layers: int  # layers with a full-length cache
    swa_layers: int  # layers holding only the window
    recurrent_layers: int
    k_bytes: int
    v_bytes: int
    recurrent_bytes: int


class MemoryEstimate(TypedDict):
    """A memory estimate with LM Studio's names (``modelBytes`` ...) beside modelscan's."""

    key: str
    context_length: int
    kv_cache_type: Literal["f32", "f16", "q8_0", "q4_0"]
    flash_attention: bool
    batch_size: int
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    modelBytes: int
    contextBytes: int
    totalBytes: int
    confidence: Literal["high", "low"]
    kv_cache: KVCacheRecord
    notes: list[str]
