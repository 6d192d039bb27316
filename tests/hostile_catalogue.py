"""HOSTILE.md section 7 as data: the 7.0 builders and every entry of 7.1 to 7.5.

One :class:`Entry` per catalogue variant (``G-03-ggjt``, ``S-13-bool``...). Each knows how to
write itself into an empty model folder (``entry.write(folder)``), which file a reader should be
pointed at (``entry.target``), what the reader must do with it (``entry.outcome`` with
``cls``/``code``/``field``/``limit``), and what a folder scan reports for that folder
(``entry.scan``). Tests import :data:`ENTRIES` (or :data:`BY_ID`) and parametrize over them; the
folder entries of 7.4 that need a running scan to go wrong (F-08 as root, F-09, F-10, F-20) are
listed here with ``dynamic=True`` and exercised by tests/test_hostile_folders.py.

Entries whose bytes are large (P-01, P-03, S-27, C-05, C-11 50 MB) build their file when
written, never at import: importing this module costs milliseconds.

Where the project deliberately differs from the catalogue the entry says so in ``note`` (G-04:
big-endian files are read; G-31: an unknown ggml type degrades to a warning).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import stat
import struct
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path

from modelscan.errors import (
    DuplicateKey,
    FileAccessError,
    IncompleteModel,
    InvalidField,
    LayoutError,
    LimitExceeded,
    ModelScanError,
    NotAModel,
    Truncated,
    Unsupported,
)

# --- HOSTILE.md 7.0 builders (as published, with types) -------------------------------------


def u8(x: int) -> bytes:
    return struct.pack("<B", x)


def u32(x: int) -> bytes:
    return struct.pack("<I", x & 0xFFFFFFFF)


def u64(x: int) -> bytes:
    return struct.pack("<Q", x & 0xFFFFFFFFFFFFFFFF)


def gstr(b: bytes | str) -> bytes:
    b = b if isinstance(b, bytes) else b.encode()
    return u64(len(b)) + b


def hdr(n_tensors: int, n_kv: int, version: int = 3, magic: bytes = b"GGUF") -> bytes:
    return magic + u32(version) + u64(n_tensors) + u64(n_kv)


T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)


def kv(key: bytes | str, t: int, payload: bytes) -> bytes:
    return gstr(key) + u32(t) + payload


def kv_str(k: bytes | str, v: bytes | str) -> bytes:
    return kv(k, T_STR, gstr(v))


def kv_u32(k: bytes | str, v: int) -> bytes:
    return kv(k, T_U32, u32(v))


def kv_arr(k: bytes | str, et: int, n: int, payload: bytes = b"") -> bytes:
    return kv(k, T_ARR, u32(et) + u64(n) + payload)


def tinfo(name: str, dims: list[int], gtype: int = 0, off: int = 0) -> bytes:  # gtype 0 = F32
    return gstr(name) + u32(len(dims)) + b"".join(u64(d) for d in dims) + u32(gtype) + u64(off)


def pad(b: bytes, a: int = 32) -> bytes:
    return b + b"\0" * ((-len(b)) % a)


ARCH = kv_str("general.architecture", "llama")
VALID_GGUF = pad(hdr(1, 1) + ARCH + tinfo("w", [4])) + b"\0" * 32  # control: must parse


def st(header: object = None, data: bytes = b"", raw: bytes | None = None, n: int | None = None) -> bytes:
    h = raw if raw is not None else json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h) if n is None else n) + h + data


W4 = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
VALID_ST = st({"w": W4}, b"\0" * 16)  # control: must parse

# --- end of the 7.0 builders ------------------------------------------------------------------

LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 4368439584\n"
APPLEDOUBLE = bytes.fromhex("0005160700020000") + b"Mac OS X        " + b"\0" * 60

#: A config.json that makes a folder with VALID_ST an MLX model (S-* entries scanned in folders).
VALID_CONFIG = json.dumps(
    {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 4,
        "num_hidden_layers": 1,
        "max_position_embeddings": 2048,
        "vocab_size": 4,
    }
).encode()

#: A GGUF with an architecture, hyperparameters and real tensors: a scan lists it as a model.
GOOD_KV = {"llama.context_length": 2048, "llama.block_count": 1, "llama.embedding_length": 256}

Writer = Callable[[Path], None]  # writes one file at the path it is given
Content = bytes | Writer


@dataclasses.dataclass(frozen=True)
class ScanExpect:
    """What ``scan_models`` reports for an entry's model folder.

    ``problems``: ``(path relative to the folder, code)`` pairs, exactly (a path may be an
    ``fnmatch`` pattern); ``models``: how many models the folder lists; ``warnings``: warning codes
    that must be among the listed models'.
    """

    def matches(self, problems: list[tuple[str, str]], models: int, warnings: AbstractSet[str]) -> bool:
        """Whether a scan's sorted ``(relative path, code)`` problems, model count and warning
        codes are these."""
        if models != self.models or not set(self.warnings) <= warnings or len(problems) != len(self.problems):
            return False
        return all(
            code == want_code and fnmatch.fnmatchcase(path, want_path)
            for (path, code), (want_path, want_code) in zip(problems, self.problems, strict=True)
        )

    problems: tuple[tuple[str, str], ...] = ()
    models: int = 0
    warnings: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Entry:
    """One variant of one catalogue entry."""

    id: str  # "G-03-ggjt": the catalogue id, then the variant
    kind: str  # "gguf" | "safetensors" | "json" | "folder" | "perf"
    files: tuple[tuple[str, Content], ...]  # relative path -> bytes or a writer
    target: str | None  # the file a reader is pointed at (None: a folder-level entry)
    outcome: str  # "fatal" | "warn" | "accept"
    cls: type[ModelScanError] | None = None  # fatal: the exception; warn: the warning's class
    code: str | None = None  # the error (or warning) code; None: any code of cls
    field: str | None = None
    limit: str | None = None
    scan: ScanExpect = ScanExpect()
    limits: str = "batch"  # "batch" or "server": the Limits the entry is judged with
    note: str = ""
    dynamic: bool = False  # needs a scan in progress or a monkeypatch: see test_hostile_folders.py
    big: bool = False  # writes more than a few MB (kept out of quick loops)
    posix_root: bool = False  # needs root (mknod)

    @property
    def ref(self) -> str:
        """The catalogue id alone: ``G-03`` for ``G-03-ggjt``, ``G-03b`` for ``G-03b``."""
        head, _, rest = self.id.partition("-")
        num = rest.split("-", 1)[0]
        return f"{head}-{num}"

    @property
    def data(self) -> bytes:
        """The target's bytes, for an entry whose target is given as bytes."""
        content = dict(self.files)[self.target or ""]
        assert isinstance(content, bytes), f"{self.id}: target is written by a function"
        return content

    def target_bytes(self, folder: Path) -> bytes:
        """The target's bytes: as given, or written into *folder* by the entry and read back."""
        content = dict(self.files)[self.target or ""]
        return content if isinstance(content, bytes) else self.write(folder).read_bytes()

    def write(self, folder: Path) -> Path:
        """Create *folder* and write the entry's files into it; return the target (or folder)."""
        folder.mkdir(parents=True, exist_ok=True)
        for rel, content in self.files:
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                content(path)
        return folder / self.target if self.target else folder


def _fatal_scan(target: str, code: str) -> ScanExpect:
    return ScanExpect(problems=((target, code),))


def gguf(  # noqa: PLR0917 - the catalogue's rows give their six fields by position
    id: str,
    data: bytes,
    outcome: str,
    cls: type[ModelScanError] | None = None,
    code: str | None = None,
    field: str | None = None,
    *,
    name: str = "model.gguf",
    scan: ScanExpect | None = None,
    limit: str | None = None,
    note: str = "",
) -> Entry:
    if scan is None:
        scan = _fatal_scan(name, code or "") if outcome == "fatal" else ScanExpect(models=1)
    return Entry(id, "gguf", ((name, data),), name, outcome, cls, code, field, limit, scan, note=note)


def safet(  # noqa: PLR0917 - the catalogue's rows give their six fields by position
    id: str,
    data: bytes,
    outcome: str,
    cls: type[ModelScanError] | None = None,
    code: str | None = None,
    field: str | None = None,
    *,
    limit: str | None = None,
    scan: ScanExpect | None = None,
    note: str = "",
) -> Entry:
    """A safetensors entry; scanned as the weights of an otherwise valid MLX folder."""
    name = "model.safetensors"
    if scan is None:
        scan = _fatal_scan(name, code or "") if outcome == "fatal" else ScanExpect(models=1)
    return Entry(
        id,
        "safetensors",
        ((name, data), ("config.json", VALID_CONFIG)),
        name,
        outcome,
        cls,
        code,
        field,
        limit,
        scan,
        note=note,
    )


def sidecar(
    id: str,
    data: Content | None,
    outcome: str,
    cls: type[ModelScanError] | None = None,
    code: str | None = None,
    *,
    name: str = "config.json",
    extra: tuple[tuple[str, Content], ...] = (),
    limit: str | None = None,
    scan: ScanExpect | None = None,
    big: bool = False,
    note: str = "",
) -> Entry:
    """A 7.3 entry: VALID_ST as model.safetensors, *data* as *name* (config.json by default).

    These are judged through a folder scan (``modelscan.mlx`` reads the sidecars).
    """
    files: list[tuple[str, Content]] = [("model.safetensors", VALID_ST)]
    if name != "config.json":
        files.append(("config.json", VALID_CONFIG))
    if data is not None:
        files.append((name, data))
    files.extend(extra)
    if scan is None:
        scan = _fatal_scan(name, code or "") if outcome == "fatal" else ScanExpect(models=1)
    return Entry(
        id,
        "json",
        tuple(files),
        name if data is not None else None,
        outcome,
        cls,
        code,
        None,
        limit,
        scan,
        big=big,
        note=note,
    )


# --- 7.1 GGUF ---------------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return hdr(0, 1) + kv_arr("x", T_ARR, 1, (u32(T_ARR) + u64(1)) * depth + u32(T_U8) + u64(0))


def _g24(alignment_kv: bytes) -> bytes:
    return pad(hdr(1, 2) + ARCH + alignment_kv + tinfo("w", [4])) + b"\0" * 16


def _tokens(n: int) -> bytes:
    return b"".join(gstr(f"t{i}") for i in range(n))


_NO_ARCH = ScanExpect(problems=(("model.gguf", "missing_field"),))

GGUF: list[Entry] = [
    gguf("G-01-empty", b"", "fatal", NotAModel, "empty_file"),
    gguf("G-02-short-magic", b"GG", "fatal", Truncated, "truncated", "header.magic"),
    gguf("G-03-GGML", b"GGML" + b"\0" * 28, "fatal", NotAModel, "bad_magic", "header.magic"),
    gguf("G-03-ggjt", b"tjgg" + b"\0" * 28, "fatal", NotAModel, "bad_magic", "header.magic"),
    gguf("G-03-ggmf", b"fmgg" + b"\0" * 28, "fatal", NotAModel, "bad_magic", "header.magic"),
    gguf("G-03-random", bytes(range(7, 200)), "fatal", NotAModel, "bad_magic", "header.magic"),
    gguf("G-03-safetensors-renamed", VALID_ST, "fatal", NotAModel, "bad_magic", "header.magic"),
    gguf("G-03b-lfs-pointer", LFS_POINTER, "fatal", NotAModel, "lfs_pointer"),
    gguf(
        "G-04-big-endian",
        b"GGUF" + struct.pack(">I", 3) + struct.pack(">Q", 0) * 2,
        "accept",
        scan=_NO_ARCH,
        note="deliberate: big-endian GGUF is read (gguf-py writes it); catalogue says Unsupported(big_endian)",
    ),
    gguf(
        "G-04-FUGG",
        b"FUGG" + struct.pack(">I", 3) + struct.pack(">Q", 0) * 2,
        "accept",
        scan=_NO_ARCH,
        note="deliberate: the byte-swapped magic is read as big-endian",
    ),
    gguf("G-05-version-0", hdr(0, 0, version=0), "fatal", Unsupported, "unsupported_version", "header.version"),
    gguf(
        "G-05-version-1",
        b"GGUF" + u32(1) + u32(0) + u32(0),
        "fatal",
        Unsupported,
        "unsupported_version",
        "header.version",
    ),
    gguf("G-05-version-4", hdr(0, 0, version=4), "fatal", Unsupported, "unsupported_version", "header.version"),
    gguf(
        "G-05-version-2^32-1",
        hdr(0, 0, version=0xFFFFFFFF),
        "fatal",
        Unsupported,
        "unsupported_version",
        "header.version",
    ),
    gguf("G-06-counts-truncated", b"GGUF" + u32(3) + b"\0" * 4, "fatal", Truncated, "truncated", "header.n_tensors"),
    gguf("G-08-n_kv-2^64-1", hdr(0, 2**64 - 1), "fatal", Truncated, "truncated", "header.n_kv"),
    gguf("G-08-n_tensors-2^64-1", hdr(2**64 - 1, 0), "fatal", Truncated, "truncated", "header.n_tensors"),
    gguf(
        "G-08-n_kv-70000",
        hdr(0, 70_000) + b"".join(kv_u32(f"k{i}", 1) for i in range(70_000)),
        "fatal",
        LimitExceeded,
        "limit_exceeded",
        "header.n_kv",
        limit="gguf_n_kv",
    ),
    gguf(
        "G-10-empty-key",
        hdr(0, 1) + gstr(b"") + u32(T_U32) + u32(1),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[0].key",
    ),
    gguf(
        "G-11-key-70000-bytes",
        hdr(0, 1) + kv_u32("a" * 70000, 1),
        "fatal",
        LimitExceeded,
        "limit_exceeded",
        "kv[0].key",
        limit="gguf_key_bytes",
    ),
    gguf(
        "G-12-key-not-utf8",
        hdr(0, 1) + kv_u32(b"general.\xff\xfe", 1),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[0].key",
    ),
    gguf(
        "G-13-duplicate-key",
        hdr(0, 2) + kv_str("general.architecture", "llama") + kv_str("general.architecture", "qwen2"),
        "fatal",
        DuplicateKey,
        "duplicate_key",
        "kv[1:general.architecture]",
    ),
    gguf(
        "G-14-type-13",
        hdr(0, 1) + kv("general.x", 13, b"\0" * 8),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[0:general.x].type",
    ),
    gguf(
        "G-14-type-2^31",
        hdr(0, 1) + kv("general.x", 0x80000000, b"\0" * 8),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[0:general.x].type",
    ),
    gguf(
        "G-14-type-2^32-1",
        hdr(0, 1) + kv("general.x", 0xFFFFFFFF, b"\0" * 8),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[0:general.x].type",
    ),
    gguf(
        "G-16-string-one-byte-short",
        hdr(0, 1) + kv("general.name", T_STR, u64(6) + b"hello"),
        "fatal",
        Truncated,
        "truncated",
        "kv[0:general.name].value",
    ),
    gguf(
        "G-17-string-not-utf8",
        hdr(0, 1) + kv_str("general.name", b"\xc3\x28bad"),
        "warn",
        InvalidField,
        "not_utf8",
        "kv[0:general.name].value",
        scan=_NO_ARCH,
    ),
    gguf(
        "G-18-bool-2",
        hdr(0, 1) + kv("general.flag", T_BOOL, u8(2)),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[0:general.flag].value",
    ),
    # Referenced by R4 and section 6 (gguf-py loops forever on G-19 and recurses on G-21).
    gguf("G-19-49-byte-array", hdr(0, 1) + kv_arr("x", T_STR, 2**40), "fatal", Truncated, "truncated", "kv[0:x].count"),
    gguf("G-21-nested-array", _nested(1), "fatal", Unsupported, "nested_array", "kv[0:x].elem_type"),
    gguf("G-21-nested-array-depth-10000", _nested(10_000), "fatal", Unsupported, "nested_array", "kv[0:x].elem_type"),
    gguf(
        "G-22-elem-type-99",
        hdr(0, 1) + kv_arr("x", 99, 1, b"\0" * 8),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[0:x].elem_type",
    ),
    gguf(
        "G-23-scores-as-u8",
        hdr(0, 3)
        + ARCH
        + kv_arr("tokenizer.ggml.tokens", T_STR, 8, _tokens(8))
        + kv_arr("tokenizer.ggml.scores", T_U8, 8, b"\0" * 8),
        "warn",
        InvalidField,
        "unexpected_type",
        "kv[2:tokenizer.ggml.scores].elem_type",
        scan=ScanExpect(models=1, warnings=("unexpected_type",)),
    ),
    gguf(
        "G-23-scores-count-mismatch",
        hdr(0, 3)
        + ARCH
        + kv_arr("tokenizer.ggml.tokens", T_STR, 8, _tokens(8))
        + kv_arr("tokenizer.ggml.scores", T_F32, 7, b"\0" * 28),
        "warn",
        InvalidField,
        "count_mismatch",
        "kv[2:tokenizer.ggml.scores].count",
        scan=ScanExpect(models=1, warnings=("count_mismatch",)),
    ),
    gguf(
        "G-24-alignment-0",
        _g24(kv_u32("general.alignment", 0)),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].value",
    ),
    gguf(
        "G-24-alignment-13",
        _g24(kv_u32("general.alignment", 13)),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].value",
    ),
    gguf(
        "G-24-alignment-2^31",
        _g24(kv_u32("general.alignment", 0x80000000)),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].value",
    ),
    gguf(
        "G-24-alignment-2^21",
        _g24(kv_u32("general.alignment", 1 << 21)),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].value",
    ),
    gguf(
        "G-24-alignment-string",
        _g24(kv("general.alignment", T_STR, gstr("32"))),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].type",
    ),
    gguf(
        "G-24-alignment-int32",
        _g24(kv("general.alignment", T_I32, u32(32))),
        "fatal",
        InvalidField,
        "invalid_field",
        "kv[1:general.alignment].type",
    ),
    gguf(
        "G-24-alignment-4-not-multiple-of-8",
        pad(hdr(1, 2) + ARCH + kv_u32("general.alignment", 4) + tinfo("w", [4]), 4) + b"\0" * 16,
        "warn",
        InvalidField,
        "alignment_not_multiple_of_8",
        "kv[1:general.alignment].value",
        scan=ScanExpect(models=1, warnings=("alignment_not_multiple_of_8",)),
    ),
    gguf(
        "G-25-tensor-name-64-bytes",
        pad(hdr(1, 1) + ARCH + tinfo("n" * 64, [4])) + b"\0" * 16,
        "fatal",
        InvalidField,
        "invalid_field",
        "tensor[0].name",
    ),
    gguf(
        "G-26-duplicate-tensor",
        pad(hdr(2, 1) + ARCH + tinfo("w", [4], 0, 0) + tinfo("w", [4], 0, 32)) + b"\0" * 64,
        "fatal",
        DuplicateKey,
        "duplicate_key",
        "tensor[1:w]",
    ),
    gguf(
        "G-27-n_dims-5",
        pad(hdr(1, 1) + ARCH + tinfo("w", [1, 1, 1, 1, 4])) + b"\0" * 16,
        "fatal",
        InvalidField,
        "invalid_field",
        "tensor[0:w].n_dims",
    ),
    gguf(
        "G-27-n_dims-2^32-1",
        hdr(1, 1) + ARCH + gstr("w") + u32(0xFFFFFFFF) + u64(4),
        "fatal",
        InvalidField,
        "invalid_field",
        "tensor[0:w].n_dims",
    ),
    gguf("G-30-zero-dimension", pad(hdr(1, 1) + ARCH + tinfo("w", [4, 0])), "accept"),
    gguf(
        "G-31-type-255",
        pad(hdr(1, 1) + ARCH + tinfo("w", [32], 255)) + b"\0" * 128,
        "warn",
        Unsupported,
        "unknown_ggml_type",
        "tensor[0:w].type",
        scan=ScanExpect(models=1, warnings=("unknown_ggml_type",)),
        note="the catalogue's alternative: degrade to a warning, size unknown",
    ),
    gguf(
        "G-31-removed-type-4",
        pad(hdr(1, 1) + ARCH + tinfo("w", [32], 4)) + b"\0" * 128,
        "warn",
        Unsupported,
        "unknown_ggml_type",
        "tensor[0:w].type",
        scan=ScanExpect(models=1, warnings=("unknown_ggml_type",)),
    ),
    gguf(
        "G-32-row-not-multiple-of-block",
        pad(hdr(1, 1) + ARCH + tinfo("w", [33], 2)) + b"\0" * 64,
        "fatal",
        InvalidField,
        "invalid_field",
        "tensor[0:w].dims[0]",
    ),
    gguf(
        "G-33-offset-misaligned",
        pad(hdr(1, 1) + ARCH + tinfo("w", [4], 0, 4)) + b"\0" * 32,
        "fatal",
        LayoutError,
        "misaligned",
        "tensor[0:w].offset",
    ),
    gguf(
        "G-35-overlap",
        pad(hdr(2, 1) + ARCH + tinfo("a", [8], 0, 0) + tinfo("b", [8], 0, 0)) + b"\0" * 64,
        "fatal",
        LayoutError,
        "overlap",
        "tensor[1:b].offset",
    ),
    gguf(
        "G-35-hole",
        pad(hdr(2, 1) + ARCH + tinfo("a", [8], 0, 0) + tinfo("b", [8], 0, 64)) + b"\0" * 128,
        "fatal",
        LayoutError,
        "hole",
        "tensor[1:b].offset",
    ),
    gguf(
        "G-37-fewer-tensor-infos",
        hdr(2, 1) + ARCH + tinfo("w", [4]),
        "fatal",
        Truncated,
        "truncated",
        "tensor[1].name.len",
    ),
    gguf("G-41-no-room-for-data", hdr(1, 1) + ARCH + tinfo("w", [4]), "fatal", Truncated, "truncated", "tensor[0:w]"),
    gguf(
        "G-43-terminal-injection",
        hdr(0, 2) + ARCH + kv_str("general.name", "\x1b[2J\x1b[31mpwned\r\nFAKE LOG LINE"),
        "accept",
    ),
    gguf("G-44-architecture-as-path", hdr(0, 1) + kv_str("general.architecture", "../../etc/passwd"), "accept"),
    gguf(
        "G-45-absurd-hyperparameters",
        hdr(0, 3) + ARCH + kv("llama.context_length", T_U64, u64(2**64 - 1)) + kv("llama.block_count", T_U32, u32(0)),
        "accept",
    ),
    gguf(
        "G-46-ssti-chat-template",
        hdr(0, 2) + ARCH + kv_str("tokenizer.chat_template", "{{ ''.__class__.__mro__[1].__subclasses__() }}"),
        "accept",
    ),
    # A projector (and LoRA adapter) by name and header: a sidecar, never a model of its own.
    gguf(
        "G-47-mmproj-or-lora",
        hdr(0, 2) + kv_str("general.architecture", "clip") + kv_str("general.type", "adapter"),
        "accept",
        name="mmproj-model-f16.gguf",
        scan=ScanExpect(),
    ),
]

# --- 7.2 safetensors --------------------------------------------------------------------------


def _w(**over: object) -> dict[str, object]:
    return {**W4, **over}


def _s27(path: Path) -> None:
    """S-27: 1,000,000 contiguous F32[1] tensors (a 71 MB header), written in pieces."""
    n = 1_000_000
    parts = [b"{"]
    for i in range(n):
        parts.append(
            b'"t%07d":{"dtype":"F32","shape":[1],"data_offsets":[%d,%d]}%s'
            % (i, 4 * i, 4 * i + 4, b"," if i + 1 < n else b"}")
        )
    header = b"".join(parts)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + 4 * n)


SAFETENSORS: list[Entry] = [
    safet("S-01-shorter-than-8", b"\x10\0\0", "fatal", Truncated, "truncated", "header.length"),
    safet("S-02-n-0", struct.pack("<Q", 0) + b"\0" * 16, "fatal", InvalidField, "invalid_field", "header"),
    safet("S-03-n-past-eof", st(raw=b'{"w":', n=1000), "fatal", Truncated, "truncated", "header.length"),
    safet("S-05-appledouble", APPLEDOUBLE, "fatal", NotAModel, "appledouble"),
    safet("S-06-lfs-pointer", LFS_POINTER, "fatal", NotAModel, "lfs_pointer"),
    safet("S-07-not-utf8", st(raw=b'{"\xff":1}'), "fatal", InvalidField, "invalid_field", "header"),
    safet("S-08-not-json", st(raw=b"{"), "fatal", InvalidField, "invalid_field", "header"),
    safet(
        "S-08-nul-padding",
        st(raw=json.dumps({"w": W4}).encode() + b"\0\0\0", data=b"\0" * 16),
        "fatal",
        InvalidField,
        "invalid_field",
        "header",
    ),
    safet(
        "S-09-whitespace-padding", st(raw=b"\t\n" + json.dumps({"w": W4}).encode() + b"   ", data=b"\0" * 16), "accept"
    ),
    safet("S-10-list", st(raw=b"[]"), "fatal", InvalidField, "invalid_field", "header"),
    safet("S-10-string", st(raw=b'"x"'), "fatal", InvalidField, "invalid_field", "header"),
    safet("S-10-number", st(raw=b"1"), "fatal", InvalidField, "invalid_field", "header"),
    safet("S-10-null", st(raw=b"null"), "fatal", InvalidField, "invalid_field", "header"),
    safet("S-11-entry-not-object", st({"w": 5}), "fatal", InvalidField, "invalid_field", "tensor[w]"),
    safet("S-11-missing-keys", st({"w": {"dtype": "F32"}}), "fatal", InvalidField, "invalid_field", "tensor[w].shape"),
    *[
        safet(
            f"S-12-dtype-{label}",
            st({"w": {"dtype": d, "shape": [1], "data_offsets": [0, 16]}}, b"\0" * 16),
            "fatal",
            InvalidField,
            "invalid_field",
            "tensor[w].dtype",
        )
        for label, d in [("F128", "F128"), ("f32", "f32"), ("empty", ""), ("int", 7)]
    ],
    *[
        safet(
            f"S-13-shape-{label}",
            st({"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 16]}}, b"\0" * 16),
            "fatal",
            InvalidField,
            "invalid_field",
            "tensor[w].shape",
        )
        for label, shape in [
            ("negative", [-4]),
            ("string", ["ab", 3]),
            ("bool", [True, 4]),
            ("float", [1.5]),
            ("null", [None]),
            ("not-a-list", "4"),
        ]
    ],
    safet(
        "S-13d-shape-string-bomb",
        st({"w": {"dtype": "F32", "shape": ["a" * 1000, 10**7], "data_offsets": [0, 16]}}, b"\0" * 16),
        "fatal",
        InvalidField,
        "invalid_field",
        "tensor[w].shape",
    ),
    safet(
        "S-15-file-too-short",
        st({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}, b"\0" * 4),
        "fatal",
        Truncated,
        "truncated",
        "data",
    ),
    *[
        safet(
            f"S-16-offsets-{label}",
            st({"w": {"dtype": "F32", "shape": [4], "data_offsets": offs}}, b"\0" * 16),
            "fatal",
            InvalidField,
            "invalid_field",
            "tensor[w].data_offsets",
        )
        for label, offs in [
            ("one", [0]),
            ("reversed", [16, 0]),
            ("negative", [-16, 0]),
            ("float", [0, 16.0]),
            ("strings", ["0", "16"]),
            ("three", [0, 16, 32]),
        ]
    ],
    safet(
        "S-17-first-not-at-0",
        st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, b"\0" * 24),
        "fatal",
        LayoutError,
        "hole",
        "tensor[w].data_offsets",
    ),
    safet(
        "S-18-gap",
        st({"a": W4, "b": {"dtype": "F32", "shape": [4], "data_offsets": [32, 48]}}, b"\0" * 48),
        "fatal",
        LayoutError,
        "hole",
        "tensor[b].data_offsets",
    ),
    safet(
        "S-20-zero-size-shared-offset",
        st({"z": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, "w": W4}, b"\0" * 16),
        "accept",
    ),
    safet(
        "S-21-length-mismatch",
        st({"w": {"dtype": "F64", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16),
        "fatal",
        LayoutError,
        "size_mismatch",
        "tensor[w].data_offsets",
    ),
    safet(
        "S-23-duplicate-name",
        st(
            raw=b'{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
            data=b"\0\0\x80\x3f",
        ),
        "fatal",
        DuplicateKey,
        "duplicate_key",
        "header.w",
    ),
    safet(
        "S-24-metadata-nested",
        st({"__metadata__": {"a": {"b": 1}}, "w": W4}, b"\0" * 16),
        "fatal",
        InvalidField,
        "invalid_field",
        "header.__metadata__",
    ),
    safet(
        "S-24-metadata-number",
        st({"__metadata__": 5, "w": W4}, b"\0" * 16),
        "fatal",
        InvalidField,
        "invalid_field",
        "header.__metadata__",
    ),
    safet(
        "S-24c-tensor-named-metadata",
        st({"__metadata__": W4}, b"\0" * 16),
        "fatal",
        InvalidField,
        "invalid_field",
        "header.__metadata__",
    ),
    safet(
        "S-25c-nan",
        st(raw=json.dumps({"w": W4}).encode()[:-1] + b',"__metadata__":{"x":NaN}}', data=b"\0" * 16),
        "fatal",
        InvalidField,
        "invalid_field",
        "header",
    ),
    safet(
        "S-25d-lone-surrogate",
        st(raw=b'{"\\ud800":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', data=b"\0" * 16),
        "fatal",
        InvalidField,
        "invalid_field",
        "header",
    ),
]

# S-27 under server limits: refused from N alone, before the 71 MB are read. (Under batch limits
# it is accepted, at about 4 s and 600 MB: tests/test_hostile_subprocess.py measures it apart.)
S27 = Entry(
    "S-27-million-tensors",
    "safetensors",
    (("model.safetensors", _s27), ("config.json", VALID_CONFIG)),
    "model.safetensors",
    "fatal",
    LimitExceeded,
    "limit_exceeded",
    "header.length",
    "safetensors_header_bytes",
    _fatal_scan("model.safetensors", "limit_exceeded"),
    limits="server",
    big=True,
)
SAFETENSORS.append(S27)

# --- 7.3 JSON sidecars ------------------------------------------------------------------------


def _sparse(size: int) -> Writer:
    def write(path: Path) -> None:
        with open(path, "wb") as f:
            f.truncate(size)

    return write


def _c11_big_template(path: Path) -> None:
    with open(path, "wb") as f:
        f.write(b'{"chat_template": "')
        chunk = b"{{ x }}" * (1 << 16)
        for _ in range(50 * (1 << 20) // len(chunk)):
            f.write(chunk)
        f.write(b'"}')


def _index(weight_map: dict[str, str], total: int | None = None) -> bytes:
    meta = {} if total is None else {"total_size": total}
    return json.dumps({"metadata": meta, "weight_map": weight_map}).encode()


def _c14_million(path: Path) -> None:
    with open(path, "wb") as f:
        f.write(b'{"metadata": {}, "weight_map": {')
        f.write(b",".join(b'"t%07d": "model.safetensors"' % i for i in range(1_000_000)))
        f.write(b"}}")


_SHARD = st({"w2": W4}, b"\0" * 16)
_C07 = (
    b'{"model_type": "llama", "num_hidden_layers": "32", "max_position_embeddings": true, "hidden_size": -1, '
    b'"intermediate_size": 3.5, "vocab_size": 1e400}'
)

JSON: list[Entry] = [
    sidecar(
        "C-01-missing-config",
        None,
        "fatal",
        IncompleteModel,
        "missing_config",
        scan=ScanExpect(problems=((".", "missing_config"),)),
        note="a folder-level problem, not an exception",
    ),
    sidecar("C-02-empty", b"", "fatal", InvalidField, "invalid_field"),
    sidecar("C-02-whitespace", b"  \n", "fatal", InvalidField, "invalid_field"),
    sidecar("C-03-utf8-bom", b'\xef\xbb\xbf{"model_type":"llama"}', "accept"),
    sidecar("C-03-utf16", '{"model_type":"llama"}'.encode("utf-16"), "accept"),
    sidecar("C-03-invalid-utf8", b'{"model_type":"\xff"}', "fatal", InvalidField, "invalid_field"),
    sidecar("C-04-list", b"[]", "fatal", InvalidField, "invalid_field"),
    sidecar("C-04-string", b'"llama"', "fatal", InvalidField, "invalid_field"),
    sidecar("C-04-null", b"null", "fatal", InvalidField, "invalid_field"),
    sidecar("C-05-2GiB-sparse", _sparse(2 << 30), "fatal", LimitExceeded, "limit_exceeded", limit="config_json_bytes"),
    sidecar("C-07-wrong-types", _C07, "warn", InvalidField, "wrong_type"),
    sidecar(
        "C-08-bits-0",
        b'{"model_type": "llama", "quantization": {"bits": 0, "group_size": 0}}',
        "warn",
        code="bad_quantization",
    ),
    sidecar(
        "C-08-bits-string", b'{"model_type": "llama", "quantization": {"bits": "4"}}', "warn", code="bad_quantization"
    ),
    sidecar("C-08-list", b'{"model_type": "llama", "quantization": [4, 64]}', "warn", code="bad_quantization"),
    sidecar(
        "C-08-conflict",
        b'{"model_type": "llama", "quantization": {"bits": 4}, "quantization_config": {"bits": 8}}',
        "warn",
        code="quantization_conflict",
    ),
    # The catalogue's own bytes are 5 MB, over its own 4 MiB config.json cap (section 6).
    sidecar(
        "C-09-hostile-strings",
        json.dumps({"model_type": "\u001b[2J../../x", "architectures": ["A"] * 1_000_000}).encode(),
        "fatal",
        LimitExceeded,
        "limit_exceeded",
        limit="config_json_bytes",
        note="5 MB of JSON: over the 4 MiB config.json cap before any string is looked at",
    ),
    sidecar(
        "C-09-hostile-strings-small",
        json.dumps({"model_type": "\u001b[2J../../x", "architectures": ["A"] * 100_000}).encode(),
        "accept",
        note="the same strings within the cap: listed, the list not kept whole",
    ),
    sidecar(
        "C-10-text-config-string",
        b'{"model_type":"llava","text_config":"oops","vision_config":{}}',
        "warn",
        code="wrong_type",
    ),
    sidecar(
        "C-10-text-config-null",
        b'{"model_type":"llava","text_config":null,"vision_config":{}}',
        "warn",
        code="wrong_type",
    ),
    sidecar(
        "C-11-template-int", b'{"chat_template": 5}', "warn", code="bad_chat_template", name="tokenizer_config.json"
    ),
    sidecar(
        "C-11-template-list",
        b'{"chat_template": [{"name":"default","template":"..."},{"name":"tool_use","template":"..."}]}',
        "accept",
        name="tokenizer_config.json",
    ),
    sidecar(
        "C-11-template-50MB",
        _c11_big_template,
        "warn",
        LimitExceeded,
        "limit_exceeded",
        name="tokenizer_config.json",
        big=True,
    ),
    sidecar(
        "C-11-template-ssti",
        json.dumps({"chat_template": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}).encode(),
        "accept",
        name="tokenizer_config.json",
    ),
    sidecar(
        "C-12-model-max-length-sentinel",
        b'{"model_max_length": 1000000000000000019884624838656}',
        "accept",
        name="tokenizer_config.json",
    ),
    sidecar(
        "C-14-shard-missing",
        _index({"w": "model.safetensors", "w2": "model-00002-of-00002.safetensors"}),
        "fatal",
        IncompleteModel,
        "missing_shard",
        name="model.safetensors.index.json",
        note="marked incomplete: a problem, the model is not listed",
    ),
    sidecar(
        "C-14-shard-not-listed",
        _index({"w": "model.safetensors"}),
        "warn",
        code="unlisted_shard",
        name="model.safetensors.index.json",
        extra=(("model-00002-of-00002.safetensors", _SHARD),),
    ),
    sidecar(
        "C-14-total-size",
        _index({"w": "model.safetensors"}, total=10**12),
        "warn",
        code="size_mismatch",
        name="model.safetensors.index.json",
    ),
    sidecar(
        "C-14-million-entries",
        _c14_million,
        "warn",
        code="index_mismatch",
        name="model.safetensors.index.json",
        big=True,
    ),
    sidecar(
        "C-14-wrong-shard",
        _index({"w": "model-00002-of-00002.safetensors", "w2": "model.safetensors"}),
        "warn",
        code="index_mismatch",
        name="model.safetensors.index.json",
        extra=(("model-00002-of-00002.safetensors", _SHARD),),
    ),
]
for _i, _e in enumerate(JSON):
    # A warn entry lists the model with its warning code.
    if _e.outcome == "warn" and not _e.scan.problems and _e.code:
        JSON[_i] = dataclasses.replace(_e, scan=ScanExpect(models=1, warnings=(_e.code,)))

# --- 7.4 folder layouts -----------------------------------------------------------------------
#
# Each folder entry's files are written into the model folder m (= r/'pub'/'model' in the
# catalogue's words); a writer of None content makes a link, FIFO or folder instead. Links that
# the catalogue aims outside the root ("../../../../outside.gguf") are kept: the target is never
# opened, so whether it exists does not matter.


def _valid_gguf_writer(path: Path) -> None:
    from fixtures.make_fixtures import Q4_0, llm_tensors, write_gguf  # noqa: PLC0415 - numpy only when needed

    write_gguf(path, "llama", GOOD_KV, llm_tensors(Q4_0))


def _symlink(target: str) -> Writer:
    def write(path: Path) -> None:
        os.symlink(target, path)

    return write


def _mkdir(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _chardev(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # the device /dev/zero is


def _sparse_gguf(path: Path) -> None:
    with open(path, "wb") as f:
        f.write(VALID_GGUF)
        f.truncate(1 << 40)


def _hard_link(source: str) -> Writer:
    def write(path: Path) -> None:
        os.link(path.parent / source, path)

    return write


def _deep_tree_writer(path: Path) -> None:
    make_deep_tree(path, 2000)


def _projector_writer(path: Path) -> None:
    from fixtures.make_fixtures import F16, write_gguf  # noqa: PLC0415 - numpy only when needed

    write_gguf(
        path,
        "clip",
        {"general.type": "mmproj", "clip.has_vision_encoder": True},
        [("v.patch_embd.weight", (16, 16), F16)],
    )


def folder(
    id: str,
    files: tuple[tuple[str, Content], ...],
    scan: ScanExpect,
    *,
    code: str | None = None,
    cls: type[ModelScanError] | None = None,
    outcome: str | None = None,
    dynamic: bool = False,
    posix_root: bool = False,
    note: str = "",
) -> Entry:
    if outcome is None:
        outcome = "fatal" if scan.problems else "accept"
    if code is None and scan.problems:
        code = scan.problems[0][1]
    return Entry(
        id,
        "folder",
        files,
        None,
        outcome,
        cls,
        code,
        None,
        None,
        scan,
        dynamic=dynamic,
        posix_root=posix_root,
        note=note,
    )


_GOOD = ("model.gguf", _valid_gguf_writer)
_HEX = "ab" * 32

FOLDERS: list[Entry] = [
    folder(
        "F-02-symlink-cycle",
        (_GOOD, ("a.gguf", _symlink("b.gguf")), ("b.gguf", _symlink("a.gguf"))),
        ScanExpect(problems=(("a.gguf", "symlink_loop"), ("b.gguf", "symlink_loop")), models=1),
        cls=FileAccessError,
    ),
    folder(
        "F-03-dangling-symlink",
        (_GOOD, ("x.gguf", _symlink("nope.gguf"))),
        ScanExpect(problems=(("x.gguf", "broken_symlink"),), models=1),
        cls=FileAccessError,
    ),
    folder(
        "F-04-escapes-root",
        (_GOOD, ("evil.gguf", _symlink("/etc/passwd")), ("o.gguf", _symlink("../../../../outside.gguf"))),
        ScanExpect(problems=(("evil.gguf", "outside_root"), ("o.gguf", "outside_root")), models=1),
        cls=FileAccessError,
    ),
    folder(
        "F-04b-hf-cache-layout",
        (
            ("blobs/" + _HEX, _valid_gguf_writer),
            ("snapshots/rev1/model.gguf", _symlink("../../blobs/" + _HEX)),
            ("snapshots/rev2/model.gguf", _symlink("../../blobs/" + _HEX)),
        ),
        ScanExpect(models=1),
        note="the blob is counted once although two revisions link to it",
    ),
    folder(
        "F-06-devices-outside",
        (_GOOD, ("z.gguf", _symlink("/dev/zero")), ("r.safetensors", _symlink("/dev/urandom"))),
        ScanExpect(problems=(("r.safetensors", "outside_root"), ("z.gguf", "outside_root")), models=1),
        cls=FileAccessError,
    ),
    folder(
        "F-06-fifo-inside",
        (_GOOD, ("fifo", _fifo), ("f.gguf", _symlink("fifo")), ("model-pipe.gguf", _fifo)),
        ScanExpect(problems=(("f.gguf", "not_regular_file"), ("model-pipe.gguf", "not_regular_file")), models=1),
        cls=FileAccessError,
    ),
    folder(
        "F-06-device-inside",
        (_GOOD, ("zero", _chardev), ("z.gguf", _symlink("zero"))),
        ScanExpect(problems=(("z.gguf", "not_regular_file"),), models=1),
        cls=FileAccessError,
        posix_root=True,
    ),
    folder("F-07-directory-named-gguf", (_GOOD, ("dir.gguf", _mkdir)), ScanExpect(models=1)),
    folder(
        "F-08-permissions",
        (_GOOD,),
        ScanExpect(models=1),
        code="permission_denied",
        cls=FileAccessError,
        dynamic=True,
        note="chmod 0 does not stop root: tested by denying os.open/os.scandir",
    ),
    folder(
        "F-09-truncated-during-scan",
        (_GOOD,),
        ScanExpect(models=1),
        cls=Truncated,
        dynamic=True,
        note="Truncated or ChangedDuringScan, never SIGBUS: tested in a subprocess",
    ),
    folder("F-10-growing-during-scan", (_GOOD,), ScanExpect(models=1), code="changed_during_scan", dynamic=True),
    folder(
        "F-11-partial-downloads",
        (
            _GOOD,
            ("model.gguf.part", VALID_GGUF),
            ("model.gguf.partial", VALID_GGUF),
            ("x.crdownload", VALID_GGUF),
            ("blobs/etag123.incomplete", VALID_GGUF),
            (".cache/huggingface/download/ab12.etag123.incomplete", VALID_GGUF),
            (f"sha256-{_HEX}-partial", VALID_GGUF),
            (f"sha256-{_HEX}-partial-0", VALID_GGUF),
        ),
        ScanExpect(
            problems=(
                ("blobs/etag123.incomplete", "partial_download"),
                ("model.gguf.part", "partial_download"),
                ("model.gguf.partial", "partial_download"),
                (f"sha256-{_HEX}-partial", "partial_download"),
                (f"sha256-{_HEX}-partial-0", "partial_download"),
            ),
            models=1,
        ),
        cls=IncompleteModel,
        outcome="warn",
        note="x.crdownload (no model name) and .cache/ are ignored",
    ),
    folder(
        "F-12-os-junk",
        (
            _GOOD,
            ("._model.safetensors", APPLEDOUBLE),
            (".DS_Store", b"\0\0\0\1Bud1"),
            ("Thumbs.db", b"\xd0\xcf\x11\xe0"),
            ("desktop.ini", b"[.ShellClassInfo]\r\n"),
            ("._config.json", APPLEDOUBLE),
            ("._model.gguf", APPLEDOUBLE),
        ),
        ScanExpect(models=1),
    ),
    folder(
        "F-14-control-chars-in-names",
        (("evil\n[OK] fake.gguf", _valid_gguf_writer), ("\x1b[31mred.gguf", _valid_gguf_writer)),
        ScanExpect(models=2),
    ),
    folder(
        "F-15-deep-tree",
        (_GOOD, ("deep", _deep_tree_writer)),
        ScanExpect(problems=(("deep/a*", "scan_truncated"),), models=1),
        cls=LimitExceeded,
        outcome="warn",
        note="the problem names limit walk_depth; its path is the folder where the walk stopped",
    ),
    folder("F-16-hard-link", (_GOOD, ("other/model.gguf", _hard_link("../model.gguf"))), ScanExpect(models=1)),
    folder("F-17-sparse-1TiB", (("big.gguf", _sparse_gguf),), ScanExpect(models=1)),
    folder(
        "F-19-mixed-folder",
        (
            ("model-Q4_K_M.gguf", _valid_gguf_writer),
            ("model-Q8_0.gguf", _valid_gguf_writer),
            ("mmproj-model-f16.gguf", _projector_writer),
            ("model.safetensors", VALID_ST),
            ("config.json", VALID_CONFIG),
        ),
        ScanExpect(models=3),
    ),
    folder(
        "F-20-unreadable-directory",
        (_GOOD,),
        ScanExpect(models=1),
        code="permission_denied",
        cls=FileAccessError,
        dynamic=True,
        note="scandir's PermissionError, made by a monkeypatch as root",
    ),
]


def make_deep_tree(top: Path, depth: int, name: str = "a") -> Path:
    """*depth* nested folders under *top* (``a/a/a/...``), made through directory descriptors so
    paths longer than PATH_MAX are no obstacle. Returns *top*."""
    top.mkdir(parents=True, exist_ok=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            new = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = new
        with open(os.open("leaf.gguf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(VALID_GGUF)
        fd = -1
    finally:
        if fd >= 0:
            os.close(fd)
    return top


def remove_tree(top: Path) -> None:
    """Remove *top* however deep it goes (``shutil.rmtree`` recurses once per level, and paths
    past PATH_MAX defeat it): every child of a subfolder is moved up into *top*, then the
    emptied subfolder removed, so no path is ever more than two levels below *top*."""
    n = 0
    while True:
        with os.scandir(top) as it:
            entries = list(it)
        subdirs = []
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                subdirs.append(e.path)
            else:
                os.unlink(e.path)
        if not subdirs:
            break
        for sub in subdirs:
            with os.scandir(sub) as it:
                names = [c.name for c in it]
            for name in names:
                n += 1
                os.rename(os.path.join(sub, name), os.path.join(top, f".hoisted-{n}"))
            os.rmdir(sub)
    os.rmdir(top)


# --- 7.5 performance --------------------------------------------------------------------------


def write_p01(n: int) -> Writer:
    def write(path: Path) -> None:
        with open(path, "wb") as f:
            f.write(hdr(0, 4) + ARCH)
            f.write(kv_arr("tokenizer.ggml.tokens", T_STR, n, b"".join(gstr(f"tok{i:06d}") for i in range(n))))
            f.write(kv_arr("tokenizer.ggml.scores", T_F32, n, b"\0" * 4 * n))
            f.write(kv_arr("tokenizer.ggml.token_type", T_I32, n, b"\1\0\0\0" * n))

    return write


def write_p03(path: Path, n: int = 5_000_000) -> None:
    """``hdr(0, n) + b''.join(kv_u32('k%d' % i, 1) for i in range(n))``, written by groups of
    equal key length (about 110 MB)."""
    value = u32(T_U32) + u32(1)
    with open(path, "wb") as f:
        f.write(hdr(0, n))
        lo = 0
        while lo < n:
            digits = len(str(lo))
            hi = min(n, 10**digits)
            prefix = u64(digits + 1) + b"k"
            sep = (value + prefix).decode("latin-1")
            step = 200_000
            for a in range(lo, hi, step):
                b = min(hi, a + step)
                f.write(prefix + sep.join(map(str, range(a, b))).encode("latin-1") + value)
            lo = hi


def _p04_index(path: Path) -> None:
    """A shard index of about 17 MB: 300,000 tensors over 40 shards."""
    weight_map = {
        f"model.layers.{i // 1000}.mlp.experts.{i % 1000}.down_proj.weight": (
            f"model-{i % 40 + 1:05d}-of-00040.safetensors"
        )
        for i in range(300_000)
    }
    path.write_bytes(json.dumps({"metadata": {"total_size": 1 << 40}, "weight_map": weight_map}).encode())


_NO_CONTEXT = ScanExpect(models=1, warnings=("missing_field",))  # listed without llama.context_length

PERF: list[Entry] = [
    Entry(
        "P-01-qwen2-151936",
        "perf",
        (("model.gguf", write_p01(151_936)),),
        "model.gguf",
        "accept",
        scan=_NO_CONTEXT,
        big=True,
    ),
    Entry(
        "P-01-gemma3-262144",
        "perf",
        (("model.gguf", write_p01(262_144)),),
        "model.gguf",
        "accept",
        scan=_NO_CONTEXT,
        big=True,
    ),
    Entry(
        "P-03-5M-tiny-kvs",
        "perf",
        (("model.gguf", write_p03),),
        "model.gguf",
        "fatal",
        LimitExceeded,
        "limit_exceeded",
        "header.n_kv",
        "gguf_n_kv",
        _fatal_scan("model.gguf", "limit_exceeded"),
        big=True,
    ),
    Entry(
        "P-04-17MB-index",
        "perf",
        (("model.safetensors.index.json", _p04_index),),
        "model.safetensors.index.json",
        "accept",
        big=True,
        note="parsed with the JSON reader and the index size cap",
    ),
]

ENTRIES: list[Entry] = [*GGUF, *SAFETENSORS, *JSON, *FOLDERS, *PERF]
BY_ID: dict[str, Entry] = {e.id: e for e in ENTRIES}
assert len(BY_ID) == len(ENTRIES), "entry ids must be unique"

#: Catalogue ids of sections 7.1 to 7.5 (HOSTILE.md), for the completeness test.
CATALOGUE_IDS = [
    "G-01",
    "G-02",
    "G-03",
    "G-03b",
    "G-04",
    "G-05",
    "G-06",
    "G-08",
    "G-10",
    "G-11",
    "G-12",
    "G-13",
    "G-14",
    "G-16",
    "G-17",
    "G-18",
    "G-22",
    "G-23",
    "G-24",
    "G-25",
    "G-26",
    "G-27",
    "G-30",
    "G-31",
    "G-32",
    "G-33",
    "G-35",
    "G-37",
    "G-41",
    "G-43",
    "G-44",
    "G-45",
    "G-46",
    "G-47",
    "S-01",
    "S-02",
    "S-03",
    "S-05",
    "S-06",
    "S-07",
    "S-08",
    "S-09",
    "S-10",
    "S-11",
    "S-12",
    "S-13",
    "S-13d",
    "S-15",
    "S-16",
    "S-17",
    "S-18",
    "S-20",
    "S-21",
    "S-23",
    "S-24",
    "S-24c",
    "S-25c",
    "S-25d",
    "S-27",
    "C-01",
    "C-02",
    "C-03",
    "C-04",
    "C-05",
    "C-07",
    "C-08",
    "C-09",
    "C-10",
    "C-11",
    "C-12",
    "C-14",
    "F-02",
    "F-03",
    "F-04",
    "F-04b",
    "F-06",
    "F-07",
    "F-08",
    "F-09",
    "F-10",
    "F-11",
    "F-12",
    "F-14",
    "F-15",
    "F-16",
    "F-17",
    "F-19",
    "F-20",
    "P-01",
    "P-03",
    "P-04",
]


def iter_entries(*kinds: str, big: bool = True, dynamic: bool = False) -> Iterator[Entry]:
    """Entries of the given kinds (all when none), without the big or dynamic ones if asked."""
    for e in ENTRIES:
        if kinds and e.kind not in kinds:
            continue
        if e.big and not big:
            continue
        if e.dynamic and not dynamic:
            continue
        yield e


# --- issue 9, round two: the readers (findings 1, 2 and 8) ------------------------------------
# An append-only block: its entries join ENTRIES and BY_ID here. Each note starts with "issue 9",
# which marks an entry beyond HOSTILE.md section 7 (test_every_catalogue_entry_is_there). Finding
# 7 (a file rewritten during the read) needs a hook: tests/test_hostile_readers.py tests it.


def _deep_extra_with_pair(depth: int) -> bytes:
    """Finding 1: an extra value *depth* lists deep in a tensor entry, and a surrogate pair."""
    header = (
        b'{"__metadata__":{"e":"\\ud83d\\ude00"},"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16],"x":'
        + b"[" * depth
        + b"]" * depth
        + b"}}"
    )
    return st(raw=header, data=b"\0" * 16)


def _claims_whole_file(size: int, content: bytes = b"") -> Writer:
    """Finding 8: a file of *size* bytes whose header length claims all of it (N = size - 8):
    *content* after the length, then zeros (sparse)."""

    def write(path: Path) -> None:
        with open(path, "wb") as f:
            f.write(u64(size - 8) + content)
            f.truncate(size)

    return write


def _over_tensor_data() -> bytes:
    """Finding 8 in small: a valid header and 1 MiB of F32 data, N patched to claim it all."""
    values = struct.pack("<262144f", *(i / 1000 for i in range(262_144)))
    header = json.dumps({"w": {"dtype": "F32", "shape": [262_144], "data_offsets": [0, len(values)]}}).encode()
    return u64(len(header) + len(values)) + header + values


def _text_then_nul(path: Path) -> None:
    """Finding 8: 60 MB that could be a metadata string, then a NUL, N claiming all of it."""
    head = b'{"__metadata__":{"x":"'
    with open(path, "wb") as f:
        f.write(u64(len(head) + 60_000_000 + 1 + 1000) + head)
        for _ in range(60):
            f.write(b"a" * 1_000_000)
        f.write(b"\0")
        f.truncate(8 + len(head) + 60_000_000 + 1 + 1000)


def _escaped_quotes_template(size: int) -> str:
    """Finding 2: an unclosed literal of escaped quotes, *size* characters, then "tools" outside."""
    return "{% '" + "\\'" * ((size - 12) // 2) + " %} tools"


def _write_template_jinja(path: Path) -> None:
    path.write_text(_escaped_quotes_template((4 << 20) - 64), encoding="utf-8")


def _gguf_with_template(path: Path) -> None:
    from fixtures.make_fixtures import Q4_0, llm_tensors, write_gguf  # noqa: PLC0415 - numpy only when needed

    kv = {**GOOD_KV, "tokenizer.chat_template": _escaped_quotes_template((4 << 20) - 64)}
    write_gguf(path, "llama", kv, llm_tensors(Q4_0))


def _st_entry(
    id: str, content: Content, field: str, *, limits: str = "batch", big: bool = False, note: str = ""
) -> Entry:
    """A safetensors header refused as InvalidField, written by a function when it is big."""
    return Entry(
        id,
        "safetensors",
        (("model.safetensors", content), ("config.json", VALID_CONFIG)),
        "model.safetensors",
        "fatal",
        InvalidField,
        "invalid_field",
        field,
        scan=_fatal_scan("model.safetensors", "invalid_field"),
        limits=limits,
        big=big,
        note=note,
    )


_F1 = "issue 9, finding 1: json.dumps of the whole object for the surrogate check raised RecursionError"
_F2 = "issue 9, finding 2: quadratic string-literal search (49 s for 64 KB before)"
_F8 = "issue 9, finding 8: N = size - 8 was read and decoded whole"

ROUND_TWO_READERS: list[Entry] = [
    # The field is the value's while json.loads can build the header on a fresh stack (about 990
    # levels on CPython 3.11, more on later versions), the header's beyond: not asserted there.
    *[
        safet(
            f"S-40-deep-extra-with-pair-{depth}",
            _deep_extra_with_pair(depth),
            "fatal",
            LimitExceeded,
            "limit_exceeded",
            "tensor[w].x" if depth <= 975 else None,
            limit="json_depth",
            note=_F1,
        )
        for depth in (900, 960, 975, 985, 990, 1000, 5000)
    ],
    _st_entry(
        "S-41-n-claims-sparse-90MB",
        _claims_whole_file(90_000_000),
        "header",
        big=True,
        note=_F8 + " (172 MiB peak before)",
    ),
    _st_entry(
        "S-41-n-claims-sparse-server",
        _claims_whole_file(25_000_000 + 8),  # SERVER_LIMITS.safetensors_header_bytes + 8
        "header",
        limits="server",
        big=True,
        note=_F8,
    ),
    safet(
        "S-41-n-claims-tensor-data",
        _over_tensor_data(),
        "fatal",
        InvalidField,
        "invalid_field",
        "header",
        note=_F8 + " (the real MiniLM file so: 260 MiB peak before)",
    ),
    _st_entry(
        "S-41-n-claims-text-then-nul",
        _text_then_nul,
        "header",
        big=True,
        note=_F8 + ": the bytes are checked before they are kept",
    ),
    sidecar(
        "T-01-escaped-quotes-jinja-4MiB",
        _write_template_jinja,
        "accept",
        name="chat_template.jinja",
        big=True,
        note=_F2,
    ),
    Entry(
        "T-02-escaped-quotes-gguf-4MiB",
        "folder",
        (("model.gguf", _gguf_with_template),),
        None,
        "accept",
        scan=ScanExpect(models=1),
        big=True,
        note=_F2,
    ),
]

ENTRIES.extend(ROUND_TWO_READERS)
BY_ID.update((e.id, e) for e in ROUND_TWO_READERS)
assert len(BY_ID) == len(ENTRIES), "entry ids must be unique"
