"""Spec numbers for GGUF and ggml, as data (no code, no I/O, no numpy).

Each table below says where its facts come from. The numbers mirror the C headers
(``ggml/include/ggml.h``, ``ggml/include/gguf.h``, ``include/llama.h`` in llama.cpp) and the
GGUF spec (``docs/gguf.md`` in ggml), as also published by gguf-py 0.19.0 (``gguf/constants.py``).
``tests/test_tables.py`` checks every table against the installed ``gguf`` package, so a new
upstream id shows up as a failing test rather than as a silent ``type_<id>``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

__all__ = [
    "GGML_BLOCK",
    "GGML_MAX_DIMS",
    "GGML_MAX_NAME",
    "GGUF_DEFAULT_ALIGNMENT",
    "GGUF_MAGIC",
    "GGUF_MAGIC_SWAPPED",
    "GGUF_MAX_ALIGNMENT",
    "GGUF_SCALAR",
    "GGUF_SUPPORTED_VERSIONS",
    "LLAMA_FILE_TYPE_NAMES",
    "QK_K",
    "TOKENIZER_ARRAYS",
    "GGMLType",
    "GGUFValueType",
]

# --- GGUF container (source: ggml docs/gguf.md; gguf.h; gguf.cpp) ----------------------------

#: The four bytes a GGUF file starts with (``GGUF_MAGIC``, little-endian u32 0x46554747).
GGUF_MAGIC: Final = b"GGUF"
#: The magic of a file whose every field, magic included, was byte-swapped.
GGUF_MAGIC_SWAPPED: Final = b"FUGG"
#: Versions this reader parses. v1 used u32 counts and is no longer supported by llama.cpp.
GGUF_SUPPORTED_VERSIONS: Final = frozenset({2, 3})
#: ``GGUF_DEFAULT_ALIGNMENT`` when ``general.alignment`` is absent.
GGUF_DEFAULT_ALIGNMENT: Final = 32
#: Upper bound for ``general.alignment`` (llama.cpp PR #24997 / ggml PR #1516 proposal, HOSTILE §6).
GGUF_MAX_ALIGNMENT: Final = 1 << 20
#: ``GGML_MAX_DIMS`` (ggml.h).
GGML_MAX_DIMS: Final = 4
#: ``GGML_MAX_NAME`` (ggml.h): a tensor name, with its NUL, must fit in 64 bytes.
GGML_MAX_NAME: Final = 64


class GGUFValueType(IntEnum):
    """``enum gguf_type`` (gguf.h); the type tag of a metadata value."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


#: Fixed-size value types: ``struct`` format character and encoded size in bytes
#: (source: gguf.md "GGUF_TYPE_*"; the spec's bool is one byte, 0 or 1).
#: STRING (u64 length + bytes) and ARRAY (u32 type + u64 count + elements) have no fixed size.
GGUF_SCALAR: Final[dict[int, tuple[str, int]]] = {
    GGUFValueType.UINT8: ("B", 1),
    GGUFValueType.INT8: ("b", 1),
    GGUFValueType.UINT16: ("H", 2),
    GGUFValueType.INT16: ("h", 2),
    GGUFValueType.UINT32: ("I", 4),
    GGUFValueType.INT32: ("i", 4),
    GGUFValueType.FLOAT32: ("f", 4),
    GGUFValueType.BOOL: ("B", 1),  # read as a byte so 2..255 can be reported, not coerced
    GGUFValueType.UINT64: ("Q", 8),
    GGUFValueType.INT64: ("q", 8),
    GGUFValueType.FLOAT64: ("d", 8),
}


# --- ggml tensor types (source: ggml.h ``enum ggml_type``; gguf-py GGMLQuantizationType) -------


class GGMLType(IntEnum):
    """``enum ggml_type`` (ggml.h) as of gguf 0.19.0. Removed ids stay as comments."""

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    # Q4_2 = 4  support has been removed
    # Q4_3 = 5  support has been removed
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8
    Q8_1 = 9
    Q2_K = 10
    Q3_K = 11
    Q4_K = 12
    Q5_K = 13
    Q6_K = 14
    Q8_K = 15
    IQ2_XXS = 16
    IQ2_XS = 17
    IQ3_XXS = 18
    IQ1_S = 19
    IQ4_NL = 20
    IQ3_S = 21
    IQ2_S = 22
    IQ4_XS = 23
    I8 = 24
    I16 = 25
    I32 = 26
    I64 = 27
    F64 = 28
    IQ1_M = 29
    BF16 = 30
    # Q4_0_4_4 = 31  removed from gguf files, use Q4_0 and runtime repack
    # Q4_0_4_8 = 32  removed from gguf files
    # Q4_0_8_8 = 33  removed from gguf files
    TQ1_0 = 34
    TQ2_0 = 35
    # IQ4_NL_4_4 = 36  removed from gguf files
    # IQ4_NL_4_8 = 37  removed from gguf files
    # IQ4_NL_8_8 = 38  removed from gguf files
    MXFP4 = 39
    NVFP4 = 40
    Q1_0 = 41


#: Super-block size of the k-quants (``QK_K`` in ggml-common.h).
QK_K: Final = 256

#: ggml type id -> (elements per block, bytes per block), from the block structs in
#: ggml-common.h (each term is one struct member: fp16 scales are 2, fp32 are 4).
#: A row of ``ne[0]`` elements takes ``ne[0] // block * bytes``; ``ne[0]`` must divide evenly.
GGML_BLOCK: Final[dict[int, tuple[int, int]]] = {
    GGMLType.F32: (1, 4),
    GGMLType.F16: (1, 2),
    GGMLType.Q4_0: (32, 2 + 16),
    GGMLType.Q4_1: (32, 2 + 2 + 16),
    GGMLType.Q5_0: (32, 2 + 4 + 16),
    GGMLType.Q5_1: (32, 2 + 2 + 4 + 16),
    GGMLType.Q8_0: (32, 2 + 32),
    GGMLType.Q8_1: (32, 4 + 4 + 32),
    GGMLType.Q2_K: (256, 2 + 2 + QK_K // 16 + QK_K // 4),
    GGMLType.Q3_K: (256, 2 + QK_K // 4 + QK_K // 8 + 12),
    GGMLType.Q4_K: (256, 2 + 2 + QK_K // 2 + 12),
    GGMLType.Q5_K: (256, 2 + 2 + QK_K // 2 + QK_K // 8 + 12),
    GGMLType.Q6_K: (256, 2 + QK_K // 2 + QK_K // 4 + QK_K // 16),
    GGMLType.Q8_K: (256, 4 + QK_K + QK_K // 8),
    GGMLType.IQ2_XXS: (256, 2 + QK_K // 4),
    GGMLType.IQ2_XS: (256, 2 + QK_K // 4 + QK_K // 32),
    GGMLType.IQ3_XXS: (256, 2 + QK_K // 4 + QK_K // 8),
    GGMLType.IQ1_S: (256, 2 + QK_K // 8 + QK_K // 16),
    GGMLType.IQ4_NL: (32, 2 + 16),
    GGMLType.IQ3_S: (256, 2 + QK_K // 4 + QK_K // 8 + QK_K // 32 + 4),
    GGMLType.IQ2_S: (256, 2 + QK_K // 4 + QK_K // 16),
    GGMLType.IQ4_XS: (256, 2 + 2 + QK_K // 2 + QK_K // 64),
    GGMLType.I8: (1, 1),
    GGMLType.I16: (1, 2),
    GGMLType.I32: (1, 4),
    GGMLType.I64: (1, 8),
    GGMLType.F64: (1, 8),
    GGMLType.IQ1_M: (256, QK_K // 8 + QK_K // 16 + QK_K // 32),
    GGMLType.BF16: (1, 2),
    GGMLType.TQ1_0: (256, 2 + 4 * 13),
    GGMLType.TQ2_0: (256, 2 + 64),
    GGMLType.MXFP4: (32, 1 + 16),
    GGMLType.NVFP4: (64, 4 + 32),
    GGMLType.Q1_0: (128, 2 + 16),
}


# --- llama file types (source: llama.h ``enum llama_ftype``; gguf-py LlamaFileType) -----------

#: ``general.file_type`` -> the name LM Studio shows: the ``LLAMA_FTYPE_*`` name without
#: ``MOSTLY_``, and ``ALL_F32`` as ``F32``.
LLAMA_FILE_TYPE_NAMES: Final[dict[int, str]] = {
    0: "F32",  # ALL_F32
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    # 4: MOSTLY_Q4_1_SOME_F16, tok_embeddings.weight and output.weight are F16 (removed)
    # 5: MOSTLY_Q4_2, support has been removed
    # 6: MOSTLY_Q4_3, support has been removed
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    # 33: MOSTLY_Q4_0_4_4, removed from gguf files (use Q4_0 and runtime repack)
    # 34: MOSTLY_Q4_0_4_8, removed from gguf files
    # 35: MOSTLY_Q4_0_8_8, removed from gguf files
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
    1024: "GUESSED",  # LLAMA_FTYPE_GUESSED: not specified in the model file
}


# --- tokenizer arrays (source: llama.cpp src/llama-vocab.cpp, the types it reads them as) -----

#: Well-known tokenizer arrays and the element type llama.cpp reads them as. A file that
#: declares another type (HOSTILE G-23, llama.cpp PR #26690) gets a warning; the bytes are
#: never reinterpreted. ``True`` means the count must equal that of ``tokenizer.ggml.tokens``.
TOKENIZER_ARRAYS: Final[dict[str, tuple[int, bool]]] = {
    "tokenizer.ggml.tokens": (GGUFValueType.STRING, True),
    "tokenizer.ggml.scores": (GGUFValueType.FLOAT32, True),
    "tokenizer.ggml.token_type": (GGUFValueType.INT32, True),
    "tokenizer.ggml.merges": (GGUFValueType.STRING, False),
}
