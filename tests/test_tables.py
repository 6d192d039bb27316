"""modelscan's spec tables agree with the installed gguf package (gguf-py) on every id both know."""

from __future__ import annotations

import struct

import gguf
import pytest

from modelscan._tables import (
    GGML_BLOCK,
    GGUF_SCALAR,
    LLAMA_FILE_TYPE_NAMES,
    QK_K,
    TOKENIZER_ARRAYS,
    GGMLType,
    GGUFValueType,
)


def test_every_ggml_type_has_a_block_row() -> None:
    assert set(GGML_BLOCK) == {int(t) for t in GGMLType}


@pytest.mark.parametrize("ggml_type", list(GGMLType), ids=lambda t: t.name)
def test_block_rows_are_sane(ggml_type: GGMLType) -> None:
    block_size, type_size = GGML_BLOCK[ggml_type]
    assert block_size >= 1 and type_size >= 1
    # Quantized blocks are 32, 64, 128 or QK_K elements; plain types are 1.
    assert block_size in (1, 32, 64, 128, QK_K)


def test_ggml_types_agree_with_gguf_py() -> None:
    theirs = {t.value: t.name for t in gguf.GGMLQuantizationType}
    ours = {t.value: t.name for t in GGMLType}
    both = theirs.keys() & ours.keys()
    assert both, "no id in common"
    assert {i: ours[i] for i in both} == {i: theirs[i] for i in both}


def test_gguf_py_knows_no_type_we_lack() -> None:
    missing = {t.name: t.value for t in gguf.GGMLQuantizationType if t.value not in GGML_BLOCK}
    assert not missing, f"gguf knows ggml types modelscan does not: {missing}; add them to _tables"


def test_block_sizes_agree_with_gguf_py() -> None:
    for qtype, (block_size, type_size) in gguf.GGML_QUANT_SIZES.items():
        if qtype.value in GGML_BLOCK:
            assert GGML_BLOCK[qtype.value] == (block_size, type_size), qtype.name


def _lm_studio_name(member: gguf.LlamaFileType) -> str:
    if member.name == "ALL_F32":
        return "F32"
    return member.name.removeprefix("MOSTLY_")


def test_file_type_names_agree_with_gguf_py() -> None:
    theirs = {m.value: _lm_studio_name(m) for m in gguf.LlamaFileType}
    assert theirs == LLAMA_FILE_TYPE_NAMES


@pytest.mark.parametrize(
    ("file_type", "name"),
    [(0, "F32"), (1, "F16"), (7, "Q8_0"), (15, "Q4_K_M"), (32, "BF16"), (38, "MXFP4_MOE")],
)
def test_file_type_names_as_lm_studio_shows_them(file_type: int, name: str) -> None:
    assert LLAMA_FILE_TYPE_NAMES[file_type] == name


def test_removed_file_types_have_no_name() -> None:
    # Q4_1_SOME_F16, Q4_2, Q4_3 and the runtime-repack types were removed upstream.
    for removed in (4, 5, 6, 33, 34, 35):
        assert removed not in LLAMA_FILE_TYPE_NAMES


def test_value_types_agree_with_gguf_py() -> None:
    assert {t.name: t.value for t in GGUFValueType} == {t.name: t.value for t in gguf.GGUFValueType}


def test_scalar_table_covers_every_fixed_size_type() -> None:
    variable = {GGUFValueType.STRING, GGUFValueType.ARRAY}
    assert set(GGUF_SCALAR) == {int(t) for t in GGUFValueType} - variable


def test_scalar_formats_agree_with_gguf_py_writer() -> None:
    # The writer packs BOOL as "?"; we read it as "B" to see bytes other than 0 and 1.
    writer_formats = gguf.GGUFWriter._simple_value_packing
    for vtype, (fmt, size) in GGUF_SCALAR.items():
        expected = writer_formats[gguf.GGUFValueType(vtype)]
        assert fmt == ("B" if expected == "?" else expected)
        assert struct.calcsize("<" + fmt) == size


def test_tokenizer_array_types() -> None:
    assert TOKENIZER_ARRAYS["tokenizer.ggml.tokens"][0] == GGUFValueType.STRING
    assert TOKENIZER_ARRAYS["tokenizer.ggml.scores"][0] == GGUFValueType.FLOAT32
    assert TOKENIZER_ARRAYS["tokenizer.ggml.token_type"][0] == GGUFValueType.INT32
