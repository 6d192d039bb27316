"""The views of VIEWS.md as pure functions: golden items, key orders, Ollama's rounding and digests.

The Gemma items are VIEWS.md's own examples, compared as text: the model is written with the
headers, file name and size of LM Studio's example (list-models-endpoint.md, first model).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ollama_store import LICENSE, Store
from ollama_store import MODEL as OLLAMA_MODEL
from safetensors.numpy import save_file

import modelscan
from fixtures.make_fixtures import Q4_0, gemma_270m_kv, llm_tensors, write_gguf
from modelscan import UsageError, views
from modelscan.facts import ModelFacts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"
GEMMA_FILE = "lmstudio-community/gemma-3-270m-it-qat-GGUF/gemma-3-270m-it-qat-Q4_0.gguf"

# VIEWS.md section 2, "Gemma", verbatim.
V0_GEMMA = (
    '{"id": "gemma-3-270m-it-qat", "object": "model", "type": "llm", "publisher": "lmstudio-community", '
    '"arch": "gemma3", "compatibility_type": "gguf", "quantization": "Q4_0", "state": "not-loaded", '
    '"max_context_length": 32768}'
)
# VIEWS.md section 4, "Gemma", verbatim.
LMS_GEMMA = (
    '{"type": "llm", "modelKey": "gemma-3-270m-it-qat", "format": "gguf", "displayName": "Gemma 3 270m Instruct Qat", '
    '"publisher": "lmstudio-community", "path": "lmstudio-community/gemma-3-270m-it-qat-GGUF/'
    'gemma-3-270m-it-qat-Q4_0.gguf", "sizeBytes": 241410208, "indexedModelIdentifier": "lmstudio-community/'
    'gemma-3-270m-it-qat-GGUF/gemma-3-270m-it-qat-Q4_0.gguf", "deviceIdentifier": null, "paramsString": "270M", '
    '"architecture": "gemma3", "quantization": {"name": "Q4_0", "bits": 4}, "vision": false, '
    '"trainedForToolUse": false, "maxContextLength": 32768}'
)
# VIEWS.md section 4: every key of an lms item, in order (optional ones may be left out).
LMS_KEYS = [
    "type",
    "modelKey",
    "format",
    "displayName",
    "publisher",
    "path",
    "sizeBytes",
    "indexedModelIdentifier",
    "deviceIdentifier",
    "paramsString",
    "architecture",
    "quantization",
    "variants",
    "selectedVariant",
    "vision",
    "trainedForToolUse",
    "maxContextLength",
]


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> ModelFacts:
    root = tmp_path_factory.mktemp("spec")
    write_gguf(root / GEMMA_FILE, "gemma3", gemma_270m_kv(), llm_tensors(Q4_0), size=241410208)
    (model,) = modelscan.scan_models(root).models
    return model


@pytest.fixture(scope="module")
def fixtures() -> list[ModelFacts]:
    report = modelscan.scan_models(FIXTURES)
    assert len(report.models) == 11
    return report.models


def by_key(models: list[ModelFacts], key: str) -> ModelFacts:
    (model,) = [m for m in models if m.key == key]
    return model


# --- v0 ------------------------------------------------------------------------------------------


def test_v0_gemma_is_the_views_md_example(gemma: ModelFacts) -> None:
    assert json.dumps(views.to_v0_item(gemma)) == V0_GEMMA
    assert views.to_v0([gemma]) == {"object": "list", "data": [json.loads(V0_GEMMA)]}
    assert list(views.to_v0([gemma])) == ["object", "data"]


def test_v0_types_capabilities_and_loaded_state(fixtures: list[ModelFacts]) -> None:
    loaded = {"gemma-3-4b-it": [{"config": {"context_length": 8192}}, {}]}
    items = {i["id"]: i for i in views.to_v0(fixtures, loaded)["data"]}
    vlm = items["gemma-3-4b-it"]  # has a projector
    assert (vlm["type"], vlm["state"], vlm["loaded_context_length"]) == ("vlm", "loaded", 8192)
    assert list(vlm)[-2:] == ["max_context_length", "loaded_context_length"]
    nomic = items["text-embedding-nomic-embed-text-v1.5-embedding"]
    assert (nomic["type"], nomic["arch"], nomic["state"]) == ("embeddings", "nomic-bert", "not-loaded")
    assert "loaded_context_length" not in nomic and "capabilities" not in nomic
    assert items["qwen3-30b-a3b"]["capabilities"] == ["tool_use"]
    assert list(items["qwen3-30b-a3b"])[-1] == "capabilities"
    # The endpoint's order, ids the v1 keys.
    assert list(items) == [e["key"] for e in views.to_v1(fixtures)["models"]]


def test_v0_loaded_names_an_unknown_key(fixtures: list[ModelFacts]) -> None:
    with pytest.raises(UsageError, match="unknown model key"):
        views.to_v0(fixtures, {"nope": [{}]})


# --- OpenAI -------------------------------------------------------------------------------------


def test_openai_lmstudio_body_and_strict_body(fixtures: list[ModelFacts]) -> None:
    body = views.to_openai(fixtures)
    assert list(body) == ["data", "object"] and body["object"] == "list"
    keys = [e["key"] for e in views.to_v1(fixtures)["models"]]
    assert [m["id"] for m in body["data"]] == keys  # every model, embedding models included
    assert all(m == {"id": m["id"], "object": "model", "owned_by": "organization_owner"} for m in body["data"])
    strict = views.to_openai(fixtures, strict=True)["data"]
    for item, model in zip(strict, modelscan.response.sort_models(fixtures), strict=True):
        assert list(item) == ["id", "object", "created", "owned_by"]
        assert item["created"] == model.mtime_ns // 10**9 == int(Path(model.path).stat().st_mtime)


# --- lms ls --json --------------------------------------------------------------------------------


def test_lms_gemma_is_the_views_md_example(gemma: ModelFacts) -> None:
    assert json.dumps(views.to_lms([gemma])) == f"[{LMS_GEMMA}]"


def test_lms_key_order_and_optional_keys(fixtures: list[ModelFacts]) -> None:
    for item in views.to_lms(fixtures, variants=True):
        keys = list(item)
        assert keys == [k for k in LMS_KEYS if k in item], keys
        if item["type"] == "embedding":
            assert "vision" not in item and "trainedForToolUse" not in item
    items = {i["modelKey"]: i for i in views.to_lms(fixtures)}
    assert "paramsString" not in items["mystery-model"]  # optional keys are left out, never null
    assert items["qwen3-30b-a3b"]["path"] == "unsloth/Qwen3-30B-A3B-GGUF/Qwen3-30B-A3B-UD-Q4_K_XL-00001-of-00002.gguf"


def test_lms_mlx_is_safetensors_with_the_folder_as_path() -> None:
    model = (_facts("mlx-community", "Qwen3-4B-4bit", fmt="mlx"))._replace(key="qwen3-4b")
    (item,) = views.to_lms([model])
    assert (item["format"], item["path"], item["indexedModelIdentifier"]) == (
        "safetensors",
        "mlx-community/Qwen3-4B-4bit",
        "mlx-community/Qwen3-4B-4bit",
    )


# --- v1: variants and parallel (the later optional fields) -------------------------------------


def test_v1_default_is_the_endpoint_response(fixtures: list[ModelFacts]) -> None:
    assert views.to_v1(fixtures) == modelscan.response.to_response(fixtures)
    assert views.render("v1", fixtures) == modelscan.response.to_response(fixtures)


def test_v1_variants_group_a_folders_quants(fixtures: list[ModelFacts]) -> None:
    loaded: dict[str, object] = {"qwen2.5-0.5b-instruct@q8_0": [{}]}
    entries = {e["key"]: e for e in views.to_v1(fixtures, loaded, variants=True)["models"]}
    assert len(entries) == 10
    qwen = entries["qwen2.5-0.5b-instruct"]
    assert list(qwen)[-2:] == ["variants", "selected_variant"]
    assert qwen["variants"] == ["qwen2.5-0.5b-instruct@q4_k_m", "qwen2.5-0.5b-instruct@q8_0"]
    assert qwen["selected_variant"] == "qwen2.5-0.5b-instruct@q4_k_m"  # the first by quant name
    q4 = by_key(fixtures, "qwen2.5-0.5b-instruct@q4_k_m")
    assert (qwen["size_bytes"], qwen["quantization"]) == (q4.size_bytes, {"name": "Q4_K_M", "bits_per_weight": 4})
    assert [i["id"] for i in qwen["loaded_instances"]] == ["qwen2.5-0.5b-instruct@q8_0"]
    assert all("variants" not in e for k, e in entries.items() if k != "qwen2.5-0.5b-instruct")
    picked = views.to_v1(fixtures, variants=True, selected={"qwen2.5-0.5b-instruct": "qwen2.5-0.5b-instruct@q8_0"})
    (entry,) = [e for e in picked["models"] if e["key"] == "qwen2.5-0.5b-instruct"]
    assert entry["selected_variant"] == "qwen2.5-0.5b-instruct@q8_0"
    assert entry["size_bytes"] == by_key(fixtures, "qwen2.5-0.5b-instruct@q8_0").size_bytes


def test_v1_variants_bad_selection(fixtures: list[ModelFacts]) -> None:
    with pytest.raises(UsageError, match="is not one of"):
        views.to_v1(fixtures, variants=True, selected={"qwen2.5-0.5b-instruct": "gemma-3-4b-it"})
    with pytest.raises(UsageError, match="no model with variants"):
        views.to_v1(fixtures, variants=True, selected={"gemma-3-4b-it": "gemma-3-4b-it"})
    with pytest.raises(UsageError, match="not asked for"):
        views.to_v1(fixtures, selected={"qwen2.5-0.5b-instruct": "qwen2.5-0.5b-instruct@q8_0"})


def test_variants_are_not_grouped_onto_another_models_key() -> None:
    a = _facts("pub", "m", quant="Q4_K_M", folder="/r/pub/m")
    b = _facts("pub", "m", quant="Q8_0", folder="/r/pub/m")
    c = _facts("pub", "m", quant="Q4_K_M", folder="/s/pub/m")
    models = [
        a._replace(key="m@q4_k_m"),
        b._replace(key="m@q8_0"),
        c._replace(key="m"),
    ]
    assert sorted(e["key"] for e in views.to_v1(models, variants=True)["models"]) == ["m", "m@q4_k_m", "m@q8_0"]


def test_v1_parallel_sits_between_eval_batch_size_and_flash_attention(fixtures: list[ModelFacts]) -> None:
    loaded = {
        "gemma-3-4b-it": [{}, {"config": {"parallel": 2}}],
        "text-embedding-nomic-embed-text-v1.5-embedding": [{}],
    }
    entries = {e["key"]: e for e in views.to_v1(fixtures, loaded, parallel=True)["models"]}
    configs = [i["config"] for i in entries["gemma-3-4b-it"]["loaded_instances"]]
    assert list(configs[0]) == [
        "context_length",
        "eval_batch_size",
        "parallel",
        "flash_attention",
        "num_experts",
        "offload_kv_cache_to_gpu",
    ]
    assert [c["parallel"] for c in configs] == [modelscan.response.PARALLEL_DEFAULT, 2]
    embedding = entries["text-embedding-nomic-embed-text-v1.5-embedding"]["loaded_instances"][0]["config"]
    assert embedding == {"context_length": 2048}  # absent for embedding models
    # Not asked for: accepted in the input, not shown.
    plain = {e["key"]: e for e in views.to_v1(fixtures, loaded)["models"]}
    assert "parallel" not in plain["gemma-3-4b-it"]["loaded_instances"][1]["config"]
    with pytest.raises(UsageError, match="not allowed for an embedding model"):
        views.to_v1(fixtures, {"text-embedding-nomic-embed-text-v1.5-embedding": [{"config": {"parallel": 2}}]})


# --- Ollama -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (8_030_261_248, "8.0B"),  # Llama 3 8B, as `ollama list` shows it
        (3_212_749_888, "3.2B"),  # Llama 3.2 3B
        (1_000_000_000, "1B"),  # whole: no decimals
        (1_500_000_000, "1.5B"),
        (268_098_176, "268.10M"),  # Gemma 3 270M: two decimals under a billion
        (22_713_728, "22.71M"),  # all-MiniLM-L6-v2
        (5_000_000, "5M"),
        (999_999, "1000K"),  # under a million: whole thousands, rounded
        (31_232, "31K"),
        (999, "999"),
        (0, "0"),
    ],
)
def test_ollama_parameter_size(count: int, shown: str) -> None:
    assert views.ollama_parameter_size(count) == shown


def test_ollama_tags_item_and_order(fixtures: list[ModelFacts]) -> None:
    newest_first = sorted(fixtures, key=lambda m: (-m.mtime_ns, m.key))
    tags = views.to_ollama_tags(fixtures)
    assert [m["name"] for m in tags["models"]] == [m.key for m in newest_first]
    item = next(m for m in tags["models"] if m["name"] == "gemma-3-270m-it-qat")
    assert list(item) == ["name", "model", "modified_at", "size", "digest", "details", "capabilities"]
    assert list(item["details"]) == [
        "parent_model",
        "format",
        "family",
        "families",
        "parameter_size",
        "quantization_level",
        "context_length",
        "embedding_length",
    ]
    gemma = by_key(fixtures, "gemma-3-270m-it-qat")
    assert item["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "gemma3",
        "families": ["gemma3"],
        "parameter_size": "31K",  # the fixture's tiny tensors, exactly counted
        "quantization_level": "Q4_0",  # general.file_type 2
        "context_length": 32768,
        "embedding_length": 640,
    }
    assert item["size"] == gemma.size_bytes
    assert item["capabilities"] == ["completion"]
    caps = {m["name"]: m["capabilities"] for m in tags["models"]}
    assert caps["qwen3-30b-a3b"] == ["completion", "tools"]
    assert caps["gemma-3-4b-it"] == ["completion", "vision"]
    assert caps["text-embedding-nomic-embed-text-v1.5-embedding"] == ["embedding"]


def test_ollama_digest_is_the_sources_or_a_stable_hash_of_identity(fixtures: list[ModelFacts]) -> None:
    gemma = by_key(fixtures, "gemma-3-270m-it-qat")
    ident = f"{gemma.path}\0{gemma.size_bytes}\0{gemma.mtime_ns}".encode()
    assert views.ollama_digest(gemma) == hashlib.sha256(ident).hexdigest()
    assert views.ollama_digest(gemma._replace(mtime_ns=gemma.mtime_ns + 1)) != views.ollama_digest(gemma)
    manifest = "a" * 64
    assert views.ollama_digest(gemma._replace(digest=manifest)) == manifest
    named = gemma._replace(key="llama3.2:latest", source="ollama", source_name="llama3.2:latest", digest=manifest)
    assert views.to_ollama_model(named)["name"] == views.to_ollama_model(named)["model"] == "llama3.2:latest"


@pytest.mark.parametrize(
    ("mtime_ns", "shown"),
    [
        (0, "1970-01-01T00:00:00.000000+00:00"),
        (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456+00:00"),
        (-1_000_000_000, "1969-12-31T23:59:59.000000+00:00"),
        (10**30, "9999-12-31T23:59:59.000000+00:00"),  # a file can claim any mtime: clamped, never an error
        (-(10**30), "0001-01-01T00:00:00.000000+00:00"),
    ],
)
def test_ollama_modified_at_is_rfc3339_with_offset(mtime_ns: int, shown: str) -> None:
    model = (_facts("p", "r"))._replace(mtime_ns=mtime_ns)
    assert views.to_ollama_model(model)["modified_at"] == shown


def test_ollama_show_model_info() -> None:
    metadata: dict[str, object] = {
        "general.architecture": "llama",
        "general.name": "Secret Name",
        "tokenizer.chat_template": "{{ template }}",
        "tokenizer.ggml.tokens": [],  # an array not decoded
        "llama.rope.dimension_sections": [1, 2, 3, 4, 5],
        "tokenizer.ggml.scores": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
        "llama.rope.freq_base": float("nan"),
        "general.file_type": 15,
        "llama.context_length": 4096,
    }
    model = (_facts("p", "r"))._replace(metadata=metadata, n_params=8_030_261_248, key="r")
    show = views.to_ollama_show(model)
    assert list(show) == ["details", "model_info", "capabilities", "modified_at"]
    info = show["model_info"]
    assert list(info) == sorted(info)
    assert "general.name" not in info and "tokenizer.chat_template" not in info
    assert info["llama.rope.dimension_sections"] == [1, 2, 3, 4, 5]  # five elements: shown
    assert info["tokenizer.ggml.scores"] == []  # six: shown as []
    assert info["llama.rope.freq_base"] is None  # NaN is no JSON
    assert info["general.parameter_count"] == 8_030_261_248
    assert show["details"]["parameter_size"] == "8.0B"
    assert show["details"]["quantization_level"] == "Q4_K_M"
    json.loads(views.dumps(show))  # strict JSON


def test_ollama_show_of_an_mlx_model() -> None:
    model = (_facts("mlx-community", "m", fmt="mlx"))._replace(n_params=1000, key="m")
    show = views.to_ollama_show(model)
    assert show["model_info"] == {"general.architecture": "llama", "general.parameter_count": 1000}
    assert show["details"]["format"] == "safetensors"


# --- by name, and the one encoding -----------------------------------------------------------


def test_render_every_view(fixtures: list[ModelFacts]) -> None:
    for name in views.VIEW_NAMES:
        json.loads(views.dumps(views.render(name, fixtures)))
    with pytest.raises(UsageError, match="unknown view"):
        views.render("v2", fixtures)  # type: ignore[arg-type]


def test_dumps_is_the_command_lines_encoding() -> None:
    doc = {"name": "caf\u00e9 \udcff", "n": [1, None]}
    assert views.dumps(doc) == (json.dumps(doc, indent=2) + "\n").encode("ascii")


def _facts(
    publisher: str, repo: str, *, quant: str = "Q4_K_M", folder: str | None = None, fmt: str = "gguf"
) -> ModelFacts:
    folder = folder or f"/m/{publisher}/{repo}"
    return ModelFacts(
        format=fmt,  # type: ignore[arg-type]
        path=folder if fmt == "mlx" else f"{folder}/{repo}-{quant}.gguf",
        folder=folder,
        publisher=publisher,
        repo=repo,
        type="llm",
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


def test_mtime_is_the_newest_file_that_the_size_counts(tmp_path: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(FIXTURES / "lmstudio-community" / "gemma-3-4b-it-GGUF", root / "lmstudio-community" / "g-GGUF")
    shutil.copytree(FIXTURES / "unsloth", root / "unsloth")
    mlx = root / "mlx-community" / "Tiny-4bit"
    mlx.mkdir(parents=True)
    (mlx / "config.json").write_text(json.dumps({"model_type": "llama", "max_position_embeddings": 2048}))
    save_file({"model.embed_tokens.weight": np.zeros((4, 4), dtype=np.float32)}, str(mlx / "model.safetensors"))
    (mlx / "tokenizer.json").write_text("{}")
    later = 2_000_000_000_000_000_000
    projector = next((root / "lmstudio-community" / "g-GGUF").glob("mmproj*"))
    shard2 = next((root / "unsloth").rglob("*-00002-of-00002.gguf"))
    for path, ns in ((projector, later), (shard2, later + 1), (mlx / "tokenizer.json", later + 2)):
        os.utime(path, ns=(ns, ns))
    mtimes = {m.format + ":" + m.publisher: m.mtime_ns for m in modelscan.scan_models(root).models}
    assert mtimes == {"gguf:lmstudio-community": later, "gguf:unsloth": later + 1, "mlx:mlx-community": later + 2}


def test_a_model_of_an_ollama_store_keeps_ollamas_name_and_manifest_digest(tmp_path: Path) -> None:
    """`ollama list` shows the short name and the manifest's sha256 (tests/ollama_store.py writes
    the store by Ollama's rules); the Ollama views show the same."""
    store = Store(tmp_path / "ollama")
    weights = (
        FIXTURES / "lmstudio-community" / "gemma-3-270m-it-qat-GGUF" / "gemma-3-270m-it-QAT-Q4_0.gguf"
    ).read_bytes()
    model = store.add_blob(weights, OLLAMA_MODEL)
    config = store.add_config(model, "gemma3", 31232, "Q4_0", [model])
    manifest = store.write_manifest("registry.ollama.ai/library/gemma3:tiny", config, [model])
    (facts,) = modelscan.scan_models(store.root).models
    (item,) = views.to_ollama_tags([facts])["models"]
    listed = store.listed(manifest)
    assert (item["name"], item["model"], item["digest"]) == ("gemma3:tiny", "gemma3:tiny", listed["digest"])
    assert item["details"]["parameter_size"] == listed["details"]["parameter_size"] == "31K"  # type: ignore[index]
    # A manifest rewritten over the same blobs is another digest, also through a warm cache.
    cache = modelscan.ScanCache()
    modelscan.scan_models(store.root, cache=cache)
    store.write_manifest("registry.ollama.ai/library/gemma3:tiny", config, [model, store.add_blob(b"MIT", LICENSE)])
    (again,) = modelscan.scan_models(store.root, cache=cache).models
    assert views.ollama_digest(again) == store.listed(manifest)["digest"] != listed["digest"]


# --- the one JSON encoding -------------------------------------------------------------------------

_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6) | st.integers() | st.none() | st.booleans(), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(_JSON)
def test_dumps_is_json_dumps_with_indent_2(value: object) -> None:
    assert views.dumps(value) == (json.dumps(value, indent=2) + "\n").encode("ascii")


def test_dumps_of_every_view_is_json_dumps(fixtures: list[ModelFacts]) -> None:
    for name in views.VIEW_NAMES:
        doc = views.render(name, fixtures, [], None)
        assert views.dumps(doc) == (json.dumps(doc, indent=2) + "\n").encode("ascii"), name
