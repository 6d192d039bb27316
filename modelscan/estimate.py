"""Memory estimates from a facts record (issue 14): will this model fit, and at what context?

:func:`estimate_memory` is pure: it reads one facts record (``modelscan --facts``,
``response.to_facts_record``) and returns a :class:`~modelscan.shapes.MemoryEstimate` with three
terms, named as LM Studio's ``EstimatedModelMemoryUsage`` names them beside modelscan's own:

- **weights** (``modelBytes``): the bytes of the tensor data, plus the vision projector's. That is
  what llama.cpp loads; the header, alignment padding and the tokenizer are left out.
- **KV cache**: per layer, as llama.cpp allocates it (``llama_kv_cache`` constructor,
  ``llama_hparams::n_embd_k_gqa`` / ``n_embd_v_gqa``): ``cells x (key_length x head_count_kv(l)
  + value_length x head_count_kv(l))`` elements of the cache type, where ``cells`` is the context
  padded up to a multiple of 256 with flash attention and 32 without (``get_padding`` in
  ``llama-kv-cache.cpp``; llama.cpp since PR #17046 pads to 256 either way, so without flash
  attention a current build may hold up to 224 more cells). Sliding-window layers hold only
  ``min(cells, pad(window + batch))`` cells (``llama_kv_cache_iswa``); recurrent layers hold
  their state, ``(n_embd_r + n_embd_s)`` F32 values per sequence (``llama_memory_recurrent``,
  ``llama_hparams::n_embd_r`` / ``n_embd_s``), not a KV cache; MLA models (``key_length_mla``
  present) keep only the latent K cache of ``key_length x head_count_kv`` values per cell and no
  V cache (llama.cpp PR #19067, "V-less cache"); layers that share an earlier layer's cache
  (``shared_kv_layers``) hold none; encoders (``causal`` false) keep no cache at all.
- **compute**: a labelled rough term for llama.cpp's compute buffers, Ollama's graph-size formula
  for llama-like models (``fs/ggml/ggml.go`` ``GraphSize``): ``4 x batch x max(1 + 4*n_embd +
  cells*(1 + n_head), n_embd + n_vocab)`` bytes, the larger of the attention scores and the
  output logits of one batch.

``contextBytes`` is KV cache + compute and ``totalBytes`` all three. ``confidence`` is ``"low"``
when a term rests on a guess: an architecture whose cache layout modelscan's table does not
know, a missing number, a tensor of unknown size, or an MLX model (mlx-lm's caches and MLX's
quantization overheads are not llama.cpp's; the same formulas are applied with mlx-lm's 256-cell
steps and its rotating window caches). ``notes`` says which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal, cast, get_args

from ._tables import GGML_BLOCK, GGMLType
from .errors import UsageError

if TYPE_CHECKING:
    from typing import TypeAlias

    from .shapes import ArchRecord, FactsRecord, KVCacheRecord, MemoryEstimate

__all__ = ["DEFAULT_BATCH", "KV_CACHE_TYPES", "KVCacheType", "estimate_memory"]

#: Cache types a caller may ask for (llama.cpp's ``--cache-type-k/-v`` names).
KVCacheType: TypeAlias = Literal["f32", "f16", "q8_0", "q4_0"]
KV_CACHE_TYPES: Final[tuple[str, ...]] = get_args(KVCacheType)
_GGML_TYPE: Final = {"f32": GGMLType.F32, "f16": GGMLType.F16, "q8_0": GGMLType.Q8_0, "q4_0": GGMLType.Q4_0}

#: llama.cpp's ``n_ubatch`` default, and LM Studio's ``eval_batch_size``.
DEFAULT_BATCH = 512
#: ``get_padding``: the cache's cells are a multiple of this (llama-kv-cache.cpp).
_PAD_FLASH_ATTENTION = 256
_PAD_PLAIN = 32
#: mlx-lm grows its KVCache in steps of 256 cells.
_MLX_STEP = 256
#: Recurrent states are F32 whatever the KV cache type (llama.cpp ``create_memory``).
_F32 = 4


def _pad(n: int, to: int) -> int:
    return -(-n // to) * to


def _row_bytes(kind: str, n: int) -> int:
    """``ggml_row_size``: bytes of *n* values of a cache type (whole blocks)."""
    block, size = GGML_BLOCK[_GGML_TYPE[kind]]
    return -(-n // block) * size


def _at(value: int | list[int] | None, il: int) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return value[il] if il < len(value) else None


def _flag(values: list[bool] | None, il: int, default: bool) -> bool:
    if values is None or il >= len(values):
        return default
    return values[il]


def _largest(value: int | list[int] | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return max(value, default=None)


class _Notes:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.low = False

    def add(self, line: str, *, guess: bool = False) -> None:
        if line not in self.lines:
            self.lines.append(line)
        self.low = self.low or guess


def _recurrent_state(a: ArchRecord, notes: _Notes) -> int:
    """Bytes of one recurrent layer's state for one sequence: ``(n_embd_r + n_embd_s) x 4``.

    ``llama_hparams::n_embd_r`` / ``n_embd_s``: RWKV keeps ``token_shift_count x n_embd`` and
    ``n_embd x wkv_head_size``; LFM2's short convolutions ``n_embd x (l_cache - 1)``; Mamba its
    convolution ``(conv_kernel - 1) x (inner + 2 x groups x state)`` and its SSM
    ``state x inner``.
    """
    n_embd = a["embedding_length"] or 0
    if a["wkv_head_size"]:
        r = (a["token_shift_count"] or 2) * n_embd
        s = n_embd * a["wkv_head_size"]
    elif a["shortconv_l_cache"]:
        r = n_embd * (a["shortconv_l_cache"] - 1)
        s = (a["ssm_state_size"] or 0) * (a["ssm_inner_size"] or 0)
    else:
        conv, inner, state = a["ssm_conv_kernel"], a["ssm_inner_size"], a["ssm_state_size"]
        if conv is None or inner is None or state is None:
            notes.add("a recurrent layer's state size is unknown (ssm.* keys missing); counted as 0", guess=True)
            return 0
        r = (conv - 1 if conv > 0 else 0) * (inner + 2 * (a["ssm_group_count"] or 0) * state)
        s = state * inner
    return (r + s) * _F32


def _kv_cache(
    a: ArchRecord, fmt: str, *, context: int, kind: str, flash_attention: bool, batch: int, notes: _Notes
) -> KVCacheRecord:
    padding = _MLX_STEP if fmt == "mlx" else (_PAD_FLASH_ATTENTION if flash_attention else _PAD_PLAIN)
    cells = _pad(context, padding)
    if cells != context:
        notes.add(f"context padded from {context} to {cells} cells, a multiple of {padding}")
    window = a["sliding_window"]
    swa_cells: int | None = None
    if window and a["sliding_window_layers"] is not None:
        swa_cells = min(cells, window) if fmt == "mlx" else min(cells, _pad(window + batch, padding))
    out: KVCacheRecord = {
        "cells": cells,
        "padding": padding,
        "swa_cells": swa_cells,
        "attention_layers": 0,
        "swa_layers": 0,
        "recurrent_layers": 0,
        "k_bytes": 0,
        "v_bytes": 0,
        "recurrent_bytes": 0,
    }
    n_layer = a["block_count"]
    if n_layer is None:
        notes.add("the layer count is unknown: no KV cache counted", guess=True)
        return out
    if a["causal"] is False:
        notes.add("an encoder (non-causal attention) keeps no KV cache")
        return out
    mla = bool(a["key_length_mla"] and a["value_length_mla"])
    if mla:
        notes.add("MLA: only the latent K cache (key_length x head_count_kv per cell), no V cache")
    shared = a["shared_kv_layers"] or 0
    state: int | None = None
    for il in range(n_layer):
        if _flag(a["recurrent_layers"], il, False):
            state = _recurrent_state(a, notes) if state is None else state
            out["recurrent_layers"] += 1
            out["recurrent_bytes"] += state
        if not _flag(a["attention_layers"], il, True):
            continue
        if il >= n_layer - shared:
            continue  # reuses an earlier layer's cache
        heads = _at(a["head_count_kv"], il)
        swa = swa_cells is not None and _flag(a["sliding_window_layers"], il, False)
        k_len = (a["key_length_swa"] if swa else None) or a["key_length"]
        v_len = (a["value_length_swa"] if swa else None) or a["value_length"]
        if heads is None or k_len is None or v_len is None:
            notes.add("head counts or head sizes are unknown: some layers' KV cache not counted", guess=True)
            continue
        layer_cells = swa_cells if swa and swa_cells is not None else cells
        if kind in ("q8_0", "q4_0") and (k_len * heads) % 32:
            notes.add(f"a layer's K row of {k_len * heads} values is not whole {kind} blocks", guess=True)
        out["swa_layers" if swa else "attention_layers"] += 1
        out["k_bytes"] += _row_bytes(kind, k_len * heads) * layer_cells
        if not mla:
            out["v_bytes"] += _row_bytes(kind, v_len * heads) * layer_cells
    return out


def _compute(a: ArchRecord, cells: int, batch: int, encoder: bool, notes: _Notes) -> int:
    """Ollama's rough graph size for llama-like models (see the module docstring)."""
    n_embd = a["embedding_length"]
    if n_embd is None:
        notes.add("embedding length unknown: compute buffers counted as 0", guess=True)
        return 0
    n_head = _largest(a["head_count"]) or 0
    notes.add("compute_bytes is a rough term: the larger of one batch's attention scores and logits")
    attention = 1 + 4 * n_embd + cells * (1 + n_head)
    if encoder:  # the whole input is one batch, and there are no logits over a vocabulary
        return 4 * cells * attention
    n_vocab = a["vocab_size"]
    if n_vocab is None:
        notes.add("vocabulary size unknown: the logits left out of compute_bytes", guess=True)
        n_vocab = 0
    return 4 * min(batch, cells) * max(attention, n_embd + n_vocab)


def estimate_memory(
    record: FactsRecord,
    *,
    context_length: int | None = None,
    kv_cache_type: str = "f16",
    flash_attention: bool = False,
    batch_size: int = DEFAULT_BATCH,
) -> MemoryEstimate:
    """The memory a runtime needs to load the model of *record* with a context of
    *context_length* tokens (default: the model's maximum) and a *kv_cache_type* cache.

    Pure: reads the record only. Raises :class:`~modelscan.errors.UsageError` for an unknown
    cache type, a context or batch that is not a positive integer, and a model whose maximum
    context is unknown when no *context_length* is given. A quantized cache type (``q8_0``,
    ``q4_0``) implies flash attention, which llama.cpp needs for a quantized V cache.
    """
    if kv_cache_type not in KV_CACHE_TYPES:
        raise UsageError(f"unknown KV cache type {kv_cache_type!r}; one of {', '.join(KV_CACHE_TYPES)}")
    a = record["arch"]
    context = a["context_length"] if context_length is None else context_length
    if context is None:
        raise UsageError("the model's maximum context is unknown; give a context length")
    for name, value in (("context length", context), ("batch size", batch_size)):
        if type(value) is not int or value <= 0:
            raise UsageError(f"{name} must be a positive integer, got {value!r}")
    notes = _Notes()
    fmt = record["format"]
    if kv_cache_type in ("q8_0", "q4_0") and not flash_attention and fmt == "gguf":
        flash_attention = True
        notes.add("a quantized KV cache needs flash attention in llama.cpp: padded as with it")
    if fmt == "mlx":
        notes.add("MLX: mlx-lm's caches and MLX's quantization overheads are estimated, not llama.cpp's", guess=True)
    elif not a["kv_layout_known"]:
        notes.add(
            f"architecture {a['architecture']!r} is not in modelscan's cache-layout table: generic rules",
            guess=True,
        )

    sizes = [t["bytes"] for t in record["tensor_types"].values()]
    weights = sum(b for b in sizes if b is not None)
    if any(b is None for b in sizes):
        notes.add("a tensor type of unknown size: its bytes are left out of weights_bytes", guess=True)
    if record["projector"] is not None:
        if record["projector_bytes"] is None:
            notes.add("the vision projector's size is unknown: left out of weights_bytes", guess=True)
        else:
            weights += record["projector_bytes"]
            notes.add("weights_bytes includes the vision projector")

    kv = _kv_cache(
        a, fmt, context=context, kind=kv_cache_type, flash_attention=flash_attention, batch=batch_size, notes=notes
    )
    kv_bytes = kv["k_bytes"] + kv["v_bytes"] + kv["recurrent_bytes"]
    compute = _compute(a, kv["cells"], batch_size, a["causal"] is False, notes)
    return {
        "key": record["key"],
        "context_length": context,
        "kv_cache_type": cast("KVCacheType", kv_cache_type),
        "flash_attention": flash_attention,
        "batch_size": batch_size,
        "weights_bytes": weights,
        "kv_cache_bytes": kv_bytes,
        "compute_bytes": compute,
        "modelBytes": weights,
        "contextBytes": kv_bytes + compute,
        "totalBytes": weights + kv_bytes + compute,
        "confidence": "low" if notes.low else "high",
        "kv_cache": kv,
        "notes": notes.lines,
    }
