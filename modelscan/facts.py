r"""What modelscan knows of one model, whatever its format or source (FIELDS.md sections 2-7).

:class:`ModelFacts` is built once by a format's ``derive_*`` function (``facts_gguf``,
``facts_mlx``) from what its reader read, and never changed after: the one fact that needs every
model of a scan at once, the ``key``, is assigned by ``keys.assign_keys`` and set on a copy
(``facts._replace(key=...)``).

The records here are ``NamedTuple``\ s: immutable, compared and hashed at C speed, and cheap to
define (a scan's first call does not pay for generating dataclass methods).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, NamedTuple

from .errors import ModelScanError

if TYPE_CHECKING:
    from typing import TypeAlias

    from .candidates import SourceName

__all__ = ["ArchNumbers", "Format", "ModelFacts", "ModelType", "TensorTypeStat"]

#: The endpoint's ``type``.
ModelType: TypeAlias = Literal["llm", "embedding"]
#: The endpoint's ``format``.
Format: TypeAlias = Literal["gguf", "mlx"]


class TensorTypeStat(NamedTuple):
    """How many tensors of one type, their elements and bytes (``None``: a type of unknown size)."""

    tensors: int
    elements: int
    bytes: int | None


class ArchNumbers(NamedTuple):
    """A model's architecture numbers, as llama.cpp (GGUF) or the config (MLX) gives them.

    Every field is ``None`` when the model does not have it. Per-layer values are a tuple with
    one item per layer when the file gives them per layer, else one number. Built by
    ``facts_arch.derive_gguf_arch`` / ``derive_mlx_arch``, which document every key and formula.
    """

    architecture: str | None = None
    block_count: int | None = None
    context_length: int | None = None
    embedding_length: int | None = None
    feed_forward_length: int | tuple[int, ...] | None = None
    head_count: int | tuple[int, ...] | None = None
    head_count_kv: int | tuple[int, ...] | None = None
    #: Per-head key and value sizes (``n_embd_head_k`` / ``n_embd_head_v``).
    key_length: int | None = None
    value_length: int | None = None
    #: MLA: the decompressed head sizes; the cache itself holds ``key_length`` (latent + rope).
    key_length_mla: int | None = None
    value_length_mla: int | None = None
    #: Head sizes of the sliding-window layers, where they differ (Gemma 4).
    key_length_swa: int | None = None
    value_length_swa: int | None = None
    vocab_size: int | None = None
    sliding_window: int | None = None
    #: Which layers use the sliding window (``True``), one per layer; ``None``: no layer does.
    sliding_window_layers: tuple[bool, ...] | None = None
    #: Trailing layers that reuse an earlier layer's KV cache (Gemma 3n, Gemma 4).
    shared_kv_layers: int | None = None
    expert_count: int | None = None
    expert_used_count: int | None = None
    rope_freq_base: float | None = None
    rope_scaling_type: str | None = None
    rope_scaling_factor: float | None = None
    rope_original_context_length: int | None = None
    tokenizer_model: str | None = None
    #: ``False`` for encoders (bidirectional attention): they keep no KV cache.
    causal: bool | None = None
    ssm_conv_kernel: int | None = None
    ssm_inner_size: int | None = None
    ssm_state_size: int | None = None
    ssm_group_count: int | None = None
    ssm_time_step_rank: int | None = None
    wkv_head_size: int | None = None
    token_shift_count: int | None = None
    shortconv_l_cache: int | None = None
    #: Which layers keep a recurrent state (``True``); ``None``: no layer does.
    recurrent_layers: tuple[bool, ...] | None = None
    #: Which layers have attention, hence a KV cache (``True``); ``None``: every layer.
    attention_layers: tuple[bool, ...] | None = None
    #: Whether modelscan's table knows how this architecture lays out its cache; when not, the
    #: generic rules apply and an estimate says its confidence is low.
    kv_layout_known: bool = False


class _EmptyMapping(dict[str, object]):
    """The default of a mapping field: one empty dict that nothing can change, which pickles
    (a ``MappingProxyType`` does not, and facts cross to worker processes)."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("ModelFacts are immutable")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple[object, ...]:
        return (_EmptyMapping, ())


_EMPTY: Mapping[str, object] = _EmptyMapping()


class ModelFacts(NamedTuple):
    """Everything modelscan knows of one model: the endpoint's fields and the extended facts."""

    # Where it is.
    format: Format
    path: str  # the GGUF file (first shard) or the MLX folder
    folder: str  # the model folder: models of one folder share it
    publisher: str
    repo: str
    # The endpoint's fields.
    type: ModelType
    architecture: str | None
    name_source: str  # general.name, else the folder name with suffixes stripped
    key_base: str  # the folder name with suffixes stripped, case kept
    quant_name: str | None
    quant_bits: int | None
    size_bytes: int
    params_string: str | None
    max_context_length: int | None
    vision: bool
    trained_for_tool_use: bool
    # Extended facts (FIELDS.md section 7).
    n_params: int | None = None
    n_params_active: int | None = None
    bits_per_weight: float | None = None
    tensor_types: Mapping[str, TensorTypeStat] = _EMPTY  # type: ignore[assignment]  # empty: any value type
    header_bytes: int = 0
    files: tuple[str, ...] = ()
    projector: str | None = None
    #: Tensor data bytes of that projector (``None``: no projector, or a tensor of unknown size).
    projector_bytes: int | None = None
    #: Architecture numbers for planners (issue 14): layers, heads, cache layout.
    arch: ArchNumbers = ArchNumbers()
    has_chat_template: bool = False
    warnings: tuple[ModelScanError, ...] = ()
    #: GGUF metadata as shown to clients (Ollama's ``model_info``): every key/value the reader kept,
    #: scalars and decoded strings as they are, arrays as a list when decoded, else as ``[]``
    #: (strings too long to decode are left out). Empty for MLX models.
    metadata: Mapping[str, object] = _EMPTY
    source: SourceName = "lmstudio"
    #: A source's own name for the model, used as its key verbatim (Ollama's ``llama3.2:latest``).
    source_name: str | None = None
    display_name: str = ""
    #: Unique within one scan; assigned by ``keys.assign_keys`` (empty until then).
    key: str = ""
    #: The newest ``st_mtime_ns`` of the files the model's ``size_bytes`` counts (GGUF: its shards
    #: and projector; MLX: the folder's tree), from the walk's one ``stat`` of each; 0 if unknown.
    #: Views show it as a date: OpenAI's ``created``, Ollama's ``modified_at``.
    mtime_ns: int = 0
    #: A source's own digest of the model, 64 hex digits (Ollama: its manifest's sha256), shown
    #: by Ollama's views; ``None`` where the source has none (views then derive a stable one).
    digest: str | None = None
