"""MLX entries of GET /api/v1/models, byte for byte (FIELDS.md sections 2-6, MLX column).

Each folder is written with realistic config values and tiny tensors. Every file has a size
chosen in advance (JSON and templates padded with trailing whitespace, which JSON allows;
safetensors headers padded with spaces, which the format allows), so each expected
``size_bytes`` below is a sum worked out by hand, as is every other value: from the rules, not
from running the code.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers import response_models

import modelscan
from fixtures.make_fixtures import Q4_K, TOOLS_TEMPLATE, llm_tensors, write_gguf

_DTYPE_BYTES = {"U32": 4, "BF16": 2, "F16": 2, "F32": 4}

Tensor = tuple[str, str, tuple[int, ...]]


def write_safetensors(path: Path, tensors: Sequence[Tensor], header_size: int) -> None:
    """A safetensors file of ``8 + header_size + data`` bytes, as ``mx.save_safetensors`` lays it out."""
    header: dict[str, object] = {"__metadata__": {"format": "mlx"}}
    offset = 0
    for name, dtype, shape in tensors:
        size = math.prod(shape) * _DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    assert len(raw) <= header_size, path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", header_size) + raw + b" " * (header_size - len(raw)) + bytes(offset))


def write_padded(path: Path, content: object, size: int) -> None:
    """*content* (JSON for dicts, text for str) padded with spaces and a newline to *size* bytes."""
    raw = (content if isinstance(content, str) else json.dumps(content, indent=2)).encode()
    assert len(raw) < size, path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw + b" " * (size - len(raw) - 1) + b"\n")


LLAMA_TEMPLATE = """{{- bos_token }}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- if tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}
    {{- message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

QWEN_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {{- "# Tools\\n\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}{{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- endif %}
{%- for message in messages %}
    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

GEMMA_TEMPLATE = (
    "{{ bos_token }}{%- for message in messages -%}{{ '<start_of_turn>' + message['role'] + '\\n' + "
    "message['content'] | trim + '<end_of_turn>\\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)


def write_llama_4bit(root: Path) -> None:
    """A 4-bit affine model in two shards with an index, and junk that must not count."""
    folder = root / "mlx-community" / "Llama-3.2-1B-Instruct-4bit"
    quant = {"group_size": 64, "bits": 4}
    write_padded(
        folder / "config.json",
        {
            "architectures": ["LlamaForCausalLM"],
            "attention_bias": False,
            "bos_token_id": 128000,
            "eos_token_id": [128001, 128008, 128009],
            "head_dim": 64,
            "hidden_act": "silu",
            "hidden_size": 2048,
            "intermediate_size": 8192,
            "max_position_embeddings": 131072,
            "model_type": "llama",
            "num_attention_heads": 32,
            "num_hidden_layers": 16,
            "num_key_value_heads": 8,
            "quantization": quant,
            "quantization_config": quant,
            "rms_norm_eps": 1e-05,
            "rope_scaling": {
                "factor": 32.0,
                "high_freq_factor": 4.0,
                "low_freq_factor": 1.0,
                "original_max_position_embeddings": 8192,
                "rope_type": "llama3",
            },
            "rope_theta": 500000.0,
            "tie_word_embeddings": True,
            "torch_dtype": "bfloat16",
            "vocab_size": 128256,
        },
        2048,
    )
    shard_1 = [
        ("model.embed_tokens.weight", "U32", (16, 8)),  # 512 bytes; 16 x 64 = 1024 params
        ("model.embed_tokens.scales", "BF16", (16, 1)),  # 32
        ("model.embed_tokens.biases", "BF16", (16, 1)),  # 32
    ]
    shard_2 = [
        ("model.layers.0.input_layernorm.weight", "BF16", (64,)),  # 128 bytes; 64 params
        ("model.layers.0.self_attn.q_proj.weight", "U32", (64, 8)),  # 2048; 64 x 64 = 4096 params
        ("model.layers.0.self_attn.q_proj.scales", "BF16", (64, 1)),  # 128
        ("model.layers.0.self_attn.q_proj.biases", "BF16", (64, 1)),  # 128
        ("model.norm.weight", "BF16", (64,)),  # 128; 64 params
    ]
    write_safetensors(folder / "model-00001-of-00002.safetensors", shard_1, 1024)  # 8 + 1024 + 576 = 1608
    write_safetensors(folder / "model-00002-of-00002.safetensors", shard_2, 1024)  # 8 + 1024 + 2560 = 3592
    weight_map = {name: "model-00001-of-00002.safetensors" for name, _, _ in shard_1}
    weight_map.update({name: "model-00002-of-00002.safetensors" for name, _, _ in shard_2})
    write_padded(
        folder / "model.safetensors.index.json",
        {"metadata": {"total_size": 3136, "total_parameters": 5248}, "weight_map": weight_map},
        1024,
    )
    write_padded(
        folder / "tokenizer_config.json",
        {
            "bos_token": "<|begin_of_text|>",
            "chat_template": LLAMA_TEMPLATE,
            "eos_token": "<|eot_id|>",
            "model_max_length": 131072,
            "tokenizer_class": "PreTrainedTokenizerFast",
        },
        4096,
    )
    write_padded(folder / "tokenizer.json", {"version": "1.0", "model": {"type": "BPE"}}, 16384)
    write_padded(folder / "special_tokens_map.json", {"bos_token": "<|begin_of_text|>"}, 512)
    write_padded(folder / "README.md", "---\nlicense: llama3.2\nlibrary_name: mlx\n---\n", 1000)
    # Not part of the size: hidden files and folders, AppleDouble sidecars.
    write_padded(folder / ".gitattributes", "*.safetensors filter=lfs diff=lfs merge=lfs -text\n", 1519)
    (folder / "._config.json").write_bytes(bytes.fromhex("0005160700020000") + b"Mac OS X        " + bytes(4074))
    write_padded(folder / ".cache" / "huggingface" / "download" / "config.json.metadata", "abc\n", 100)


def write_gemma_vision(root: Path) -> None:
    """Gemma 3 VLM: vision_config, text_config without a context length, chat_template.json."""
    folder = root / "mlx-community" / "gemma-3-4b-it-4bit"
    write_padded(
        folder / "config.json",
        {
            "architectures": ["Gemma3ForConditionalGeneration"],
            "boi_token_index": 255999,
            "eoi_token_index": 256000,
            "eos_token_id": [1, 106],
            "image_token_index": 262144,
            "initializer_range": 0.02,
            "mm_tokens_per_image": 256,
            "model_type": "gemma3",
            "quantization": {"group_size": 64, "bits": 4},
            "text_config": {
                "hidden_size": 2560,
                "intermediate_size": 10240,
                "model_type": "gemma3_text",
                "num_hidden_layers": 34,
                "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                "sliding_window": 1024,
            },
            "torch_dtype": "bfloat16",
            "vision_config": {
                "hidden_size": 1152,
                "image_size": 896,
                "intermediate_size": 4304,
                "model_type": "siglip_vision_model",
                "num_attention_heads": 16,
                "num_hidden_layers": 27,
                "patch_size": 14,
                "vision_use_head": False,
            },
        },
        2048,
    )
    write_safetensors(
        folder / "model.safetensors",
        [
            ("language_model.model.embed_tokens.weight", "U32", (32, 8)),  # 1024 bytes
            ("language_model.model.embed_tokens.scales", "BF16", (32, 1)),  # 64
            ("language_model.model.embed_tokens.biases", "BF16", (32, 1)),  # 64
            ("vision_tower.vision_model.embeddings.patch_embedding.weight", "BF16", (16, 12)),  # 384
            ("language_model.model.norm.weight", "BF16", (64,)),  # 128
        ],
        1024,
    )  # 8 + 1024 + 1664 = 2696
    write_padded(folder / "chat_template.json", {"chat_template": GEMMA_TEMPLATE}, 2048)
    write_padded(folder / "tokenizer_config.json", {"model_max_length": 1000000000000000019884624838656}, 1024)
    write_padded(folder / "preprocessor_config.json", {"image_seq_length": 256}, 512)


def write_qwen3_bf16(root: Path) -> None:
    """Unquantized: BF16 holds the most bytes; chat_template.jinja uses tools."""
    folder = root / "mlx-community" / "Qwen3-0.6B-bf16"
    write_padded(
        folder / "config.json",
        {
            "architectures": ["Qwen3ForCausalLM"],
            "attention_bias": False,
            "bos_token_id": 151643,
            "eos_token_id": 151645,
            "head_dim": 128,
            "hidden_act": "silu",
            "hidden_size": 1024,
            "intermediate_size": 3072,
            "max_position_embeddings": 40960,
            "max_window_layers": 28,
            "model_type": "qwen3",
            "num_attention_heads": 16,
            "num_hidden_layers": 28,
            "num_key_value_heads": 8,
            "rms_norm_eps": 1e-06,
            "rope_scaling": None,
            "rope_theta": 1000000,
            "sliding_window": None,
            "tie_word_embeddings": True,
            "torch_dtype": "bfloat16",
            "use_sliding_window": False,
            "vocab_size": 151936,
        },
        2048,
    )
    write_safetensors(
        folder / "model.safetensors",
        [
            ("model.embed_tokens.weight", "BF16", (32, 16)),  # 1024 bytes
            ("model.norm.weight", "F32", (16,)),  # 64
        ],
        512,
    )  # 8 + 512 + 1088 = 1608
    write_padded(folder / "chat_template.jinja", QWEN_TEMPLATE, 4096)
    write_padded(folder / "tokenizer_config.json", {"model_max_length": 131072}, 1024)


def write_bge_embedding(root: Path) -> None:
    """A sentence-transformers BERT: no size token in the name, so the computed count."""
    folder = root / "BAAI" / "bge-small-en-v1.5"
    write_padded(
        folder / "config.json",
        {
            "architectures": ["BertModel"],
            "hidden_size": 32,
            "max_position_embeddings": 512,
            "model_type": "bert",
            "num_attention_heads": 12,
            "num_hidden_layers": 12,
            "vocab_size": 30522,
        },
        1024,
    )
    write_safetensors(
        folder / "model.safetensors",
        [
            ("embeddings.word_embeddings.weight", "F32", (64, 32)),  # 8192 bytes, 2048 params
            ("embeddings.LayerNorm.weight", "F32", (32,)),  # 128
            ("embeddings.LayerNorm.bias", "F32", (32,)),  # 128
        ],
        512,
    )  # 8 + 512 + 8448 = 8968
    write_padded(folder / "modules.json", [{"idx": 0, "name": "0", "path": "", "type": "Transformer"}], 512)
    write_padded(folder / "sentence_bert_config.json", {"max_seq_length": 512}, 256)
    write_padded(folder / "config_sentence_transformers.json", {"prompts": {}}, 256)
    write_padded(folder / "1_Pooling" / "config.json", {"pooling_mode_cls_token": True}, 256)
    write_padded(folder / "tokenizer_config.json", {"model_max_length": 512}, 512)
    write_padded(folder / "vocab.txt", "[PAD]\n[UNK]\n", 2000)


def write_qwen25_pair(root: Path) -> None:
    """The same model as MLX 8-bit and as GGUF: one key, so each gets its publisher."""
    folder = root / "mlx-community" / "Qwen2.5-0.5B-Instruct-8bit"
    quant = {"group_size": 64, "bits": 8}
    write_padded(
        folder / "config.json",
        {
            "architectures": ["Qwen2ForCausalLM"],
            "hidden_size": 896,
            "intermediate_size": 4864,
            "max_position_embeddings": 32768,
            "max_window_layers": 21,
            "model_type": "qwen2",
            "num_attention_heads": 14,
            "num_hidden_layers": 24,
            "num_key_value_heads": 2,
            "quantization": quant,
            "quantization_config": quant,
            "rms_norm_eps": 1e-06,
            "rope_theta": 1000000.0,
            "sliding_window": 32768,
            "tie_word_embeddings": True,
            "torch_dtype": "bfloat16",
            "use_sliding_window": False,
            "vocab_size": 151936,
        },
        2048,
    )
    write_safetensors(
        folder / "model.safetensors",
        [
            ("model.embed_tokens.weight", "U32", (16, 16)),  # 1024 bytes
            ("model.embed_tokens.scales", "BF16", (16, 1)),  # 32
            ("model.embed_tokens.biases", "BF16", (16, 1)),  # 32
            ("model.norm.weight", "BF16", (64,)),  # 128
        ],
        512,
    )  # 8 + 512 + 1216 = 1736
    write_padded(folder / "tokenizer_config.json", {"chat_template": QWEN_TEMPLATE, "model_max_length": 131072}, 4096)
    write_gguf(
        root / "lmstudio-community" / "Qwen2.5-0.5B-Instruct-GGUF" / "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf",
        "qwen2",
        {
            "general.name": "Qwen2.5 0.5B Instruct",
            "general.size_label": "0.5B",
            "qwen2.context_length": 32768,
            "tokenizer.chat_template": TOOLS_TEMPLATE,
        },
        llm_tensors(Q4_K),
        size=397807936,
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("golden") / "models"
    for write in (write_llama_4bit, write_gemma_vision, write_qwen3_bf16, write_bge_embedding, write_qwen25_pair):
        write(root)
    return root


@pytest.fixture(scope="module")
def entries(root: Path) -> list[dict[str, object]]:
    models = response_models(modelscan.list_models(root))
    return models


# size_bytes 30264 = 2048 config + 1608 + 3592 shards + 1024 index + 4096 tokenizer_config
#   + 16384 tokenizer + 512 special_tokens_map + 1000 README (.gitattributes, ._config.json, .cache/ left out).
# 131072 from max_position_embeddings (llama3 rope is not YaRN); tools: the template tests `tools`.
LLAMA_4BIT_SHARDED = """\
{
  "type": "llm",
  "publisher": "mlx-community",
  "key": "llama-3.2-1b-instruct",
  "display_name": "Llama 3.2 1B Instruct",
  "architecture": "llama",
  "quantization": {
    "name": "4bit",
    "bits_per_weight": 4
  },
  "size_bytes": 30264,
  "params_string": "1B",
  "loaded_instances": [],
  "max_context_length": 131072,
  "format": "mlx",
  "capabilities": {
    "vision": false,
    "trained_for_tool_use": true
  },
  "description": null
}"""

# size_bytes 8328 = 2048 + 2696 + 2048 + 1024 + 512; 131072 is Gemma 3's default (no value in
# text_config); vision from the non-empty vision_config; "4b" token uppercased to "4B".
GEMMA_VISION = """\
{
  "type": "llm",
  "publisher": "mlx-community",
  "key": "gemma-3-4b-it",
  "display_name": "Gemma 3 4b Instruct",
  "architecture": "gemma3",
  "quantization": {
    "name": "4bit",
    "bits_per_weight": 4
  },
  "size_bytes": 8328,
  "params_string": "4B",
  "loaded_instances": [],
  "max_context_length": 131072,
  "format": "mlx",
  "capabilities": {
    "vision": true,
    "trained_for_tool_use": false
  },
  "description": null
}"""

# size_bytes 8776 = 2048 + 1608 + 4096 + 1024; BF16 holds 1024 bytes, F32 64.
QWEN3_BF16 = """\
{
  "type": "llm",
  "publisher": "mlx-community",
  "key": "qwen3-0.6b",
  "display_name": "Qwen3 0.6B",
  "architecture": "qwen3",
  "quantization": {
    "name": "BF16",
    "bits_per_weight": 16
  },
  "size_bytes": 8776,
  "params_string": "0.6B",
  "loaded_instances": [],
  "max_context_length": 40960,
  "format": "mlx",
  "capabilities": {
    "vision": false,
    "trained_for_tool_use": true
  },
  "description": null
}"""

# size_bytes 13784 = 1024 + 8968 + 512 + 256 + 256 + 256 (1_Pooling/config.json) + 512 + 2000;
# params 2048 + 32 + 32 = 2112 -> "2.1K"; no architecture, capabilities or description.
BGE_EMBEDDING = """\
{
  "type": "embedding",
  "publisher": "BAAI",
  "key": "text-embedding-bge-small-en-v1.5",
  "display_name": "Bge Small En v1.5",
  "quantization": {
    "name": "F32",
    "bits_per_weight": 32
  },
  "size_bytes": 13784,
  "params_string": "2.1K",
  "loaded_instances": [],
  "max_context_length": 512,
  "format": "mlx"
}"""

# size_bytes 7880 = 2048 + 1736 + 4096; the key collides with the GGUF folder's.
QWEN25_MLX = """\
{
  "type": "llm",
  "publisher": "mlx-community",
  "key": "mlx-community/qwen2.5-0.5b-instruct",
  "display_name": "Qwen2.5 0.5B Instruct",
  "architecture": "qwen2",
  "quantization": {
    "name": "8bit",
    "bits_per_weight": 8
  },
  "size_bytes": 7880,
  "params_string": "0.5B",
  "loaded_instances": [],
  "max_context_length": 32768,
  "format": "mlx",
  "capabilities": {
    "vision": false,
    "trained_for_tool_use": true
  },
  "description": null
}"""

QWEN25_GGUF = """\
{
  "type": "llm",
  "publisher": "lmstudio-community",
  "key": "lmstudio-community/qwen2.5-0.5b-instruct",
  "display_name": "Qwen2.5 0.5B Instruct",
  "architecture": "qwen2",
  "quantization": {
    "name": "Q4_K_M",
    "bits_per_weight": 4
  },
  "size_bytes": 397807936,
  "params_string": "0.5B",
  "loaded_instances": [],
  "max_context_length": 32768,
  "format": "gguf",
  "capabilities": {
    "vision": false,
    "trained_for_tool_use": true
  },
  "description": null
}"""

# LLMs first, then embedding models; by publisher, then key (case-insensitively).
IN_ORDER = [QWEN25_GGUF, GEMMA_VISION, LLAMA_4BIT_SHARDED, QWEN25_MLX, QWEN3_BF16, BGE_EMBEDDING]


@pytest.mark.parametrize(
    "expected",
    [LLAMA_4BIT_SHARDED, GEMMA_VISION, QWEN3_BF16, BGE_EMBEDDING, QWEN25_MLX, QWEN25_GGUF],
    ids=["llm-4bit-sharded", "vision", "unquantized-bf16", "embedding", "collision-mlx", "collision-gguf"],
)
def test_entry_byte_for_byte(entries: list[dict[str, object]], expected: str) -> None:
    key = json.loads(expected)["key"]
    (entry,) = [e for e in entries if e["key"] == key]
    assert json.dumps(entry, indent=2) == expected


def test_whole_response_byte_for_byte(entries: list[dict[str, object]]) -> None:
    models = ",\n".join("\n".join("    " + line for line in e.splitlines()) for e in IN_ORDER)
    assert json.dumps({"models": entries}, indent=2) == '{\n  "models": [\n' + models + "\n  ]\n}"


def test_scan_is_clean(root: Path) -> None:
    # The index's total_size (3136) and total_parameters (5248) agree with the headers.
    report = modelscan.scan_models(root)
    assert report.problems == []
    assert report.warnings == []
    llama = next(m for m in report.models if m.key == "llama-3.2-1b-instruct")
    assert (llama.n_params, llama.header_bytes) == (5248, 2 * (8 + 1024))
    assert llama.bits_per_weight == round(3136 * 8 / 5248, 4)
