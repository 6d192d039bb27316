"""Headers in, model facts out (FIELDS.md sections 2-7), with no I/O.

``derive_gguf_facts`` turns the parsed headers of one GGUF model (its shards, and the projector
beside it) into a :class:`ModelFacts`; the MLX reader builds the same object from its folder.
``assign_keys`` then gives every model of a scan its unique key (FIELDS.md section 3), which
needs all of them at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from . import _rules
from ._tables import LLAMA_FILE_TYPE_NAMES, GGMLType
from .errors import InvalidField, ModelScanError
from .gguf import GGUFHeader, GGUFTensorInfo, Undecoded

__all__ = [
    "ModelFacts",
    "TensorTypeStat",
    "assign_keys",
    "derive_gguf_facts",
    "tensor_type_name",
]


@dataclasses.dataclass(frozen=True)
class TensorTypeStat:
    """How many tensors of one type, their elements and bytes."""

    tensors: int
    elements: int
    bytes: int | None


@dataclasses.dataclass
class ModelFacts:
    """Everything modelscan knows of one model: the endpoint's fields and the extended facts."""

    # Where it is.
    format: str  # "gguf" | "mlx"
    path: str  # the GGUF file (first shard) or the MLX folder
    folder: str
    publisher: str
    repo: str
    # The endpoint's fields (key and display_name are filled by assign_keys).
    type: str  # "llm" | "embedding"
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
    tensor_types: dict[str, TensorTypeStat] = dataclasses.field(default_factory=dict)
    header_bytes: int = 0
    files: tuple[str, ...] = ()
    projector: str | None = None
    has_chat_template: bool = False
    warnings: list[ModelScanError] = dataclasses.field(default_factory=list)
    key: str = ""
    display_name: str = ""

    def to_dict(self) -> dict[str, object]:
        """The extended facts as a JSON-ready dict (for ``modelscan --facts`` and servers)."""
        return {
            "key": self.key,
            "format": self.format,
            "path": self.path,
            "files": list(self.files),
            "projector": self.projector,
            "n_params": self.n_params,
            "n_params_active": self.n_params_active,
            "bits_per_weight": self.bits_per_weight,
            "tensor_types": {k: dataclasses.asdict(v) for k, v in self.tensor_types.items()},
            "header_bytes": self.header_bytes,
            "has_chat_template": self.has_chat_template,
            "warnings": [w.to_dict() for w in self.warnings],
        }


_TYPE_NAMES = {t.value: t.name for t in GGMLType}


def tensor_type_name(ggml_type: int) -> str:
    """``GGMLType`` name of a ggml type id, or ``type_<id>`` for an id this table does not know."""
    return _TYPE_NAMES.get(ggml_type) or f"type_{ggml_type}"


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _derive_type(kv: Mapping[str, object], arch: str) -> str:
    """``embedding`` by architecture list, ``{arch}.pooling_type`` in (1, 2, 3) or non-causal attention."""
    if arch in _rules.EMBEDDING_ARCHITECTURES:
        return "embedding"
    if _int(kv.get(f"{arch}.pooling_type")) in (1, 2, 3):
        return "embedding"
    if kv.get(f"{arch}.attention.causal") is False:
        return "embedding"
    return "llm"


def _dominant_type(tensors: Iterable[GGUFTensorInfo]) -> str | None:
    bytes_by_type: dict[int, int] = {}
    for t in tensors:
        if len(t.shape) >= 2 and t.n_bytes is not None:
            bytes_by_type[t.ggml_type] = bytes_by_type.get(t.ggml_type, 0) + t.n_bytes
    if not bytes_by_type:
        return None
    best = max(sorted(bytes_by_type), key=lambda k: bytes_by_type[k])
    return tensor_type_name(best)


def _derive_quant_name(file_name: str, kv: Mapping[str, object], tensors: Sequence[GGUFTensorInfo]) -> str | None:
    """File-name token; else ``general.file_type``'s name; else the dominant 2D+ tensor type."""
    token = _rules.quant_token(file_name)
    if token is not None:
        return token
    file_type = _int(kv.get("general.file_type"))
    if file_type is not None and file_type in LLAMA_FILE_TYPE_NAMES:
        return LLAMA_FILE_TYPE_NAMES[file_type]
    return _dominant_type(tensors)


def _chat_templates(kv: Mapping[str, object]) -> list[object]:
    return [v for k, v in kv.items() if k == "tokenizer.chat_template" or k.startswith("tokenizer.chat_template.")]


def _derive_tool_use(header: GGUFHeader, warnings: list[ModelScanError]) -> bool:
    """``tokenizer.chat_template`` or a named ``tokenizer.chat_template.*`` mentions ``tools``."""
    for key, value in header.kv.items():
        if key not in ("tokenizer.chat_template", "tokenizer.chat_template.tool_use"):
            continue
        if isinstance(value, Undecoded):
            warnings.append(
                InvalidField(
                    header.path,
                    f"chat template of {value.length} bytes is over the limit; tool use not checked",
                    field=f"kv:{key}",
                    format="gguf",
                    code="not_decoded",
                )
            )
        elif isinstance(value, str) and _rules.mentions_tools(value):
            return True
    return False


def _count_params(tensors: Sequence[GGUFTensorInfo], kv: Mapping[str, object], arch: str) -> tuple[int, int | None]:
    """Total parameters, and active ones for MoE (``{arch}.expert_count`` / ``expert_used_count``)."""
    total = sum(t.n_elements for t in tensors)
    n_expert = _int(kv.get(f"{arch}.expert_count"))
    n_used = _int(kv.get(f"{arch}.expert_used_count"))
    if not n_expert or n_used is None or not 0 < n_used <= n_expert:
        return total, None
    # Stacked expert tensors (ffn_*_exps) hold every expert; only n_used of them run per token.
    expert = sum(t.n_elements for t in tensors if "_exps." in t.name or t.name.endswith("_exps"))
    return total, total - expert + expert * n_used // n_expert


def _tensor_histogram(tensors: Iterable[GGUFTensorInfo]) -> dict[str, TensorTypeStat]:
    acc: dict[str, list[int | None]] = {}
    for t in tensors:
        row = acc.setdefault(tensor_type_name(t.ggml_type), [0, 0, 0])
        row[0] = (row[0] or 0) + 1
        row[1] = (row[1] or 0) + t.n_elements
        row[2] = None if row[2] is None or t.n_bytes is None else row[2] + t.n_bytes
    return {name: TensorTypeStat(int(r[0] or 0), int(r[1] or 0), r[2]) for name, r in sorted(acc.items())}


def derive_gguf_facts(
    *,
    headers: Sequence[GGUFHeader],
    file_names: Sequence[str],
    sizes: Sequence[int],
    folder: str,
    publisher: str,
    repo: str,
    projector: tuple[str, int] | None,
) -> ModelFacts:
    """Facts of one GGUF model from the headers of its shards (shard 1 first).

    *projector* is ``(path, size)`` of the projector in the same folder, if any.
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
    tensors = [t for h in headers for t in h.tensors]
    model_type = _derive_type(kv, arch)

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

    quant = _derive_quant_name(file_names[0], kv, tensors)
    vision = projector is not None or any(k.startswith(f"{arch}.vision.") for k in kv)
    size = sum(sizes) + (projector[1] if projector is not None else 0)

    name = _str(kv.get("general.name"))
    key_base = _rules.gguf_key_base(repo)
    n_params, n_active = _count_params(tensors, kv, arch)
    known = [t for t in tensors if t.n_bytes is not None]
    elements = sum(t.n_elements for t in known)
    bpw = round(sum(t.n_bytes or 0 for t in known) * 8 / elements, 4) if elements else None

    return ModelFacts(
        format="gguf",
        path=main.path,
        folder=folder,
        publisher=publisher,
        repo=repo,
        type=model_type,
        architecture=arch,
        name_source=name if name else key_base,
        key_base=key_base,
        quant_name=quant,
        quant_bits=_rules.nominal_bits(quant),
        size_bytes=size,
        params_string=_str(kv.get("general.size_label")),
        max_context_length=context,
        vision=vision,
        trained_for_tool_use=_derive_tool_use(main, warnings),
        n_params=n_params,
        n_params_active=n_active,
        bits_per_weight=bpw,
        tensor_types=_tensor_histogram(tensors),
        header_bytes=sum(h.data_offset for h in headers),
        files=tuple(h.path for h in headers),
        projector=projector[0] if projector is not None else None,
        has_chat_template=bool(_chat_templates(kv)),
        warnings=warnings,
    )


def assign_keys(models: Sequence[ModelFacts]) -> None:
    """Give every model its ``key`` and ``display_name`` (FIELDS.md sections 3 and 4).

    Several models in one folder get ``@<quant name>`` (``@<file name>`` when quant names repeat);
    equal keys from different folders become ``<publisher>/<key>``; anything still equal after
    that (the same publisher under two roots) gets ``#2``, ``#3``... in path order, so every key
    stays unique: keys address loaded instances.
    """
    by_folder: dict[str, list[ModelFacts]] = {}
    for m in models:
        base = m.key_base.lower()
        m.key = "text-embedding-" + base if m.type == "embedding" else base
        m.display_name = _rules.display_name(m.name_source)
        by_folder.setdefault(m.folder, []).append(m)
    for group in by_folder.values():
        if len(group) < 2:
            continue
        suffixes = [(m.quant_name or _file_stem(m.path)).lower() for m in group]
        if len(set(suffixes)) < len(suffixes):
            suffixes = [_file_stem(m.path).lower() for m in group]
        for m, suffix in zip(group, suffixes, strict=True):
            m.key = f"{m.key}@{suffix}"
    by_key: dict[str, list[ModelFacts]] = {}
    for m in models:
        by_key.setdefault(m.key, []).append(m)
    for same in by_key.values():
        if len({m.folder for m in same}) > 1:
            for m in same:
                m.key = f"{m.publisher.lower()}/{m.key}"
    by_key = {}
    for m in sorted(models, key=lambda m: m.path):
        by_key.setdefault(m.key, []).append(m)
    for same in by_key.values():
        for i, m in enumerate(same[1:], start=2):
            m.key = f"{m.key}#{i}"


def _file_stem(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    for ext in (".gguf", ".safetensors"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name
