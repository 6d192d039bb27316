"""The JSON shapes modelscan emits, as ``TypedDict`` types (no behaviour here).

``ModelsResponse`` is LM Studio's ``GET /api/v1/models`` body (list-models-endpoint.md): an
embedding model's entry has no ``architecture``, ``capabilities`` or ``description``, and an
embedding instance's config only ``context_length``. ``FactsResponse`` is the extended facts
record of ``modelscan --facts``. The other shapes are the views of VIEWS.md: LM Studio's legacy
``/api/v0/models`` (``V0Response``, ``V0Model``), the OpenAI-compatible ``/v1/models``
(``OpenAIResponse``), ``lms ls --json`` (``LmsModel``), Ollama's ``/api/tags`` and
``/api/show`` (``OllamaTags``, ``OllamaShow``). The views build plain dicts in the documented
key order; these types let a type checker hold every view to its shape.
"""

from __future__ import annotations

from typing import Literal, TypedDict

__all__ = [
    "Capabilities",
    "ErrorRecord",
    "FactsRecord",
    "FactsResponse",
    "InstanceConfig",
    "LmsModel",
    "LmsQuantization",
    "LoadedInstance",
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
