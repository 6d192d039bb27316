"""Architecture numbers for planners (issue 14): GGUF key/values or an MLX config in, one
:class:`~modelscan.facts.ArchNumbers` out. Pure: no I/O.

The GGUF rules follow llama.cpp's loader, read in ``src/llama-model.cpp`` (``load_hparams``),
``src/llama-hparams.cpp`` and ``src/llama-arch.cpp`` (key names ``LLM_KV_NAMES``), and were
compared with gguf-parser-go (``file_architecture.go``) and Ollama (``fs/ggml/ggml.go``):

- ``{arch}.block_count`` is the layer count; ``{arch}.feed_forward_length``,
  ``{arch}.attention.head_count`` and ``{arch}.attention.head_count_kv`` are one number or one
  per layer (llama.cpp ``get_key_or_arr``: an array must have exactly one item per layer);
  ``head_count_kv`` defaults to ``head_count``.
- Head sizes: ``{arch}.attention.key_length`` / ``value_length``, else
  ``embedding_length // head_count`` of layer 0 (integer division, as llama.cpp), and nothing
  when layer 0 has no heads (recurrent models). MLA models (DeepSeek 2/3, GLM 4.7 Flash) also
  say ``key_length_mla`` / ``value_length_mla``: the decompressed head sizes.
- The vocabulary: ``{arch}.vocab_size``, else the element count of ``tokenizer.ggml.tokens``
  (read without decoding the tokens, HOSTILE.md R5).
- Per-layer arrays are decoded by the reader (``read.PER_LAYER_ARRAYS``); every other array,
  the vocabulary first, stays skipped.
- Sliding windows: the window is ``{arch}.attention.sliding_window``; which layers use it is
  ``{arch}.attention.sliding_window_pattern`` when the file has it as a per-layer array (Gemma 4
  and later), else llama.cpp's fixed pattern for the architecture (:data:`SWA_PATTERNS`):
  ``set_swa_pattern(n)`` makes every layer a sliding one except the last of each group of *n*
  (the first, with ``dense_first``). Architectures absent from the table keep a full cache on
  every layer even when the file names a window (llama.cpp ignores it: Phi-3, Qwen 2).
- Recurrent layers (their state replaces a KV cache): every layer of a recurrent architecture;
  in hybrids, per llama.cpp's ``recurrent_layer_arr``: a layer whose ``head_count_kv`` is 0
  (Jamba, Granite 4 hybrid, LFM2), Falcon-H1's layers are both, Nemotron-H's only when they also
  have no feed-forward part. State sizes come from ``{arch}.ssm.*``, ``{arch}.wkv.head_size``,
  ``{arch}.token_shift_count`` and ``{arch}.shortconv.l_cache``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from . import _rules
from .errors import InvalidField, ModelScanError
from .facts import ArchNumbers
from .gguf import GGUFArray

__all__ = [
    "GGUF_NO_CACHE_ARCHITECTURES",
    "SWA_PATTERNS",
    "derive_gguf_arch",
    "derive_mlx_arch",
    "swa_pattern",
]

#: llama.cpp's fixed sliding-window patterns (``load_hparams``): architecture ->
#: ``(n_pattern, dense_first, window when the file has none, window forced when it has one)``.
SWA_PATTERNS: Mapping[str, tuple[int, bool, int | None, int | None]] = {
    "gemma2": (2, False, 4096, None),
    "gemma3": (6, False, None, None),
    "gemma3n": (5, False, None, None),
    "gemma-embedding": (6, False, None, None),
    "cohere2": (4, False, None, None),
    "gpt-oss": (2, False, None, None),
    "exaone4": (4, False, None, None),
    # Chunked attention over 8192-token chunks: the chunk is held like a window.
    "llama4": (4, False, 8192, 8192),
    "smallthinker": (4, True, None, 4096),
}

#: Encoder-only architectures: llama.cpp creates no KV cache for them (``create_memory``).
GGUF_NO_CACHE_ARCHITECTURES = _rules.EMBEDDING_ARCHITECTURES | {
    "eurobert",
    "wavtokenizer-dec",
    "dream",
    "llada",
    "llada-moe",
}

#: Every layer keeps a recurrent state and none has attention (``llm_arch_is_recurrent``).
_RECURRENT = frozenset({"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})
#: Hybrids whose layer is recurrent exactly when its ``head_count_kv`` is 0.
_HYBRID_BY_KV_HEADS = frozenset({"jamba", "granitehybrid", "lfm2", "lfm2moe"})
#: Hybrids whose layer is recurrent when ``head_count_kv`` and ``feed_forward_length`` are both
#: 0, and has attention when only ``feed_forward_length`` is (the rest are MLP-only layers).
_HYBRID_NEMOTRON = frozenset({"nemotron_h", "nemotron_h_moe"})
#: Hybrids whose every layer has both attention and a recurrent state.
_HYBRID_BOTH = frozenset({"falcon-h1"})

#: Architectures whose cache layout the rules here cover: a standard cache on every layer, or one
#: of the special cases above. Any other architecture gets the same generic rules, but an
#: estimate then says its confidence is low.
_KNOWN_LAYOUT = (
    frozenset(
        {
            "llama",
            "mistral3",
            "qwen2",
            "qwen2moe",
            "qwen2vl",
            "qwen3",
            "qwen3moe",
            "gemma",
            "phi2",
            "phi3",
            "phimoe",
            "starcoder2",
            "command-r",
            "granite",
            "granitemoe",
            "olmo2",
            "olmoe",
            "smollm3",
            "deepseek2",
            "glm4",
            "glm4moe",
            "internlm2",
            "stablelm",
            "falcon",
            "gpt2",
            "bailingmoe",
            "ernie4_5",
            "ernie4_5-moe",
            "hunyuan-moe",
            "exaone",
        }
    )
    | set(SWA_PATTERNS)
    | GGUF_NO_CACHE_ARCHITECTURES
    | _RECURRENT
    | _HYBRID_BY_KV_HEADS
    | _HYBRID_NEMOTRON
    | _HYBRID_BOTH
    | {"gemma4"}
)

PerLayer = int | tuple[int, ...] | None


def swa_pattern(n_layer: int, n_pattern: int, dense_first: bool = False) -> tuple[bool, ...]:
    """llama.cpp's ``llama_hparams::set_swa_pattern``: which layers use the sliding window.

    With ``dense_first`` the first layer of every group of *n_pattern* is a full-attention one,
    else the last; ``n_pattern == 0`` makes every layer a sliding one.
    """
    if n_pattern == 0:
        return (True,) * n_layer
    if dense_first:
        return tuple(il % n_pattern != 0 for il in range(n_layer))
    return tuple(il % n_pattern < n_pattern - 1 for il in range(n_layer))


# -- values -------------------------------------------------------------------------------------


def _uint(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _number(value: object) -> float | None:
    if type(value) in (int, float) and math.isfinite(value):  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]
    return None


def _text(value: object) -> str | None:
    return value if type(value) is str else None


def _at(values: PerLayer, il: int) -> int | None:
    """The value of layer *il* of a per-layer number (a single number holds for every layer)."""
    if values is None or isinstance(values, int):
        return values
    return values[il] if il < len(values) else None


class _GGUF:
    """The key/values of one GGUF header, read the way llama.cpp reads them."""

    def __init__(self, kv: Mapping[str, object], arch: str, source: str, warnings: list[ModelScanError]) -> None:
        self.kv = kv
        self.arch = arch
        self.source = source
        self.warnings = warnings

    def key(self, suffix: str) -> str:
        return f"{self.arch}.{suffix}"

    def uint(self, suffix: str) -> int | None:
        return _uint(self.kv.get(self.key(suffix)))

    def warn(self, suffix: str, detail: str) -> None:
        self.warnings.append(
            InvalidField(self.source, detail, field=f"kv:{self.key(suffix)}", format="gguf", code="bad_value")
        )

    def array(self, suffix: str, n_layer: int | None) -> tuple[object, ...] | None:
        """A per-layer array's items, or ``None`` (with a warning when it is unusable)."""
        value = self.kv.get(self.key(suffix))
        if not isinstance(value, GGUFArray):
            return None
        if value.values is None:
            self.warn(suffix, f"per-layer array of {value.count} items was not decoded")
            return None
        if n_layer is not None and len(value.values) != n_layer:
            # llama.cpp refuses such a file ("key has wrong array length").
            self.warn(suffix, f"{len(value.values)} items, but the model has {n_layer} layers")
            return None
        return value.values

    def per_layer(self, suffix: str, n_layer: int | None) -> PerLayer:
        """One number, or one per layer (``get_key_or_arr``)."""
        single = self.uint(suffix)
        if single is not None:
            return single
        items = self.array(suffix, n_layer)
        if items is None:
            return None
        numbers = [_uint(x) for x in items]
        if any(x is None for x in numbers):
            self.warn(suffix, "per-layer array holds an item that is not a non-negative integer")
            return None
        return tuple(x for x in numbers if x is not None)


def _vocab_size(kv: Mapping[str, object], arch: str) -> int | None:
    """``{arch}.vocab_size``, else the length of ``tokenizer.ggml.tokens`` (never decoded)."""
    size = _uint(kv.get(f"{arch}.vocab_size"))
    if size is not None:
        return size
    tokens = kv.get("tokenizer.ggml.tokens")
    return tokens.count if isinstance(tokens, GGUFArray) else None


def _gguf_swa(g: _GGUF, n_layer: int | None) -> tuple[int | None, tuple[bool, ...] | None]:  # noqa: PLR0911 -- llama.cpp's fallbacks
    """``(window, which layers use it)`` as llama.cpp sets ``n_swa`` and ``swa_layers``."""
    window = g.uint("attention.sliding_window")
    if n_layer is None:
        return window, None
    items = g.array("attention.sliding_window_pattern", n_layer)
    if items is not None:
        if not all(type(x) in (bool, int) for x in items):
            g.warn("attention.sliding_window_pattern", "per-layer array holds an item that is not a bool")
            return window, None
        return window, (tuple(bool(x) for x in items) if window else None)
    flag = g.kv.get(g.key("attention.sliding_window_pattern"))
    if type(flag) is bool:  # a single value stands for every layer (get_key_or_arr)
        return window, ((flag,) * n_layer if window and flag else None)
    rule = SWA_PATTERNS.get(g.arch)
    if rule is None:
        return window, None
    n_pattern, dense_first, default, forced = rule
    if window is None:
        window = default
    elif forced is not None and window > 0:
        window = forced
    if not window:  # a window of 0 turns sliding attention off (llama.cpp: swa_type NONE)
        return window, None
    return window, swa_pattern(n_layer, n_pattern, dense_first)


def _gguf_layers(
    arch: str, n_layer: int | None, head_count_kv: PerLayer, ff: PerLayer
) -> tuple[tuple[bool, ...] | None, tuple[bool, ...] | None]:
    """``(recurrent layers, attention layers)``; ``None`` means none, and every layer."""
    if n_layer is None:
        return None, None
    layers = range(n_layer)
    if arch in _RECURRENT:
        return (True,) * n_layer, (False,) * n_layer
    if arch in _HYBRID_BOTH:
        return (True,) * n_layer, None
    if arch in _HYBRID_NEMOTRON:
        no_ff = [_at(ff, il) == 0 for il in layers]
        kv0 = [_at(head_count_kv, il) == 0 for il in layers]
        return (
            tuple(a and b for a, b in zip(kv0, no_ff, strict=True)),
            tuple(not a and b for a, b in zip(kv0, no_ff, strict=True)),
        )
    if arch in _HYBRID_BY_KV_HEADS or (isinstance(head_count_kv, tuple) and 0 in head_count_kv):
        # Unknown architectures with zero-KV-head layers are read the same way (as Ollama does).
        recurrent = tuple(_at(head_count_kv, il) == 0 for il in layers)
        return recurrent, tuple(not r for r in recurrent)
    return None, None


def derive_gguf_arch(
    kv: Mapping[str, object], *, source: str = "", warnings: list[ModelScanError] | None = None
) -> ArchNumbers:
    """The architecture numbers of a GGUF model from its key/values (see the module docstring).

    A per-layer array that is not decoded, holds something else than numbers, or has not one
    item per layer is left out, with a warning appended to *warnings*.
    """
    arch = _text(kv.get("general.architecture"))
    if arch is None:
        return ArchNumbers(tokenizer_model=_text(kv.get("tokenizer.ggml.model")))
    g = _GGUF(kv, arch, source, warnings if warnings is not None else [])
    n_layer = g.uint("block_count")
    n_embd = g.uint("embedding_length")
    head_count = g.per_layer("attention.head_count", n_layer)
    head_count_kv = g.per_layer("attention.head_count_kv", n_layer)
    if head_count_kv is None:
        head_count_kv = head_count  # llama.cpp: n_head_kv defaults to n_head
    ff = g.per_layer("feed_forward_length", n_layer)
    n_head0 = _at(head_count, 0)
    default_head = n_embd // n_head0 if n_embd is not None and n_head0 else None
    key_length = g.uint("attention.key_length")
    value_length = g.uint("attention.value_length")
    if n_head0:  # llama.cpp leaves head sizes at 0 for models without attention heads
        key_length = default_head if key_length is None else key_length
        value_length = default_head if value_length is None else value_length
    window, swa_layers = _gguf_swa(g, n_layer)
    recurrent, attention = _gguf_layers(arch, n_layer, head_count_kv, ff)
    causal = kv.get(g.key("attention.causal"))
    if type(causal) is not bool:
        causal = False if arch in GGUF_NO_CACHE_ARCHITECTURES else None
    rope_factor = _number(kv.get(g.key("rope.scaling.factor")))
    if rope_factor is None:
        rope_factor = _number(kv.get(g.key("rope.scale_linear")))  # the older key
    token_shift = g.uint("token_shift_count")
    if token_shift is None and g.uint("wkv.head_size"):
        token_shift = 2  # llama.cpp's default for RWKV
    return ArchNumbers(
        architecture=arch,
        block_count=n_layer,
        context_length=g.uint("context_length"),
        embedding_length=n_embd,
        feed_forward_length=ff,
        head_count=head_count,
        head_count_kv=head_count_kv,
        key_length=key_length,
        value_length=value_length,
        key_length_mla=g.uint("attention.key_length_mla"),
        value_length_mla=g.uint("attention.value_length_mla"),
        key_length_swa=g.uint("attention.key_length_swa"),
        value_length_swa=g.uint("attention.value_length_swa"),
        vocab_size=_vocab_size(kv, arch),
        sliding_window=window,
        sliding_window_layers=swa_layers,
        shared_kv_layers=g.uint("attention.shared_kv_layers"),
        expert_count=g.uint("expert_count"),
        expert_used_count=g.uint("expert_used_count"),
        rope_freq_base=_number(kv.get(g.key("rope.freq_base"))),
        rope_scaling_type=_text(kv.get(g.key("rope.scaling.type"))),
        rope_scaling_factor=rope_factor,
        rope_original_context_length=g.uint("rope.scaling.original_context_length"),
        tokenizer_model=_text(kv.get("tokenizer.ggml.model")),
        causal=causal,
        ssm_conv_kernel=g.uint("ssm.conv_kernel"),
        ssm_inner_size=g.uint("ssm.inner_size"),
        ssm_state_size=g.uint("ssm.state_size"),
        ssm_group_count=g.uint("ssm.group_count"),
        ssm_time_step_rank=g.uint("ssm.time_step_rank"),
        wkv_head_size=g.uint("wkv.head_size"),
        token_shift_count=token_shift,
        shortconv_l_cache=g.uint("shortconv.l_cache"),
        recurrent_layers=recurrent,
        attention_layers=attention,
        kv_layout_known=arch in _KNOWN_LAYOUT,
    )


# -- MLX ----------------------------------------------------------------------------------------

#: Nested configs of multimodal models that hold the language model's numbers.
_NESTED = ("text_config", "llm_config", "language_config")
#: Sliding-window patterns of HF configs that give none (transformers' defaults).
_MLX_SWA_PATTERNS: Mapping[str, int] = {"gemma2": 2, "gemma3": 6, "gemma3_text": 6}
#: ``layer_types`` / ``layers_block_type`` entries that mean a recurrent layer.
_RECURRENT_KINDS = frozenset({"mamba", "mamba2", "linear_attention", "conv", "recurrent", "ssm"})
#: ... and those that mean attention (sliding or not).
_ATTENTION_KINDS = frozenset({"attention", "full_attention", "sliding_attention", "chunked_attention", "hybrid"})
_MLX_RECURRENT_TYPES = frozenset({"mamba", "mamba2", "rwkv", "rwkv6", "rwkv7"})


def _first(obj: Mapping[str, object], keys: Iterable[str]) -> object:
    for key in keys:
        if obj.get(key) is not None:
            return obj[key]
    return None


def _positive(value: object) -> int | None:
    return value if type(value) is int and value > 0 else None


def _mlx_level(config: Mapping[str, object]) -> Mapping[str, object]:
    """The config object that holds the language model: the top level, else a nested config."""
    if _first(config, ("num_hidden_layers", "n_layer", "num_layers")) is not None:
        return config
    for key in _NESTED:
        nested = config.get(key)
        if type(nested) is dict:
            return nested
    return config


def _kinds(cfg: Mapping[str, object], n_layer: int | None) -> list[str] | None:
    kinds = _first(cfg, ("layer_types", "layers_block_type"))
    if type(kinds) is not list or n_layer is None or len(kinds) != n_layer:
        return None
    if not all(type(k) is str for k in kinds):
        return None
    return [str(k).lower() for k in kinds]


def derive_mlx_arch(config: Mapping[str, object]) -> ArchNumbers:
    """Architecture numbers of an MLX model from its ``config.json`` (Hugging Face names).

    Reads the top level, else ``text_config`` / ``llm_config`` / ``language_config``:
    ``num_hidden_layers``, ``hidden_size``, ``intermediate_size``, ``num_attention_heads``,
    ``num_key_value_heads`` (default: the heads), ``head_dim`` (default: hidden / heads),
    ``vocab_size``, ``sliding_window`` with ``layer_types`` (``"sliding_attention"``) or
    ``sliding_window_pattern`` (every *n*-th layer full, Gemma 2 and 3 by default), expert
    counts, ``rope_theta`` and ``rope_scaling``, and for state-space models ``state_size``,
    ``conv_kernel``, ``n_groups`` and the inner size (``expand x hidden_size``). Values of the
    wrong type count as absent (``facts_mlx`` already warns about the fields it checks).
    """
    cfg = _mlx_level(config)
    model_type = _text(cfg.get("model_type")) or _text(config.get("model_type"))
    n_layer = _positive(_first(cfg, ("num_hidden_layers", "n_layer", "num_layers")))
    n_embd = _positive(_first(cfg, ("hidden_size", "n_embd", "d_model")))
    heads = _positive(_first(cfg, ("num_attention_heads", "n_head", "num_heads")))
    kv_heads = _positive(cfg.get("num_key_value_heads")) or heads
    head_dim = _positive(cfg.get("head_dim")) or (n_embd // heads if n_embd and heads else None)
    window = _positive(cfg.get("sliding_window"))
    kinds = _kinds(cfg, n_layer)
    swa: tuple[bool, ...] | None = None
    if window and n_layer:
        if kinds is not None:
            swa = tuple(k == "sliding_attention" for k in kinds)
        else:
            pattern = _positive(cfg.get("sliding_window_pattern")) or _MLX_SWA_PATTERNS.get(model_type or "")
            if pattern:  # HF: layer i is a sliding one unless (i + 1) % pattern == 0
                swa = tuple((il + 1) % pattern != 0 for il in range(n_layer))
        if swa is not None and not any(swa):
            swa = None
    recurrent: tuple[bool, ...] | None = None
    attention: tuple[bool, ...] | None = None
    if n_layer and model_type in _MLX_RECURRENT_TYPES:
        recurrent, attention = (True,) * n_layer, (False,) * n_layer
    elif kinds is not None and any(k in _RECURRENT_KINDS for k in kinds):
        recurrent = tuple(k in _RECURRENT_KINDS for k in kinds)
        attention = tuple(k in _ATTENTION_KINDS for k in kinds)
    rope = _first(cfg, ("rope_scaling", "rope_parameters"))
    rope = rope if type(rope) is dict else {}
    expand = _positive(_first(cfg, ("expand", "mamba_expand")))
    inner = _positive(cfg.get("mamba_d_inner")) or (expand * n_embd if expand and n_embd else None)
    if inner is None and model_type == "mamba":
        inner = _positive(cfg.get("intermediate_size"))
    encoder = model_type in _rules.ENCODER_MODEL_TYPES
    return ArchNumbers(
        architecture=model_type,
        block_count=n_layer,
        context_length=_positive(_first(cfg, ("max_position_embeddings", "n_positions", "max_sequence_length"))),
        embedding_length=n_embd,
        feed_forward_length=_positive(_first(cfg, ("intermediate_size", "n_inner", "ffn_dim"))),
        head_count=heads,
        head_count_kv=kv_heads,
        key_length=head_dim,
        value_length=_positive(cfg.get("v_head_dim")) or head_dim,
        vocab_size=_positive(cfg.get("vocab_size")),
        sliding_window=window,
        sliding_window_layers=swa,
        expert_count=_positive(
            _first(cfg, ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"))
        ),
        expert_used_count=_positive(
            _first(cfg, ("num_experts_per_tok", "num_experts_per_token", "moe_topk", "top_k_experts"))
        ),
        rope_freq_base=_number(cfg.get("rope_theta")),
        rope_scaling_type=_text(_first(rope, ("rope_type", "type"))),
        rope_scaling_factor=_number(rope.get("factor")),
        rope_original_context_length=_positive(rope.get("original_max_position_embeddings")),
        causal=False if encoder else (True if model_type else None),
        ssm_conv_kernel=_positive(_first(cfg, ("conv_kernel", "ssm_conv_kernel", "mamba_d_conv", "d_conv"))),
        ssm_inner_size=inner,
        ssm_state_size=_positive(_first(cfg, ("state_size", "ssm_state_size", "mamba_d_state", "d_state"))),
        ssm_group_count=_positive(_first(cfg, ("n_groups", "ssm_n_groups", "mamba_n_groups"))),
        ssm_time_step_rank=_positive(cfg.get("time_step_rank")),
        recurrent_layers=recurrent,
        attention_layers=attention,
        kv_layout_known=False,  # mlx-lm's caches are not llama.cpp's; estimates say so
    )
