"""The JSON shapes modelscan emits, as ``TypedDict`` types (no behaviour here).

``ModelsResponse`` is LM Studio's ``GET /api/v1/models`` body (list-models-endpoint.md): an
embedding model's entry has no ``architecture``, ``capabilities`` or ``description``, and an
embedding instance's config only ``context_length``. ``FactsResponse`` is the extended facts
record of ``modelscan --facts``; ``MemoryEstimate`` what ``modelscan estimate`` prints. The
other shapes are the views of VIEWS.md: LM Studio's legacy ``/api/v0/models`` (``V0Response``,
``V0Model``), the OpenAI-compatible ``/v1/models`` (``OpenAIResponse``), ``lms ls --json``
(``LmsModel``), Ollama's ``/api/tags`` and ``/api/show`` (``OllamaTags``, ``OllamaShow``). The
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
    "LmsModel",
    "LmsQuantization",
    "LoadedInstance",
    "MemoryEstimate",
    "ModelEntry",
    "ModelsResponse",
    "OllamaDetails",
    "OllamaModel",
    "OllamaShow",
    "OllamaTags",
    "OpenAIModel",
    "OpenAIResponse",
    "Quantization",
    "TensorTypeRecord",
    "V0Model",
    "V0Response",
]


class Quantization(TypedDict):
    name: str
    bits_per_weight: int | None


class Capabilities(TypedDict):
    vision: bool
    trained_for_tool_use: bool


class InstanceConfig(TypedDict, total=False):
    """An LLM instance has all five (six with ``parallel``, when asked); an embedding instance
    ``context_length`` only."""

    context_length: int
    eval_batch_size: int
    parallel: int
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
    """One entry; the optional keys are absent for embedding models. ``variants`` and
    ``selected_variant`` (last) only when asked for, on an entry that groups a folder's quants."""

    architecture: str | None
    capabilities: Capabilities
    description: None
    variants: list[str]
    selected_variant: str


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


# --- LM Studio's legacy REST API: GET /api/v0/models (VIEWS.md section 2) ---------------------


class _V0ModelRequired(TypedDict):
    id: str
    object: Literal["model"]
    type: Literal["llm", "vlm", "embeddings"]
    publisher: str
    arch: str | None
    compatibility_type: Literal["gguf", "mlx"]
    quantization: str | None
    state: Literal["loaded", "not-loaded"]
    max_context_length: int | None


class V0Model(_V0ModelRequired, total=False):
    """``loaded_context_length`` only when loaded; ``capabilities`` only for tool use."""

    loaded_context_length: int
    capabilities: list[Literal["tool_use"]]


class V0Response(TypedDict):
    object: Literal["list"]
    data: list[V0Model]


# --- OpenAI-compatible GET /v1/models (VIEWS.md section 3) -------------------------------------


class _OpenAIModelRequired(TypedDict):
    id: str
    object: Literal["model"]
    owned_by: str


class OpenAIModel(_OpenAIModelRequired, total=False):
    """LM Studio's item has no ``created``; the strict body's has it (between object and owned_by)."""

    created: int


class OpenAIResponse(TypedDict):
    data: list[OpenAIModel]
    object: Literal["list"]


# --- lms ls --json (VIEWS.md section 4) --------------------------------------------------------


class LmsQuantization(TypedDict):
    name: str
    bits: int | None


class _LmsModelRequired(TypedDict):
    type: Literal["llm", "embedding"]
    modelKey: str
    format: Literal["gguf", "safetensors"]
    displayName: str
    publisher: str
    path: str
    sizeBytes: int
    indexedModelIdentifier: str
    deviceIdentifier: None
    maxContextLength: int | None


class LmsModel(_LmsModelRequired, total=False):
    """Optional keys are left out, never null; ``vision`` and ``trainedForToolUse`` for LLMs only."""

    paramsString: str
    architecture: str
    quantization: LmsQuantization
    variants: list[str]
    selectedVariant: str
    vision: bool
    trainedForToolUse: bool


# --- Ollama: GET /api/tags and POST /api/show (VIEWS.md section 5) ------------------------------


class _OllamaDetailsRequired(TypedDict):
    parent_model: str
    format: Literal["gguf", "safetensors"]
    family: str
    families: list[str] | None
    parameter_size: str
    quantization_level: str


class OllamaDetails(_OllamaDetailsRequired, total=False):
    context_length: int
    embedding_length: int


class OllamaModel(TypedDict):
    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    details: OllamaDetails
    capabilities: list[str]


class OllamaTags(TypedDict):
    models: list[OllamaModel]


class OllamaShow(TypedDict):
    details: OllamaDetails
    model_info: dict[str, object]
    capabilities: list[str]
    modified_at: str
