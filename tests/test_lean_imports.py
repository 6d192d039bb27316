"""What the local scan path imports: not ``dataclasses`` and, through it, not ``inspect`` (issue 13).

A first call in a fresh process pays for every module it imports; ``dataclasses`` alone pulls in
``inspect``, ``ast``, ``dis`` and ``tokenize``, and generating each class's methods costs more.
The records of the scan path are ``NamedTuple``\\ s or small slotted classes instead. Checked in
a child interpreter (a fresh ``sys.modules``) that imports the readers, scans GGUF and MLX models
and lists what it loaded.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from helpers import ROOT, python_code, run_python

#: Modules the local scan path must not load.
UNWANTED = ("dataclasses", "inspect")

_CHILD = """
    import sys

    before = set(sys.modules)  # what the interpreter's start loaded (site, .pth files) is not ours
    import modelscan.scan, modelscan.gguf, modelscan.safetensors, modelscan.mlx
    import modelscan.facts_mlx, modelscan.facts_gguf, modelscan.read

    report = modelscan.scan_models(*sys.argv[1:])
    formats = sorted({m.format for m in report.models})
    print(len(report.models), ",".join(formats), len(report.problems))
    print(" ".join(sorted(name for name in set(sys.modules) - before if name in {names})))
"""


def _mlx_folder(folder: Path) -> Path:
    """A small quantized MLX model: config.json and one safetensors shard."""
    folder.mkdir(parents=True)
    config = {"model_type": "llama", "quantization": {"bits": 4, "group_size": 64}, "hidden_size": 64}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    header: dict[str, object] = {"__metadata__": {"format": "mlx"}}
    tensors = {"w.weight": ("U32", [64, 8]), "w.scales": ("F16", [64, 1]), "w.biases": ("F16", [64, 1])}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = shape[0] * shape[1] * (4 if dtype == "U32" else 2)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)
    return folder


def test_local_scan_path_loads_no_dataclasses_or_inspect(tmp_path: Path) -> None:
    mlx_root = tmp_path / "models"
    _mlx_folder(mlx_root / "pub" / "tiny-4bit")
    code = _CHILD.replace("{names}", repr(set(UNWANTED)))
    proc = run_python(*python_code(code), str(ROOT / "fixtures" / "models"), str(mlx_root), text=True)
    assert proc.returncode == 0, proc.stderr
    found, loaded = proc.stdout.split("\n")[:2]
    n_models, formats, _problems = found.split(" ")
    # The scan did read models of both formats (so both readers ran), ...
    assert int(n_models) >= 10 and formats == "gguf,mlx", found
    # ... and neither it nor the imports loaded what the scan path has no use for.
    assert loaded == "", f"the local scan path imported {loaded}"
