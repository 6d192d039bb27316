"""HOSTILE.md section 7.1 (GGUF) and 7.5 (P-01, P-03): every entry about one file's bytes, parsed
from a stream.

The entries are those of the one catalogue, tests/hostile_catalogue.py: each fatal entry must
raise exactly its exception class, ``code``, ``field`` and ``limit``; each warn or accept entry
must parse with exactly its warning (class, code and field) or none, and where :data:`CHECKS`
names it, hold the values checked there. Messages a user reads are asserted word for word. Work
is judged by counting it (read calls, bytes, tracemalloc peaks), never by the clock.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import CountingBytesIO
from hostile_catalogue import (  # the HOSTILE.md 7.0 builders and the catalogue, kept in one place
    ARCH,
    BY_ID,
    GGUF,
    T_F32,
    T_I32,
    T_STR,
    T_U8,
    T_U32,
    VALID_GGUF,
    Entry,
    hdr,
    kv_u32,
    pad,
    tinfo,
    write_p03,
)

from modelscan.errors import InvalidField, LayoutError, LimitExceeded, ModelScanError, NotAModel, Truncated, Unsupported
from modelscan.gguf import GGUFArray, GGUFHeader, parse_gguf_header, read_gguf_header
from modelscan.limits import BATCH_LIMITS, Limits

SOURCE = "models/pub/x-GGUF/x.gguf"


def parse(data: bytes, *, limits: Limits = BATCH_LIMITS) -> GGUFHeader:
    return parse_gguf_header(io.BytesIO(data), source=SOURCE, limits=limits)


def data_of(entry_id: str) -> bytes:
    """The bytes of a catalogue entry given as bytes."""
    return BY_ID[entry_id].data


# Every fatal GGUF entry, and P-03 (5 million tiny key/values: refused from the count alone).
FATAL = [e for e in GGUF if e.outcome == "fatal"] + [BY_ID["P-03-5M-tiny-kvs"]]


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.id) for e in FATAL])
def test_fatal(entry: Entry, tmp_path: Path) -> None:
    data = entry.target_bytes(tmp_path / "entry")
    with pytest.raises(ModelScanError) as info:
        parse(data)
    err = info.value
    assert type(err) is entry.cls, repr(err)
    assert err.code == entry.code
    assert err.path == SOURCE
    assert err.format == "gguf"
    if entry.field is not None:
        assert err.field == entry.field
    if entry.limit is not None:
        assert err.limit == entry.limit
    if err.offset is not None:
        assert 0 <= err.offset <= len(data)


def test_g01_empty_file_from_fstat(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(NotAModel) as info:
        read_gguf_header(path)
    assert info.value.code == "empty_file"
    assert info.value.path == str(path)


def test_g02_short_magic_offset_is_zero() -> None:
    with pytest.raises(Truncated) as info:
        parse(data_of("G-02-short-magic"))
    assert info.value.offset == 0


def test_g03_quotes_at_most_four_escaped_bytes() -> None:
    with pytest.raises(NotAModel) as info:
        parse(b"\x1b[2J" + b"secret contents of a file" * 10)
    assert info.value.detail == "not a GGUF file: magic '\\x1b[2J'"
    assert "secret" not in str(info.value)


def test_g03b_lfs_pointer_message() -> None:
    with pytest.raises(NotAModel) as info:
        parse(data_of("G-03b-lfs-pointer"))
    assert info.value.detail == "weights not downloaded (git-lfs pointer)"


def test_g04_big_endian_parses() -> None:
    # Divergence from HOSTILE G-04 (which expects Unsupported(big_endian), like llama.cpp): our
    # issue requires big-endian support, because gguf-py's writer produces such files
    # (GGUFWriter(..., endianess=GGUFEndian.BIG)) and gguf-py reads them. These bytes are a valid
    # big-endian header with no tensors and no key/values, so they parse as one.
    data = b"GGUF" + struct.pack(">I", 3) + struct.pack(">Q", 0) * 2
    assert data == data_of("G-04-big-endian")
    h = parse(data)
    assert (h.version, h.byteorder, h.kv, h.tensors) == (3, ">", {}, ())


def test_g04_fugg_magic_is_a_byte_swapped_file() -> None:
    data = b"FUGG" + struct.pack(">I", 3) + struct.pack(">Q", 0) + struct.pack(">Q", 1)
    data += struct.pack(">Q", 1) + b"k" + struct.pack(">I", T_U32) + struct.pack(">I", 7)
    h = parse(data)
    assert (h.version, h.byteorder, h.kv) == (3, ">", {"k": 7})


@pytest.mark.parametrize(
    ("entry_id", "detail"),
    [
        ("G-05-version-0", "unsupported version 0"),
        ("G-05-version-1", "unsupported version 1 (GGUF v1 is no longer supported)"),
        ("G-05-version-4", "unsupported version 4"),
        ("G-05-version-2^32-1", "unsupported version 4294967295"),
    ],
)
def test_g05_version_messages(entry_id: str, detail: str) -> None:
    with pytest.raises(Unsupported) as info:
        parse(data_of(entry_id))
    assert info.value.detail == detail


def test_g06_offset() -> None:
    with pytest.raises(Truncated) as info:
        parse(data_of("G-06-counts-truncated"))
    assert info.value.offset == 8


# G-08-n_kv-70000 (over the cap, within the file) and G-11 name their limits: test_fatal checks them.


@pytest.mark.parametrize("entry_id", ["G-08-n_kv-2^64-1", "G-08-n_tensors-2^64-1"])
def test_g08_is_o1(entry_id: str) -> None:
    # A count of 2^64 - 1 in a 24-byte file is refused from the count and the size: one read,
    # a few KiB allocated. A loop over the count would exceed the read cap and fail at once.
    stream = CountingBytesIO(data_of(entry_id), max_calls=8)
    tracemalloc.start()
    try:
        with pytest.raises(Truncated):
            parse_gguf_header(stream, source=SOURCE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stream.count.calls <= 2
    assert stream.count.nbytes == 24
    assert peak < 64 << 10


def test_g12_escaped_preview() -> None:
    with pytest.raises(InvalidField) as info:
        parse(data_of("G-12-key-not-utf8"))
    assert "general.\\xff\\xfe" in info.value.detail
    assert "\xff" not in str(info.value)


def test_g14_detail() -> None:
    with pytest.raises(InvalidField) as info:
        parse(data_of("G-14-type-13"))
    assert info.value.detail == "unknown value type 13"


def test_g16_detail() -> None:
    with pytest.raises(Truncated) as info:
        parse(data_of("G-16-string-one-byte-short"))
    assert info.value.detail == "needs 6 bytes, 5 remain"


def test_g18_detail() -> None:
    with pytest.raises(InvalidField) as info:
        parse(data_of("G-18-bool-2"))
    assert info.value.detail == "bool byte 2 not 0/1"


def test_g24_details() -> None:
    with pytest.raises(InvalidField) as info:
        parse(data_of("G-24-alignment-13"))
    assert info.value.detail == "13 not a power of two in [1, 1048576]"
    with pytest.raises(InvalidField) as info:
        parse(data_of("G-24-alignment-string"))
    assert info.value.detail.startswith("must be uint32")


def test_g25_detail() -> None:
    with pytest.raises(InvalidField) as info:
        parse(data_of("G-25-tensor-name-64-bytes"))
    assert info.value.detail.startswith("length 64 >= 64")


def test_g27_detail() -> None:
    with pytest.raises(InvalidField) as info:
        parse(data_of("G-27-n_dims-5"))
    assert info.value.detail == "5 > 4"


def test_g32_detail() -> None:
    with pytest.raises(InvalidField) as info:
        parse(data_of("G-32-row-not-multiple-of-block"))
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


def _no_check(h: GGUFHeader) -> None:
    pass


#: What a warn or accept entry's header holds, beyond its warning, by catalogue id.
CHECKS: dict[str, Check] = {
    "G-17-string-not-utf8": _g17,
    "G-23-scores-as-u8": _g23,
    "G-23-scores-count-mismatch": _count_mismatch,
    "G-30-zero-dimension": _g30,
    "G-31-type-255": _g31,
    "G-31-removed-type-4": _g31,
    "G-43-terminal-injection": _g43,
    "G-44-architecture-as-path": _g44,
    "G-45-absurd-hyperparameters": _g45,
    "G-46-ssti-chat-template": _g46,
    "G-47-mmproj-or-lora": _g47,
}

NON_FATAL = [e for e in GGUF if e.outcome != "fatal"]


def test_checks_name_catalogue_entries() -> None:
    assert set(CHECKS) <= {e.id for e in NON_FATAL}


def test_valid_gguf_control() -> None:
    h = parse(VALID_GGUF)
    assert h.warnings == ()
    _valid(h)


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.id) for e in NON_FATAL])
def test_accept(entry: Entry) -> None:
    h = parse(entry.data)
    assert [w.code for w in h.warnings] == ([entry.code] if entry.outcome == "warn" else [])
    for w in h.warnings:
        assert isinstance(w, ModelScanError) and w.path == SOURCE and w.format == "gguf"
        assert (type(w), w.field) == (entry.cls, entry.field)
    CHECKS.get(entry.id, _no_check)(h)


def test_g17_warning_names_the_field() -> None:
    h = parse(data_of("G-17-string-not-utf8"))
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
        with contextlib.suppress(ModelScanError):  # anything else fails the test; a hang would be
            parse(data)  # caught by tests/test_hostile_subprocess.py, under a CPU limit in a child


# --- 7.5 performance entries -------------------------------------------------------------------


@pytest.mark.parametrize("entry_id", ["P-01-qwen2-151936", "P-01-gemma3-262144"])
def test_p01_real_size_vocabulary(entry_id: str, tmp_path: Path) -> None:
    path = BY_ID[entry_id].write(tmp_path / "m")
    data = path.read_bytes()
    n = int(entry_id.rsplit("-", 1)[1])
    stream = CountingBytesIO(data)
    h = parse_gguf_header(stream, source=SOURCE)
    assert h.kv["tokenizer.ggml.tokens"] == GGUFArray(T_STR, n, None)
    assert h.kv["tokenizer.ggml.scores"] == GGUFArray(T_F32, n, None)
    assert h.kv["tokenizer.ggml.token_type"] == GGUFArray(T_I32, n, None)
    assert h.warnings == ()
    assert stream.count.nbytes <= len(data)  # no byte read twice (fixed-size arrays are skipped)
    assert read_gguf_header(path).kv == h.kv


def _p03_peak(n: int, folder: Path) -> tuple[int, int, int]:
    """(file size, bytes read, tracemalloc peak) of parsing P-03's layout with *n* keys, under a
    cap raised to *n*."""
    write_p03(folder / f"p03-{n}.gguf", n)
    data = (folder / f"p03-{n}.gguf").read_bytes()
    stream = CountingBytesIO(data)
    tracemalloc.start()
    try:
        h = parse_gguf_header(stream, source=SOURCE, limits=BATCH_LIMITS.replace(gguf_n_kv=n))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(h.kv) == n and h.kv[f"k{n - 1}"] == 1
    return len(data), stream.count.nbytes, peak


def test_p03_raised_cap_completes_linearly(tmp_path: Path) -> None:
    # The full 5M-key file under a raised cap is costly; 25k and 50k keys take the same path.
    # Linear: every byte is read once, and twice the keys cost about twice the memory (4 times
    # as much would be quadratic).
    size1, read1, peak1 = _p03_peak(25_000, tmp_path)
    size2, read2, peak2 = _p03_peak(50_000, tmp_path)
    assert (read1, read2) == (size1, size2)
    assert peak2 < 2.5 * peak1


def test_p03_writer_matches_the_catalogue_formula(tmp_path: Path) -> None:
    n = 12_345
    write_p03(tmp_path / "p03.gguf", n)
    assert (tmp_path / "p03.gguf").read_bytes() == hdr(0, n) + b"".join(kv_u32(f"k{i}", 1) for i in range(n))


def test_p03_sparse_file_is_o1(tmp_path: Path) -> None:
    path = tmp_path / "p03.gguf"
    with open(path, "wb") as f:
        f.write(hdr(0, 5_000_000))
        f.truncate(118_888_914)
    with pytest.raises(LimitExceeded) as info:
        read_gguf_header(path)
    assert info.value.limit == "gguf_n_kv"
    assert os.path.getsize(path) == 118_888_914
