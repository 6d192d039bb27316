"""HOSTILE.md section 7.1 (GGUF) and 7.5 (P-01, P-03): every entry about one file's bytes.

Each case is built with the section 7.0 builders and asserts the exact exception class and
``code`` (and ``field`` where the catalogue names one); warn cases assert the warning's code.
"""

from __future__ import annotations

# ruff: noqa: UP031  -- catalogue entries are written as HOSTILE.md prints them
import contextlib
import io
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_catalogue import (  # the HOSTILE.md 7.0 builders, kept in one place
    ARCH,
    LFS_POINTER,
    T_ARR,
    T_BOOL,
    T_F32,
    T_I32,
    T_STR,
    T_U8,
    T_U32,
    T_U64,
    VALID_GGUF,
    VALID_ST,
    gstr,
    hdr,
    kv,
    kv_arr,
    kv_str,
    kv_u32,
    pad,
    tinfo,
    u8,
    u32,
    u64,
)

from modelscan.errors import (
    DuplicateKey,
    InvalidField,
    LayoutError,
    LimitExceeded,
    ModelScanError,
    NotAModel,
    Truncated,
    Unsupported,
)
from modelscan.gguf import GGUFArray, GGUFHeader, parse_gguf_header, read_gguf_header
from modelscan.limits import BATCH_LIMITS

SOURCE = "models/pub/x-GGUF/x.gguf"


def parse(data: bytes, **kwargs: object) -> GGUFHeader:
    return parse_gguf_header(io.BytesIO(data), source=SOURCE, **kwargs)  # type: ignore[arg-type]


def g24(alignment_kv: bytes) -> bytes:
    return pad(hdr(1, 2) + ARCH + alignment_kv + tinfo("w", [4])) + b"\0" * 16


def _nested(depth: int) -> bytes:
    # An array of one array of one array ... (gguf-py recursed until RecursionError, G-21).
    return hdr(0, 1) + kv_arr("x", T_ARR, 1, (u32(T_ARR) + u64(1)) * depth + u32(T_U8) + u64(0))


# (id, bytes, exception class, code, field or None)
FATAL: list[tuple[str, bytes, type[ModelScanError], str, str | None]] = [
    ("G-01-empty", b"", NotAModel, "empty_file", None),
    ("G-02-short-magic", b"GG", Truncated, "truncated", "header.magic"),
    ("G-03-magic-GGML", b"GGML" + b"\0" * 28, NotAModel, "bad_magic", "header.magic"),
    ("G-03-magic-ggjt", b"tjgg" + b"\0" * 28, NotAModel, "bad_magic", "header.magic"),
    ("G-03-magic-ggmf", b"fmgg" + b"\0" * 28, NotAModel, "bad_magic", "header.magic"),
    ("G-03-random-bytes", bytes(range(7, 200)), NotAModel, "bad_magic", "header.magic"),
    ("G-03-safetensors-renamed", VALID_ST, NotAModel, "bad_magic", "header.magic"),
    ("G-03b-lfs-pointer", LFS_POINTER, NotAModel, "lfs_pointer", None),
    ("G-05-version-0", hdr(0, 0, version=0), Unsupported, "unsupported_version", "header.version"),
    (
        "G-05-version-1-u32-counts",
        b"GGUF" + u32(1) + u32(0) + u32(0),
        Unsupported,
        "unsupported_version",
        "header.version",
    ),
    ("G-05-version-4", hdr(0, 0, version=4), Unsupported, "unsupported_version", "header.version"),
    ("G-05-version-2^32-1", hdr(0, 0, version=0xFFFFFFFF), Unsupported, "unsupported_version", "header.version"),
    ("G-06-counts-truncated", b"GGUF" + u32(3) + b"\0" * 4, Truncated, "truncated", "header.n_tensors"),
    ("G-08-n_kv-2^64-1", hdr(0, 2**64 - 1), Truncated, "truncated", "header.n_kv"),
    ("G-08-n_tensors-2^64-1", hdr(2**64 - 1, 0), Truncated, "truncated", "header.n_tensors"),
    ("G-10-empty-key", hdr(0, 1) + gstr(b"") + u32(T_U32) + u32(1), InvalidField, "invalid_field", "kv[0].key"),
    ("G-11-key-70000-bytes", hdr(0, 1) + kv_u32("a" * 70000, 1), LimitExceeded, "limit_exceeded", "kv[0].key"),
    ("G-12-key-not-utf8", hdr(0, 1) + kv_u32(b"general.\xff\xfe", 1), InvalidField, "invalid_field", "kv[0].key"),
    (
        "G-13-duplicate-key",
        hdr(0, 2) + kv_str("general.architecture", "llama") + kv_str("general.architecture", "qwen2"),
        DuplicateKey,
        "duplicate_key",
        "kv[1:general.architecture]",
    ),
    (
        "G-14-value-type-13",
        hdr(0, 1) + kv("general.x", 13, b"\0" * 8),
        InvalidField,
        "invalid_field",
        "kv[0:general.x].type",
    ),
    (
        "G-14-value-type-2^31",
        hdr(0, 1) + kv("general.x", 0x80000000, b"\0" * 8),
        InvalidField,
        "invalid_field",
        "kv[0:general.x].type",
    ),
    (
        "G-14-value-type-2^32-1",
        hdr(0, 1) + kv("general.x", 0xFFFFFFFF, b"\0" * 8),
        InvalidField,
        "invalid_field",
        "kv[0:general.x].type",
    ),
    (
        "G-16-string-one-byte-short",
        hdr(0, 1) + kv("general.name", T_STR, u64(6) + b"hello"),
        Truncated,
        "truncated",
        "kv[0:general.name].value",
    ),
    (
        "G-18-bool-2",
        hdr(0, 1) + kv("general.flag", T_BOOL, u8(2)),
        InvalidField,
        "invalid_field",
        "kv[0:general.flag].value",
    ),
    # G-19: gguf-py loops forever on this 49-byte file (an array of 2^40 strings and no data).
    ("G-19-49-byte-array", hdr(0, 1) + kv_arr("x", T_STR, 2**40), Truncated, "truncated", "kv[0:x].count"),
    ("G-21-nested-array", _nested(1), Unsupported, "nested_array", "kv[0:x].elem_type"),
    ("G-21-nested-array-depth-10000", _nested(10_000), Unsupported, "nested_array", "kv[0:x].elem_type"),
    (
        "G-22-array-elem-type-99",
        hdr(0, 1) + kv_arr("x", 99, 1, b"\0" * 8),
        InvalidField,
        "invalid_field",
        "kv[0:x].elem_type",
    ),
    (
        "G-24-alignment-0",
        g24(kv_u32("general.alignment", 0)),
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].value",
    ),
    (
        "G-24-alignment-13",
        g24(kv_u32("general.alignment", 13)),
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].value",
    ),
    (
        "G-24-alignment-2^31",
        g24(kv_u32("general.alignment", 0x80000000)),
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].value",
    ),
    (
        "G-24-alignment-2^21",
        g24(kv_u32("general.alignment", 1 << 21)),
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].value",
    ),
    (
        "G-24-alignment-string",
        g24(kv("general.alignment", T_STR, gstr("32"))),
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].type",
    ),
    (
        "G-24-alignment-int32",
        g24(kv("general.alignment", T_I32, u32(32))),
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].type",
    ),
    (
        "G-25-tensor-name-64-bytes",
        pad(hdr(1, 1) + ARCH + tinfo("n" * 64, [4])) + b"\0" * 16,
        InvalidField,
        "invalid_field",
        "tensor[0].name",
    ),
    (
        "G-26-duplicate-tensor",
        pad(hdr(2, 1) + ARCH + tinfo("w", [4], 0, 0) + tinfo("w", [4], 0, 32)) + b"\0" * 64,
        DuplicateKey,
        "duplicate_key",
        "tensor[1:w]",
    ),
    (
        "G-27-n_dims-5",
        pad(hdr(1, 1) + ARCH + tinfo("w", [1, 1, 1, 1, 4])) + b"\0" * 16,
        InvalidField,
        "invalid_field",
        "tensor[0:w].n_dims",
    ),
    (
        "G-27-n_dims-2^32-1",
        hdr(1, 1) + ARCH + gstr("w") + u32(0xFFFFFFFF) + u64(4),
        InvalidField,
        "invalid_field",
        "tensor[0:w].n_dims",
    ),
    (
        "G-32-row-not-multiple-of-block",
        pad(hdr(1, 1) + ARCH + tinfo("w", [33], 2)) + b"\0" * 64,
        InvalidField,
        "invalid_field",
        "tensor[0:w].dims[0]",
    ),
    (
        "G-33-offset-misaligned",
        pad(hdr(1, 1) + ARCH + tinfo("w", [4], 0, 4)) + b"\0" * 32,
        LayoutError,
        "misaligned",
        "tensor[0:w].offset",
    ),
    (
        "G-35-overlap",
        pad(hdr(2, 1) + ARCH + tinfo("a", [8], 0, 0) + tinfo("b", [8], 0, 0)) + b"\0" * 64,
        LayoutError,
        "overlap",
        "tensor[1:b].offset",
    ),
    (
        "G-35-hole",
        pad(hdr(2, 1) + ARCH + tinfo("a", [8], 0, 0) + tinfo("b", [8], 0, 64)) + b"\0" * 128,
        LayoutError,
        "hole",
        "tensor[1:b].offset",
    ),
    ("G-37-fewer-tensor-infos", hdr(2, 1) + ARCH + tinfo("w", [4]), Truncated, "truncated", "tensor[1].name.len"),
    ("G-41-no-room-for-data", hdr(1, 1) + ARCH + tinfo("w", [4]), Truncated, "truncated", "tensor[0:w]"),
    ("P-03-5M-tiny-kvs-header", b"", LimitExceeded, "limit_exceeded", "header.n_kv"),  # bytes made below
]


def _p03_bytes(n: int) -> bytes:
    """``hdr(0, n) + b''.join(kv_u32('k%d' % i, 1) for i in range(n))``, built by groups of
    equal key length so the 110 MB file takes a second instead of ten."""
    parts = [hdr(0, n)]
    value = u32(T_U32) + u32(1)
    lo = 0
    while lo < n:
        digits = len(str(lo))
        hi = min(n, 10**digits)
        prefix = u64(digits + 1) + b"k"
        sep = (value + prefix).decode("latin-1")
        parts.append(prefix + sep.join(map(str, range(lo, hi))).encode("latin-1") + value)
        lo = hi
    return b"".join(parts)


def _fatal_bytes(case_id: str, data: bytes) -> bytes:
    return _p03_bytes(5_000_000) if case_id.startswith("P-03") else data


@pytest.mark.parametrize(("data", "cls", "code", "field"), [pytest.param(*c[1:], id=c[0]) for c in FATAL])
def test_fatal(
    request: pytest.FixtureRequest, data: bytes, cls: type[ModelScanError], code: str, field: str | None
) -> None:
    data = _fatal_bytes(request.node.callspec.id, data)
    started = time.perf_counter()
    with pytest.raises(ModelScanError) as info:
        parse(data)
    elapsed = time.perf_counter() - started
    err = info.value
    assert type(err) is cls, repr(err)
    assert err.code == code
    assert err.path == SOURCE
    assert err.format == "gguf"
    if field is not None:
        assert err.field == field
    if err.offset is not None:
        assert 0 <= err.offset <= len(data)
    print(f"{request.node.callspec.id}: {elapsed * 1000:.2f} ms: {err}")


def test_g01_empty_file_from_fstat(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(NotAModel) as info:
        read_gguf_header(path)
    assert info.value.code == "empty_file"
    assert info.value.path == str(path)


def test_g02_short_magic_offset_is_zero() -> None:
    with pytest.raises(Truncated) as info:
        parse(b"GG")
    assert info.value.offset == 0


def test_g03_quotes_at_most_four_escaped_bytes() -> None:
    with pytest.raises(NotAModel) as info:
        parse(b"\x1b[2J" + b"secret contents of a file" * 10)
    assert info.value.detail == "not a GGUF file: magic '\\x1b[2J'"
    assert "secret" not in str(info.value)


def test_g03b_lfs_pointer_message() -> None:
    with pytest.raises(NotAModel) as info:
        parse(LFS_POINTER)
    assert info.value.detail == "weights not downloaded (git-lfs pointer)"


def test_g04_big_endian_parses() -> None:
    # Divergence from HOSTILE G-04 (which expects Unsupported(big_endian), like llama.cpp): our
    # issue requires big-endian support, because gguf-py's writer produces such files
    # (GGUFWriter(..., endianess=GGUFEndian.BIG)) and gguf-py reads them. These bytes are a valid
    # big-endian header with no tensors and no key/values, so they parse as one.
    data = b"GGUF" + struct.pack(">I", 3) + struct.pack(">Q", 0) * 2
    h = parse(data)
    assert (h.version, h.byteorder, h.kv, h.tensors) == (3, ">", {}, ())


def test_g04_fugg_magic_is_a_byte_swapped_file() -> None:
    data = b"FUGG" + struct.pack(">I", 3) + struct.pack(">Q", 0) + struct.pack(">Q", 1)
    data += struct.pack(">Q", 1) + b"k" + struct.pack(">I", T_U32) + struct.pack(">I", 7)
    h = parse(data)
    assert (h.version, h.byteorder, h.kv) == (3, ">", {"k": 7})


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        pytest.param(hdr(0, 0, version=0), "unsupported version 0", id="v0"),
        pytest.param(
            b"GGUF" + u32(1) + u32(0) + u32(0), "unsupported version 1 (GGUF v1 is no longer supported)", id="v1"
        ),
        pytest.param(hdr(0, 0, version=4), "unsupported version 4", id="v4"),
        pytest.param(hdr(0, 0, version=0xFFFFFFFF), "unsupported version 4294967295", id="v2^32-1"),
    ],
)
def test_g05_version_messages(data: bytes, detail: str) -> None:
    with pytest.raises(Unsupported) as info:
        parse(data)
    assert info.value.detail == detail


def test_g06_offset() -> None:
    with pytest.raises(Truncated) as info:
        parse(b"GGUF" + u32(3) + b"\0" * 4)
    assert info.value.offset == 8


def test_g08_n_kv_over_the_cap_but_within_the_file() -> None:
    data = hdr(0, 70_000) + b"".join(kv_u32("k%d" % i, 1) for i in range(70_000))
    with pytest.raises(LimitExceeded) as info:
        parse(data)
    assert (info.value.field, info.value.limit) == ("header.n_kv", "gguf_n_kv")


def test_g08_is_o1() -> None:
    started = time.perf_counter()
    for _ in range(1000):
        with pytest.raises(Truncated):
            parse(hdr(0, 2**64 - 1))
    print(f"G-08: {(time.perf_counter() - started) * 1000 / 1000:.3f} ms per parse")


def test_g11_names_the_limit() -> None:
    with pytest.raises(LimitExceeded) as info:
        parse(hdr(0, 1) + kv_u32("a" * 70000, 1))
    assert info.value.limit == "gguf_key_bytes"


def test_g12_escaped_preview() -> None:
    with pytest.raises(InvalidField) as info:
        parse(hdr(0, 1) + kv_u32(b"general.\xff\xfe", 1))
    assert "general.\\xff\\xfe" in info.value.detail
    assert "\xff" not in str(info.value)


def test_g14_detail() -> None:
    with pytest.raises(InvalidField) as info:
        parse(hdr(0, 1) + kv("general.x", 13, b"\0" * 8))
    assert info.value.detail == "unknown value type 13"


def test_g16_detail() -> None:
    with pytest.raises(Truncated) as info:
        parse(hdr(0, 1) + kv("general.name", T_STR, u64(6) + b"hello"))
    assert info.value.detail == "needs 6 bytes, 5 remain"


def test_g18_detail() -> None:
    with pytest.raises(InvalidField) as info:
        parse(hdr(0, 1) + kv("general.flag", T_BOOL, u8(2)))
    assert info.value.detail == "bool byte 2 not 0/1"


def test_g24_details() -> None:
    with pytest.raises(InvalidField) as info:
        parse(g24(kv_u32("general.alignment", 13)))
    assert info.value.detail == "13 not a power of two in [1, 1048576]"
    with pytest.raises(InvalidField) as info:
        parse(g24(kv("general.alignment", T_STR, gstr("32"))))
    assert info.value.detail.startswith("must be uint32")


def test_g25_detail() -> None:
    with pytest.raises(InvalidField) as info:
        parse(pad(hdr(1, 1) + ARCH + tinfo("n" * 64, [4])) + b"\0" * 16)
    assert info.value.detail.startswith("length 64 >= 64")


def test_g27_detail() -> None:
    with pytest.raises(InvalidField) as info:
        parse(pad(hdr(1, 1) + ARCH + tinfo("w", [1, 1, 1, 1, 4])) + b"\0" * 16)
    assert info.value.detail == "5 > 4"


def test_g32_detail() -> None:
    with pytest.raises(InvalidField) as info:
        parse(pad(hdr(1, 1) + ARCH + tinfo("w", [33], 2)) + b"\0" * 64)
    assert info.value.detail == "33 not a multiple of block size 32"


# Not in the catalogue, but the rules (R2, llama.cpp #27203): dims and element counts that do
# not fit in int64 are rejected before any product is used.
@pytest.mark.parametrize(
    ("data", "field", "detail"),
    [
        pytest.param(
            pad(hdr(1, 1) + ARCH + tinfo("w", [4, 2**63])) + b"\0" * 32,
            "tensor[0:w].dims[1]",
            "9223372036854775808 >= 2^63",
            id="R2-dim-2^63",
        ),
        pytest.param(
            pad(hdr(1, 1) + ARCH + tinfo("w", [2**63 - 1, 2, 1, 1], 24)) + b"\0" * 32,
            "tensor[0:w].dims",
            "element count 18446744073709551614 does not fit in int64",
            id="R2-nelements-overflow-27203",
        ),
        pytest.param(
            pad(hdr(1, 1) + ARCH + tinfo("w", [2**42 + 1, 2**21])) + b"\0" * 32,
            "tensor[0:w].dims",
            None,
            id="R2-PR18674-wrapping-dims",
        ),
    ],
)
def test_dims_that_do_not_fit(data: bytes, field: str, detail: str | None) -> None:
    with pytest.raises(InvalidField) as info:
        parse(data)
    assert info.value.field == field
    if detail is not None:
        assert info.value.detail == detail


def test_huge_tensor_in_a_small_file_is_truncated() -> None:
    # 2^40 F32 elements declared in a 160-byte file: sizes are Python ints, nothing wraps.
    with pytest.raises(Truncated) as info:
        parse(pad(hdr(1, 1) + ARCH + tinfo("w", [2**20, 2**20])) + b"\0" * 32)
    assert info.value.field == "tensor[0:w]"


# --- warn and accept cases ---------------------------------------------------------------------

Check = Callable[[GGUFHeader], None]


def _g17(h: GGUFHeader) -> None:
    assert h.kv["general.name"] == "\ufffd(bad"


def _g23(h: GGUFHeader) -> None:
    assert h.kv["tokenizer.ggml.scores"] == GGUFArray(T_U8, 8, None)
    assert h.warnings[0].detail == "tokenizer.ggml.scores: expected FLOAT32[8], found UINT8[8]"


def _g30(h: GGUFHeader) -> None:
    (t,) = h.tensors
    assert (t.shape, t.n_elements, t.n_bytes) == ((4, 0), 0, 0)


def _g31(h: GGUFHeader) -> None:
    (t,) = h.tensors
    assert t.n_bytes is None
    assert h.warnings[0].field == "tensor[0:w].type"


def _g43(h: GGUFHeader) -> None:
    assert h.kv["general.name"] == "\x1b[2J\x1b[31mpwned\r\nFAKE LOG LINE"


def _g44(h: GGUFHeader) -> None:
    # An opaque string; the charset warning belongs to facts.py, which uses the value.
    assert h.kv["general.architecture"] == "../../etc/passwd"


def _g45(h: GGUFHeader) -> None:
    assert h.kv["llama.context_length"] == 2**64 - 1
    assert h.kv["llama.block_count"] == 0


def _g46(h: GGUFHeader) -> None:
    assert h.kv["tokenizer.chat_template"] == "{{ ''.__class__.__mro__[1].__subclasses__() }}"


def _g47(h: GGUFHeader) -> None:
    assert (h.kv["general.architecture"], h.kv["general.type"]) == ("clip", "adapter")


def _valid(h: GGUFHeader) -> None:
    assert h.kv == {"general.architecture": "llama"}
    assert h.tensors[0].n_bytes == 16 and h.data_offset == 128


def _count_mismatch(h: GGUFHeader) -> None:
    assert h.kv["tokenizer.ggml.scores"] == GGUFArray(T_F32, 7, None)


# (id, bytes, warning codes in order, check)
ACCEPT: list[tuple[str, bytes, list[str], Check]] = [
    ("VALID_GGUF-control", VALID_GGUF, [], _valid),
    ("G-17-string-not-utf8", hdr(0, 1) + kv_str("general.name", b"\xc3\x28bad"), ["not_utf8"], _g17),
    (
        "G-23-scores-as-u8",
        hdr(0, 3)
        + ARCH
        + kv_arr("tokenizer.ggml.tokens", T_STR, 8, b"".join(gstr("t%d" % i) for i in range(8)))
        + kv_arr("tokenizer.ggml.scores", T_U8, 8, b"\0" * 8),
        ["unexpected_type"],
        _g23,
    ),
    (
        "G-23-scores-count-mismatch",
        hdr(0, 3)
        + ARCH
        + kv_arr("tokenizer.ggml.tokens", T_STR, 8, b"".join(gstr("t%d" % i) for i in range(8)))
        + kv_arr("tokenizer.ggml.scores", T_F32, 7, b"\0" * 28),
        ["count_mismatch"],
        _count_mismatch,
    ),
    (
        "G-24-alignment-4-not-multiple-of-8",
        pad(hdr(1, 2) + ARCH + kv_u32("general.alignment", 4) + tinfo("w", [4]), 4) + b"\0" * 16,
        ["alignment_not_multiple_of_8"],
        lambda h: None,
    ),
    ("G-30-zero-dimension", pad(hdr(1, 1) + ARCH + tinfo("w", [4, 0])), [], _g30),
    (
        "G-31-unknown-ggml-type-255",
        pad(hdr(1, 1) + ARCH + tinfo("w", [32], 255)) + b"\0" * 128,
        ["unknown_ggml_type"],
        _g31,
    ),
    (
        "G-31-removed-ggml-type-4-Q4_2",
        pad(hdr(1, 1) + ARCH + tinfo("w", [32], 4)) + b"\0" * 128,
        ["unknown_ggml_type"],
        _g31,
    ),
    (
        "G-43-terminal-injection",
        hdr(0, 2) + ARCH + kv_str("general.name", "\x1b[2J\x1b[31mpwned\r\nFAKE LOG LINE"),
        [],
        _g43,
    ),
    ("G-44-architecture-as-path", hdr(0, 1) + kv_str("general.architecture", "../../etc/passwd"), [], _g44),
    (
        "G-45-absurd-hyperparameters",
        hdr(0, 3) + ARCH + kv("llama.context_length", T_U64, u64(2**64 - 1)) + kv("llama.block_count", T_U32, u32(0)),
        [],
        _g45,
    ),
    (
        "G-46-ssti-chat-template",
        hdr(0, 2) + ARCH + kv_str("tokenizer.chat_template", "{{ ''.__class__.__mro__[1].__subclasses__() }}"),
        [],
        _g46,
    ),
    (
        "G-47-mmproj-or-lora",
        hdr(0, 2) + kv_str("general.architecture", "clip") + kv_str("general.type", "adapter"),
        [],
        _g47,
    ),
]


@pytest.mark.parametrize(("data", "codes", "check"), [pytest.param(*c[1:], id=c[0]) for c in ACCEPT])
def test_accept(data: bytes, codes: list[str], check: Check) -> None:
    h = parse(data)
    assert [w.code for w in h.warnings] == codes
    for w in h.warnings:
        assert isinstance(w, ModelScanError) and w.path == SOURCE and w.format == "gguf"
    check(h)


def test_g17_warning_names_the_field() -> None:
    h = parse(hdr(0, 1) + kv_str("general.name", b"\xc3\x28bad"))
    (w,) = h.warnings
    assert (type(w), w.field, w.offset) == (InvalidField, "kv[0:general.name].value", 24 + 8 + 12 + 4)


def test_g31_unknown_type_skips_layout_checks_for_that_tensor() -> None:
    # Tensor 'a' has an unknown type, so where 'b' starts cannot be checked, only its order.
    data = pad(hdr(2, 1) + ARCH + tinfo("a", [32], 255, 0) + tinfo("b", [4], 0, 4096)) + b"\0" * 4112
    h = parse(data)
    assert [t.n_bytes for t in h.tensors] == [None, 16]
    data = pad(hdr(2, 1) + ARCH + tinfo("a", [32], 255, 0) + tinfo("b", [4], 0, 0)) + b"\0" * 128
    with pytest.raises(LayoutError) as info:
        parse(data)
    assert info.value.code == "overlap"


# --- extreme substitution (HOSTILE 5.5, property 4) --------------------------------------------

EXTREMES = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1]


def _int_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of every u32/u64 field of VALID_GGUF, from its layout."""
    fields = [(4, 4), (8, 8), (16, 8)]
    at = 24
    fields.append((at, 8))  # key length
    at += 8 + len("general.architecture")
    fields.append((at, 4))  # type
    at += 4
    fields.append((at, 8))  # string length
    at += 8 + len("llama")
    fields += [(at, 8), (at + 9, 4), (at + 13, 8), (at + 21, 4), (at + 25, 8)]  # tensor info
    return fields


@pytest.mark.parametrize(("offset", "width"), _int_fields(VALID_GGUF))
def test_extreme_substitution(offset: int, width: int) -> None:
    remaining = len(VALID_GGUF) - offset - width
    for value in [*EXTREMES, remaining, remaining + 1]:
        if value >= 1 << (8 * width):
            continue
        data = VALID_GGUF[:offset] + value.to_bytes(width, "little") + VALID_GGUF[offset + width :]
        with contextlib.suppress(ModelScanError):  # anything else fails the test; hangs are caught
            parse(data)  # by tests/test_hostile_subprocess.py, which times every entry in a child


# --- 7.5 performance entries -------------------------------------------------------------------


def _p01(n: int) -> bytes:
    return (
        hdr(0, 4)
        + ARCH
        + kv_arr("tokenizer.ggml.tokens", T_STR, n, b"".join(gstr("tok%06d" % i) for i in range(n)))
        + kv_arr("tokenizer.ggml.scores", T_F32, n, b"\0" * 4 * n)
        + kv_arr("tokenizer.ggml.token_type", T_I32, n, b"\1\0\0\0" * n)
    )


@pytest.mark.parametrize("n", [151_936, 262_144], ids=["P-01-qwen2-151936", "P-01-gemma3-262144"])
def test_p01_real_size_vocabulary(n: int, tmp_path: Path) -> None:
    data = _p01(n)
    started = time.perf_counter()
    h = parse(data)
    elapsed = time.perf_counter() - started
    assert h.kv["tokenizer.ggml.tokens"] == GGUFArray(T_STR, n, None)
    assert h.kv["tokenizer.ggml.scores"] == GGUFArray(T_F32, n, None)
    assert h.kv["tokenizer.ggml.token_type"] == GGUFArray(T_I32, n, None)
    assert h.warnings == ()
    path = tmp_path / "vocab.gguf"
    path.write_bytes(data)
    assert read_gguf_header(path).kv == h.kv
    print(f"P-01 n={n} ({len(data) / 1e6:.1f} MB): {elapsed * 1000:.1f} ms")


def test_p03_raised_cap_completes_linearly() -> None:
    # The full 5M-key file under a raised cap takes ~20 s here; 200k keys show the same path.
    n = 200_000
    data = _p03_bytes(n)
    started = time.perf_counter()
    h = parse(data, limits=BATCH_LIMITS.replace(gguf_n_kv=n, gguf_key_bytes_per_file=16 << 20))
    elapsed = time.perf_counter() - started
    assert len(h.kv) == n and h.kv["k199999"] == 1
    print(f"P-03 n={n}: {elapsed:.2f} s")


def test_p03_bytes_builder_matches_the_catalogue() -> None:
    n = 12_345
    assert _p03_bytes(n) == hdr(0, n) + b"".join(kv_u32("k%d" % i, 1) for i in range(n))


def test_p03_sparse_file_is_o1(tmp_path: Path) -> None:
    path = tmp_path / "p03.gguf"
    with open(path, "wb") as f:
        f.write(hdr(0, 5_000_000))
        f.truncate(118_888_914)
    with pytest.raises(LimitExceeded) as info:
        read_gguf_header(path)
    assert info.value.limit == "gguf_n_kv"
    assert os.path.getsize(path) == 118_888_914
