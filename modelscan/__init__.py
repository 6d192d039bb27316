"""modelscan: list local GGUF and MLX models exactly as LM Studio's GET /api/v1/models does.

Only headers and small JSON files are read; no weights are loaded, no numpy is imported.

>>> import modelscan
>>> modelscan.list_models("fixtures/models")          # doctest: +SKIP
{'models': [...]}
>>> report = modelscan.scan_models("fixtures/models")  # doctest: +SKIP
>>> report.models[0].n_params, report.problems          # doctest: +SKIP
>>> modelscan.scan_models(*modelscan.default_roots())   # doctest: +SKIP
>>> modelscan.list_models("hf://ggml-org/gemma-3-270m-GGUF")  # doctest: +SKIP
>>> modelscan.scan_target("https://host/path/model.gguf")      # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

from .errors import (
    ERROR_CODES,
    ChangedDuringScan,
    DuplicateKey,
    FileAccessError,
    IncompleteModel,
    InvalidField,
    LayoutError,
    LimitExceeded,
    ModelScanError,
    NotAModel,
    Truncated,
    Unsupported,
    UsageError,
)

# The rest loads on first use (PEP 562): a server or a command that only imports modelscan pays
# for the error classes alone, and the scan path's modules come in with the first call.
_LAZY = {
    "BATCH_LIMITS": "limits",
    "SERVER_LIMITS": "limits",
    "Limits": "limits",
    "ArchNumbers": "facts",
    "ModelFacts": "facts",
    "TensorTypeStat": "facts",
    "estimate_memory": "estimate",
    "GGUFHeader": "gguf",
    "GGUFTensorInfo": "gguf",
    "read_gguf_header": "gguf",
    "SafetensorsHeader": "safetensors",
    "read_safetensors_header": "safetensors",
    "ScanCache": "cache",
    "ScanReport": "scan",
    "list_models": "scan",
    "scan_models": "scan",
    "lmstudio_models_folder": "sources.lmstudio",
    "default_locations": "sources",
    "default_roots": "sources",
    "scan_target": "batch",
    "expand_repo": "batch",
    "ArchRecord": "shapes",
    "Capabilities": "shapes",
    "ErrorRecord": "shapes",
    "FactsRecord": "shapes",
    "FactsResponse": "shapes",
    "LoadedInstance": "shapes",
    "MemoryEstimate": "shapes",
    "ModelEntry": "shapes",
    "ModelsResponse": "shapes",
    "Quantization": "shapes",
}

if TYPE_CHECKING:
    from .batch import expand_repo, scan_target
    from .cache import ScanCache
    from .estimate import estimate_memory
    from .facts import ArchNumbers, ModelFacts, TensorTypeStat
    from .gguf import GGUFHeader, GGUFTensorInfo, read_gguf_header
    from .limits import BATCH_LIMITS, SERVER_LIMITS, Limits
    from .safetensors import SafetensorsHeader, read_safetensors_header
    from .scan import ScanReport, list_models, scan_models
    from .shapes import (
        ArchRecord,
        Capabilities,
        ErrorRecord,
        FactsRecord,
        FactsResponse,
        LoadedInstance,
        MemoryEstimate,
        ModelEntry,
        ModelsResponse,
        Quantization,
    )
    from .sources import default_locations, default_roots
    from .sources.lmstudio import lmstudio_models_folder


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelscan' has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BATCH_LIMITS",
    "ERROR_CODES",
    "SERVER_LIMITS",
    "ArchNumbers",
    "ArchRecord",
    "Capabilities",
    "ChangedDuringScan",
    "DuplicateKey",
    "ErrorRecord",
    "FactsRecord",
    "FactsResponse",
    "FileAccessError",
    "GGUFHeader",
    "GGUFTensorInfo",
    "IncompleteModel",
    "InvalidField",
    "LayoutError",
    "LimitExceeded",
    "Limits",
    "LoadedInstance",
    "MemoryEstimate",
    "ModelEntry",
    "ModelFacts",
    "ModelScanError",
    "ModelsResponse",
    "NotAModel",
    "Quantization",
    "SafetensorsHeader",
    "ScanCache",
    "ScanReport",
    "TensorTypeStat",
    "Truncated",
    "Unsupported",
    "UsageError",
    "__version__",
    "default_locations",
    "default_roots",
    "estimate_memory",
    "expand_repo",
    "list_models",
    "lmstudio_models_folder",
    "read_gguf_header",
    "read_safetensors_header",
    "scan_models",
    "scan_target",
]
