"""FIELDS.md's naming rules against the rulebook's own examples, one comment per tricky row."""

from __future__ import annotations

import pytest

from modelscan import _rules


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("gemma-3-270m-it-QAT-Q4_0.gguf", "Q4_0"),
        ("nomic-embed-text-v1.5.f16.gguf", "F16"),  # split on "." too
        ("Qwen3-8B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),  # the one two-token form
        ("Qwen3-30B-A3B-UD-Q4_K_XL-00001-of-00002.gguf", "UD-Q4_K_XL"),  # shard suffix removed first
        ("model-IQ2_XXS.gguf", "IQ2_XXS"),
        ("model.TQ1_0.gguf", "TQ1_0"),
        ("gpt-oss-20b-MXFP4_MOE.gguf", "MXFP4_MOE"),
        ("llama-3.2-1b-instruct-q8_0.gguf", "Q8_0"),  # lowercase in the name, uppercased out
        ("model-bf16.gguf", "BF16"),
        ("Qwen3-4B-4bit", "4BIT"),
        ("Qwen2.5-0.5B-Instruct.gguf", None),  # "Qwen2" is no Q-token: the whole token must match
        ("model.gguf", None),
        ("Q4_K_M-then-F16.gguf", "F16"),  # the last match wins
    ],
)
def test_quant_token(name: str, token: str | None) -> None:
    assert _rules.quant_token(name) == token


@pytest.mark.parametrize(
    ("quant", "bits"),
    [
        ("Q4_K_M", 4),
        ("IQ2_XXS", 2),
        ("Q8_0", 8),
        ("F16", 16),
        ("BF16", 16),
        ("MXFP4", 4),
        ("TQ1_0", 1),
        ("UD-Q4_K_XL", 4),
        ("F32", 32),
        (None, None),
    ],
)
def test_nominal_bits(quant: str | None, bits: int | None) -> None:
    assert _rules.nominal_bits(quant) == bits


@pytest.mark.parametrize(
    ("folder", "base"),
    [
        ("gemma-3-270m-it-qat-GGUF", "gemma-3-270m-it-qat"),
        ("Nomic-embed-text-v1.5-Embedding-GGUF", "Nomic-embed-text-v1.5-Embedding"),
        ("Llama-3.2-1B-Instruct-Q8_0-GGUF", "Llama-3.2-1B-Instruct"),  # -GGUF, then one quant token
        ("Qwen3-8B-UD-Q4_K_XL-gguf", "Qwen3-8B"),
        ("model_gguf", "model_gguf"),  # "_gguf" is kept
        ("Q8_0", "Q8_0"),  # never strip the name down to nothing
    ],
)
def test_gguf_key_base(folder: str, base: str) -> None:
    assert _rules.gguf_key_base(folder) == base


@pytest.mark.parametrize(
    ("folder", "base"),
    [
        ("Llama-3.2-1B-Instruct-4bit", "Llama-3.2-1B-Instruct"),
        ("gemma-4-31B-it-MLX-8bit", "gemma-4-31B-it-MLX"),  # an inner -MLX stays
        ("Qwen3-4B-bf16", "Qwen3-4B"),
        ("gpt-oss-20b-mxfp4", "gpt-oss-20b"),
        ("Ornith-1.0-35B-MLX-oQ8", "Ornith-1.0-35B-MLX-oQ8"),  # oQ8 is not a bits token
    ],
)
def test_mlx_key_base(folder: str, base: str) -> None:
    assert _rules.mlx_key_base(folder) == base


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("Gemma 3 270m It Qat", "Gemma 3 270m Instruct Qat"),  # "It" -> "Instruct"
        ("nomic-embed-text-v1.5", "Nomic Embed Text v1.5"),  # version tokens as written
        ("gte-Qwen2-1.5B-instruct", "Gte Qwen2 1.5B Instruct"),
        ("Ornith-1.0-35B-MLX-oQ8", "Ornith 1.0 35B OQ8"),  # MLX dropped, oQ8 -> OQ8
        ("Llama-3.2-1B-Instruct-Q8_0", "Llama 3.2 1B Instruct"),  # trailing quant removed before "_" splits
        ("gemma-4-31B-it-MLX-8bit", "Gemma 4 31B Instruct"),
        ("Qwen2.5 0.5B Instruct", "Qwen2.5 0.5B Instruct"),
        ("qwen3_coder  30b", "Qwen3 Coder 30b"),  # runs of separators give one space
    ],
)
def test_display_name(source: str, shown: str) -> None:
    assert _rules.display_name(source) == shown


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("Qwen3-30B-A3B", "30B-A3B"),
        ("Mixtral-8x7B-Instruct", "8x7B"),
        ("gemma-3-270m", "270M"),
        ("bloom-7b1", "7.1B"),
        ("Qwen2.5-0.5B-Instruct", "0.5B"),
        ("Llama-3.2-1B-Instruct-4bit", "1B"),  # "3.2" has no letter; "4bit" is not a size
        ("7B-model", None),  # not the first token
        ("all-MiniLM-L6-v2", None),
    ],
)
def test_size_token(name: str, token: str | None) -> None:
    assert _rules.size_token(name) == token


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (268_098_176, "268M"),
        (8_030_261_248, "8.0B"),
        (30_532_122_624, "31B"),
        (1_235_814_400, "1.2B"),
        (22_713_216, "23M"),
        (999, "1.0K"),
        (1_500_000_000_000, "1.5T"),
    ],
)
def test_rounded_count(count: int, text: str) -> None:
    assert _rules.rounded_count(count) == text


@pytest.mark.parametrize(
    ("template", "tools"),
    [
        ("{%- if tools %}x{% endif %}", True),
        ("{{ tools | tojson }}", True),
        ("{% for t in tools %}{% endfor %}", True),
        ("You can use tools.", False),  # text outside a block
        ("{{ 'tools' }}", False),  # a string literal is not the variable
        ("{{ message.tools }}", False),  # an attribute is not the variable
        ("{% if toolset %}{% endif %}", False),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", False),  # SSTI payload: searched, never rendered
    ],
)
def test_mentions_tools(template: str, tools: bool) -> None:
    assert _rules.mentions_tools(template) is tools


def test_split_shard_name() -> None:
    assert _rules.split_shard_name("Qwen3-30B-A3B-UD-Q4_K_XL-00001-of-00002") == ("Qwen3-30B-A3B-UD-Q4_K_XL", 1, 2)
    assert _rules.split_shard_name("model-1-of-2") is None


def test_mentions_tools_is_linear_on_unclosed_openers() -> None:
    # 800 KB of openers that never close: a lazy-regex scan would rescan the rest of the text from
    # each of them (hours here); the linear scan answers at once, so this test would hang CI if not.
    template = "tools " + "{%" * 200_000 + "{{" * 200_000
    assert _rules.mentions_tools(template) is False
    assert _rules.mentions_tools("{{" * 1000 + "{% if tools %}") is True  # an unclosed "{{" hides nothing
    assert _rules.mentions_tools("{{ x }}" * 1000 + "{% if tools %}") is True
    assert _rules.mentions_tools("{% if x %}{{ y }}" * 1000 + "{{ 'tools' }}") is False
