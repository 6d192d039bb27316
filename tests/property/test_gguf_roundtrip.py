"""Properties of modelscan.gguf (HOSTILE.md 5.5): round trips against gguf-py, and totality.

Round trip: files written by ``gguf.GGUFWriter`` (random keys, values of every type, arrays of
every element type, unicode, random tensors of many ggml types and shapes, both byte orders)
read back by modelscan exactly as ``gguf.GGUFReader`` reads them.
Totality: random bytes and mutated valid files either parse or raise a ModelScanError.
"""

from __future__ import annotations

import io
import math
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import gguf
import numpy as np
from gguf_oracle import assert_same_tensors, stats_of_header
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelscan import _gguf_tensors
from modelscan.errors import DuplicateKey, ModelScanError
from modelscan.gguf import ALL_KEYS, GGUFArray, GGUFHeader, Undecoded, parse_gguf_header, read_gguf_header

VT = gguf.GGUFValueType
Q = gguf.GGMLQuantizationType

SETTINGS = settings(
    derandomize=True,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text the writer can encode (no lone surrogates).
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=24)

SCALAR_VALUES: dict[gguf.GGUFValueType, st.SearchStrategy[Any]] = {
    VT.UINT8: st.integers(0, 2**8 - 1),
    VT.INT8: st.integers(-(2**7), 2**7 - 1),
    VT.UINT16: st.integers(0, 2**16 - 1),
    VT.INT16: st.integers(-(2**15), 2**15 - 1),
    VT.UINT32: st.integers(0, 2**32 - 1),
    VT.INT32: st.integers(-(2**31), 2**31 - 1),
    VT.FLOAT32: st.floats(width=32),
    VT.BOOL: st.booleans(),
    VT.STRING: TEXT,
    VT.UINT64: st.integers(0, 2**64 - 1),
    VT.INT64: st.integers(-(2**63), 2**63 - 1),
    VT.FLOAT64: st.floats(),
}


@dataclass
class Value:
    vtype: gguf.GGUFValueType
    value: Any
    sub_type: gguf.GGUFValueType | None = None


@st.composite
def values(draw: st.DrawFn) -> Value:
    vtype = draw(st.sampled_from([*SCALAR_VALUES, VT.ARRAY]))
    if vtype == VT.ARRAY:
        sub = draw(st.sampled_from(list(SCALAR_VALUES)))
        # The writer refuses empty arrays.
        return Value(vtype, draw(st.lists(SCALAR_VALUES[sub], min_size=1, max_size=12)), sub)
    return Value(vtype, draw(SCALAR_VALUES[vtype]))


NUMPY_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64]


@dataclass
class Tensor:
    name: str
    array: np.ndarray[Any, Any]
    raw_dtype: gguf.GGMLQuantizationType | None


@st.composite
def tensors(draw: st.DrawFn, name: str) -> Tensor:
    outer = draw(st.lists(st.integers(0, 3), min_size=0, max_size=3))
    if draw(st.booleans()):
        dtype = draw(st.sampled_from(NUMPY_DTYPES))
        inner = draw(st.integers(0, 6))
        n = math.prod([*outer, inner])
        array = (np.arange(n) % 100).astype(dtype).reshape([*outer, inner])
        return Tensor(name, array, None)
    # Any ggml type, as raw bytes: whole blocks per row (the writer turns byte shapes to ne).
    qtype = draw(st.sampled_from(list(gguf.GGML_QUANT_SIZES)))
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = draw(st.integers(0, 3))
    shape = [*outer, blocks * type_size]
    array = (np.arange(math.prod(shape)) % 251).astype(np.uint8).reshape(shape)
    return Tensor(name, array, qtype)


def _fits_name(s: str) -> bool:
    return 0 < len(s.encode()) < 64


@dataclass
class Spec:
    endianess: gguf.GGUFEndian
    alignment: int | None
    kvs: list[tuple[str, Value]]
    tensors: list[Tensor]


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    keys = draw(st.lists(TEXT.filter(lambda k: bool(k) and not k.startswith("general.a")), unique=True, max_size=8))
    kvs = [(k, draw(values())) for k in keys]
    names = draw(st.lists(TEXT.filter(_fits_name), unique=True, max_size=5))
    return Spec(
        endianess=draw(st.sampled_from([gguf.GGUFEndian.LITTLE, gguf.GGUFEndian.BIG])),
        alignment=draw(st.sampled_from([None, 1, 8, 16, 64, 128])),
        kvs=kvs,
        tensors=[draw(tensors(n)) for n in names],
    )


def write(spec: Spec, path: Path) -> None:
    w = gguf.GGUFWriter(path, "llama", endianess=spec.endianess)
    if spec.alignment is not None:
        w.add_custom_alignment(spec.alignment)
    for key, v in spec.kvs:
        w.add_key_value(key, v.value, v.vtype, sub_type=v.sub_type)
    for t in spec.tensors:
        w.add_tensor(t.name, t.array, raw_dtype=t.raw_dtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def same(a: object, b: object) -> bool:
    """Equal, with floats compared bit for bit (NaN payloads and -0.0 included)."""
    if isinstance(a, float) or isinstance(b, float):
        return type(a) is type(b) and struct.pack("<d", a) == struct.pack("<d", b)
    return type(a) is type(b) and a == b


def assert_agrees_with_gguf_reader(h: GGUFHeader, reader: gguf.GGUFReader) -> None:
    fields = {k: f for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert list(h.kv) == list(fields)
    for key, field in fields.items():
        ours = h.kv[key]
        assert h.kv_types[key] == field.types[0], key
        if field.types[0] == VT.ARRAY:
            assert isinstance(ours, GGUFArray) and ours.values is not None, key
            assert ours.elem_type == field.types[-1], key
            theirs = field.contents()
            assert ours.count == len(theirs), key
            assert all(same(a, b) for a, b in zip(ours.values, theirs, strict=True)), key
        else:
            assert same(ours, field.contents()), (key, ours, field.contents())
    assert h.alignment == reader.alignment
    assert_same_tensors(h, reader)


def assert_matches_spec(h: GGUFHeader, spec: Spec) -> None:
    assert h.byteorder == ("<" if spec.endianess == gguf.GGUFEndian.LITTLE else ">")
    assert h.alignment == (spec.alignment or 32)
    for key, v in spec.kvs:
        got = h.kv[key]
        if v.vtype == VT.ARRAY:
            assert isinstance(got, GGUFArray) and got.values is not None
            want = [struct.unpack("<f", struct.pack("<f", x))[0] if v.sub_type == VT.FLOAT32 else x for x in v.value]
            assert all(same(a, b) for a, b in zip(got.values, want, strict=True)) and got.count == len(want)
        elif v.vtype == VT.FLOAT32:
            assert same(got, struct.unpack("<f", struct.pack("<f", v.value))[0])
        else:
            assert same(got, v.value)
    assert [t.name for t in h.tensors] == [t.name for t in spec.tensors]


@SETTINGS
@given(spec=specs())
def test_roundtrip_agrees_with_gguf_reader(spec: Spec) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        write(spec, path)
        all_keys = {k for k, _ in spec.kvs} | {"general.architecture"}
        h = read_gguf_header(path, decode_arrays=all_keys, decode_strings=ALL_KEYS)
        reader = gguf.GGUFReader(path)
        assert_agrees_with_gguf_reader(h, reader)
        assert_matches_spec(h, spec)
        assert all(w.code == "alignment_not_multiple_of_8" for w in h.warnings)
        # Skipping arrays changes nothing but the values.
        skipped = read_gguf_header(path)
        assert skipped.tensors == h.tensors and skipped.data_offset == h.data_offset
        for key, value in h.kv.items():
            if isinstance(value, GGUFArray):
                assert skipped.kv[key] == GGUFArray(value.elem_type, value.count, None)
            else:
                assert same(skipped.kv[key], value) or isinstance(skipped.kv[key], Undecoded)


# --- totality ------------------------------------------------------------------------------------


class _Unseekable(io.BytesIO):
    def seekable(self) -> bool:
        return False


def _parse(data: bytes, *, seekable: bool = True, **kwargs: Any) -> GGUFHeader | ModelScanError:
    stream = io.BytesIO(data) if seekable else _Unseekable(data)
    try:
        return parse_gguf_header(
            stream,
            source="fuzz.gguf",
            file_size=len(data),
            decode_arrays=ALL_KEYS,
            decode_strings=ALL_KEYS,
            **kwargs,
        )
    except ModelScanError as err:
        return err


def _verdict(result: GGUFHeader | ModelScanError) -> tuple[object, ...]:
    if isinstance(result, ModelScanError):
        return (type(result), result.code, result.field, result.offset, str(result))
    return (GGUFHeader,)


def parse_or_error(data: bytes) -> GGUFHeader | ModelScanError:
    result = _parse(data)
    if isinstance(result, ModelScanError):
        err = result
        assert err.path == "fuzz.gguf"
        assert err.offset is None or 0 <= err.offset <= len(data), err
        str(err)  # the message renders
    else:
        h = result
        # What parses is consistent with the bytes it came from.
        assert h.file_size == len(data)
        for t in h.tensors:
            if t.n_bytes is not None:
                assert h.data_offset + t.offset + t.n_bytes <= len(data)
        assert h.tensor_stats == stats_of_header(h)
    # The summary (tensor infos not kept) gives the same verdict, field and offset included, and
    # the same header apart from the list.
    lean = _parse(data, keep_tensors=False)
    assert _verdict(lean) == _verdict(result)
    if isinstance(result, GGUFHeader):
        assert lean == result._replace(tensors=())
    # So do hashed duplicate checks, but for a repeated name followed by another error, which the
    # hashes find only after the last tensor info.
    with mock.patch.object(_gguf_tensors, "_NAME_SET_MAX", 0):
        hashed = _parse(data, keep_tensors=False)
    if not isinstance(result, DuplicateKey):
        assert _verdict(hashed) == _verdict(result)
    else:
        assert isinstance(hashed, ModelScanError)
    # And a stream that cannot seek (whose infos are kept for the error paths).
    assert _verdict(_parse(data, seekable=False, keep_tensors=False)) == _verdict(result)
    return result


@SETTINGS
@given(data=st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    parse_or_error(data)


@SETTINGS
@given(version=st.sampled_from([2, 3, 0x03000000]), rest=st.binary(max_size=4096))
def test_random_bytes_after_a_valid_magic(version: int, rest: bytes) -> None:
    parse_or_error(b"GGUF" + struct.pack("<I", version) + rest)


EXTREMES = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1]

MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 16)),
    st.tuples(st.just("dup"), st.integers(0, 10**6), st.integers(1, 64)),
    st.tuples(st.just("u32"), st.integers(0, 10**6), st.sampled_from(EXTREMES[:5])),
    st.tuples(st.just("u64"), st.integers(0, 10**6), st.sampled_from(EXTREMES)),
)


def mutate(data: bytes, op: str, at: int, arg: Any) -> bytes:
    if not data:
        return data
    at %= len(data)
    # Each operation as the bytes it puts at *at* and where the original resumes after them.
    if op == "flip":
        middle, resume = bytes([data[at] ^ arg]), at + 1
    elif op == "cut":
        middle, resume = b"", len(data)
    elif op == "insert":
        middle, resume = bytes(arg), at
    elif op == "delete":
        middle, resume = b"", at + arg
    elif op == "dup":
        middle, resume = data[at : at + arg], at
    else:
        width = 4 if op == "u32" else 8
        middle, resume = (int(arg) & ((1 << (8 * width)) - 1)).to_bytes(width, "little"), at + width
    return data[:at] + middle + data[resume:]


@SETTINGS
@given(spec=specs(), mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_valid_files(spec: Spec, mutations: list[tuple[str, int, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        write(spec, path)
        data = path.read_bytes()
    for op, at, arg in mutations:
        data = mutate(data, op, at, arg)
        parse_or_error(data)


def test_mutations_reach_deep_into_the_header(tmp_path: Path) -> None:
    # A sanity check of the fuzzer: a valid file has many positions whose mutation still parses
    # up to a later field, so errors come from every part of the header, not just the magic.
    spec = Spec(
        gguf.GGUFEndian.LITTLE,
        None,
        [("a", Value(VT.ARRAY, ["x", "yy"], VT.STRING)), ("b", Value(VT.UINT32, 5))],
        [Tensor("t", np.zeros((2, 4), np.float32), None)],
    )
    write(spec, tmp_path / "m.gguf")
    data = (tmp_path / "m.gguf").read_bytes()
    fields = set()
    for at in range(len(data)):
        result = parse_or_error(mutate(data, "u64", at, 2**64 - 1))
        if isinstance(result, ModelScanError) and result.field:
            fields.add(result.field.split(".")[0].split("[")[0])
    assert fields >= {"header", "kv", "tensor"}
