"""What the GGUF reader keeps and reads: decoded strings, tensor summaries, bytes read.

Work is judged by what is counted (tracemalloc peaks, bytes and reads through a counting byte
source, a child's peak RSS), never by wall-clock time; the million-tensor file runs in a child
under a CPU-time limit far above its cost, to catch a hang.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from gguf_oracle import stats_of_header

from modelscan import _cursor, _gguf_tensors
from modelscan.errors import DuplicateKey, FileAccessError, LayoutError, LimitExceeded, Truncated
from modelscan.gguf import (
    ALL_KEYS,
    FACT_STRING_KEYS,
    GGUFHeader,
    GGUFTensorStats,
    Undecoded,
    parse_gguf_header,
    read_gguf_header,
)
from modelscan.limits import BATCH_LIMITS, SERVER_LIMITS, Limits
from modelscan.read import PER_LAYER_ARRAYS

ROOT = Path(__file__).resolve().parent.parent
VT = gguf.GGUFValueType
MiB = 1 << 20
#: The budget of issue 9: every file within the limits stays under this tracemalloc peak.
BUDGET = 64_000_000

# --- raw GGUF builders (little endian, v3) ---------------------------------------------------------


def gstr(b: bytes) -> bytes:
    return struct.pack("<Q", len(b)) + b


def kv_str(key: str, value: bytes) -> bytes:
    return gstr(key.encode()) + struct.pack("<I", VT.STRING) + gstr(value)


def kv_u32(key: str, value: int) -> bytes:
    return gstr(key.encode()) + struct.pack("<II", VT.UINT32, value)


def tinfo(name: bytes, dims: list[int], ggml_type: int = 0, offset: int = 0) -> bytes:
    return gstr(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, ggml_type, offset)


def header(n_tensors: int, kvs: list[bytes], infos: bytes = b"", *, data: int = 0) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", 3, n_tensors, len(kvs)) + b"".join(kvs) + infos
    return out + b"\0" * ((-len(out)) % 32) + b"\0" * data


def parse(data: bytes, **kwargs: Any) -> GGUFHeader:
    return parse_gguf_header(io.BytesIO(data), source="mem.gguf", **kwargs)


def emoji_value(n: int, *, valid: bool = True) -> bytes:
    """*n* bytes of ASCII ending in one emoji (CPython then keeps 4 bytes a character), or in
    bytes that are not UTF-8."""
    return b"a" * (n - 4) + ("\U0001f600".encode() if valid else b"\xff\xfe\xfd\xfc")


def traced_peak(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class Counting:
    """A byte source over bytes in memory that counts its reads (``_cursor.ByteSource``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        self.reads = 0
        self.bytes = 0

    def read_at(self, offset: int, n: int) -> bytes:
        assert offset >= 0 and offset + n <= self.size, (offset, n, self.size)
        chunk = self.data[offset : offset + n]
        self.reads += 1
        self.bytes += len(chunk)
        return chunk


# --- which strings are decoded ---------------------------------------------------------------------


def test_fact_keys_always_others_within_the_budget() -> None:
    kvs = [
        kv_str("general.architecture", b"llama"),
        kv_str("general.license", b"mit"),
        kv_str("x.big", b"b" * 100),  # over what is left of the budget: skipped, nothing spent
        kv_str("x.after", b"c" * 10),
        kv_str("x.last", b"d" * 40),  # 47 - 10 = 37 left: skipped
        kv_str("general.name", b"n" * 200),  # a fact key: its own cap
        kv_str("tokenizer.chat_template", b"t" * 300),
    ]
    limits = BATCH_LIMITS.replace(gguf_other_strings_bytes=50)
    h = parse(header(0, kvs), limits=limits)
    assert h.kv == {
        "general.architecture": "llama",
        "general.license": "mit",
        "x.big": Undecoded(100),
        "x.after": "c" * 10,
        "x.last": Undecoded(40),
        "general.name": "n" * 200,
        "tokenizer.chat_template": "t" * 300,
    }
    everything = parse(header(0, kvs), limits=limits, decode_strings=ALL_KEYS)
    assert everything.kv["x.big"] == "b" * 100 and everything.kv["x.last"] == "d" * 40
    only_named = parse(header(0, kvs), limits=limits.replace(gguf_other_strings_bytes=0))
    assert [k for k, v in only_named.kv.items() if isinstance(v, str)] == [
        "general.architecture",
        "general.name",
        "tokenizer.chat_template",
    ]
    assert {"general.architecture", "general.name", "tokenizer.chat_template"} <= FACT_STRING_KEYS


def test_a_skipped_string_that_is_not_utf8_gives_no_warning() -> None:
    kvs = [kv_str("general.architecture", b"llama"), kv_str("x.bad", b"\xff" * 8)]
    assert parse(header(0, kvs), limits=BATCH_LIMITS.replace(gguf_other_strings_bytes=0)).warnings == ()
    h = parse(header(0, kvs))
    assert h.kv["x.bad"] == "\ufffd" * 8
    assert [(w.code, w.field) for w in h.warnings] == [("not_utf8", "kv[1:x.bad].value")]


def test_decode_strings_takes_any_container() -> None:
    kvs = [kv_str("general.architecture", b"llama"), kv_str("a.b", b"x" * 20)]
    limits = BATCH_LIMITS.replace(gguf_other_strings_bytes=0)
    assert parse(header(0, kvs), limits=limits, decode_strings={"a.b"}).kv == {
        "general.architecture": Undecoded(5),
        "a.b": "x" * 20,
    }


# --- memory: every file within the limits under the budget (issue 9, finding 3) ------------------


def write(path: Path, data: bytes | list[bytes]) -> Path:
    with open(path, "wb") as f:
        for part in [data] if isinstance(data, bytes) else data:
            f.write(part)
    return path


@pytest.mark.parametrize("valid", [True, False], ids=["emoji", "not-utf8"])
@pytest.mark.parametrize("limits", [BATCH_LIMITS, SERVER_LIMITS], ids=["batch", "server"])
def test_sixty_mib_of_one_mib_strings(tmp_path: Path, valid: bool, limits: Limits) -> None:
    # 60 values at the 1 MiB cap, ASCII plus one emoji: 243 MiB peak when all were decoded.
    value = emoji_value(MiB, valid=valid)
    parts = [b"GGUF" + struct.pack("<IQQ", 3, 0, 61), kv_str("general.architecture", b"llama")]
    parts += [kv_str(f"x.k{i:02d}", value) for i in range(60)]
    path = write(tmp_path / "strings.gguf", parts)
    assert path.stat().st_size > 60 * MiB
    h: list[GGUFHeader] = []
    peak = traced_peak(lambda: h.append(read_gguf_header(path, limits=limits, keep_tensors=False)))
    assert peak < 12 * MiB, peak
    kept = [k for k, v in h[0].kv.items() if isinstance(v, str)]
    assert kept == ["general.architecture", "x.k00"]  # the budget holds one value at the cap
    assert sum(isinstance(v, Undecoded) for v in h[0].kv.values()) == 59


@pytest.mark.parametrize("valid", [True, False], ids=["emoji", "not-utf8"])
def test_every_fact_key_at_its_cap(tmp_path: Path, valid: bool) -> None:
    # The most text the default rule could decode: each fact key at its cap (4 x 1 MiB, 2 x 4 MiB),
    # then other strings. The file's limit of decoded text stops it at 6 MiB.
    caps = {k: BATCH_LIMITS.gguf_string_bytes for k in FACT_STRING_KEYS}
    caps.update({k: BATCH_LIMITS.gguf_chat_template_bytes for k in caps if k.startswith("tokenizer.chat_template")})
    kvs = [kv_str(k, emoji_value(n, valid=valid)) for k, n in sorted(caps.items())]
    kvs += [kv_str(f"x.k{i:02d}", emoji_value(MiB, valid=valid)) for i in range(30)]
    path = write(tmp_path / "facts.gguf", [b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)), *kvs])
    h: list[GGUFHeader] = []
    peak = traced_peak(lambda: h.append(read_gguf_header(path, keep_tensors=False)))
    assert peak < 32 * MiB, peak  # 170 MiB when every fact key was decoded
    kv = h[0].kv
    decoded = [k for k, v in kv.items() if isinstance(v, str)]
    assert decoded == ["general.architecture", "general.name", "general.size_label", "general.type", "x.k00"]
    per_file = [w for w in h[0].warnings if w.limit == "gguf_string_bytes_per_file"]
    assert [w.field for w in per_file] == [
        "kv[4:tokenizer.chat_template].value",
        "kv[5:tokenizer.chat_template.tool_use].value",
    ]


# --- the tensor summary (issue 9, finding 4) -------------------------------------------------------


def _model(w: gguf.GGUFWriter) -> None:
    w.add_tensor("token_embd.weight", np.zeros((4, 32), dtype=np.float16))
    w.add_tensor("blk.0.ffn_up_exps.weight", np.zeros((2, 4, 32), dtype=np.float32))
    w.add_tensor("blk.0.ffn_gate_exps", np.zeros((2, 32), dtype=np.float32))
    w.add_tensor("blk.0.exps_not.weight", np.zeros(32, dtype=np.float32))
    w.add_tensor("blk.0.attn_q.weight", np.zeros((2, 2 * 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("mystery", np.zeros(32, dtype=np.float32), raw_dtype=200)  # type: ignore[arg-type]


def _written(tmp_path: Path, build: Callable[[gguf.GGUFWriter], None]) -> Path:
    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(path, "llama")
    build(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_summary_is_the_header_without_the_list(tmp_path: Path) -> None:
    path = _written(tmp_path, _model)
    full = read_gguf_header(path)
    lean = read_gguf_header(path, keep_tensors=False)
    assert lean.tensors == () and len(full.tensors) == 6
    assert lean.tensor_stats == full.tensor_stats == stats_of_header(full)
    assert (lean.kv, lean.data_offset, lean.warnings[0].code) == (full.kv, full.data_offset, "unknown_ggml_type")
    s = lean.tensor_stats
    assert (s.count, s.elements) == (6, 128 + 256 + 64 + 32 + 128 + 32)
    assert s.expert_elements == 256 + 64
    assert s.by_type == {0: (3, 352, 1408), 1: (1, 128, 256), 8: (1, 128, 136), 200: (1, 32, None)}
    assert s.matrix_bytes == {0: 1024 + 256, 1: 256, 8: 136}
    assert s.dominant_matrix_type() == 0


def test_stats_of_shards_combine() -> None:
    a = GGUFTensorStats(2, 10, 4, {0: (1, 6, 24), 8: (1, 4, 34)}, {0: 24})
    b = GGUFTensorStats(2, 7, 0, {0: (1, 3, 12), 200: (1, 4, None)}, {0: 12, 1: 40})
    c = GGUFTensorStats.combine([a, b])
    assert c == GGUFTensorStats(4, 17, 4, {0: (2, 9, 36), 8: (1, 4, 34), 200: (1, 4, None)}, {0: 36, 1: 40})
    assert c.dominant_matrix_type() == 1
    assert GGUFTensorStats.combine([]) == GGUFTensorStats() and GGUFTensorStats().dominant_matrix_type() is None


def _many(n: int, *, dup: int | None = None) -> bytes:
    names = [b"t%x" % i for i in range(n)]
    if dup is not None:
        names[dup] = names[dup // 2]
    infos = b"".join(tinfo(name, [0]) for name in names)
    return header(n, [kv_str("general.architecture", b"llama")], infos)


@pytest.mark.parametrize("keep", [True, False], ids=["kept", "summary"])
def test_hashed_names_find_the_same_duplicate(monkeypatch: pytest.MonkeyPatch, keep: bool) -> None:
    data = _many(300, dup=201)
    with pytest.raises(DuplicateKey) as by_set:
        parse(data, keep_tensors=keep)
    monkeypatch.setattr(_gguf_tensors, "_NAME_SET_MAX", 0)
    with pytest.raises(DuplicateKey) as by_hash:
        parse(data, keep_tensors=keep)
    assert (by_hash.value.field, by_hash.value.offset) == (by_set.value.field, by_set.value.offset)
    assert by_set.value.field == "tensor[201:t64]"


def test_hash_collisions_are_not_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    # With a hash this weak nearly every name collides; only reading the names again tells.
    monkeypatch.setattr(_gguf_tensors, "_NAME_SET_MAX", 0)
    monkeypatch.setattr(_gguf_tensors, "hash", len, raising=False)
    h = parse(_many(500), keep_tensors=False)
    assert h.tensor_stats.count == 500
    with pytest.raises(DuplicateKey) as info:
        parse(_many(500, dup=333), keep_tensors=False)
    assert info.value.field == "tensor[333:ta6]"


@pytest.mark.parametrize("keep", [True, False], ids=["kept", "summary"])
def test_errors_found_after_the_last_info_name_the_tensor(keep: bool) -> None:
    arch = kv_str("general.architecture", b"llama")
    # Tensor 'b' (16 bytes at 32) ends past the end of the file; 'c' overlaps it as well.
    infos = tinfo(b"a", [4], 0, 0) + tinfo(b"b", [4], 0, 32) + tinfo(b"c", [4], 0, 32)
    with pytest.raises(Truncated) as info:
        parse(header(3, [arch], infos, data=40), keep_tensors=keep)
    assert info.value.field == "tensor[1:b]"
    # The byte of b's offset field: after the preamble, the key/value, a's info, and b's up to it.
    assert info.value.offset == 24 + len(arch) + len(tinfo(b"a", [4])) + len(tinfo(b"b", [4])) - 8
    with pytest.raises(LayoutError) as layout:
        parse(header(3, [arch], infos, data=64), keep_tensors=keep)
    assert (layout.value.code, layout.value.field) == ("overlap", "tensor[2:c].offset")


def test_non_seekable_stream_in_summary_mode() -> None:
    class Unseekable(io.BytesIO):
        def seekable(self) -> bool:
            return False

    data = _many(40, dup=30)
    with pytest.raises(DuplicateKey):
        parse_gguf_header(Unseekable(data), source="s", file_size=len(data), keep_tensors=False)
    h = parse_gguf_header(Unseekable(_many(40)), source="s", file_size=len(_many(40)), keep_tensors=False)
    assert h.tensors == () and h.tensor_stats.count == 40


MILLION_CHILD = """
    import json, os, resource, sys, time
    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))  # a hang guard: the parse takes ~2 s
    from modelscan.gguf import read_gguf_header
    from modelscan.limits import SERVER_LIMITS

    def rss(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

    before = rss("VmRSS")
    h = read_gguf_header(sys.argv[1], limits=SERVER_LIMITS, keep_tensors=False)
    s = h.tensor_stats
    print(json.dumps({"growth": rss("VmHWM") - before, "count": s.count, "by_type": list(s.by_type.items()),
                      "kept": len(h.tensors), "data_offset": h.data_offset}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS from /proc/self/status")
def test_a_million_empty_tensors_in_a_few_mb(tmp_path: Path) -> None:
    n = SERVER_LIMITS.gguf_n_tensors
    path = write(tmp_path / "million.gguf", _many(n))
    assert path.stat().st_size < SERVER_LIMITS.gguf_metadata_bytes
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MILLION_CHILD), str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert (out["count"], out["kept"], out["by_type"]) == (n, 0, [[0, [n, 0, 0]]])
    assert out["data_offset"] == path.stat().st_size
    assert out["growth"] < 32 * MiB, out  # a list of a million infos took 311 MiB


def test_warnings_of_one_kind_are_capped() -> None:
    # Forty tensors of an unknown type: sixteen warnings naming them, then one that counts the rest.
    infos = b"".join(tinfo(b"t%d" % i, [32], 200, 32 * i) for i in range(40))
    h = parse(header(40, [kv_str("general.architecture", b"llama")], infos, data=32 * 40))
    assert [w.code for w in h.warnings] == ["unknown_ggml_type"] * 17
    assert [w.field for w in h.warnings[:2]] == ["tensor[0:t0].type", "tensor[1:t1].type"]
    assert h.warnings[-1].field is None and "24 more unknown_ggml_type warnings" in h.warnings[-1].detail
    assert h.tensor_stats.by_type == {200: (40, 1280, None)}


def _int_array(key: str, values: list[int]) -> bytes:
    return gstr(key.encode()) + struct.pack(f"<IIQ{len(values)}i", VT.ARRAY, VT.INT32, len(values), *values)


def test_array_elements_decoded_per_file() -> None:
    kvs = [kv_str("general.architecture", b"llama")]
    kvs += [_int_array(f"a{i}.feed_forward_length", [1000 + i] * 30) for i in range(5)]
    limits = BATCH_LIMITS.replace(gguf_array_elements_decoded_per_file=100)
    h = parse(header(0, kvs), limits=limits, decode_arrays=ALL_KEYS)
    decoded = [k for k, v in h.kv.items() if getattr(v, "values", None) is not None]
    assert decoded == ["a0.feed_forward_length", "a1.feed_forward_length", "a2.feed_forward_length"]
    assert [(w.limit, w.field) for w in h.warnings] == [
        ("gguf_array_elements_decoded_per_file", "kv[4:a3.feed_forward_length].count"),
        ("gguf_array_elements_decoded_per_file", "kv[5:a4.feed_forward_length].count"),
    ]


def test_string_elements_of_other_keys_spend_the_budget() -> None:
    tags = gstr(b"general.tags") + struct.pack("<IIQ", VT.ARRAY, VT.STRING, 3)
    tags += gstr(b"x" * 30) + gstr(b"y" * 30) + gstr(b"z" * 5)
    kvs = [kv_str("general.architecture", b"llama"), tags, kv_str("general.license", b"mit")]
    limits = BATCH_LIMITS.replace(gguf_other_strings_bytes=40)
    h = parse(header(0, kvs), limits=limits, decode_arrays={"general.tags"})
    assert h.kv["general.tags"].values == ("x" * 30, Undecoded(30), "z" * 5)  # type: ignore[attr-defined]
    assert h.kv["general.license"] == "mit"  # 40 - 30 - 5 = 5 left
    named = parse(header(0, kvs), limits=limits, decode_arrays={"general.tags"}, decode_strings={"general.tags"})
    assert named.kv["general.tags"].values == ("x" * 30, "y" * 30, "z" * 5)  # type: ignore[attr-defined]


def test_per_layer_arrays_of_any_prefix_stay_small(tmp_path: Path) -> None:
    # 50 MiB of int32 arrays under keys the scan decodes (read.PER_LAYER_ARRAYS): 500 MiB when
    # every one was decoded; now the file's element limit stops them.
    n = 65_536
    array = struct.pack(f"<{n}i", *(1000 + i % 7 for i in range(n)))
    parts = [b"GGUF" + struct.pack("<IQQ", 3, 0, 201), kv_str("general.architecture", b"llama")]
    for k in range(200):
        parts.append(gstr(b"x%d.feed_forward_length" % k) + struct.pack("<IIQ", VT.ARRAY, VT.INT32, n) + array)
    path = write(tmp_path / "per-layer.gguf", parts)
    h: list[GGUFHeader] = []
    peak = traced_peak(
        lambda: h.append(
            read_gguf_header(path, limits=SERVER_LIMITS, decode_arrays=PER_LAYER_ARRAYS, keep_tensors=False)
        )
    )
    assert peak < 24 * MiB, peak
    decoded = sum(getattr(v, "values", None) is not None for v in h[0].kv.values())
    assert decoded == SERVER_LIMITS.gguf_array_elements_decoded_per_file // n


def test_keys_of_one_file_are_limited(tmp_path: Path) -> None:
    # 900 keys of 64 KiB (ASCII and one emoji) in a 56 MiB file: 225 MiB when all were kept.
    key = b"a" * (65_535 - 9) + "\U0001f600".encode()
    kvs = [gstr(b"k%04d" % i + key) + struct.pack("<IB", VT.UINT8, 1) for i in range(900)]
    path = write(tmp_path / "keys.gguf", [b"GGUF" + struct.pack("<IQQ", 3, 0, 900), *kvs])
    failed: list[LimitExceeded] = []

    def read() -> None:
        with pytest.raises(LimitExceeded) as info:
            read_gguf_header(path, limits=SERVER_LIMITS)
        failed.append(info.value)

    peak = traced_peak(read)
    assert peak < 8 * MiB, peak
    over = SERVER_LIMITS.gguf_key_bytes_per_file // 65_535  # keys 0..over-1 fit
    (err,) = failed
    assert err.limit == "gguf_key_bytes_per_file"
    assert str(err.field).startswith(f"kv[{over}:k{over:04d}aaa")
    assert err.offset == 24 + over * (8 + 65_535 + 4 + 1)


# --- bytes read ------------------------------------------------------------------------------------


def _vocab_model(n_tokens: int, n_tensors: int) -> bytes:
    tokens = b"".join(gstr(b"tok%06d" % i) for i in range(n_tokens))
    kvs = [
        kv_str("general.architecture", b"llama"),
        kv_u32("llama.context_length", 4096),
        gstr(b"tokenizer.ggml.tokens") + struct.pack("<IIQ", VT.ARRAY, VT.STRING, n_tokens) + tokens,
        gstr(b"tokenizer.ggml.scores") + struct.pack("<IIQ", VT.ARRAY, VT.FLOAT32, n_tokens) + b"\0" * 4 * n_tokens,
        kv_str("tokenizer.chat_template", b"{% for m in messages %}{{ m.content }}{% endfor %}"),
    ]
    infos = b"".join(tinfo(b"blk.%d.attn_q.weight" % i, [64, 64], 0, 64 * 64 * 4 * i) for i in range(n_tensors))
    return header(n_tensors, kvs, infos, data=64 * 64 * 4 * n_tensors)


@pytest.mark.parametrize(
    ("n_tokens", "n_tensors", "max_reads"),
    [(0, 40, 1), (4096, 150, 4), (150_000, 340, 8)],
    ids=["later-shard", "small-vocab", "big-vocab"],
)
def test_bytes_read_close_to_the_header(n_tokens: int, n_tensors: int, max_reads: int) -> None:
    data = _vocab_model(n_tokens, n_tensors)
    src = Counting(data)
    h = parse_gguf_header(src, source="m.gguf", keep_tensors=False)
    assert h.tensor_stats.count == n_tensors
    header_bytes = h.data_offset
    assert src.reads <= max_reads, src.reads
    # Small headers cost one first read; bigger ones about their size (the scores are skipped).
    assert src.bytes <= max(_cursor.FIRST_READ, 1.2 * header_bytes), (src.bytes, header_bytes)
    # Past the end of the metadata, at most one small read, however big the data after it.
    assert src.bytes <= header_bytes + _cursor.FIRST_READ


def test_a_huge_skipped_string_is_not_read() -> None:
    # The source claims 200 MiB of value after the bytes it holds; none of them is asked for.
    held = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr(b"x.huge") + struct.pack("<IQ", VT.STRING, 200 * MiB)
    src = Counting(held)
    src.size = len(held) + 200 * MiB
    h = parse_gguf_header(src, source="sparse.gguf")
    assert h.kv["x.huge"] == Undecoded(200 * MiB)
    assert src.bytes == len(held)
    assert src.reads <= 2  # the first read, and the one that finds nothing more there


# --- sources and names -----------------------------------------------------------------------------


def test_a_byte_source_is_read_like_a_stream(tmp_path: Path) -> None:
    path = _written(tmp_path, _model)
    data = path.read_bytes()
    from_source = parse_gguf_header(Counting(data), source="x.gguf")
    assert from_source == parse_gguf_header(io.BytesIO(data), source="x.gguf")
    with pytest.raises(TypeError):
        parse_gguf_header(Counting(data), source="x.gguf", file_size=len(data) - 1)


def test_source_names_the_file_in_the_header_and_errors(tmp_path: Path) -> None:
    path = _written(tmp_path, _model)
    h = read_gguf_header(path, source="pub/repo/shown.gguf")
    assert h.path == "pub/repo/shown.gguf"
    assert read_gguf_header(path).path == str(path)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(path.read_bytes()[:100])
    with pytest.raises(Truncated) as info:
        read_gguf_header(cut, source="pub/repo/cut.gguf")
    assert info.value.path == "pub/repo/cut.gguf"
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(header(0, [kv_str("general.architecture", b"llama"), kv_str("general.name", b"\xff")]))
    (w,) = read_gguf_header(bad, source="shown.gguf").warnings
    assert (w.path, w.code) == ("shown.gguf", "not_utf8")


def test_read_error_of_the_source_is_a_file_access_error() -> None:
    class Failing(Counting):
        def read_at(self, offset: int, n: int) -> bytes:
            raise OSError(5, "Input/output error")

    with pytest.raises(FileAccessError) as info:
        parse_gguf_header(Failing(b"GGUF" + b"\0" * 100), source="io.gguf")
    assert (info.value.code, info.value.path) == ("os_error", "io.gguf")
    assert "Input/output error" in info.value.detail
