"""Hypothesis: modelscan's safetensors reader against the reference (safetensors 0.8.0).

Random files (unicode names, every dtype, zero dims, scalars, metadata, any key order, JSON
whitespace) and random mutations of them: modelscan accepts exactly when
``safetensors.deserialize`` does, except for the documented deliberate strictness, and where both
accept they agree on every name, dtype, shape and byte range. Any other input fails with a
``ModelScanError`` and nothing else (HOSTILE.md 5.5, properties 1, 2 and 5).
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass

import safetensors
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modelscan.errors import DuplicateKey, ModelScanError
from modelscan.safetensors import DTYPE_BITS, SafetensorsHeader, parse_safetensors_header

SETTINGS = settings(derandomize=True, deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
JSON_WHITESPACE = " \t\n\r"


@dataclass(frozen=True)
class Spec:
    """What a generated file declares."""

    tensors: dict[str, tuple[str, tuple[int, ...], int, int]]  # name -> dtype, shape, begin, end
    metadata: dict[str, str] | None


def parse(data: bytes) -> SafetensorsHeader:
    return parse_safetensors_header(io.BytesIO(data), source="prop.safetensors", file_size=len(data))


def reference(data: bytes) -> dict[str, tuple[str, tuple[int, ...], bytes]] | None:
    """The reference's view (name -> dtype, shape, data), or None if it refuses the file."""
    try:
        loaded = safetensors.deserialize(data)  # type: ignore[no-untyped-call]  # unannotated in safetensors 0.8.0
    except Exception:  # SafetensorError
        return None
    return {name: (info["dtype"], tuple(info["shape"]), bytes(info["data"])) for name, info in loaded}


names = st.text(max_size=10).filter(lambda s: s != "__metadata__")
shapes = st.lists(st.integers(min_value=0, max_value=5), max_size=4)


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, Spec]:
    tensor_names = draw(st.lists(names, unique=True, max_size=6))
    declared: list[tuple[str, str, list[int]]] = []
    for name in tensor_names:
        dtype = draw(st.sampled_from(list(DTYPE_BITS)))
        shape = draw(shapes)
        count = 1
        for dim in shape:
            count *= dim
        if count * DTYPE_BITS[dtype] % 8 and draw(st.booleans()):
            shape = [*shape, 8]  # usually make sub-byte tensors whole bytes; sometimes leave them odd
        declared.append((name, dtype, shape))

    # Data in a random order of tensors, contiguous; the JSON in another random order.
    layout = draw(st.permutations(range(len(declared))))
    tensors: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    cursor = 0
    for i in layout:
        name, dtype, shape = declared[i]
        count = 1
        for dim in shape:
            count *= dim
        size = count * DTYPE_BITS[dtype] // 8
        tensors[name] = (dtype, tuple(shape), cursor, cursor + size)
        cursor += size
    metadata = draw(st.none() | st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3))

    entries: list[tuple[str, object]] = [
        (name, {"dtype": dtype, "shape": list(shape), "data_offsets": [begin, end]})
        for name, (dtype, shape, begin, end) in tensors.items()
    ]
    entries = draw(st.permutations(entries))
    if metadata is not None:
        entries.insert(draw(st.integers(0, len(entries))), ("__metadata__", metadata))
    text = json.dumps(
        dict(entries),
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
    )
    lead = draw(st.text(alphabet=JSON_WHITESPACE, max_size=3))
    trail = draw(st.text(alphabet=JSON_WHITESPACE, max_size=8))
    header = (lead + text + trail).encode()
    payload = bytes((i * 131 + 7) % 256 for i in range(cursor))
    return struct.pack("<Q", len(header)) + header + payload, Spec(tensors, metadata)


def assert_same_view(
    data: bytes, ours: SafetensorsHeader, theirs: dict[str, tuple[str, tuple[int, ...], bytes]]
) -> None:
    assert set(ours.by_name) == set(theirs)
    for tensor in ours.tensors:
        dtype, shape, payload = theirs[tensor.name]
        assert (tensor.dtype, tensor.shape) == (dtype, shape)
        assert data[ours.header_bytes + tensor.begin : ours.header_bytes + tensor.end] == payload
    assert ours.header_bytes + ours.data_bytes == ours.file_size == len(data)
    begins = [(t.begin, t.name) for t in ours.tensors]
    assert begins == sorted(begins)


def accepted_alike(data: bytes) -> SafetensorsHeader | None:
    """modelscan accepts *data* exactly when the reference does, and then sees what it sees."""
    theirs = reference(data)
    try:
        ours = parse(data)
    except ModelScanError:
        assert theirs is None, "modelscan refused a file the reference reads"
        return None
    assert theirs is not None, "modelscan read a file the reference refuses"
    assert_same_view(data, ours, theirs)
    return ours


@SETTINGS
@given(files())
def test_round_trip_agrees_with_reference(generated: tuple[bytes, Spec]) -> None:
    data, spec = generated
    ours = accepted_alike(data)
    if ours is None:
        return
    assert ours.metadata == spec.metadata
    assert {t.name: (t.dtype, t.shape, t.begin, t.end) for t in ours.tensors} == spec.tensors


@SETTINGS
@given(files(), st.data())
def test_injected_duplicates_are_always_refused(generated: tuple[bytes, Spec], data: st.DataObject) -> None:
    """Repeat one member of the header (a tensor entry or a metadata key, with the same or another
    value): modelscan always says DuplicateKey, whatever the fast path's colon count sees."""
    raw, spec = generated
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    choices = [("top", name) for name in header] + [("meta", key) for key in spec.metadata or {}]
    if not choices:
        return
    where, key = data.draw(st.sampled_from(choices))
    value = data.draw(st.sampled_from(["same", "other"]))
    if where == "top":
        extra = header[key] if value == "same" else {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}
        body = json.dumps(header)[:-1] + ", " + json.dumps(key) + ": " + json.dumps(extra) + "}"
    else:
        meta = header["__metadata__"]
        text = json.dumps(meta)[:-1] + ", " + json.dumps(key) + ": " + json.dumps(meta[key] if value == "same" else ":")
        rest = {k: v for k, v in header.items() if k != "__metadata__"}
        body = '{"__metadata__": ' + text + "}" + ("," + json.dumps(rest)[1:] if rest else "}")
    encoded = body.encode()
    mutated = struct.pack("<Q", len(encoded)) + encoded + raw[8 + n :]
    try:
        parse(mutated)
    except DuplicateKey:
        return
    raise AssertionError("duplicate not refused")


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    data, _ = draw(files())
    n = struct.unpack("<Q", data[:8])[0]
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "append", "length"]))
    if kind == "length":
        delta = draw(st.integers(-3, 3))
        return struct.pack("<Q", max(0, n + delta)) + data[8:]
    if kind == "truncate":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "append":
        return data + draw(st.binary(min_size=1, max_size=4))
    # Byte edits aim at the JSON most of the time, where the checks are.
    at = draw(st.integers(8, 8 + n - 1)) if n and draw(st.booleans()) else draw(st.integers(0, max(0, len(data) - 1)))
    byte = draw(st.sampled_from([*b'{}[]",:-0123456789 \\u\x00\xffeE.', draw(st.integers(0, 255))]))
    if kind == "flip":
        return data[:at] + bytes([byte]) + data[at + 1 :]
    if kind == "insert":
        return data[:at] + bytes([byte]) + data[at:]
    return data[:at] + data[at + 1 :]


@SETTINGS
@given(mutated_files())
@example(b'\x04\x00\x00\x00\x00\x00\x00\x00{"":')
def test_mutations_agree_with_reference(data: bytes) -> None:
    theirs = reference(data)
    try:
        ours = parse(data)
    except DuplicateKey:
        return  # deliberately stricter: the reference keeps the last of two equal keys
    except ModelScanError:
        assert theirs is None, "modelscan refused a file the reference reads"
        return
    assert theirs is not None, "modelscan read a file the reference refuses"
    assert_same_view(data, ours, theirs)


@SETTINGS
@given(st.binary(max_size=600))
def test_any_bytes_give_a_header_or_a_modelscan_error(data: bytes) -> None:
    try:
        parse(data)
    except ModelScanError as exc:
        assert exc.code and exc.format in ("safetensors", "fs")


@SETTINGS
@given(st.binary(max_size=300))
def test_any_json_bytes_give_a_header_or_a_modelscan_error(body: bytes) -> None:
    data = struct.pack("<Q", len(body)) + body
    first = second = None
    try:
        parse(data)
    except ModelScanError as exc:
        first = (type(exc), exc.code, exc.field, exc.offset)
    try:
        parse(data)
    except ModelScanError as exc:
        second = (type(exc), exc.code, exc.field, exc.offset)
    assert first == second  # determinism (HOSTILE.md 5.5, property 5)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 40)
    | st.sampled_from([2**63, 2**64 - 1, 2**64, 10**400, -0.0, 1e300])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4)
    | st.sampled_from(list(DTYPE_BITS))
)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
_entries = st.fixed_dictionaries(
    {},
    optional={
        "dtype": st.sampled_from(list(DTYPE_BITS)) | _json_values,
        "shape": st.lists(st.integers(0, 4), max_size=3) | _json_values,
        "data_offsets": st.lists(st.integers(0, 40), min_size=2, max_size=2) | _json_values,
        "extra": _json_values,
    },
)


@SETTINGS
@given(
    st.dictionaries(names, _entries | _json_values, max_size=3),
    st.none() | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2) | _json_values,
    st.integers(0, 48),
)
def test_random_entries_agree_with_reference(entries: dict[str, object], metadata: object, data_bytes: int) -> None:
    """Schema checks: any JSON in any field, and modelscan refuses exactly what the reference refuses."""
    header = dict(entries)
    if metadata is not None or data_bytes % 5 == 0:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    data = struct.pack("<Q", len(raw)) + raw + b"\0" * data_bytes
    accepted_alike(data)
