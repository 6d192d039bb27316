"""GGUF headers in, model facts out (FIELDS.md sections 2-7, the GGUF column). Pure: no I/O.

:func:`derive_gguf_models` takes what the reader read of one folder's GGUF files
(:class:`~modelscan.read.GGUFRecord`) and decides what each file is: a projector (its header
says ``general.type = "mmproj"`` or ``general.architecture = "clip"``), a LoRA adapter
(``general.type = "adapter"``: a sidecar, never listed) or a model. A file named like a projector
counts as one only when its header was read and says so. :func:`derive_gguf_facts` then builds
each model's :class:`~modelscan.facts.ModelFacts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import _rules
from ._tables import LLAMA_FILE_TYPE_NAMES, GGMLType
from .candidates import Entry, Origin, mtime_ns
from .errors import InvalidField, ModelScanError, NotAModel
from .facts import ModelFacts, ModelType, TensorTypeStat
from .facts_arch import derive_gguf_arch
from .gguf import GGUFArray, GGUFHeader, GGUFTensorStats, Undecoded
from .read import GGUFRecord

__all__ = ["derive_gguf_facts", "derive_gguf_models", "is_projector", "tensor_type_name"]

_TYPE_NAMES = {t.value: t.name for t in GGMLType}


def tensor_type_name(ggml_type: int) -> str:
    """``GGMLType`` name of a ggml type id, or ``type_<id>`` for an id this table does not know."""
    return _TYPE_NAMES.get(ggml_type) or f"type_{ggml_type}"


def is_projector(header: GGUFHeader) -> bool:
    """A multimodal projector (mmproj): ``general.type = "mmproj"`` or ``general.architecture = "clip"``."""
    return header.get("general.type") == "mmproj" or header.get("general.architecture") == "clip"


def derive_gguf_models(record: GGUFRecord) -> tuple[list[ModelFacts], list[ModelScanError]]:
    """The models of one folder's GGUF files, and the problems of the files that are not.

    The projector used for vision is the first by file name among the files whose header says
    they are projectors (FIELDS.md section 2); adapters are sidecars and never listed. The
    candidate's ``quant_source``, when set, stands in for each model's file name as the source
    of its quant token; its template file, when read, decides tool use.
    """
    problems: list[ModelScanError] = []
    projectors: list[tuple[Entry, GGUFHeader]] = []
    for entry, header in record.projectors:
        if isinstance(header, ModelScanError):
            problems.append(header)
        elif is_projector(header):
            projectors.append((entry, header))
        else:
            problems.append(
                NotAModel(
                    entry.path,
                    "named like a projector (mmproj), but its header is not a projector's; ignored",
                    format="gguf",
                    code="not_a_projector",
                )
            )
    models: list[tuple[tuple[Entry, ...], tuple[GGUFHeader, ...]]] = []
    for files, headers in record.models:
        if isinstance(headers, ModelScanError):
            problems.append(headers)
        elif is_projector(headers[0]):
            projectors.append((files[0], headers[0]))
        elif headers[0].get("general.type") != "adapter":
            models.append((files, headers))
    projectors.sort(key=lambda p: p[0].name)
    projector = projectors[0][1] if projectors else None
    projector_mtime = mtime_ns(projectors[0][0]) if projectors else 0
    template: str | None = None
    if isinstance(record.template, ModelScanError):
        problems.append(record.template)  # tool use then follows the GGUF's own template
    else:
        template = record.template
    quant_source = record.candidate.quant_source
    facts: list[ModelFacts] = []
    for files, group in models:
        names = [f.name for f in files] if quant_source is None else [quant_source]
        newest = max(projector_mtime, *(mtime_ns(f) for f in files))
        try:
            facts.append(
                derive_gguf_facts(
                    group,
                    names,
                    record.candidate.origin,
                    projector,
                    template,
                    mtime_ns=newest,
                    digest=record.candidate.digest,
                )
            )
        except ModelScanError as err:
            problems.append(err)
    return facts, problems


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _derive_type(kv: Mapping[str, object], arch: str) -> ModelType:
    """``embedding`` by architecture list, ``{arch}.pooling_type`` in (1, 2, 3) or non-causal attention."""
    if arch in _rules.EMBEDDING_ARCHITECTURES:
        return "embedding"
    if _int(kv.get(f"{arch}.pooling_type")) in (1, 2, 3):
        return "embedding"
    if kv.get(f"{arch}.attention.causal") is False:
        return "embedding"
    return "llm"


def _derive_quant_name(file_name: str, kv: Mapping[str, object], stats: GGUFTensorStats) -> str | None:
    """File-name token; else ``general.file_type``'s name; else the dominant 2D+ tensor type."""
    token = _rules.quant_token(file_name)
    if token is not None:
        return token
    file_type = _int(kv.get("general.file_type"))
    if file_type is not None and file_type in LLAMA_FILE_TYPE_NAMES:
        return LLAMA_FILE_TYPE_NAMES[file_type]
    best = stats.dominant_matrix_type()
    return tensor_type_name(best) if best is not None else None


def _metadata(kv: Mapping[str, object]) -> dict[str, object]:
    """The header's key/values as plain JSON values (arrays not decoded become ``[]``)."""
    out: dict[str, object] = {}
    for key, value in kv.items():
        if isinstance(value, GGUFArray):
            out[key] = list(value.values) if value.values is not None else []
        elif not isinstance(value, Undecoded):
            out[key] = value
    return out


def _has_chat_template(kv: Mapping[str, object]) -> bool:
    return any(k == "tokenizer.chat_template" or k.startswith("tokenizer.chat_template.") for k in kv)


def _derive_tool_use(header: GGUFHeader, warnings: list[ModelScanError]) -> bool:
    """``tokenizer.chat_template`` or a named ``tokenizer.chat_template.tool_use`` mentions ``tools``."""
    for key, value in header.kv.items():
        if key not in ("tokenizer.chat_template", "tokenizer.chat_template.tool_use"):
            continue
        if isinstance(value, Undecoded):
            warnings.append(
                InvalidField(
                    header.path,
                    f"chat template of {value.length} bytes was not decoded (over a limit); tool use not checked",
                    field=f"kv:{key}",
                    format="gguf",
                    code="not_decoded",
                )
            )
        elif isinstance(value, str) and _rules.mentions_tools(value):
            return True
    return False


def _count_params(stats: GGUFTensorStats, kv: Mapping[str, object], arch: str) -> tuple[int, int | None]:
    """Total parameters, and active ones for MoE (``{arch}.expert_count`` / ``expert_used_count``)."""
    total = stats.elements
    n_expert = _int(kv.get(f"{arch}.expert_count"))
    n_used = _int(kv.get(f"{arch}.expert_used_count"))
    if not n_expert or n_used is None or not 0 < n_used <= n_expert:
        return total, None
    # Stacked expert tensors (ffn_*_exps) hold every expert; only n_used of them run per token.
    expert = stats.expert_elements
    return total, total - expert + expert * n_used // n_expert


def _tensor_histogram(stats: GGUFTensorStats) -> dict[str, TensorTypeStat]:
    rows = {tensor_type_name(t): TensorTypeStat(n, e, b) for t, (n, e, b) in stats.by_type.items()}
    return dict(sorted(rows.items()))


def derive_gguf_facts(
    headers: Sequence[GGUFHeader],
    file_names: Sequence[str],
    origin: Origin,
    projector: GGUFHeader | None = None,
    template: str | None = None,
    *,
    mtime_ns: int = 0,
    digest: str | None = None,
) -> ModelFacts:
    """Facts of one GGUF model from the headers of its shards (shard 1 first).

    *projector* is the header of the projector used for vision, if any. *template* is the text
    of a Go template that comes with the model (Ollama's template layer): when given, tool use
    is whether it uses ``.Tools``, not what the GGUF's own chat template says. Sizes are the files'
    sizes when their headers were read; *mtime_ns* is the newest modification time of those
    files, as the walk saw them; *digest* the source's own digest of the model, if it has one.
    Reads ``general.architecture``, ``general.name``,
    ``general.size_label``, ``general.file_type``, ``{arch}.context_length``,
    ``{arch}.pooling_type``, ``{arch}.attention.causal``, ``{arch}.vision.*``,
    ``{arch}.expert_count``, ``{arch}.expert_used_count`` and the chat templates; the
    architecture numbers are ``facts_arch.derive_gguf_arch``'s.

    Raises :class:`InvalidField` when ``general.architecture`` is missing or not a string:
    without it no key of the model can be read.
    """
    main = headers[0]
    kv = main.kv
    warnings: list[ModelScanError] = [w for h in headers for w in h.warnings]
    arch = _str(kv.get("general.architecture"))
    if arch is None:
        raise InvalidField(
            main.path, "missing or not a string", field="kv:general.architecture", format="gguf", code="missing_field"
        )
    if not arch.replace("-", "").replace("_", "").isalnum():
        warnings.append(
            InvalidField(
                main.path,
                "architecture is not [a-z0-9] as the spec wants",
                field="kv:general.architecture",
                format="gguf",
            )
        )
    stats = GGUFTensorStats.combine(h.tensor_stats for h in headers)
    context = _int(kv.get(f"{arch}.context_length"))
    if context is None or context < 0:
        warnings.append(
            InvalidField(
                main.path,
                "missing or not an integer",
                field=f"kv:{arch}.context_length",
                format="gguf",
                code="missing_field",
            )
        )
        context = None

    quant = _derive_quant_name(file_names[0], kv, stats)
    vision = projector is not None or any(k.startswith(f"{arch}.vision.") for k in kv)
    size = sum(h.file_size for h in headers) + (projector.file_size if projector is not None else 0)
    name = _str(kv.get("general.name"))
    key_base = _rules.gguf_key_base(origin.repo)
    n_params, n_active = _count_params(stats, kv, arch)
    known = [(e, b) for _, e, b in stats.by_type.values() if b is not None]  # types of known size
    elements = sum(e for e, _ in known)
    bpw = round(sum(b for _, b in known) * 8 / elements, 4) if elements else None
    name_source = name if name else key_base
    tool_use = _rules.go_template_uses_tools(template) if template is not None else _derive_tool_use(main, warnings)
    arch_numbers = derive_gguf_arch(kv, source=main.path, warnings=warnings)._replace(context_length=context)
    projector_bytes = None
    if projector is not None:
        sizes = [b for _, _, b in projector.tensor_stats.by_type.values()]
        if None not in sizes:  # every tensor of a known type
            projector_bytes = sum(b for b in sizes if b is not None)
    return ModelFacts(
        format="gguf",
        path=main.path,
        folder=origin.folder,
        publisher=origin.publisher,
        repo=origin.repo,
        type=_derive_type(kv, arch),
        architecture=arch,
        name_source=name_source,
        key_base=key_base,
        quant_name=quant,
        quant_bits=_rules.nominal_bits(quant),
        size_bytes=size,
        params_string=_str(kv.get("general.size_label")),
        max_context_length=context,
        vision=vision,
        trained_for_tool_use=tool_use,
        n_params=n_params,
        n_params_active=n_active,
        bits_per_weight=bpw,
        tensor_types=_tensor_histogram(stats),
        header_bytes=sum(h.data_offset for h in headers),
        files=tuple(h.path for h in headers),
        projector=projector.path if projector is not None else None,
        has_chat_template=_has_chat_template(kv),
        warnings=tuple(warnings),
        metadata=_metadata(kv),
        source=origin.source,
        source_name=origin.name,
        display_name=_rules.display_name(name_source),
        projector_bytes=projector_bytes,
        arch=arch_numbers,
        mtime_ns=mtime_ns,
        digest=digest,
    )
