"""A test writer of Ollama's model store, following Ollama's Go source (github.com/ollama/ollama:
``manifest/manifest.go`` ``WriteManifest``, ``manifest/layer.go`` ``NewLayer``,
``manifest/paths.go`` ``BlobsPath``, ``types/model/name.go``, ``types/model/config.go``
``ConfigV2``, ``server/model_list_cache.go`` ``buildModelListSummary``).

- a blob is ``<store>/blobs/sha256-<hex>``, the hex the sha256 of its content;
- a manifest is ``<store>/manifests/<host>/<namespace>/<model>/<tag>``, written by Go's
  ``json.Encoder``: compact, fields in struct order, ``from`` and ``name`` left out when empty,
  one trailing newline;
- the config blob is ``ConfigV2`` as JSON.

:meth:`Store.listed` gives what ``ollama list`` (``/api/tags``) shows for a manifest by the same
rules: the shortest name, the size of every layer plus the config, the manifest's digest, and the
details from the config blob.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

MODEL = "application/vnd.ollama.image.model"
PROJECTOR = "application/vnd.ollama.image.projector"
TEMPLATE = "application/vnd.ollama.image.template"
PARAMS = "application/vnd.ollama.image.params"
LICENSE = "application/vnd.ollama.image.license"
ADAPTER = "application/vnd.ollama.image.adapter"
TENSOR = "application/vnd.ollama.image.tensor"
CONFIG = "application/vnd.docker.container.image.v1+json"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

TOOLS_TEMPLATE = (
    "{{- if .Tools }}Tools: {{ range .Tools }}{{ . }}{{ end }}{{ end }}"
    "{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}"
)
PLAIN_TEMPLATE = "{{ if .System }}{{ .System }}\n{{ end }}{{ .Prompt }}"


def _go_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def human_number(n: int) -> str:
    """Ollama's ``format.HumanNumber`` (format/format.go): ``268098176`` -> ``"268.10M"``."""
    if n >= 1_000_000_000:
        value = n / 1_000_000_000
        return f"{value:.0f}B" if value == int(value) else f"{value:.1f}B"
    if n >= 1_000_000:
        value = n / 1_000_000
        return f"{value:.0f}M" if value == int(value) else f"{value:.2f}M"
    if n >= 1_000:
        return f"{n / 1_000:.0f}K"
    return str(n)


@dataclasses.dataclass(frozen=True)
class Layer:
    media_type: str
    digest: str
    size: int
    source: str = ""  # Ollama's "from"

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.source:
            out["from"] = self.source
        return out


class Store:
    """One Ollama models folder (``OLLAMA_MODELS``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        (root / "manifests").mkdir(parents=True, exist_ok=True)

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / digest.replace(":", "-")

    def add_blob(self, data: bytes, media_type: str) -> Layer:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            path.write_bytes(data)
        return Layer(media_type, digest, len(data))

    def link_blob(self, source: Path, sha256: str, media_type: str) -> Layer:
        """A big blob whose sha256 is known, hard-linked in (Ollama's blobs are plain files)."""
        digest = "sha256:" + sha256
        path = self.blob_path(digest)
        if not path.exists():
            os.link(source, path)
        return Layer(media_type, digest, path.stat().st_size)

    def add_config(self, model: Layer, family: str, params: int, file_type: str, layers: list[Layer]) -> Layer:
        config = {
            "model_format": "gguf",
            "model_family": family,
            "model_families": [family],
            "model_type": human_number(params),
            "file_type": file_type,
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        }
        return self.add_blob(_go_json(config), CONFIG)

    def write_manifest(self, name: str, config: Layer, layers: list[Layer]) -> Path:
        """``host/namespace/model:tag`` -> its manifest file, as ``WriteManifest`` writes it."""
        host, namespace, rest = name.split("/", 2)
        model, tag = rest.rsplit(":", 1)
        path = self.root / "manifests" / host / namespace / model / tag
        path.parent.mkdir(parents=True, exist_ok=True)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config.to_json(),
            "layers": [layer.to_json() for layer in layers],
        }
        path.write_bytes(_go_json(manifest) + b"\n")
        return path

    def listed(self, manifest: Path) -> dict[str, object]:
        """What ``ollama list`` shows for *manifest* (``buildModelListSummary``)."""
        rel = manifest.relative_to(self.root / "manifests").parts
        host, namespace, model, tag = rel
        if host.lower() != "registry.ollama.ai":
            short = f"{host}/{namespace}/{model}:{tag}"
        elif namespace.lower() != "library":
            short = f"{namespace}/{model}:{tag}"
        else:
            short = f"{model}:{tag}"
        data = manifest.read_bytes()
        doc = json.loads(data)
        config = json.loads(self.blob_path(doc["config"]["digest"]).read_bytes())
        size = sum(layer["size"] for layer in doc["layers"]) + doc["config"]["size"]
        return {
            "model": short,
            "modified_at": "2026-01-01T00:00:00Z",
            "digest": hashlib.sha256(data).hexdigest(),
            "size": size,
            "details": {
                "parent_model": "",
                "format": config["model_format"],
                "family": config["model_family"],
                "families": config["model_families"],
                "parameter_size": config["model_type"],
                "quantization_level": config["file_type"],
            },
        }
