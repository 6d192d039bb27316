"""Read and derive one MLX folder, as the scan does, for tests of the MLX rules."""

from __future__ import annotations

import os

from modelscan.candidates import Origin
from modelscan.facts import ModelFacts
from modelscan.facts_mlx import derive_mlx_facts
from modelscan.limits import BATCH_LIMITS, Limits
from modelscan.mlx import read_mlx_folder


def read_mlx_model(
    folder: str | os.PathLike[str], *, publisher: str, repo: str, limits: Limits = BATCH_LIMITS
) -> ModelFacts:
    """The facts of the MLX model in *folder*, named *publisher*/*repo*; raises what reading raises."""
    origin = Origin("lmstudio", os.fspath(folder), publisher, repo)
    return derive_mlx_facts(read_mlx_folder(folder, origin=origin, limits=limits))
