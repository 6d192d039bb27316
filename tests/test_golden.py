"""The spec's example response, rebuilt on disk and listed back byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import response_models, run_python

import modelscan
from fixtures.make_fixtures import write_spec_example

# list-models-endpoint.md, "Response", verbatim (its 6-space markdown indent removed).
EXPECTED = """\
{
  "models": [
    {
      "type": "llm",
      "publisher": "lmstudio-community",
      "key": "gemma-3-270m-it-qat",
      "display_name": "Gemma 3 270m Instruct Qat",
      "architecture": "gemma3",
      "quantization": {
        "name": "Q4_0",
        "bits_per_weight": 4
      },
      "size_bytes": 241410208,
      "params_string": "270M",
      "loaded_instances": [
        {
          "id": "gemma-3-270m-it-qat",
          "config": {
            "context_length": 4096,
            "eval_batch_size": 512,
            "flash_attention": false,
            "num_experts": 0,
            "offload_kv_cache_to_gpu": true
          }
        }
      ],
      "max_context_length": 32768,
      "format": "gguf",
      "capabilities": {
        "vision": false,
        "trained_for_tool_use": false
      },
      "description": null
    },
    {
      "type": "embedding",
      "publisher": "gaianet",
      "key": "text-embedding-nomic-embed-text-v1.5-embedding",
      "display_name": "Nomic Embed Text v1.5",
      "quantization": {
        "name": "F16",
        "bits_per_weight": 16
      },
      "size_bytes": 274290560,
      "params_string": null,
      "loaded_instances": [],
      "max_context_length": 2048,
      "format": "gguf"
    }
  ]
}"""

LOADED = {
    "gemma-3-270m-it-qat": [
        {
            "config": {
                "context_length": 4096,
                "eval_batch_size": 512,
                "flash_attention": False,
                "num_experts": 0,
                "offload_kv_cache_to_gpu": True,
            }
        }
    ]
}


def test_spec_example_byte_for_byte(tmp_path: Path) -> None:
    write_spec_example(tmp_path / "models")
    result = modelscan.list_models(tmp_path / "models", loaded=LOADED)
    assert json.dumps(result, indent=2) == EXPECTED


def test_spec_example_sizes_are_sparse(tmp_path: Path) -> None:
    write_spec_example(tmp_path / "models")
    gemma = next((tmp_path / "models").rglob("*Q4_0.gguf"))
    assert gemma.stat().st_size == 241410208
    assert gemma.stat().st_blocks * 512 < 1 << 20  # the tensor data is a hole, not written bytes


def test_spec_example_through_the_command_line(tmp_path: Path) -> None:
    write_spec_example(tmp_path / "models")
    (tmp_path / "loaded.json").write_text(json.dumps(LOADED))
    proc = run_python("-m", "modelscan", str(tmp_path / "models"), "--loaded", str(tmp_path / "loaded.json"), text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == EXPECTED + "\n"
    assert proc.stderr == ""


def test_default_instance_ids_count_up(tmp_path: Path) -> None:
    write_spec_example(tmp_path / "models", exact_sizes=False)
    loaded: dict[str, list[dict[str, object]]] = {
        "gemma-3-270m-it-qat": [{}, {}],
        "text-embedding-nomic-embed-text-v1.5-embedding": [{}],
    }
    models = response_models(modelscan.list_models(tmp_path / "models", loaded=loaded))
    assert [i["id"] for i in models[0]["loaded_instances"]] == ["gemma-3-270m-it-qat", "gemma-3-270m-it-qat:2"]
    # An embedding instance's config holds only the context length.
    assert models[1]["loaded_instances"] == [
        {"id": "text-embedding-nomic-embed-text-v1.5-embedding", "config": {"context_length": 2048}}
    ]
