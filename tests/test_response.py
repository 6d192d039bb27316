"""Facts -> entries: key assignment, ordering and loaded-instance validation, without files."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from helpers import response_models

from modelscan import UsageError
from modelscan.facts import ModelFacts
from modelscan.keys import assign_keys
from modelscan.response import to_entry, to_response


def facts(
    repo: str,
    *,
    publisher: str = "pub",
    kind: Literal["llm", "embedding"] = "llm",
    quant: str | None = "Q4_K_M",
    path: str | None = None,
    folder: str | None = None,
    fmt: Literal["gguf", "mlx"] = "gguf",
) -> ModelFacts:
    folder = folder or f"/m/{publisher}/{repo}"
    return ModelFacts(
        format=fmt,
        path=path or f"{folder}/{repo}-{quant}.gguf",
        folder=folder,
        publisher=publisher,
        repo=repo,
        type=kind,
        architecture="llama",
        name_source=repo,
        key_base=repo,
        quant_name=quant,
        quant_bits=4,
        size_bytes=1,
        params_string=None,
        max_context_length=4096,
        vision=False,
        trained_for_tool_use=False,
        display_name=repo,
    )


def keyed(*models: ModelFacts) -> list[ModelFacts]:
    """The models with the keys assign_keys gives them (it returns keys, never mutates)."""
    return [m._replace(key=k) for m, k in zip(models, assign_keys(models), strict=True)]


def test_key_is_lowercased_folder_base_and_embedding_prefixed() -> None:
    a, b = facts("Llama-3.2-1B"), facts("Nomic-Embed", kind="embedding")
    a, b = keyed(a, b)
    assert (a.key, b.key) == ("llama-3.2-1b", "text-embedding-nomic-embed")


def test_several_models_in_one_folder_get_quant_suffixes() -> None:
    a = facts("Qwen", quant="Q4_K_M")
    b = facts("Qwen", quant="Q8_0")
    a, b = keyed(a, b)
    assert (a.key, b.key) == ("qwen@q4_k_m", "qwen@q8_0")


def test_repeated_quant_names_in_one_folder_fall_back_to_file_names() -> None:
    a = facts("Qwen", quant="Q4_K_M", path="/m/pub/Qwen/a-Q4_K_M.gguf")
    b = facts("Qwen", quant="Q4_K_M", path="/m/pub/Qwen/b-Q4_K_M.gguf")
    a, b = keyed(a, b)
    assert (a.key, b.key) == ("qwen@a-q4_k_m", "qwen@b-q4_k_m")


def test_collisions_across_folders_take_the_publisher() -> None:
    a, b, c = facts("Phi", publisher="Acme"), facts("Phi", publisher="bart"), facts("Other")
    a, b, c = keyed(a, b, c)
    assert (a.key, b.key, c.key) == ("acme/phi", "bart/phi", "other")


def test_same_publisher_under_two_roots_stays_unique() -> None:
    a = facts("Phi", folder="/r1/pub/Phi")
    b = facts("Phi", folder="/r2/pub/Phi")
    a, b = keyed(a, b)
    assert (a.key, b.key) == ("pub/phi", "pub/phi#2")


def test_order_llms_then_embeddings_case_insensitive() -> None:
    models = keyed(
        facts("b", publisher="Zed"),
        facts("e", kind="embedding", publisher="a"),
        facts("A", publisher="zed"),
        facts("c", publisher="alpha"),
    )
    got = [(m["publisher"], m["key"]) for m in response_models(to_response(models))]
    assert got == [("alpha", "c"), ("zed", "a"), ("Zed", "b"), ("a", "text-embedding-e")]  # publisher ties: key


def test_entry_key_order_llm_and_embedding() -> None:
    llm, emb = facts("x"), facts("y", kind="embedding")
    llm, emb = keyed(llm, emb)
    assert list(to_entry(llm)) == [
        "type",
        "publisher",
        "key",
        "display_name",
        "architecture",
        "quantization",
        "size_bytes",
        "params_string",
        "loaded_instances",
        "max_context_length",
        "format",
        "capabilities",
        "description",
    ]
    assert list(to_entry(emb)) == [
        "type",
        "publisher",
        "key",
        "display_name",
        "quantization",
        "size_bytes",
        "params_string",
        "loaded_instances",
        "max_context_length",
        "format",
    ]


def test_no_quantization_is_null() -> None:
    m = (facts("x", quant=None))._replace(quant_bits=None)
    (m,) = keyed(m)
    assert to_entry(m)["quantization"] is None


def _one() -> list[ModelFacts]:
    return keyed(facts("x"), facts("e", kind="embedding"))


@pytest.mark.parametrize(
    ("loaded", "message"),
    [
        ({"nope": []}, "loaded names unknown model key(s): 'nope'"),
        ({"x": {}}, "loaded['x'] must be a list of instances, got dict"),
        ({"x": "abc"}, "loaded['x'] must be a list of instances, got str"),
        ({"x": [5]}, "loaded['x'][0] must be a mapping with 'id' and 'config'"),
        ({"x": [{"ide": "a"}]}, "loaded['x'][0]: unknown field(s) ['ide']"),
        ({"x": [{"id": ""}]}, "loaded['x'][0]: id must be a non-empty string"),
        (
            {"x": [{"config": {"context_length": True}}]},
            "loaded['x']: config.context_length must be a non-negative int, got True",
        ),
        ({"x": [{"config": {"flash_attention": 1}}]}, "loaded['x']: config.flash_attention must be a bool, got int"),
        (
            {"text-embedding-e": [{"config": {"eval_batch_size": 512}}]},
            "loaded['text-embedding-e'][0]: config field(s) ['eval_batch_size'] not allowed for an embedding model",
        ),
        ({"x": [{"id": "a"}, {"id": "a"}]}, "loaded['x']: instance ids repeat"),
        ([], "loaded must be a mapping of model key to instances, got list"),
    ],
)
def test_loaded_is_validated(loaded: Any, message: str) -> None:
    with pytest.raises(UsageError) as info:
        to_response(_one(), loaded)
    assert str(info.value) == message


def test_loaded_defaults_and_explicit_values() -> None:
    out = to_response(_one(), {"x": [{"id": "mine", "config": {"num_experts": 4}}, {}]})
    (llm,) = [m for m in response_models(out) if m["key"] == "x"]
    assert json.dumps(llm["loaded_instances"]) == json.dumps(
        [
            {
                "id": "mine",
                "config": {
                    "context_length": 4096,
                    "eval_batch_size": 512,
                    "flash_attention": False,
                    "num_experts": 4,
                    "offload_kv_cache_to_gpu": True,
                },
            },
            {
                "id": "x:2",
                "config": {
                    "context_length": 4096,
                    "eval_batch_size": 512,
                    "flash_attention": False,
                    "num_experts": 0,
                    "offload_kv_cache_to_gpu": True,
                },
            },
        ]
    )
