"""modelscan: list local GGUF and MLX models exactly as LM Studio's GET /api/v1/models does.

Only headers and small JSON files are read; no weights are loaded, no numpy is imported.

>>> import modelscan
>>> modelscan.list_models("fixtures/models")          # doctest: +SKIP
{'models': [...]}
>>> report = modelscan.scan_models("fixtures/models")  # doctest: +SKIP
>>> report.models[0].n_params, report.problems          # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
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
from .facts import ModelFacts, TensorTypeStat
from .gguf import GGUFHeader, GGUFTensorInfo, read_gguf_header
from .limits import BATCH_LIMITS, SERVER_LIMITS, Limits
from .scan import ScanCache, ScanReport, list_models, lmstudio_models_folder, scan_models

__all__ = [
    "BATCH_LIMITS",
    "SERVER_LIMITS",
    "ChangedDuringScan",
    "DuplicateKey",
    "FileAccessError",
    "GGUFHeader",
    "GGUFTensorInfo",
    "IncompleteModel",
    "InvalidField",
    "LayoutError",
    "LimitExceeded",
    "Limits",
    "ModelFacts",
    "ModelScanError",
    "NotAModel",
    "ScanCache",
    "ScanReport",
    "TensorTypeStat",
    "Truncated",
    "Unsupported",
    "UsageError",
    "__version__",
    "list_models",
    "lmstudio_models_folder",
    "read_gguf_header",
    "scan_models",
]
