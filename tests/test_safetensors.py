"""modelscan.safetensors: valid files, the HOSTILE.md 7.2 catalogue (S-01 .. S-27), every prefix,
file access, and agreement with the installed safetensors library (the reference reader)."""

from __future__ import annotations

import gc
import io
import json
import os
import pickle
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors
import safetensors.numpy
from helpers import Trickle, minilm_files, python_code, run_python
from hostile_catalogue import VALID_ST, W4, st  # the HOSTILE.md 7.0 builders, kept in one place

import modelscan.safetensors as mst
from modelscan import _json
from modelscan.errors import (
    ChangedDuringScan,
    DuplicateKey,
    FileAccessError,
    InvalidField,
    LayoutError,
    LimitExceeded,
    ModelScanError,
    NotAModel,
    Truncated,
)
from modelscan.limits import BATCH_LIMITS, SERVER_LIMITS, Limits
from modelscan.safetensors import (
    DTYPE_BITS,
    SafetensorsHeader,
    SafetensorsTensor,
    parse_safetensors_header,
    read_safetensors_header,
)

SOURCE = "m/x.safetensors"


DUP_ENTRY = b'"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}'
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 4368439584\n"
APPLEDOUBLE = bytes.fromhex("0005160700020000") + b"Mac OS X        " + b"\0" * 60


def parse(data: bytes, limits: Limits = BATCH_LIMITS) -> SafetensorsHeader:
    return parse_safetensors_header(io.BytesIO(data), source=SOURCE, file_size=len(data), limits=limits)


def fail(data: bytes, limits: Limits = BATCH_LIMITS) -> ModelScanError:
    with pytest.raises(ModelScanError) as info:
        parse(data, limits)
    return info.value


def reference_accepts(data: bytes) -> bool:
    """What safetensors 0.8.0 says: ``deserialize`` validates any dtype, no framework needed."""
    try:
        safetensors.deserialize(data)  # type: ignore[no-untyped-call]  # unannotated in safetensors 0.8.0
    except Exception:  # SafetensorError, and nothing else is expected
        return False
    return True


def summary(header: SafetensorsHeader) -> list[tuple[str, str, tuple[int, ...], int, int]]:
    return [(t.name, t.dtype, t.shape, t.begin, t.end) for t in header.tensors]


# -- valid files ------------------------------------------------------------------------------------


def test_valid_control() -> None:
    header = parse(VALID_ST)
    assert summary(header) == [("w", "F32", (4,), 0, 16)]
    assert header.metadata is None
    assert (header.header_bytes, header.data_bytes, header.file_size) == (len(VALID_ST) - 16, 16, len(VALID_ST))
    assert header.path == SOURCE
    assert header.by_name == {"w": header.tensors[0]}
    assert header.tensors[0].n_elements == 4


NUMPY_TENSORS: dict[str, np.ndarray[Any, Any]] = {
    "model.embed.weight": np.arange(24, dtype=np.float16).reshape(4, 6),
    "scalar": np.array(3.0, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.int8),
    "mask": np.ones(5, dtype=bool),
    "ids": np.arange(3, dtype=np.int64),
    "u": np.arange(7, dtype=np.uint8),
    "c": np.zeros(2, dtype=np.complex64),
    "d": np.ones((2, 2, 2), dtype=np.float64),
    "caf\u00e9.\u6f22\u5b57": np.ones(1, dtype=np.uint16),
}


def test_numpy_save_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    safetensors.numpy.save_file(NUMPY_TENSORS, str(path), metadata={"format": "np", "note": "\u00fc"})
    header = read_safetensors_header(path)
    data = path.read_bytes()
    assert header.metadata == {"format": "np", "note": "\u00fc"}
    assert header.file_size == len(data)
    with safetensors.safe_open(str(path), framework="numpy") as f:
        assert [t.name for t in header.tensors if t.end > t.begin] == [
            k for k in f.offset_keys() if 0 not in f.get_slice(k).get_shape()
        ]
        keys = f.keys()
        assert set(header.by_name) == set(keys)
        for name in keys:
            tensor = header.by_name[name]
            assert list(tensor.shape) == f.get_slice(name).get_shape()
            assert tensor.dtype == f.get_slice(name).get_dtype()
            stored = data[header.header_bytes + tensor.begin : header.header_bytes + tensor.end]
            assert stored == NUMPY_TENSORS[name].tobytes()
            assert tensor.n_elements == NUMPY_TENSORS[name].size


def test_numpy_save_bytes() -> None:
    data = safetensors.numpy.save({"a": np.zeros((2, 3), np.float32), "b": np.zeros(5, np.int8)})
    header = parse(data)
    assert summary(header) == [("a", "F32", (2, 3), 0, 24), ("b", "I8", (5,), 24, 29)]


def test_tensors_sorted_by_begin_then_name() -> None:
    # Header order is neither; zero-size tensors share the begin of the next tensor (S-20).
    header = {
        "z2": {"dtype": "F32", "shape": [0], "data_offsets": [16, 16]},
        "b": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]},
        "z1": {"dtype": "U8", "shape": [3, 0], "data_offsets": [0, 0]},
        "a": W4,
        "y": {"dtype": "F32", "shape": [0], "data_offsets": [32, 32]},
    }
    parsed = parse(st(header, b"\0" * 32))
    assert [t.name for t in parsed.tensors] == ["a", "z1", "b", "z2", "y"]
    assert reference_accepts(st(header, b"\0" * 32))


def test_no_tensors() -> None:
    assert parse(st({})).tensors == ()
    assert parse(st({"__metadata__": {"a": "b"}})).metadata == {"a": "b"}


def test_metadata_null_is_no_metadata() -> None:
    assert parse(st({"__metadata__": None, "w": W4}, b"\0" * 16)).metadata is None


def test_extra_keys_in_an_entry_are_ignored() -> None:
    # The reference ignores unknown keys; so does modelscan (they still obey R8).
    data = st({"w": {**W4, "note": {"x": [1, -0, 1e300, "s"]}}}, b"\0" * 16)
    assert summary(parse(data)) == [("w", "F32", (4,), 0, 16)]
    assert reference_accepts(data)


def test_scalar_and_sub_byte_dtypes() -> None:
    header = {
        "s": {"dtype": "F64", "shape": [], "data_offsets": [0, 8]},
        "f4": {"dtype": "F4", "shape": [3, 2], "data_offsets": [8, 11]},
        "f6": {"dtype": "F6_E3M2", "shape": [4], "data_offsets": [11, 14]},
    }
    data = st(header, b"\0" * 14)
    assert summary(parse(data)) == [
        ("s", "F64", (), 0, 8),
        ("f4", "F4", (3, 2), 8, 11),
        ("f6", "F6_E3M2", (4,), 11, 14),
    ]
    assert parse(data).by_name["s"].n_elements == 1


def test_huge_dims_with_a_zero_are_python_ints() -> None:
    data = st({"w": {"dtype": "F32", "shape": [2**64 - 1, 0], "data_offsets": [0, 0]}})
    assert parse(data).tensors[0].shape == (2**64 - 1, 0)
    assert parse(data).tensors[0].n_elements == 0


def test_one_byte_at_a_time() -> None:
    """h11's test: a stream that hands out one byte per read gives the same header."""

    data = safetensors.numpy.save(NUMPY_TENSORS, metadata={"k": "v"})
    header = parse_safetensors_header(Trickle(data), source=SOURCE, file_size=len(data))
    assert summary(header) == summary(parse(data))


def test_reads_only_the_header() -> None:
    data = st({"w": {"dtype": "U8", "shape": [1 << 20], "data_offsets": [0, 1 << 20]}}, b"\0" * (1 << 20))
    stream = io.BytesIO(data)
    parse_safetensors_header(stream, source=SOURCE, file_size=len(data))
    assert stream.tell() == 8 + struct.unpack("<Q", data[:8])[0]


# -- DTYPE_BITS against the installed library ----------------------------------------------------


def test_dtype_names_match_the_library() -> None:
    bad_dtype = st({"w": {"dtype": "NOPE", "shape": [], "data_offsets": [0, 0]}})
    with pytest.raises(Exception, match="unknown variant") as info:
        safetensors.deserialize(bad_dtype)  # type: ignore[no-untyped-call]  # unannotated in safetensors 0.8.0
    expected = re.search(r"expected one of (.*) at line", str(info.value))
    assert expected is not None
    names = re.findall(r"`([A-Z0-9_]+)`", expected.group(1))
    assert names == list(DTYPE_BITS)


@pytest.mark.parametrize("dtype", list(DTYPE_BITS))
def test_dtype_bits_match_the_library(dtype: str) -> None:
    # 8 elements take exactly `bits` bytes; the reference accepts that length and no other.
    accepted = [
        nbytes
        for nbytes in range(0, 80)
        if reference_accepts(st({"w": {"dtype": dtype, "shape": [8], "data_offsets": [0, nbytes]}}, b"\0" * nbytes))
    ]
    assert accepted == [DTYPE_BITS[dtype]]
    data = st({"w": {"dtype": dtype, "shape": [8], "data_offsets": [0, DTYPE_BITS[dtype]]}}, b"\0" * DTYPE_BITS[dtype])
    assert summary(parse(data)) == [("w", dtype, (8,), 0, DTYPE_BITS[dtype])]


# -- HOSTILE.md 7.2 catalogue -------------------------------------------------------------------


def shape_case(shape: Any) -> bytes:
    return st({"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 16]}}, b"\0" * 16)


def offsets_case(offsets: Any) -> bytes:
    return st({"w": {"dtype": "F32", "shape": [4], "data_offsets": offsets}}, b"\0" * 16)


def dtype_case(dtype: Any) -> bytes:
    return st({"w": {"dtype": dtype, "shape": [1], "data_offsets": [0, 16]}}, b"\0" * 16)


def many_tensors(count: int) -> bytes:
    """S-27: `count` entries "t%07d" of one F32 each, contiguous."""
    entries = ",".join(
        f'"t{i:07d}":{{"dtype":"F32","shape":[1],"data_offsets":[{4 * i},{4 * i + 4}]}}' for i in range(count)
    )
    return st(raw=("{" + entries + "}").encode(), data=b"\0" * (4 * count))


S27_LIMITS = BATCH_LIMITS.replace(safetensors_tensors=1000)

#: (id, bytes, error class, code, field); class None means the file is valid.
CATALOGUE: list[tuple[str, bytes, type[ModelScanError] | None, str | None, str | None]] = [
    ("S-01", b"\x10\0\0", Truncated, "truncated", "header.length"),
    ("S-02", struct.pack("<Q", 0) + b"\0" * 16, InvalidField, "invalid_field", "header"),
    ("S-03", st(raw=b'{"w":', n=1000), Truncated, "truncated", "header.length"),
    ("S-05", APPLEDOUBLE, NotAModel, "appledouble", None),
    ("S-06", LFS_POINTER, NotAModel, "lfs_pointer", None),
    ("S-07", st(raw=b'{"\xff":1}'), InvalidField, "invalid_field", "header"),
    ("S-08-brace", st(raw=b"{"), InvalidField, "invalid_field", "header"),
    (
        "S-08-nul-padding",
        st(raw=json.dumps({"w": W4}).encode() + b"\0\0\0", data=b"\0" * 16),
        InvalidField,
        "invalid_field",
        "header",
    ),
    ("S-09", st(raw=b"\t\n" + json.dumps({"w": W4}).encode() + b"   ", data=b"\0" * 16), None, None, None),
    ("S-10-list", st(raw=b"[]"), InvalidField, "invalid_field", "header"),
    ("S-10-string", st(raw=b'"x"'), InvalidField, "invalid_field", "header"),
    ("S-10-number", st(raw=b"1"), InvalidField, "invalid_field", "header"),
    ("S-10-null", st(raw=b"null"), InvalidField, "invalid_field", "header"),
    ("S-11-not-object", st({"w": 5}), InvalidField, "invalid_field", "tensor[w]"),
    ("S-11-missing-keys", st({"w": {"dtype": "F32"}}), InvalidField, "invalid_field", "tensor[w].shape"),
    ("S-12-F128", dtype_case("F128"), InvalidField, "invalid_field", "tensor[w].dtype"),
    ("S-12-lowercase", dtype_case("f32"), InvalidField, "invalid_field", "tensor[w].dtype"),
    ("S-12-empty", dtype_case(""), InvalidField, "invalid_field", "tensor[w].dtype"),
    ("S-12-number", dtype_case(7), InvalidField, "invalid_field", "tensor[w].dtype"),
    ("S-13-negative", shape_case([-4]), InvalidField, "invalid_field", "tensor[w].shape"),
    ("S-13-string", shape_case(["ab", 3]), InvalidField, "invalid_field", "tensor[w].shape"),
    ("S-13-bool", shape_case([True, 4]), InvalidField, "invalid_field", "tensor[w].shape"),
    ("S-13-float", shape_case([1.5]), InvalidField, "invalid_field", "tensor[w].shape"),
    ("S-13-null", shape_case([None]), InvalidField, "invalid_field", "tensor[w].shape"),
    ("S-13-not-list", shape_case("4"), InvalidField, "invalid_field", "tensor[w].shape"),
    ("S-13d", shape_case(["a" * 1000, 10**7]), InvalidField, "invalid_field", "tensor[w].shape"),
    (
        "S-15",
        st({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}, b"\0" * 4),
        Truncated,
        "truncated",
        "data",
    ),
    ("S-16-one", offsets_case([0]), InvalidField, "invalid_field", "tensor[w].data_offsets"),
    ("S-16-reversed", offsets_case([16, 0]), InvalidField, "invalid_field", "tensor[w].data_offsets"),
    ("S-16-negative", offsets_case([-16, 0]), InvalidField, "invalid_field", "tensor[w].data_offsets"),
    ("S-16-float", offsets_case([0, 16.0]), InvalidField, "invalid_field", "tensor[w].data_offsets"),
    ("S-16-strings", offsets_case(["0", "16"]), InvalidField, "invalid_field", "tensor[w].data_offsets"),
    ("S-16-three", offsets_case([0, 16, 32]), InvalidField, "invalid_field", "tensor[w].data_offsets"),
    (
        "S-17",
        st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, b"\0" * 24),
        LayoutError,
        "hole",
        "tensor[w].data_offsets",
    ),
    (
        "S-18",
        st({"a": W4, "b": {"dtype": "F32", "shape": [4], "data_offsets": [32, 48]}}, b"\0" * 48),
        LayoutError,
        "hole",
        "tensor[b].data_offsets",
    ),
    ("S-20", st({"z": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, "w": W4}, b"\0" * 16), None, None, None),
    (
        "S-21",
        st({"w": {"dtype": "F64", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16),
        LayoutError,
        "size_mismatch",
        "tensor[w].data_offsets",
    ),
    (
        "S-23",
        st(
            raw=b'{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},'
            b'"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
            data=b"\0\0\x80\x3f",
        ),
        DuplicateKey,
        "duplicate_key",
        "header.w",
    ),
    (
        "S-24-nested",
        st({"__metadata__": {"a": {"b": 1}}, "w": W4}, b"\0" * 16),
        InvalidField,
        "invalid_field",
        "header.__metadata__",
    ),
    ("S-24-number", st({"__metadata__": 5, "w": W4}, b"\0" * 16), InvalidField, "invalid_field", "header.__metadata__"),
    ("S-24c", st({"__metadata__": W4}, b"\0" * 16), InvalidField, "invalid_field", "header.__metadata__"),
    (
        "S-25c",
        st(raw=b'{"__metadata__":{"x":NaN},"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', data=b"\0" * 16),
        InvalidField,
        "invalid_field",
        "header",
    ),
    (
        "S-25d",
        st(raw=b'{"\\ud800":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', data=b"\0" * 16),
        InvalidField,
        "invalid_field",
        "header",
    ),
    # S-27 at 1/50 scale: 20,000 entries against a cap of 1,000 (the full size is test_s27_full_size).
    ("S-27", many_tensors(20_000), LimitExceeded, "limit_exceeded", "header"),
]

#: Where modelscan refuses a file that safetensors 0.8.0 loads, and why (each also noted in the code).
DELIBERATELY_STRICTER = {
    "S-23": "duplicate names: the spec disallows them and serde silently keeps the last (auditor/loader split)",
    "S-27": "only through a configured limit (safetensors_tensors); the reference has no tensor cap",
}


def limits_for(case_id: str) -> Limits:
    return S27_LIMITS if case_id == "S-27" else BATCH_LIMITS


@pytest.mark.parametrize(("case_id", "data", "cls", "code", "field"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_catalogue(case_id: str, data: bytes, cls: type[ModelScanError] | None, code: str, field: str | None) -> None:
    if cls is None:
        assert parse(data, limits_for(case_id)).tensors
        return
    err = fail(data, limits_for(case_id))
    assert type(err) is cls
    assert (err.code, err.field, err.format) == (code, field, "safetensors")


@pytest.mark.parametrize(("case_id", "data", "cls", "code", "field"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_catalogue_against_reference(
    case_id: str, data: bytes, cls: type[ModelScanError] | None, code: str, field: str | None
) -> None:
    ours = cls is None
    if case_id in DELIBERATELY_STRICTER:
        assert not ours and reference_accepts(data)
    else:
        assert reference_accepts(data) == ours


@pytest.mark.parametrize(("case_id", "data", "cls", "code", "field"), CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_catalogue_errors_pickle(
    case_id: str, data: bytes, cls: type[ModelScanError] | None, code: str, field: str | None
) -> None:
    if cls is None:
        return
    err = fail(data, limits_for(case_id))
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert copy.to_dict() == err.to_dict()
    assert str(copy) == str(err)


def test_s27_counted_before_json() -> None:
    err = fail(many_tensors(20_000), S27_LIMITS)
    assert err.limit == "safetensors_tensors"
    assert err.detail == "20000 tensors exceed the limit of 1000"
    assert parse(many_tensors(20_000)).tensors[-1].name == "t0019999"  # within the batch default


def test_tensor_cap_exact_after_parse() -> None:
    # 40 entries pass the cheap bound of a cap of 1000; the exact count after parsing applies.
    limits = BATCH_LIMITS.replace(safetensors_tensors=39)
    err = fail(many_tensors(40), limits)
    assert (type(err), err.limit, err.detail) == (
        LimitExceeded,
        "safetensors_tensors",
        "40 tensors exceed the limit of 39",
    )
    assert len(parse(many_tensors(39), limits).tensors) == 39


@pytest.mark.slow
def test_s27_full_size() -> None:
    """1,000,000 entries (a 71 MB header) are refused with server limits before json.loads."""
    data = many_tensors(1_000_000)
    assert 70_000_000 < len(data) < SERVER_LIMITS.safetensors_header_bytes * 4
    limits = SERVER_LIMITS.replace(safetensors_header_bytes=100_000_000)
    real_loads = json.loads
    calls = []

    def watched_loads(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real_loads(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(json, "loads", watched_loads)
        err = fail(data, limits)
    assert calls == []  # refused from a count of the raw bytes: json.loads (seconds here) never ran
    assert (type(err), err.limit) == (LimitExceeded, "safetensors_tensors")
    # With the server defaults as they are, the 25 MB header cap refuses it first, in O(1).
    assert fail(data, SERVER_LIMITS).limit == "safetensors_header_bytes"


def test_gc_restored_after_a_big_header() -> None:
    data = many_tensors(20_000)  # a 1.4 MB header: parsed with the cyclic GC paused
    assert gc.isenabled()
    assert len(parse(data).tensors) == 20_000
    assert gc.isenabled()
    with pytest.raises(Truncated):
        parse(data[:-1])
    assert gc.isenabled()
    gc.disable()
    try:
        parse(data)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_header_cap_is_the_reference_cap() -> None:
    err = fail(struct.pack("<Q", 100_000_001) + b"{}")
    assert (type(err), err.limit, err.field, err.offset) == (
        LimitExceeded,
        "safetensors_header_bytes",
        "header.length",
        0,
    )
    assert not reference_accepts(struct.pack("<Q", 100_000_001) + b"{}")
    err = fail(VALID_ST, BATCH_LIMITS.replace(safetensors_header_bytes=10))
    assert err.limit == "safetensors_header_bytes"


# -- messages, word for word ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"\x10\0\0", "m/x.safetensors: safetensors header.length at byte 0: 3 bytes < 8", id="S-01"),
        pytest.param(
            st(raw=b'{"w":', n=1000),
            "m/x.safetensors: safetensors header.length at byte 0: 1000 > 5 bytes available",
            id="S-03",
        ),
        pytest.param(LFS_POINTER, "m/x.safetensors: weights not downloaded (git-lfs pointer)", id="S-06"),
        pytest.param(
            st(raw=b'{"\xff":1}'), "m/x.safetensors: safetensors header at byte 8: not UTF-8 at byte 10", id="S-07"
        ),
        pytest.param(
            st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, b"\0" * 24),
            "m/x.safetensors: safetensors tensor[w].data_offsets at byte 63: hole before tensor 'w':"
            " it begins at 8, the data before it ends at 0",
            id="S-17",
        ),
        pytest.param(
            st({"w": {"dtype": "F64", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16),
            "m/x.safetensors: safetensors tensor[w].data_offsets at byte 63: 16 bytes declared, needs 32",
            id="S-21",
        ),
        pytest.param(
            st({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}, b"\0" * 4),
            "m/x.safetensors: safetensors data at byte 80: tensors cover 4000000 bytes, data section has 4",
            id="S-15",
        ),
        pytest.param(
            st({"a": W4, "b": W4}, b"\0" * 16),
            "m/x.safetensors: safetensors tensor[b].data_offsets at byte 117:"
            " tensor 'b' [0, 16] overlaps tensor 'a', which ends at 16",
            id="overlap",
        ),
    ],
)
def test_messages(data: bytes, message: str) -> None:
    assert str(fail(data)) == message


def test_empty_file() -> None:
    err = fail(b"")
    assert (type(err), err.code) == (NotAModel, "empty_file")


def test_overlap_names_are_deterministic() -> None:
    # The reference names whichever tensor its HashMap yields first; modelscan sorts.
    forward = fail(st({"a": W4, "b": W4}, b"\0" * 16))
    backward = fail(st({"b": W4, "a": W4}, b"\0" * 16))
    assert (forward.code, forward.field) == (backward.code, backward.field) == ("overlap", "tensor[b].data_offsets")


def test_trailing_bytes() -> None:
    err = fail(VALID_ST + b"\0")
    assert (type(err), err.code, err.field, err.offset) == (LayoutError, "trailing_bytes", "data", len(VALID_ST))
    assert not reference_accepts(VALID_ST + b"\0")


def test_misaligned_sub_byte_tensor() -> None:
    data = st({"w": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, b"\0" * 2)
    err = fail(data)
    assert (type(err), err.code, err.field) == (LayoutError, "misaligned", "tensor[w].shape")
    assert err.detail == "3 x F4 is 12 bits, not a whole number of bytes"
    assert not reference_accepts(data)


def test_hostile_name_is_escaped_and_cut() -> None:
    name = "\x1b[2J\r\nFAKE " + "n" * 5000
    err = fail(st({name: {"dtype": "F128", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4))
    assert err.field is not None and len(err.field) < 80
    text = str(err)
    assert "\x1b" not in text and "\n" not in text and "\r" not in text
    assert len(text) < 250


# -- every prefix -------------------------------------------------------------------------------


def prefix_files() -> list[bytes]:
    return [VALID_ST, safetensors.numpy.save(NUMPY_TENSORS, metadata={"format": "np"})]


@pytest.mark.parametrize("data", prefix_files(), ids=["VALID_ST", "numpy"])
def test_every_prefix_is_truncated(data: bytes) -> None:
    """Length 0 is NotAModel(empty_file); every other proper prefix is Truncated, and nothing else:
    1..7 bytes and 8..8+N-1 bytes at ``header.length`` (offset 0), then ``data`` at the cut."""
    n = struct.unpack("<Q", data[:8])[0]
    assert fail(b"").code == "empty_file"
    for size in range(1, len(data)):
        err = fail(data[:size])
        assert type(err) is Truncated, (size, err)
        assert err.offset is not None and err.offset <= size
        if size < 8 + n:
            assert (err.field, err.offset) == ("header.length", 0), size
        else:
            assert (err.field, err.offset) == ("data", size), size
    assert parse(data).file_size == len(data)


def test_short_stream_is_truncated() -> None:
    # The stream ends before file_size says (the file shrank): Truncated, never a short read trusted.
    with pytest.raises(Truncated) as info:
        parse_safetensors_header(io.BytesIO(VALID_ST[:20]), source=SOURCE, file_size=len(VALID_ST))
    assert (info.value.field, info.value.offset) == ("header", 20)


# -- R12 junk and the reference's "header too large" -------------------------------------------


def test_lfs_pointer_with_any_spec_host() -> None:
    old = b"version https://hawser.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 1\n"
    assert fail(old).code == "lfs_pointer"


def test_not_an_lfs_pointer_but_starts_with_version() -> None:
    err = fail(b"version 2 of my notes, not a model at all\n")
    assert (type(err), err.limit) == (LimitExceeded, "safetensors_header_bytes")


def test_appledouble_short_file() -> None:
    assert fail(APPLEDOUBLE[:5]).code == "appledouble"


# -- the duplicate-key fast path -------------------------------------------------------------------


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    calls: list[bool] = []
    original = _json.parse_json

    def spy(*args: Any, **kwargs: Any) -> dict[str, object]:
        calls.append(kwargs["check_duplicates"])
        return original(*args, **kwargs)

    monkeypatch.setattr(mst, "parse_json", spy)
    return calls


def test_plain_header_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_parses(monkeypatch)
    parse(safetensors.numpy.save(NUMPY_TENSORS, metadata={"a:b": "c:d", "e": ""}))
    assert calls == [False]


def test_header_with_duplicates_is_parsed_again_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_parses(monkeypatch)
    with pytest.raises(DuplicateKey):
        parse(st(raw=b"{" + DUP_ENTRY + b"," + DUP_ENTRY + b"}", data=b"\0" * 16))
    assert calls == [False, True]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"a":1,"a":1}', id="top-level"),
        pytest.param(b'{"__metadata__":{"k:1":"v:2","k:1":"v:2"}}', id="metadata-with-colons"),
        pytest.param(
            b'{"__metadata__":{"x":"\\u003a"},' + DUP_ENTRY + b"," + DUP_ENTRY + b"}",
            id="escaped-colon-balances-the-count",
        ),
        pytest.param(
            b'{"__metadata__":{"x":"\\u003A"},' + DUP_ENTRY + b"," + DUP_ENTRY + b"}",
            id="escaped-colon-upper-case",
        ),
        pytest.param(b'{"a:b":' + DUP_ENTRY[4:] + b',"a:b":' + DUP_ENTRY[4:] + b"}", id="names-with-colons"),
    ],
)
def test_duplicates_found_whatever_the_colons(raw: bytes) -> None:
    err = fail(st(raw=raw, data=b"\0" * 16))
    assert type(err) is DuplicateKey


def test_colons_in_names_and_metadata_are_fine() -> None:
    header = {"__metadata__": {"k:1": "a:b::c", ":": ":"}, "a:b": W4, "::": {**W4, "data_offsets": [16, 32]}}
    parsed = parse(st(header, b"\0" * 32))
    assert [t.name for t in parsed.tensors] == ["a:b", "::"]
    assert parsed.metadata == {"k:1": "a:b::c", ":": ":"}


# -- deliberate strictness beyond the catalogue ------------------------------------------------

#: (id, bytes, error class, code, why modelscan refuses what safetensors 0.8.0 loads)
STRICTER_EXTRA: list[tuple[str, bytes, type[ModelScanError], str, str]] = [
    (
        "duplicate-equal-entries",
        st(raw=b"{" + DUP_ENTRY + b"," + DUP_ENTRY + b"}", data=b"\0" * 16),
        DuplicateKey,
        "duplicate_key",
        "every duplicate key is refused (R8); serde keeps the last, harmless only when both agree",
    ),
    (
        "duplicate-metadata-keys",
        st(raw=b'{"__metadata__":{"a":"b","a":"c"}}'),
        DuplicateKey,
        "duplicate_key",
        "which value is the metadata would depend on the reader (R8)",
    ),
    (
        "entry-as-json-array",
        st(raw=b'{"w":["F32",[4],[0,16]]}', data=b"\0" * 16),
        InvalidField,
        "invalid_field",
        "serde reads a struct from a JSON array; no writer makes one and other readers cannot read it",
    ),
    (
        "dtype-as-serde-enum-map",
        st(raw=b'{"w":{"dtype":{"F32":null},"shape":[4],"data_offsets":[0,16]}}', data=b"\0" * 16),
        InvalidField,
        "invalid_field",
        "serde reads a unit enum variant from {name: null}; the format says dtype is a string",
    ),
    (
        "nesting-65-in-an-extra-key",
        st(
            raw=b'{"w":{"x":' + b"[" * 63 + b"]" * 63 + b',"dtype":"F32","shape":[4],"data_offsets":[0,16]}}',
            data=b"\0" * 16,
        ),
        LimitExceeded,
        "limit_exceeded",
        "limits.json_depth (64) applies; serde allows about 127 levels in ignored keys",
    ),
]


@pytest.mark.parametrize(("case_id", "data", "cls", "code", "why"), STRICTER_EXTRA, ids=[c[0] for c in STRICTER_EXTRA])
def test_stricter_than_reference(case_id: str, data: bytes, cls: type[ModelScanError], code: str, why: str) -> None:
    assert reference_accepts(data)
    err = fail(data)
    assert (type(err), err.code) == (cls, code)


#: Inputs where Python's json and serde_json differ; modelscan follows the reference.
AGREEING_EXTRA: list[tuple[str, bytes, bool]] = [
    ("minus-zero-dimension", st(raw=b'{"w":{"dtype":"F32","shape":[-0],"data_offsets":[0,0]}}'), False),
    ("minus-zero-offset", st(raw=b'{"w":{"dtype":"F32","shape":[0],"data_offsets":[-0,0]}}'), False),
    ("minus-zero-in-extra", st(raw=b'{"w":{"x":-0,"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'), True),
    ("exponent-dimension", st(raw=b'{"w":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}', data=b"\0" * 4), False),
    ("float-overflow-in-extra", st(raw=b'{"w":{"x":1e400,"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'), False),
    (
        "int-overflow-in-extra",
        st(raw=b'{"w":{"x":' + b"9" * 400 + b',"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'),
        False,
    ),
    (
        "big-int-in-extra",
        st(raw=b'{"w":{"x":' + b"9" * 300 + b',"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'),
        True,
    ),
    ("dimension-2**64", st({"w": {"dtype": "F32", "shape": [2**64, 0], "data_offsets": [0, 0]}}), False),
    ("prefix-product-overflow", st({"w": {"dtype": "F32", "shape": [2**63, 2, 0], "data_offsets": [0, 0]}}), False),
    ("zero-after-big-dims", st({"w": {"dtype": "F32", "shape": [0, 2**63, 2], "data_offsets": [0, 0]}}), True),
    ("bits-overflow", st({"w": {"dtype": "BOOL", "shape": [2**64 - 1], "data_offsets": [0, 2**64 - 1]}}), False),
    (
        "zero-size-mid-gap",
        st({"a": W4, "z": {"dtype": "F32", "shape": [0], "data_offsets": [5, 5]}}, b"\0" * 16),
        False,
    ),
    ("utf8-bom", st(raw=b"\xef\xbb\xbf" + json.dumps({"w": W4}).encode(), data=b"\0" * 16), False),
    ("carriage-return-padding", st(raw=b"\r" + json.dumps({"w": W4}).encode() + b"\r", data=b"\0" * 16), True),
    (
        "surrogate-pair-name",
        st(raw=b'{"\\ud83d\\ude00":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', data=b"\0" * 16),
        True,
    ),
    ("escaped-metadata-key", st(raw=b'{"__metadata\\u005f_":{"a":"b"}}'), True),
    ("escaped-nul-in-metadata", st(raw=b'{"__metadata__":{"a":"\\u0000"}}'), True),
    (
        "control-char-in-name",
        st(raw=b'{"w\x01":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', data=b"\0" * 16),
        False,
    ),
    (
        "duplicate-dtype-field",
        st(raw=b'{"w":{"dtype":"F32","dtype":"F32","shape":[4],"data_offsets":[0,16]}}', data=b"\0" * 16),
        False,
    ),
    ("duplicate-metadata", st(raw=b'{"__metadata__":{},"__metadata__":{}}'), False),
    ("no-tensors-but-data", st({}, b"\0"), False),
    ("empty-name", st({"": W4}, b"\0" * 16), True),
]


@pytest.mark.parametrize(("case_id", "data", "valid"), AGREEING_EXTRA, ids=[c[0] for c in AGREEING_EXTRA])
def test_agrees_with_reference(case_id: str, data: bytes, valid: bool) -> None:
    assert reference_accepts(data) == valid
    if valid:
        parse(data)
    else:
        fail(data)


# -- files on disk -------------------------------------------------------------------------------


def test_read_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(VALID_ST)
    header = read_safetensors_header(path)
    assert (header.path, summary(header)) == (str(path), [("w", "F32", (4,), 0, 16)])
    assert read_safetensors_header(str(path)).tensors == header.tensors


def test_read_empty_file_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"")
    with pytest.raises(NotAModel) as info:
        read_safetensors_header(path)
    assert info.value.code == "empty_file"


def test_sparse_file_header_only(tmp_path: Path) -> None:
    # F-17: a huge apparent size is never read; the header decides.
    path = tmp_path / "big.safetensors"
    size = 1 << 40
    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + size)
    assert read_safetensors_header(path).data_bytes == size


REFUSAL_CHILD = """
    import os, sys
    from helpers import blocking_open_guard
    os.open = blocking_open_guard(os.open)  # a blocking open of a special file fails at once
    from modelscan.errors import FileAccessError
    from modelscan.safetensors import read_safetensors_header
    try:
        read_safetensors_header(sys.argv[1])
    except FileAccessError as err:
        print(err.code)
"""


def _refusal(path: str | os.PathLike[str]) -> str:
    """The code of the FileAccessError reading *path* raises, in a child under a CPU limit (one
    that read a device to its end would use the limit up); anything else fails the test."""
    proc = run_python(*python_code(REFUSAL_CHILD), os.fspath(path), text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
def test_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    assert _refusal(fifo) == "not_regular_file"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_device_is_refused() -> None:
    assert _refusal("/dev/zero") == "not_regular_file"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError) as info:
        read_safetensors_header(tmp_path / "nope.safetensors")
    assert info.value.code == "not_found"


def test_file_that_grows_while_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(VALID_ST)
    original = mst.parse_safetensors_header

    def parse_then_append(*args: Any, **kwargs: Any) -> SafetensorsHeader:
        header = original(*args, **kwargs)
        with open(path, "ab") as f:
            f.write(b"\0" * 16)
        return header

    monkeypatch.setattr(mst, "parse_safetensors_header", parse_then_append)
    with pytest.raises(ChangedDuringScan) as info:
        read_safetensors_header(path)
    assert info.value.retryable


def test_file_that_shrinks_while_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # R14 and F-09: the stream ends early, so the parse says Truncated; the fstat after says why.
    data = safetensors.numpy.save(NUMPY_TENSORS)
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    original = mst.parse_safetensors_header

    def truncate_then_parse(*args: Any, **kwargs: Any) -> SafetensorsHeader:
        os.truncate(path, 20)
        return original(*args, **kwargs)

    monkeypatch.setattr(mst, "parse_safetensors_header", truncate_then_parse)
    with pytest.raises(ChangedDuringScan):
        read_safetensors_header(path)


def test_import_does_not_import_numpy() -> None:
    code = "import modelscan.safetensors, sys; assert 'numpy' not in sys.modules, 'numpy imported'"
    result = run_python("-c", code, text=True)
    assert result.returncode == 0, result.stderr


MINILM_FILES = minilm_files()
MINILM = MINILM_FILES / "model.safetensors" if MINILM_FILES is not None else Path("MiniLM-not-installed")


@pytest.mark.real
@pytest.mark.skipif(not MINILM.exists(), reason="MiniLM package not installed")
def test_real_minilm_agrees_with_reference() -> None:
    header = read_safetensors_header(MINILM)
    with safetensors.safe_open(str(MINILM), framework="numpy") as f:
        assert header.metadata == f.metadata()
        keys = f.keys()
        assert sorted(header.by_name) == sorted(keys)
        for name in keys:
            piece = f.get_slice(name)
            assert (list(header.by_name[name].shape), header.by_name[name].dtype) == (
                piece.get_shape(),
                piece.get_dtype(),
            )
    assert header.header_bytes + header.data_bytes == header.file_size == MINILM.stat().st_size


def test_tensor_dataclass() -> None:
    tensor = SafetensorsTensor("w", "F32", (2, 3), 0, 24)
    assert tensor.n_elements == 6
    built = parse(st({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}, b"\0" * 24)).tensors[0]
    assert built == tensor and hash(built) == hash(tensor)
    assert pickle.loads(pickle.dumps(built)) == tensor
    with pytest.raises(AttributeError):
        built.name = "x"  # type: ignore[misc]  # the assignment a frozen dataclass refuses
