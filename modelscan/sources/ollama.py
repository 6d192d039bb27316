"""Ollama's model store (SOURCES.md section 4).

```
<store>/manifests/<host>/<namespace>/<model>/<tag>    one JSON manifest per model, four levels down
<store>/blobs/sha256-<64 hex>                          layer bodies, by digest
```

Each manifest is one model, as ``ollama list`` shows them (several manifests may share a blob).
Its layers say what each blob is:

- ``application/vnd.ollama.image.model``: the weights, a plain GGUF file read by the GGUF
  reader (the last such layer, as Ollama takes it);
- ``application/vnd.ollama.image.projector``: a projector GGUF; vision and size, once its header
  says it is a projector;
- ``application/vnd.ollama.image.template`` (older ``...image.prompt``): a Go text/template;
  tool use is whether it uses ``.Tools``;
- ``application/vnd.ollama.image.adapter`` (a LoRA), parameters, licence, system prompt and
  messages: not the model, ignored;
- ``application/vnd.ollama.image.tensor`` and ``...image.json`` without a model layer: a
  safetensors-based model, reported as ``unsupported``.

The manifest is untrusted input: read with a size cap (``limits.config_json_bytes``), parsed
strictly (``modelscan._json``), every field's type checked, and a digest becomes a path only
after it was checked to be ``sha256:<64 hex>``, so no path taken from a manifest ever leaves
``blobs/``. A blob that is missing, is not a regular file inside the store, or whose size is not
the manifest's, is a problem and the model is not listed. Half-pulled blobs (``-partial``) are
partial downloads.

Naming: the key is Ollama's own short name, case kept (``llama3.2:latest``,
``namespace/model:tag``, ``hf.co/org/repo:tag``), ``publisher`` the namespace and ``repo`` the
model name. Blobs have no file name, so the quant name comes from ``general.file_type``, except
for a model pulled from the Hugging Face Hub whose tag is a quant token (``:Q4_K_M``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from .. import _rules
from .._walk import FileEntry, Walk
from ..candidates import GGUFCandidate, Origin
from ..errors import IncompleteModel, InvalidField, ModelScanError, NotAModel, Unsupported
from ..read import read_small_entry

__all__ = ["manifest_candidate", "manifest_store", "short_name", "store_candidates"]

MODEL = "application/vnd.ollama.image.model"
PROJECTOR = "application/vnd.ollama.image.projector"
TEMPLATES = ("application/vnd.ollama.image.template", "application/vnd.ollama.image.prompt")
SAFETENSORS = ("application/vnd.ollama.image.tensor", "application/vnd.ollama.image.json")

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
#: Hosts of models pulled from the Hugging Face Hub, whose tag may be a quant token.
HUB_HOSTS = ("hf.co", "huggingface.co")

#: What Ollama's ``manifest.BlobsPath`` accepts; the only form a digest may take to become a path.
_DIGEST = _rules.lazy_pattern(r"sha256[:-]([0-9a-fA-F]{64})")


def short_name(host: str, namespace: str, model: str, tag: str) -> str:
    """Ollama's shortest display name (``DisplayShortest`` in types/model/name.go)."""
    if host.lower() != DEFAULT_HOST:
        return f"{host}/{namespace}/{model}:{tag}"
    if namespace.lower() != DEFAULT_NAMESPACE:
        return f"{namespace}/{model}:{tag}"
    return f"{model}:{tag}"


def _valid_part(part: str, kind: str) -> bool:
    """Ollama's rules for one part of a name (``isValidPart``): 1-80 characters (a host 350),
    the first a letter, digit or ``_``, the rest also ``-`` and ``.`` (not in a namespace) and
    ``:`` (in a host only)."""
    if not 1 <= len(part) <= (350 if kind == "host" else 80):
        return False
    if not (part[0].isascii() and (part[0].isalnum() or part[0] == "_")):
        return False
    allowed = "_-" + ("" if kind == "namespace" else ".") + (":" if kind == "host" else "")
    return all(c.isascii() and (c.isalnum() or c in allowed) for c in part[1:])


def manifest_store(path: str) -> str | None:
    """The store a manifest file at *path* belongs to (``<store>/manifests/h/n/m/tag``), if its
    ``blobs`` folder is there; else ``None``."""
    parts = os.path.abspath(path).split(os.sep)
    if len(parts) < 6 or parts[-5] != "manifests":
        return None
    store = os.sep.join(parts[:-5]) or os.sep
    return store if os.path.isdir(os.path.join(store, "blobs")) else None


def store_candidates(
    walk: Walk, store: str, problems: list[ModelScanError], seen: set[str] | None = None
) -> Iterator[GGUFCandidate]:
    """One candidate per usable manifest of the store at *store*; half-pulled blobs and every
    unusable manifest are *problems*. *seen* holds the resolved paths of manifests already read
    in this scan (a manifest also given by name): each is read once; the store's are added."""
    manifests = os.path.join(store, "manifests")
    walk.report_partials(os.path.join(store, "blobs"))
    for folder in walk.folders_of(manifests):
        rel = os.path.relpath(folder.path, manifests).split(os.sep)
        if len(rel) != 3:  # Ollama looks exactly four levels down; anything else is not a manifest
            continue
        problems.extend(err for _, err in folder.refused)
        for entry in folder.files:
            if seen is not None:
                real = os.path.realpath(entry.path)
                if real in seen:
                    continue
                seen.add(real)
            candidate = manifest_candidate(walk, store, entry, problems)
            if candidate is not None:
                yield candidate


def manifest_candidate(
    walk: Walk, store: str, entry: FileEntry, problems: list[ModelScanError]
) -> GGUFCandidate | None:
    """The candidate of one manifest file; ``None``, with the reason in *problems*, when it is
    not a usable GGUF model."""
    host, namespace, model = entry.path.split(os.sep)[-4:-1]
    tag = entry.name
    if not all(
        _valid_part(p, k) for p, k in ((host, "host"), (namespace, "namespace"), (model, "model"), (tag, "tag"))
    ):
        problems.append(
            InvalidField(entry.path, "not a valid Ollama model name (Ollama ignores it)", field="name", format="fs")
        )
        return None
    try:
        data = read_small_entry(entry, walk.limits.config_json_bytes, "config_json_bytes")
        from .._json import parse_json  # noqa: PLC0415 -- a scan with no Ollama store never loads it

        doc = parse_json(data, source=entry.path, what="manifest", limits=walk.limits)
        layers = _layers(entry.path, doc)
    except ModelScanError as err:
        problems.append(err)
        return None
    blobs = os.path.join(store, "blobs")
    models = [(i, layer) for i, layer in layers if layer[0] == MODEL]
    if not models:
        if any(layer[0] in SAFETENSORS for _, layer in layers):
            problems.append(
                Unsupported(
                    entry.path,
                    "a safetensors-based Ollama model (tensor layers, no GGUF model layer): not supported",
                    format="json",
                    code="unsupported",
                )
            )
        else:
            problems.append(NotAModel(entry.path, "the manifest has no model layer", format="json"))
        return None
    wanted = [models[-1]] + [(i, layer) for i, layer in layers if layer[0] == PROJECTOR]
    templates = [(i, layer) for i, layer in layers if layer[0] in TEMPLATES]
    wanted += templates[-1:]
    config = doc.get("config")
    checked: dict[int, FileEntry] = {}
    failed = False
    for i, layer in wanted:
        blob = _blob(walk, blobs, entry.path, f"manifest.layers[{i}]", layer, problems=problems)
        failed = failed or blob is None
        if blob is not None:
            checked[i] = blob
    if config is not None:
        config_layer = _layer(entry.path, "manifest.config", config, problems)
        if (
            config_layer is None
            or _blob(walk, blobs, entry.path, "manifest.config", config_layer, problems=problems) is None
        ):
            failed = True
    if failed:
        return None
    hub_quant = ""
    if host.lower() in HUB_HOSTS:
        token = _rules.quant_token(tag)
        if token is not None and token.upper() == tag.upper():
            hub_quant = tag
    return GGUFCandidate(
        Origin("ollama", entry.path, namespace, model, name=short_name(host, namespace, model, tag)),
        ((checked[models[-1][0]],),),
        tuple(checked[i] for i, layer in layers if layer[0] == PROJECTOR),
        quant_source=hub_quant,
        template=checked[templates[-1][0]] if templates else None,
        digest=_sha256(data),  # what `ollama list` shows as the model's digest
        manifest=entry,
    )


#: A layer as it matters here: media type, digest, size.
_Layer = tuple[str, str, int]


def _layers(path: str, doc: Mapping[str, object]) -> list[tuple[int, _Layer]]:
    """The manifest's layers, each checked for its type; raises :class:`InvalidField`."""
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise InvalidField(
            path,
            "missing" if layers is None else f"expected a list, got {type_name(layers)}",
            field="manifest.layers",
            format="json",
            code="missing_field" if layers is None else "wrong_type",
        )
    problems: list[ModelScanError] = []
    out: list[tuple[int, _Layer]] = []
    for i, layer in enumerate(layers):
        checked = _layer(path, f"manifest.layers[{i}]", layer, problems=problems)
        if checked is None:
            raise problems[0]
        out.append((i, checked))
    return out


def _layer(path: str, field: str, layer: object, problems: list[ModelScanError]) -> _Layer | None:
    """``(mediaType, digest, size)`` of a layer or config object, or ``None`` with the reason."""

    def bad(where: str, detail: str, code: str = "wrong_type") -> None:
        problems.append(InvalidField(path, detail, field=f"{field}{where}", format="json", code=code))  # type: ignore[arg-type]

    if not isinstance(layer, dict):
        bad("", f"expected an object, got {type_name(layer)}")
        return None
    media, digest, size = layer.get("mediaType"), layer.get("digest"), layer.get("size")
    if not isinstance(media, str):
        bad(".mediaType", f"expected a string, got {type_name(media)}")
        return None
    if not isinstance(digest, str):
        bad(".digest", f"expected a string, got {type_name(digest)}")
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        bad(".size", f"expected a non-negative integer, got {type_name(size)}")
        return None
    return media, digest, size


def _blob(
    walk: Walk, blobs: str, manifest: str, field: str, layer: _Layer, *, problems: list[ModelScanError]
) -> FileEntry | None:
    """The blob of *layer*, checked: digest form, a regular file inside the store, its size."""
    digest, size = layer[1], layer[2]
    m = _DIGEST.fullmatch(digest)
    if m is None:
        problems.append(
            InvalidField(
                manifest,
                "digest is not sha256:<64 hex digits>",
                field=f"{field}.digest",
                format="json",
                code="bad_digest",
            )
        )
        return None
    name = f"sha256-{m.group(1)}"
    blob = walk.stat_file(os.path.join(blobs, name))
    if blob is None:
        problems.append(
            IncompleteModel(
                manifest, f"blob {name} is not in the store", field=f"{field}.digest", format="fs", code="missing_blob"
            )
        )
        return None
    if isinstance(blob, ModelScanError):
        problems.append(blob)
        return None
    if blob.size != size:
        problems.append(
            IncompleteModel(
                manifest,
                f"blob {name} is {blob.size} bytes, the manifest says {size}",
                field=f"{field}.size",
                format="fs",
                code="blob_size_mismatch",
            )
        )
        return None
    return blob


def _sha256(data: bytes) -> str:
    import hashlib  # noqa: PLC0415 -- a scan with no Ollama store never loads it

    return hashlib.sha256(data).hexdigest()


def type_name(value: object) -> str:
    """The JSON type of a manifest value, for messages (``modelscan._json.type_name``)."""
    from .._json import type_name as name  # noqa: PLC0415

    return name(value)
