"""What modelscan knows of one model, whatever its format or source (FIELDS.md sections 2-7).

:class:`ModelFacts` is built once by a format's ``derive_*`` function (``facts_gguf``,
``facts_mlx``) from what its reader read, and never changed after: the one fact that needs every
model of a scan at once, the ``key``, is assigned by ``keys.assign_keys`` and set on a copy.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from .errors import ModelScanError

if TYPE_CHECKING:
    from typing import TypeAlias

    from .candidates import SourceName

__all__ = ["Format", "ModelFacts", "ModelType", "TensorTypeStat"]

#: The endpoint's ``type``.
ModelType: TypeAlias = Literal["llm", "embedding"]
#: The endpoint's ``format``.
Format: TypeAlias = Literal["gguf", "mlx"]


@dataclasses.dataclass(frozen=True, slots=True)
class TensorTypeStat:
    """How many tensors of one type, their elements and bytes (``None``: a type of unknown size)."""

    tensors: int
    elements: int
    bytes: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class ModelFacts:
    """Everything modelscan knows of one model: the endpoint's fields and the extended facts."""

    # Where it is.
    format: Format
    path: str  # the GGUF file (first shard) or the MLX folder
    folder: str  # the model folder: models of one folder share it
    publisher: str
    repo: str
    # The endpoint's fields.
    type: ModelType
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
    warnings: tuple[ModelScanError, ...] = ()
    #: GGUF metadata as shown to clients (Ollama's ``model_info``): every key/value the reader kept,
    #: scalars and decoded strings as they are, arrays as a list when decoded, else as ``[]``
    #: (strings too long to decode are left out). Empty for MLX models.
    metadata: dict[str, object] = dataclasses.field(default_factory=dict)
    source: SourceName = "lmstudio"
    #: A source's own name for the model, used as its key verbatim (Ollama's ``llama3.2:latest``).
    source_name: str | None = None
    display_name: str = ""
    #: Unique within one scan; assigned by ``keys.assign_keys`` (empty until then).
    key: str = ""
