"""An MLX folder record in, model facts out (FIELDS.md sections 2-7, the MLX column). Pure: no I/O.

:func:`derive_mlx_facts` reads what ``modelscan.mlx`` read of one folder:

- ``config.json``: type (``model_type`` an encoder type), architecture (``model_type``, else
  ``text_config.model_type``), quantization (``quantization``, else ``quantization_config``),
  context length (``max_position_embeddings`` and its fallbacks, YaRN, the Gemma 3 default),
  vision (``vision_config``) and MoE expert counts;
- the shard headers: the true parameter count of packed weights (section 7), the tensor-type
  histogram and, for unquantized models, the dominant dtype;
- the shard index, checked against the headers (C-14);
- the chat template sources, searched as text for ``tools`` and never rendered (R10);
- which sentence-transformers files exist.

Every value taken from a JSON file is type-checked before use (``type(x) is int`` keeps ``True``
out, C-07); a value of the wrong type becomes a warning and counts as absent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from . import _rules
from ._json import FlatStringMap, short_key, type_name
from ._mlx_config import Config, Quant, derive_context, derive_quant, first_count
from .errors import ErrorCode, InvalidField, ModelScanError
from .facts import ModelFacts, TensorTypeStat
from .facts_arch import derive_mlx_arch
from .limits import Limits
from .mlx import MLXFolder
from .safetensors import DTYPE_BITS, SafetensorsHeader, SafetensorsTensor

__all__ = ["derive_mlx_facts"]

#: MoE config keys across model families: experts per layer, and experts used per token.
_EXPERT_COUNT_KEYS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
_EXPERTS_USED_KEYS = ("num_experts_per_tok", "num_experts_per_token", "moe_topk", "top_k_experts")
#: An unstacked expert (``...experts.7.w1.weight``), as Hugging Face checkpoints store them.
_UNSTACKED_EXPERT = re.compile(r"(?:^|\.)experts\.\d+\.")


# -- parameters --------------------------------------------------------------------------------


class _Counts(NamedTuple):
    n_params: int | None
    n_active: int | None
    packed: bool  # some weight is MLX-packed (U32 with .scales beside it)


def _module_of(name: str, suffix: str) -> str | None:
    return name[: -len(suffix)] if name.endswith(suffix) else None


def _count_params(tensors: Sequence[SafetensorsTensor], quant: Quant | None, cfg: Config) -> _Counts:
    """Parameters from the headers (FIELDS.md section 7).

    A U32 ``X.weight`` with an ``X.scales`` beside it holds ``32 / bits`` values per element, bits
    from the per-module override in ``quantization`` (``false``: not quantized), else the default;
    ``X.scales`` and ``X.biases`` of such a weight are not parameters. Everything else, ``X.bias``
    included, counts its elements. Without valid bits a packed weight cannot be counted: ``None``.
    """
    names = {t.name for t in tensors}
    overrides = quant.overrides if quant is not None else {}
    packed: dict[str, int | None] = {}  # module -> bits (None: unknown)
    for t in tensors:
        module = _module_of(t.name, ".weight")
        if module is None or t.dtype != "U32" or module + ".scales" not in names:
            continue
        if module in overrides:
            if overrides[module] is None:
                continue  # config says this module is not quantized
            packed[module] = overrides[module]
        else:
            packed[module] = quant.bits if quant is not None else None

    per_tensor: list[int] = []
    unknown = False
    for t in tensors:
        module = _module_of(t.name, ".weight")
        if module is not None and module in packed:
            bits = packed[module]
            if bits is None:
                unknown = True
                per_tensor.append(0)
                continue
            *outer, last = t.shape or (1,)
            per_tensor.append(math.prod(outer) * last * 32 // bits)
            continue
        side = _module_of(t.name, ".scales") or _module_of(t.name, ".biases")
        per_tensor.append(0 if side is not None and side in packed else t.n_elements)
    if unknown:
        return _Counts(None, None, True)
    total = sum(per_tensor)
    return _Counts(total, _active_params(tensors, per_tensor, total, cfg), bool(packed))


def _active_params(
    tensors: Sequence[SafetensorsTensor], per_tensor: Sequence[int], total: int, cfg: Config
) -> int | None:
    """Parameters used per token of a mixture of experts, else ``None``.

    Stacked expert tensors (``switch_mlp`` in MLX, ``experts`` in Hugging Face names) carry a
    leading dimension of ``num_experts``; of those, ``experts_per_token / num_experts`` run per
    token. Shared experts always run.
    """
    found = first_count(cfg, _EXPERT_COUNT_KEYS)
    if found is None or found[1] is None or found[1] < 2:
        return None
    n_experts = found[1]
    used = first_count(cfg, _EXPERTS_USED_KEYS)
    if used is None or used[1] is None:
        return None
    if used[1] > n_experts:
        cfg.warn(used[0], f"{used[1]} experts per token, but only {n_experts} experts", "bad_value")
        return None
    expert = 0
    for t, params in zip(tensors, per_tensor, strict=True):
        lower = t.name.lower()
        if "shared_expert" in lower or not ("switch_mlp" in lower or "experts" in lower):
            continue
        if (t.shape and t.shape[0] == n_experts) or _UNSTACKED_EXPERT.search(lower):
            expert += params
    if not expert:
        return None
    return total - expert + expert * used[1] // n_experts


# -- chat template -----------------------------------------------------------------------------


def _template_tools(text: str, source: str, field: str, limits: Limits, warnings: list[ModelScanError]) -> bool:
    """Whether a template uses ``tools``; a template over the cap is not searched (C-11)."""
    if len(text) > limits.gguf_chat_template_bytes:
        warnings.append(
            InvalidField(
                source,
                f"chat template of {len(text)} characters is over the limit of "
                f"{limits.gguf_chat_template_bytes}; tool use not checked",
                field=field,
                format="json",
                limit="gguf_chat_template_bytes",
                code="not_decoded",
            )
        )
        return False
    return _rules.mentions_tools(text)


def _templates_of(
    value: object, source: str, field: str, limits: Limits, warnings: list[ModelScanError]
) -> tuple[bool, bool]:
    """``(has a template, trained for tool use)`` of a ``chat_template`` value.

    A string is one template. A list holds ``{"name", "template"}`` objects: a template named
    ``tool_use`` counts as tool use, as does any template that mentions ``tools``. Anything else
    is a warning (C-11).
    """
    if value is None:
        return False, False
    if type(value) is str:
        return True, _template_tools(value, source, field, limits, warnings)
    if type(value) is list:
        has = tools = False
        bad: list[int] = []
        for i, item in enumerate(value):
            name = item.get("name") if type(item) is dict else None
            template = item.get("template") if type(item) is dict else None
            if type(name) is not str or type(template) is not str:
                bad.append(i)
                continue
            has = True
            if name == "tool_use" or (
                not tools and _template_tools(template, source, f"{field}[{i}]", limits, warnings)
            ):
                tools = True
        if bad:  # one warning for the list, however long it is
            warnings.append(
                InvalidField(
                    source,
                    f'{len(bad)} item(s) not {{"name": str, "template": str}}, ignored',
                    field=f"{field}[{bad[0]}]",
                    format="json",
                    code="bad_chat_template",
                )
            )
        return has, tools
    warnings.append(
        InvalidField(
            source,
            f"expected str or list, got {type_name(value)}",
            field=field,
            format="json",
            code="bad_chat_template",
        )
    )
    return False, False


def _check_index(
    tensors: Sequence[tuple[SafetensorsTensor, str]],
    *,
    metadata: Mapping[str, object] | None,
    weight_map: Mapping[str, str] | FlatStringMap,
    index_path: str,
    n_params: int | None,
    warnings: list[ModelScanError],
) -> None:
    """C-14: the index must agree with the headers: where each tensor is, total_size, total_parameters."""

    def warn(field: str, detail: str, code: ErrorCode) -> None:
        warnings.append(InvalidField(index_path, detail, field=field, format="json", code=code))

    actual = {t.name: shard for t, shard in tensors}
    # One walk of the map, a part at a time (a FlatStringMap decodes itself again on each walk),
    # with set operations in C: the map may hold a million tensors. Its keys are unique.
    absent: list[str] = []  # the first one, and how many
    elsewhere: list[str] = []
    n_absent = n_elsewhere = 0
    listed: set[str] = set()  # the tensors of the headers the map names
    parts = weight_map.chunks() if isinstance(weight_map, FlatStringMap) else (weight_map,)
    for part in parts:
        common = part.keys() & actual.keys()
        listed |= common
        if len(common) != len(part):
            n_absent += len(part) - len(common)
            if not absent:
                absent.append(next(n for n in part if n not in common))
        moved = {n for n in common if actual[n] != part[n]}
        if moved:
            n_elsewhere += len(moved)
            if not elsewhere:
                elsewhere.append(next(n for n in part if n in moved))
    unmapped = [n for n in actual if n not in listed]
    for names, count, what in (
        (absent, n_absent, "listed but in no shard"),
        (elsewhere, n_elsewhere, "in another shard than listed"),
        (unmapped, len(unmapped), "in a shard but not listed"),
    ):
        if names:
            warn("weight_map", f"{count} tensor(s) {what}, first '{names[0][:40]}'", "index_mismatch")
    if metadata is None:
        return
    total_size = metadata.get("total_size")
    data_bytes = sum(t.end - t.begin for t, _ in tensors)
    if total_size is not None:
        if type(total_size) is not int:
            warn("metadata.total_size", f"expected int, got {type_name(total_size)}", "wrong_type")
        elif total_size != data_bytes:
            warn(
                "metadata.total_size", f"{total_size} bytes, but the shards' tensors hold {data_bytes}", "size_mismatch"
            )
    total_params = metadata.get("total_parameters")
    if total_params is not None:
        if type(total_params) is not int:
            warn("metadata.total_parameters", f"expected int, got {type_name(total_params)}", "wrong_type")
        elif n_params is not None and total_params != n_params:
            warn(
                "metadata.total_parameters",
                f"{total_params} parameters, but the headers give {n_params}",
                "param_mismatch",
            )


def _collect_tensors(
    headers: Sequence[tuple[SafetensorsHeader, str]], warnings: list[ModelScanError]
) -> list[tuple[SafetensorsTensor, str]]:
    """All tensors with their shard's file name; a name in two shards counts once (the first)."""
    seen: set[str] = set()
    out: list[tuple[SafetensorsTensor, str]] = []
    for header, shard in headers:
        repeated = [t.name for t in header.tensors if t.name in seen]
        if repeated:
            warnings.append(
                InvalidField(
                    header.path,
                    f"{len(repeated)} tensor(s) also in an earlier shard, ignored here; first '{repeated[0][:40]}'",
                    field=f"tensor[{short_key(repeated[0])}]",
                    format="safetensors",
                    code="duplicate_tensor",
                )
            )
        for t in header.tensors:
            if t.name not in seen:
                seen.add(t.name)
                out.append((t, shard))
    return out


# -- facts ---------------------------------------------------------------------------------------


def _histogram(tensors: Iterable[SafetensorsTensor]) -> dict[str, TensorTypeStat]:
    acc: dict[str, list[int]] = {}
    for t in tensors:
        row = acc.setdefault(t.dtype, [0, 0, 0])
        row[0] += 1
        row[1] += t.n_elements
        row[2] += t.end - t.begin
    return {dtype: TensorTypeStat(r[0], r[1], r[2]) for dtype, r in sorted(acc.items())}


def _dominant_dtype(histogram: Mapping[str, TensorTypeStat]) -> str | None:
    """The dtype holding the most bytes (ties: the first by name)."""
    if not histogram:
        return None
    return max(sorted(histogram), key=lambda d: histogram[d].bytes or 0)


def _derive_chat_template(folder: MLXFolder, warnings: list[ModelScanError]) -> tuple[bool, bool]:
    """``(has a chat template, trained for tool use)`` from the first source that has a template
    (``chat_template.jinja``, then ``tokenizer_config.json``, then ``chat_template.json``)."""
    for source, field, value in folder.templates:
        has, tools = _templates_of(value, source, field, folder.limits, warnings)
        if has:
            return has, tools
    return False, False


def derive_mlx_facts(folder: MLXFolder) -> ModelFacts:
    """Facts of the MLX model that *folder* records (``key`` is left to ``keys.assign_keys``).

    Raises nothing for a bad value: everything found wrong is in ``facts.warnings``.
    """
    origin = folder.origin
    warnings: list[ModelScanError] = list(folder.warnings)
    cfg = Config(folder.config, folder.config_path, warnings)
    pairs = _collect_tensors(folder.shards, warnings)
    tensors = [t for t, _ in pairs]

    top_type, text_type = cfg.model_type()
    architecture = top_type if top_type is not None else text_type
    if architecture is None:
        cfg.warn("model_type", "missing (also in text_config)", "missing_field")
    embedding = any(n in folder.names for n in _rules.SENTENCE_TRANSFORMERS_FILES) or any(
        t in _rules.ENCODER_MODEL_TYPES for t in (top_type, text_type) if t is not None
    )

    quant, asked = derive_quant(cfg)
    counts = _count_params(tensors, quant, cfg)
    histogram = _histogram(tensors)
    if quant is not None:
        quant_name: str | None = quant.name
        quant_bits: int | None = quant.bits
    elif counts.packed:
        # Packed weights but no usable quantization: neither the dtype (U32) nor a guess is true.
        if not asked:
            cfg.warn(
                "quantization", "weights are MLX-quantized but config.json has no quantization", "bad_quantization"
            )
        quant_name = quant_bits = None
    else:
        quant_name = _dominant_dtype(histogram)
        quant_bits = DTYPE_BITS.get(quant_name) if quant_name is not None else None

    if folder.weight_map is not None and folder.index_path is not None:
        _check_index(
            pairs,
            metadata=folder.index_metadata,
            weight_map=folder.weight_map,
            index_path=folder.index_path,
            n_params=counts.n_params,
            warnings=warnings,
        )

    vision_config = folder.config.get("vision_config")
    if vision_config is not None and type(vision_config) is not dict:
        cfg.warn("vision_config", f"expected object, got {type_name(vision_config)}", "wrong_type")
    has_template, tools = _derive_chat_template(folder, warnings)

    n_params = counts.n_params
    data_bytes = sum(t.end - t.begin for t in tensors)
    key_base = _rules.mlx_key_base(origin.repo)
    params_string = _rules.size_token(origin.repo)
    if params_string is None and n_params:
        params_string = _rules.rounded_count(n_params)

    context = derive_context(cfg, (top_type, text_type))
    arch_numbers = derive_mlx_arch(folder.config)._replace(context_length=context)
    return ModelFacts(
        format="mlx",
        path=folder.path,
        folder=origin.folder,
        publisher=origin.publisher,
        repo=origin.repo,
        type="embedding" if embedding else "llm",
        architecture=architecture,
        name_source=key_base,  # MLX has no general.name
        key_base=key_base,
        quant_name=quant_name,
        quant_bits=quant_bits,
        size_bytes=folder.size,
        params_string=params_string,
        max_context_length=context,
        vision=type(vision_config) is dict and bool(vision_config),
        trained_for_tool_use=tools,
        n_params=n_params,
        n_params_active=counts.n_active,
        bits_per_weight=round(data_bytes * 8 / n_params, 4) if n_params else None,
        tensor_types=histogram,
        header_bytes=sum(h.header_bytes for h, _ in folder.shards),
        files=tuple(sorted(h.path for h, _ in folder.shards)),
        projector=None,
        arch=arch_numbers,
        has_chat_template=has_template,
        warnings=tuple(warnings),
        source=origin.source,
        source_name=origin.name,
        display_name=_rules.display_name(key_base),
        mtime_ns=folder.mtime_ns,
    )
