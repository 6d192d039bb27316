"""Keys across all models of a scan (FIELDS.md section 3). Pure: models in, keys out.

A model's key starts from its ``key_base`` (its folder name with suffixes stripped), lowercased,
with ``text-embedding-`` before an embedding model's. Several models in one folder get
``@<quant name>`` (``@<file name>`` when quant names repeat); equal keys from different folders
become ``<publisher>/<key>``; anything still equal after that (the same publisher under two
roots) gets ``#2``, ``#3``... in path order, so every key is unique: keys address loaded instances.
A model whose source names it (``source_name``, Ollama's ``llama3.2:latest``) keeps that name,
and takes part only in the last two rules.
"""

from __future__ import annotations

from collections.abc import Sequence

from .facts import ModelFacts

__all__ = ["assign_keys"]


def assign_keys(models: Sequence[ModelFacts]) -> list[str]:
    """The key of each of *models*, in their order."""
    keys: list[str] = []
    by_folder: dict[str, list[int]] = {}
    for i, m in enumerate(models):
        if m.source_name is not None:
            keys.append(m.source_name)
            continue
        base = m.key_base.lower()
        keys.append("text-embedding-" + base if m.type == "embedding" else base)
        by_folder.setdefault(m.folder, []).append(i)
    for group in by_folder.values():
        if len(group) < 2:
            continue
        suffixes = [(models[i].quant_name or _file_stem(models[i].path)).lower() for i in group]
        if len(set(suffixes)) < len(suffixes):
            suffixes = [_file_stem(models[i].path).lower() for i in group]
        for i, suffix in zip(group, suffixes, strict=True):
            keys[i] = f"{keys[i]}@{suffix}"
    by_key: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        by_key.setdefault(key, []).append(i)
    for same in by_key.values():
        if len({models[i].folder for i in same}) > 1:
            for i in same:
                keys[i] = f"{models[i].publisher.lower()}/{keys[i]}"
    by_key = {}
    for i in sorted(range(len(models)), key=lambda i: models[i].path):
        by_key.setdefault(keys[i], []).append(i)
    for same in by_key.values():
        for n, i in enumerate(same[1:], start=2):
            keys[i] = f"{keys[i]}#{n}"
    return keys


def _file_stem(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    for ext in (".gguf", ".safetensors"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name
