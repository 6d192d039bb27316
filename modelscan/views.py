"""The scanned models in the shapes clients already speak (VIEWS.md). Pure: no I/O.

One scan, many shapes. Every function here takes the models of a scan (keys assigned), and where
a shape shows them, the loaded instances a server passes in; each returns plain dicts built in
the shape's key order (clients and golden tests compare bytes), typed by ``modelscan.shapes``.

============== ============================= ===================================================
view           function                      shape
============== ============================= ===================================================
``v1``         :func:`to_v1`                 LM Studio ``GET /api/v1/models`` (the default)
``v0``         :func:`to_v0`, ``to_v0_item`` LM Studio ``GET /api/v0/models[/{id}]``
``openai``     :func:`to_openai`             ``GET /v1/models``: LM Studio's exact body, or a
                                             strict one with ``created``
``lms``        :func:`to_lms`                ``lms ls --json``
``ollama``     :func:`to_ollama_tags`,       Ollama ``GET /api/tags`` and ``POST /api/show``
               :func:`to_ollama_show`
``facts``      :func:`to_facts`              modelscan's extended facts record
============== ============================= ===================================================

:func:`dumps` is the one JSON encoding of every view, on stdout and over HTTP alike.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple, cast

from .errors import ModelScanError, UsageError
from .facts import ModelFacts
from .response import check_loaded, sort_models, to_entry, to_facts, to_response

if TYPE_CHECKING:
    from typing import TypeAlias

    from .shapes import (
        FactsResponse,
        LmsModel,
        LoadedInstance,
        ModelEntry,
        ModelsResponse,
        OllamaDetails,
        OllamaModel,
        OllamaShow,
        OllamaTags,
        OpenAIModel,
        OpenAIResponse,
        V0Model,
        V0Response,
    )

__all__ = [
    "VIEW_NAMES",
    "ViewName",
    "dumps",
    "ollama_digest",
    "ollama_parameter_size",
    "render",
    "to_facts",
    "to_lms",
    "to_ollama_model",
    "to_ollama_show",
    "to_ollama_tags",
    "to_openai",
    "to_v0",
    "to_v0_item",
    "to_v1",
]

#: The views by name, as ``modelscan --view NAME`` takes them.
ViewName: TypeAlias = Literal["v1", "v0", "openai", "openai-strict", "lms", "ollama", "facts"]
VIEW_NAMES: tuple[ViewName, ...] = ("v1", "v0", "openai", "openai-strict", "lms", "ollama", "facts")

#: ``owned_by`` of every model in LM Studio's ``/v1/models`` (as its server sends it).
OPENAI_OWNED_BY = "organization_owner"
#: Ollama's ``/api/show`` shows arrays longer than this as ``[]``.
OLLAMA_ARRAY_SHOWN = 5
#: GGUF keys that Ollama's ``model_info`` leaves out (the name and the template have fields of their own).
_OLLAMA_HIDDEN_KEYS = frozenset({"general.name", "tokenizer.chat_template"})


def dumps(doc: object) -> bytes:
    """*doc* as modelscan writes JSON everywhere: 2-space indent, ASCII only, a final newline.

    Byte for byte what ``json.dumps(doc, indent=2)`` writes (tests/test_views.py holds the two to
    each other), in a third of the time: with an indent, :mod:`json` falls back to its pure-Python
    encoder, a generator per value; here one call per value, strings escaped by the C function.
    """
    out: list[str] = []
    _dump(doc, "\n", out)
    out.append("\n")
    return "".join(out).encode("ascii")


_encode_string: Callable[[str], str] = json.encoder.encode_basestring_ascii  # the C function
_float_repr = float.__repr__


def _dump(value: object, newline: str, out: list[str]) -> None:
    """Append *value* to *out* as ``json.dumps(..., indent=2)`` writes it; *newline* is the line
    break and indent of the line it is on."""
    kind = type(value)
    if kind is str:
        out.append(_encode_string(cast(str, value)))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(cast(int, value)))
    elif kind is float:
        out.append(_float(cast(float, value)))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        sep = "{" + inner
        for key, item in value.items():
            out.append(sep)
            out.append(_encode_string(key if type(key) is str else _key(key)))
            out.append(": ")
            _dump(item, inner, out)
            sep = "," + inner
        out.append(newline + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        sep = "[" + inner
        for item in value:
            out.append(sep)
            _dump(item, inner, out)
            sep = "," + inner
        out.append(newline + "]")
    elif isinstance(value, int):  # an int subclass (an IntEnum): as json writes it
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    else:
        out.append(json.dumps(value))  # raises TypeError as json does


def _float(value: float) -> str:
    if value != value:  # noqa: PLR0124 -- NaN is the one float not equal to itself
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == -float("inf"):
        return "-Infinity"
    return _float_repr(value)


def _key(key: object) -> str:
    """A dict key that is not a string, as json converts it (``1`` -> ``"1"``, ``None`` -> ``"null"``)."""
    converted: dict[str, int] = json.loads(json.dumps({key: 0}))
    return next(iter(converted))


# --- variants: one entry for the several quantizations of one folder (VIEWS.md section 1) ------


class _Entry(NamedTuple):
    """What one entry of a list shows: one model, or a folder's variants under their bare key."""

    key: str
    model: ModelFacts  # the model whose fields the entry shows (the selected variant)
    variants: tuple[ModelFacts, ...] = ()  # in variant order; empty for a single model


def _bare_key(keys: Sequence[str]) -> str:
    """The key that the variants' keys share, up to their ``@``: ``x@q4_k_m``, ``x@q8_0`` -> ``x``."""
    prefix = keys[0]
    for key in keys[1:]:
        n = 0
        while n < min(len(prefix), len(key)) and prefix[n] == key[n]:
            n += 1
        prefix = prefix[:n]
    return prefix[: prefix.rfind("@")] if "@" in prefix else prefix


def _entries(models: Sequence[ModelFacts], variants: bool, selected: Mapping[str, str] | None = None) -> list[_Entry]:
    """The entries of a list, in the endpoint's order; with *variants*, a folder's models are one.

    A folder's models are grouped only when their bare key is no other model's key. *selected*
    maps a bare key to the variant key its entry shows (default: the first by quant name).
    Raises :class:`UsageError` for a *selected* that names no group or no variant of it.
    """
    if not variants:
        if selected:
            raise UsageError("selected variants given, but variants were not asked for")
        return [_Entry(m.key, m) for m in sort_models(models)]
    by_folder: dict[str, list[ModelFacts]] = {}
    for m in models:
        if m.source_name is None:  # a source's own names (Ollama's tags) are never grouped
            by_folder.setdefault(m.folder, []).append(m)
    keys = {m.key for m in models}
    grouped: dict[str, tuple[str, list[ModelFacts]]] = {}  # model key -> (bare key, variants)
    bares: set[str] = set()
    for group in by_folder.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda m: ((m.quant_name or "").lower(), m.quant_name or "", m.key))
        bare = _bare_key([m.key for m in group])
        if not bare or bare in keys or bare in bares:
            continue
        bares.add(bare)
        for m in group:
            grouped[m.key] = (bare, group)
    chosen = dict(selected or {})
    for bare in chosen:
        if bare not in bares:
            raise UsageError(f"selected variant for {bare!r}: no model with variants has that key")
    out: list[_Entry] = []
    done: set[str] = set()
    for m in models:
        if m.key not in grouped:
            out.append(_Entry(m.key, m))
            continue
        bare, group = grouped[m.key]
        if bare in done:
            continue
        done.add(bare)
        pick = chosen.get(bare, group[0].key)
        shown = next((g for g in group if g.key == pick), None)
        if shown is None:
            raise UsageError(f"selected variant for {bare!r}: {pick!r} is not one of {[g.key for g in group]}")
        out.append(_Entry(bare, shown, tuple(group)))
    return _sorted(out)


def _sorted(entries: list[_Entry]) -> list[_Entry]:
    """The endpoint's order (``response.sort_models``), by each entry's own key."""
    return sorted(
        entries,
        key=lambda e: (
            e.model.type == "embedding",
            e.model.publisher.lower(),
            e.key.lower(),
            e.model.publisher,
            e.key,
            e.model.path,
        ),
    )


# --- LM Studio: GET /api/v1/models (VIEWS.md section 1) -----------------------------------------


def to_v1(
    models: Sequence[ModelFacts],
    loaded: Mapping[str, object] | None = None,
    *,
    parallel: bool = False,
    variants: bool = False,
    selected: Mapping[str, str] | None = None,
) -> ModelsResponse:
    """``{"models": [...]}``: LM Studio's ``GET /api/v1/models``, as :func:`response.to_response`.

    The later optional fields come only when asked for: *parallel* adds ``config.parallel`` to
    loaded LLM instances; *variants* lists the several models of one folder as one entry under
    their bare key, with ``variants`` (their keys) and ``selected_variant`` last, its other fields
    those of the selected variant (*selected*: bare key -> variant key; default the first by
    quant name). *loaded* names instances by the scan's keys (a variant's own key); a grouped
    entry lists the instances of all its variants. Raises :class:`UsageError` as ``to_response``
    does, and for a *selected* that names no variant.
    """
    if not variants:
        if selected:
            raise UsageError("selected variants given, but variants were not asked for")
        return to_response(models, loaded, parallel=parallel)
    instances = check_loaded(models, loaded, parallel=parallel)
    out: list[ModelEntry] = []
    for e in _entries(models, variants, selected):
        entry = to_entry(e.model)
        group = e.variants or (e.model,)
        entry["loaded_instances"] = [i for m in group for i in instances.get(m.key, [])]
        if e.variants:
            entry["key"] = e.key
            entry["variants"] = [m.key for m in e.variants]
            entry["selected_variant"] = e.model.key
        out.append(entry)
    return {"models": out}


# --- LM Studio: GET /api/v0/models (VIEWS.md section 2) -----------------------------------------


def to_v0_item(model: ModelFacts, instances: Sequence[LoadedInstance] = ()) -> V0Model:
    """One item of LM Studio's legacy ``/api/v0/models``; *instances* as ``check_loaded`` shapes them."""
    item: V0Model = {
        "id": model.key,
        "object": "model",
        "type": "embeddings" if model.type == "embedding" else "vlm" if model.vision else "llm",
        "publisher": model.publisher,
        "arch": model.architecture,
        "compatibility_type": model.format,
        "quantization": model.quant_name,
        "state": "loaded" if instances else "not-loaded",
        "max_context_length": model.max_context_length,
    }
    if instances:
        item["loaded_context_length"] = instances[0]["config"]["context_length"]
    if model.trained_for_tool_use:
        item["capabilities"] = ["tool_use"]
    return item


def to_v0(models: Sequence[ModelFacts], loaded: Mapping[str, object] | None = None) -> V0Response:
    """``{"object": "list", "data": [...]}`` in the endpoint's order; raises as ``check_loaded``."""
    instances = check_loaded(models, loaded)
    return {"object": "list", "data": [to_v0_item(m, instances.get(m.key, ())) for m in sort_models(models)]}


# --- OpenAI-compatible GET /v1/models (VIEWS.md section 3) --------------------------------------


def to_openai(models: Sequence[ModelFacts], *, strict: bool = False) -> OpenAIResponse:
    """LM Studio's ``/v1/models`` body, every model listed, ids the v1 keys.

    *strict* adds ``created`` (the newest mtime of the model's files, Unix seconds) to each
    item, which the ``openai`` package's ``Model`` type requires and LM Studio does not send.
    """
    data: list[OpenAIModel] = []
    for m in sort_models(models):
        item: OpenAIModel
        if strict:
            item = {"id": m.key, "object": "model", "created": m.mtime_ns // 1_000_000_000, "owned_by": OPENAI_OWNED_BY}
        else:
            item = {"id": m.key, "object": "model", "owned_by": OPENAI_OWNED_BY}
        data.append(item)
    return {"data": data, "object": "list"}


# --- lms ls --json (VIEWS.md section 4) ----------------------------------------------------------


def _lms_path(model: ModelFacts) -> str:
    """Relative to the models root: ``pub/repo/file.gguf`` for GGUF, ``pub/repo`` for MLX."""
    if model.format == "mlx":
        return f"{model.publisher}/{model.repo}"
    name = model.path.replace("\\", "/").rsplit("/", 1)[-1]
    return f"{model.publisher}/{model.repo}/{name}"


def to_lms(
    models: Sequence[ModelFacts], *, variants: bool = False, selected: Mapping[str, str] | None = None
) -> list[LmsModel]:
    """``lms ls --json``: camelCase, optional keys left out (never null), MLX as ``"safetensors"``.

    *variants* and *selected* group a folder's models as :func:`to_v1` does (``variants`` and
    ``selectedVariant`` after ``quantization``).
    """
    out: list[LmsModel] = []
    for e in _entries(models, variants, selected):
        m = e.model
        path = _lms_path(m)
        item: dict[str, object] = {
            "type": m.type,
            "modelKey": e.key,
            "format": "gguf" if m.format == "gguf" else "safetensors",
            "displayName": m.display_name,
            "publisher": m.publisher,
            "path": path,
            "sizeBytes": m.size_bytes,
            "indexedModelIdentifier": path,
            "deviceIdentifier": None,
        }
        if m.params_string is not None:
            item["paramsString"] = m.params_string
        if m.architecture is not None:
            item["architecture"] = m.architecture
        if m.quant_name is not None:
            item["quantization"] = {"name": m.quant_name, "bits": m.quant_bits}
        if e.variants:
            item["variants"] = [v.key for v in e.variants]
            item["selectedVariant"] = m.key
        if m.type == "llm":
            item["vision"] = m.vision
            item["trainedForToolUse"] = m.trained_for_tool_use
        item["maxContextLength"] = m.max_context_length
        out.append(cast("LmsModel", item))
    return out


# --- Ollama: GET /api/tags and POST /api/show (VIEWS.md section 5) -------------------------------


def ollama_parameter_size(n: int) -> str:
    """Ollama's rounding of an exact parameter count (its ``format.HumanNumber``).

    At least 1e9: ``"%.0fB"`` when whole, else ``"%.1fB"``; at least 1e6: ``"%.0fM"`` when
    whole, else ``"%.2fM"``; at least 1e3: ``"%.0fK"``; below, the number itself.
    """
    for scale, suffix, decimals in ((1e9, "B", 1), (1e6, "M", 2)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f}{suffix}" if value == math.floor(value) else f"{value:.{decimals}f}{suffix}"
    if n >= 1e3:
        return f"{n / 1e3:.0f}K"
    return str(n)


def ollama_digest(model: ModelFacts) -> str:
    """The source's own digest (Ollama's manifest sha256), else a stable sha256 of the model's
    identity: its path, size and mtime (nanoseconds)."""
    if model.digest is not None:
        return model.digest
    import hashlib  # noqa: PLC0415 -- only the Ollama views pay for it

    ident = f"{model.path}\0{model.size_bytes}\0{model.mtime_ns}"
    return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()


# datetime's range, in Unix seconds: a file's mtime can be anything (utime accepts year 30000).
_FIRST_SECOND = -62_135_596_800  # 0001-01-01T00:00:00Z
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z


def _rfc3339(mtime_ns: int) -> str:
    """RFC 3339 in UTC with an explicit offset and microseconds: ``2025-01-02T03:04:05.123456+00:00``."""
    import datetime  # noqa: PLC0415 -- only the Ollama views pay for it

    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    seconds, ns = divmod(mtime_ns, 1_000_000_000)
    if not _FIRST_SECOND <= seconds <= _LAST_SECOND:
        seconds, ns = min(max(seconds, _FIRST_SECOND), _LAST_SECOND), 0
    when = epoch + datetime.timedelta(seconds=seconds, microseconds=ns // 1000)
    return when.isoformat(timespec="microseconds")


def _ollama_quantization(model: ModelFacts) -> str:
    """``general.file_type``'s name (``Q4_K_M``), else the listing's quant name."""
    from ._tables import LLAMA_FILE_TYPE_NAMES  # noqa: PLC0415 -- only the Ollama views need the table

    file_type = model.metadata.get("general.file_type")
    if isinstance(file_type, int) and not isinstance(file_type, bool) and file_type in LLAMA_FILE_TYPE_NAMES:
        return LLAMA_FILE_TYPE_NAMES[file_type]
    return model.quant_name or ""


def _ollama_details(model: ModelFacts) -> OllamaDetails:
    arch = model.architecture
    details: OllamaDetails = {
        "parent_model": "",
        "format": "gguf" if model.format == "gguf" else "safetensors",
        "family": arch or "",
        "families": [arch] if arch else None,
        "parameter_size": ollama_parameter_size(model.n_params) if model.n_params else model.params_string or "",
        "quantization_level": _ollama_quantization(model),
    }
    if model.max_context_length is not None:
        details["context_length"] = model.max_context_length
    width = model.metadata.get(f"{arch}.embedding_length") if arch else None
    if isinstance(width, int) and not isinstance(width, bool):
        details["embedding_length"] = width
    return details


def _ollama_capabilities(model: ModelFacts) -> list[str]:
    if model.type == "embedding":
        return ["embedding"]
    return ["completion", *(["tools"] if model.trained_for_tool_use else []), *(["vision"] if model.vision else [])]


def to_ollama_model(model: ModelFacts) -> OllamaModel:
    """One model of Ollama's ``/api/tags``: its name is its key (Ollama's own, for a model found
    in an Ollama store)."""
    return {
        "name": model.key,
        "model": model.key,
        "modified_at": _rfc3339(model.mtime_ns),
        "size": model.size_bytes,
        "digest": ollama_digest(model),
        "details": _ollama_details(model),
        "capabilities": _ollama_capabilities(model),
    }


def to_ollama_tags(models: Sequence[ModelFacts]) -> OllamaTags:
    """``{"models": [...]}``, newest first (then by name), as Ollama's ``GET /api/tags``."""
    newest = sorted(models, key=lambda m: (-m.mtime_ns, m.key))
    return {"models": [to_ollama_model(m) for m in newest]}


def _shown(value: object) -> object:
    """A metadata value as ``model_info`` shows it: long arrays as ``[]``, no NaN or infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [] if len(value) > OLLAMA_ARRAY_SHOWN else [_shown(v) for v in value]
    return value


def to_ollama_show(model: ModelFacts) -> OllamaShow:
    """Ollama's ``POST /api/show`` body for one model.

    ``model_info`` holds every GGUF key/value but ``general.name`` and ``tokenizer.chat_template``,
    arrays longer than five shown as ``[]``, plus ``general.parameter_count`` (the exact count);
    keys sorted, as Ollama's server (a Go map) writes them. An MLX model has no GGUF metadata:
    its ``model_info`` holds ``general.architecture`` and ``general.parameter_count``.
    """
    info: dict[str, object] = {k: _shown(v) for k, v in model.metadata.items() if k not in _OLLAMA_HIDDEN_KEYS}
    if not model.metadata and model.architecture is not None:
        info["general.architecture"] = model.architecture
    if model.n_params is not None:
        info["general.parameter_count"] = model.n_params
    return {
        "details": _ollama_details(model),
        "model_info": dict(sorted(info.items())),
        "capabilities": _ollama_capabilities(model),
        "modified_at": _rfc3339(model.mtime_ns),
    }


# --- by name -------------------------------------------------------------------------------------


def render(
    view: ViewName,
    models: Sequence[ModelFacts],
    problems: Sequence[ModelScanError] = (),
    loaded: Mapping[str, object] | None = None,
    *,
    parallel: bool = False,
    variants: bool = False,
) -> ModelsResponse | V0Response | OpenAIResponse | list[LmsModel] | OllamaTags | FactsResponse:
    """The document of the view named *view* (one of :data:`VIEW_NAMES`).

    *loaded* applies to ``v1`` and ``v0`` (the views that show loaded instances); *parallel* to
    ``v1``; *variants* to ``v1`` and ``lms``. ``ollama`` is the ``/api/tags`` body. Raises
    :class:`UsageError` for an unknown view or a bad *loaded*.
    """
    if view == "v1":
        return to_v1(models, loaded, parallel=parallel, variants=variants)
    if view == "v0":
        return to_v0(models, loaded)
    if view in ("openai", "openai-strict"):
        return to_openai(models, strict=view == "openai-strict")
    if view == "lms":
        return to_lms(models, variants=variants)
    if view == "ollama":
        return to_ollama_tags(models)
    if view == "facts":
        return to_facts(models, problems)
    raise UsageError(f"unknown view {view!r}; one of {', '.join(VIEW_NAMES)}")
