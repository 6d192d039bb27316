"""GGUF header reader: the GGUF file format, versions 2 and 3 (ggml ``docs/gguf.md``).

Only the header is read: magic, version, counts, the key/value metadata and the tensor infos.
Tensor data is never touched; its declared layout is checked against the file size. The
checks mirror what llama.cpp's ``gguf_init_from_reader`` rejects (HOSTILE.md appendix), with
three deliberate differences:

- big-endian files (which gguf-py's writer produces) are read, not rejected;
- a tensor of a ggml type this table does not know is kept with ``n_bytes=None`` and a warning
  (ids are added upstream every few months, and one new type should not hide a model);
- strings longer than the configured caps and arrays not asked for are skipped, not read.

Hostile input (HOSTILE.md R1-R5): every count or length is checked against the bytes that remain
before anything is allocated or looped over, then against :class:`~modelscan.limits.Limits`.
The stream is read with bounded ``read()`` calls into a small buffer (no mmap, no numpy), and
string arrays such as a 262,144-token vocabulary are skipped by walking their length prefixes
over that buffer. Every failure is a :class:`~modelscan.errors.ModelScanError` naming the file,
the field (``kv[3:tokenizer.ggml.tokens].count``) and the absolute byte offset.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from collections.abc import Container
from typing import BinaryIO, NoReturn

from ._fs import open_regular, verify_unchanged
from ._tables import (
    GGML_BLOCK,
    GGML_MAX_DIMS,
    GGML_MAX_NAME,
    GGUF_DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    GGUF_MAGIC_SWAPPED,
    GGUF_MAX_ALIGNMENT,
    GGUF_SCALAR,
    GGUF_SUPPORTED_VERSIONS,
    TOKENIZER_ARRAYS,
    GGUFValueType,
)
from .errors import (
    DuplicateKey,
    ErrorCode,
    FileAccessError,
    InvalidField,
    LayoutError,
    LimitExceeded,
    ModelScanError,
    NotAModel,
    Truncated,
    Unsupported,
    escape_text,
    quote_bytes,
)
from .limits import BATCH_LIMITS, Limits

__all__ = [
    "GGUFArray",
    "GGUFHeader",
    "GGUFTensorInfo",
    "Undecoded",
    "parse_gguf_header",
    "read_gguf_header",
]

# Bytes asked of the stream per refill. Big enough that a 6.5 MB vocabulary takes a handful of
# read() calls, small enough that the buffer never matters for memory.
_CHUNK = 1 << 20
# The first read: enough for a header with a small vocabulary, so most files cost one such read.
_FIRST_CHUNK = 1 << 18

# Smallest possible encodings (R1): a KV is key length (8) + type (4) + a 1-byte value; a tensor
# info is name length (8) + n_dims (4) + type (4) + offset (8) with no dims and an empty name.
_MIN_KV_BYTES = 8 + 4 + 1
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8
_MIN_STRING_BYTES = 8

# Field labels keep at most this many characters of a key or tensor name (R15).
_LABEL_CHARS = 80

_LFS_PREFIX = b"version https://git-lfs"
_CHAT_TEMPLATE_PREFIX = "tokenizer.chat_template"
_INT64_LIMIT = 1 << 63


@dataclasses.dataclass(frozen=True)
class Undecoded:
    """A string value longer than the cap: skipped over, only its byte length kept."""

    length: int


@dataclasses.dataclass(frozen=True)
class GGUFArray:
    """An array value. ``values`` is ``None`` unless the key was asked for in ``decode_arrays``."""

    elem_type: int
    count: int
    values: tuple[object, ...] | None


@dataclasses.dataclass(frozen=True)
class GGUFTensorInfo:
    """One tensor info. ``shape`` is in file (``ne``) order, innermost dimension first."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # relative to GGUFHeader.data_offset
    n_elements: int
    n_bytes: int | None  # None when the ggml type is unknown


@dataclasses.dataclass(frozen=True)
class GGUFHeader:
    """Everything in a GGUF file before its tensor data."""

    path: str
    version: int
    byteorder: str  # "<" or ">"
    kv: dict[str, object]
    kv_types: dict[str, int]
    tensors: tuple[GGUFTensorInfo, ...]
    alignment: int
    data_offset: int  # absolute start of the tensor data, i.e. the header size in bytes
    file_size: int
    # Errors compare by identity, so two parses of the same bytes would never be equal with them.
    warnings: tuple[ModelScanError, ...] = dataclasses.field(compare=False)

    def get(self, key: str, default: object = None) -> object:
        """The value of metadata *key*, or *default*."""
        return self.kv.get(key, default)


def _label(kind: str, index: int, name: str | None) -> str:
    if name is None:
        return f"{kind}[{index}]"
    # Nearly every real name is printable ASCII: skip the per-character escape loop for those.
    shown = name if name.isprintable() and "\\" not in name else escape_text(name)
    if len(shown) > _LABEL_CHARS:
        shown = shown[:_LABEL_CHARS] + "..."
    return f"{kind}[{index}:{shown}]"


def _short(name: str) -> str:
    """A key or name for a detail message (which ModelScanError escapes itself), cut short."""
    return name if len(name) <= _LABEL_CHARS else name[:_LABEL_CHARS] + "..."


def _pad(n: int, align: int) -> int:
    return n + (-n) % align


def _type_name(value_type: int) -> str:
    try:
        return GGUFValueType(value_type).name
    except ValueError:
        return str(value_type)


class _Parser:
    """One parse of one stream. ``buf[pos]`` is byte ``base + pos`` of the GGUF file."""

    def __init__(
        self,
        stream: BinaryIO,
        source: str,
        file_size: int | None,
        limits: Limits,
        decode_arrays: Container[str],
    ) -> None:
        self.stream = stream
        self.source = source
        self.limits = limits
        self.decode_arrays = decode_arrays
        self.warnings: list[ModelScanError] = []
        # Absolute position of each tensor info's offset field, for layout errors.
        self.offset_fields: list[int] = []
        try:
            self.seekable = bool(stream.seekable())
            self.start = stream.tell() if self.seekable else 0
            if file_size is None:
                if not self.seekable:
                    raise TypeError("parse_gguf_header: file_size is required for a stream that cannot seek")
                file_size = stream.seek(0, os.SEEK_END) - self.start
                stream.seek(self.start)
        except OSError as exc:
            raise self._os_error(exc) from exc
        self.size = file_size
        self.cap = limits.gguf_metadata_bytes
        self.buf = b""
        self.pos = 0
        self.base = 0
        self.set_byteorder("<")

    # --- errors ---------------------------------------------------------------------------

    def _os_error(self, exc: OSError) -> FileAccessError:
        return FileAccessError(self.source, f"read failed: {exc.strerror or exc}", format="fs", code="os_error")

    def fail(
        self,
        cls: type[ModelScanError],
        field: str,
        offset: int | None,
        detail: str,
        *,
        code: ErrorCode | None = None,
        limit: str | None = None,
    ) -> NoReturn:
        raise cls(self.source, detail, field=field, offset=offset, format="gguf", code=code, limit=limit)

    def warn(
        self,
        cls: type[ModelScanError],
        field: str,
        offset: int | None,
        detail: str,
        *,
        code: ErrorCode | None = None,
        limit: str | None = None,
    ) -> None:
        self.warnings.append(
            cls(self.source, detail, field=field, offset=offset, format="gguf", code=code, limit=limit)
        )

    # --- the buffer -----------------------------------------------------------------------

    def set_byteorder(self, order: str) -> None:
        self.order = order
        self.u32 = struct.Struct(order + "I").unpack_from
        self.u64 = struct.Struct(order + "Q").unpack_from
        self.scalar = {t: (struct.Struct(order + fmt).unpack_from, size) for t, (fmt, size) in GGUF_SCALAR.items()}

    @property
    def here(self) -> int:
        return self.base + self.pos

    def check(self, need: int, field: str, what: str = "") -> None:
        """R1 before allocating or looping: *need* bytes must remain in the file and the cap."""
        at = self.base + self.pos
        remain = self.size - at
        if need > remain:
            prefix = f"{what}: " if what else ""
            self.fail(Truncated, field, at, f"{prefix}needs {need} bytes, {max(remain, 0)} remain")
        if at + need > self.cap:
            self.fail(
                LimitExceeded,
                field,
                at,
                f"metadata would reach byte {at + need}, over the limit of {self.cap}",
                limit="gguf_metadata_bytes",
            )

    def fill(self, n: int, field: str) -> None:
        """Make ``buf[pos:pos + n]`` available, reading at most ``max(n, _CHUNK)`` bytes."""
        avail = len(self.buf) - self.pos
        if avail >= n:
            return
        self.check(n, field)
        read_from = self.base + len(self.buf)
        # Most headers are small: the first read asks for less, later ones for whole chunks.
        chunk = _FIRST_CHUNK if read_from == 0 else _CHUNK
        want = min(max(n - avail, chunk), self.size - read_from)
        chunks = [self.buf[self.pos :]] if avail else []
        got = 0
        try:
            while got < want:
                data = self.stream.read(want - got)
                if not data:
                    break
                chunks.append(data)
                got += len(data)
        except OSError as exc:
            raise self._os_error(exc) from exc
        self.base += self.pos
        self.pos = 0
        self.buf = chunks[0] if len(chunks) == 1 else b"".join(chunks)  # no copy of a lone read
        if len(self.buf) < n:
            # The stream ended before the size we were told (or measured): the file shrank.
            self.fail(Truncated, field, self.base, f"needs {n} bytes, {len(self.buf)} remain (file ends early)")

    def seek_to(self, target: int, field: str) -> None:
        """Move to absolute *target* (already checked to be inside the file and the cap)."""
        if self.base <= target <= self.base + len(self.buf):
            self.pos = target - self.base
            return
        try:
            if self.seekable:
                self.stream.seek(self.start + target)
            else:
                left = target - (self.base + len(self.buf))
                while left > 0:
                    data = self.stream.read(min(left, _CHUNK))
                    if not data:
                        self.fail(Truncated, field, target - left, f"{left} bytes missing (file ends early)")
                    left -= len(data)
        except OSError as exc:
            raise self._os_error(exc) from exc
        self.buf = b""
        self.base = target
        self.pos = 0

    def read_u32(self, field: str) -> int:
        self.fill(4, field)
        value: int = self.u32(self.buf, self.pos)[0]
        self.pos += 4
        return value

    def read_u64(self, field: str) -> int:
        self.fill(8, field)
        value: int = self.u64(self.buf, self.pos)[0]
        self.pos += 8
        return value

    def read_string(self, field: str, cap: int) -> str | Undecoded:
        """A length-prefixed string; over *cap* bytes it is skipped and returned as Undecoded."""
        at = self.here
        length = self.read_u64(field)
        self.check(length, field)
        if length > cap:
            self.seek_to(self.here + length, field)
            return Undecoded(length)
        self.fill(length, field)
        raw = self.buf[self.pos : self.pos + length]
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.warn(InvalidField, field, at, "string not UTF-8 (replaced)", code="not_utf8")
            return raw.decode("utf-8", errors="replace")

    def read_name(self, field: str, max_len: int, limit: str | None) -> str:
        """A key or tensor name: non-empty for keys, length-capped, strictly UTF-8."""
        at = self.here
        length = self.read_u64(field + ".len")
        self.check(length, field)
        if limit is None:
            if length >= max_len:
                self.fail(InvalidField, field, at, f"length {length} >= {max_len} (GGML_MAX_NAME)")
        else:
            if length == 0:
                self.fail(InvalidField, field, at, "empty key")
            if length > max_len:
                self.fail(LimitExceeded, field, at, f"key of {length} bytes over the limit of {max_len}", limit=limit)
        self.fill(length, field)
        raw = self.buf[self.pos : self.pos + length]
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidField(
                self.source, f"not UTF-8: {quote_bytes(raw)}", field=field, offset=at, format="gguf"
            ) from exc

    # --- the header -----------------------------------------------------------------------

    def read_preamble(self) -> tuple[int, int, int]:
        """Magic, version and the two counts, each count checked in O(1) (R1, then the caps)."""
        if self.size <= 0:
            raise NotAModel(self.source, "empty file", format="gguf", code="empty_file")
        self.fill(4, "header.magic")
        magic = self.buf[:4]
        if magic not in (GGUF_MAGIC, GGUF_MAGIC_SWAPPED):
            if self.buf.startswith(_LFS_PREFIX):
                raise NotAModel(
                    self.source, "weights not downloaded (git-lfs pointer)", format="gguf", code="lfs_pointer"
                )
            raise NotAModel(
                self.source,
                f"not a GGUF file: magic {quote_bytes(magic, 4)}",
                field="header.magic",
                offset=0,
                format="gguf",
                code="bad_magic",
            )
        self.pos = 4
        raw_version = self.read_u32("header.version")
        # Like llama.cpp and gguf-py: a version whose low 16 bits are zero was written with the
        # other byte order. "FUGG" is a file whose magic was swapped as well.
        if magic == GGUF_MAGIC_SWAPPED or (raw_version != 0 and raw_version & 0xFFFF == 0):
            self.set_byteorder(">")
            raw_version = int.from_bytes(raw_version.to_bytes(4, "little"), "big")
        version = raw_version
        if version not in GGUF_SUPPORTED_VERSIONS:
            detail = f"unsupported version {version}"
            if version == 1:
                detail += " (GGUF v1 is no longer supported)"
            self.fail(Unsupported, "header.version", 4, detail, code="unsupported_version")

        n_tensors = self.read_u64("header.n_tensors")
        n_kv = self.read_u64("header.n_kv")
        # R1 in O(1), before any loop: the smallest encoding of each item must fit.
        remain = self.size - self.here
        if n_tensors * _MIN_TENSOR_INFO_BYTES > remain:
            self.fail(
                Truncated,
                "header.n_tensors",
                8,
                f"{n_tensors} tensor infos of >= {_MIN_TENSOR_INFO_BYTES} bytes cannot fit in {remain} remaining bytes",
            )
        if n_kv * _MIN_KV_BYTES + n_tensors * _MIN_TENSOR_INFO_BYTES > remain:
            self.fail(
                Truncated,
                "header.n_kv",
                16,
                f"{n_kv} key/value pairs of >= {_MIN_KV_BYTES} bytes cannot fit in {remain} remaining bytes",
            )
        if n_tensors > self.limits.gguf_n_tensors:
            self.fail(
                LimitExceeded,
                "header.n_tensors",
                8,
                f"{n_tensors} tensors over the limit of {self.limits.gguf_n_tensors}",
                limit="gguf_n_tensors",
            )
        if n_kv > self.limits.gguf_n_kv:
            self.fail(
                LimitExceeded,
                "header.n_kv",
                16,
                f"{n_kv} key/value pairs over the limit of {self.limits.gguf_n_kv}",
                limit="gguf_n_kv",
            )
        self.check(n_kv * _MIN_KV_BYTES + n_tensors * _MIN_TENSOR_INFO_BYTES, "header.n_kv")

        return version, n_tensors, n_kv

    def parse(self) -> GGUFHeader:
        version, n_tensors, n_kv = self.read_preamble()
        kv: dict[str, object] = {}
        kv_types: dict[str, int] = {}
        alignment = GGUF_DEFAULT_ALIGNMENT
        for i in range(n_kv):
            key_at = self.here
            key = self.read_name(f"kv[{i}].key", self.limits.gguf_key_bytes, "gguf_key_bytes")
            item = _label("kv", i, key)
            if key in kv:
                self.fail(DuplicateKey, item, key_at, f"duplicate key '{_short(key)}'")
            value_type = self.read_u32(item + ".type")
            if key == "general.alignment" and value_type != GGUFValueType.UINT32:
                # llama.cpp PR #26318: any other type is rejected, not converted.
                self.fail(
                    InvalidField, item + ".type", self.here - 4, f"must be uint32, found {_type_name(value_type)}"
                )
            kv[key] = self.read_value(key, item, value_type)
            kv_types[key] = value_type
            if key == "general.alignment":
                alignment = self.check_alignment(kv[key], item + ".value", self.here - 4)
        self.check_tokenizer_counts(kv)

        tensors = self.read_tensor_infos(n_tensors)
        data_offset = _pad(self.here, alignment)
        self.check_layout(tensors, data_offset, alignment)
        return GGUFHeader(
            path=self.source,
            version=version,
            byteorder=self.order,
            kv=kv,
            kv_types=kv_types,
            tensors=tuple(tensors),
            alignment=alignment,
            data_offset=data_offset,
            file_size=self.size,
            warnings=tuple(self.warnings),
        )

    # --- values ---------------------------------------------------------------------------

    def string_cap(self, key: str) -> int:
        if key.startswith(_CHAT_TEMPLATE_PREFIX):
            return self.limits.gguf_chat_template_bytes
        return self.limits.gguf_string_bytes

    def read_scalar(self, value_type: int, field: str) -> object:
        unpack, size = self.scalar[value_type]
        self.fill(size, field)
        value: object = unpack(self.buf, self.pos)[0]
        if value_type == GGUFValueType.BOOL:
            if value not in (0, 1):
                self.fail(InvalidField, field, self.here, f"bool byte {value} not 0/1")
            value = value == 1
        self.pos += size
        return value

    def read_value(self, key: str, item: str, value_type: int) -> object:
        field = item + ".value"
        if value_type in self.scalar:
            return self.read_scalar(value_type, field)
        if value_type == GGUFValueType.STRING:
            return self.read_string(field, self.string_cap(key))
        if value_type == GGUFValueType.ARRAY:
            return self.read_array(key, item)
        self.fail(InvalidField, item + ".type", self.here - 4, f"unknown value type {value_type}")

    def read_array(self, key: str, item: str) -> GGUFArray:
        elem_type = self.read_u32(item + ".elem_type")
        if elem_type == GGUFValueType.ARRAY:
            # The spec allows nesting; llama.cpp rejects it, and so do we (gguf-py recursed, G-21).
            self.fail(
                Unsupported, item + ".elem_type", self.here - 4, "nested arrays are not supported", code="nested_array"
            )
        if elem_type in self.scalar:
            elem_size = self.scalar[elem_type][1]
        elif elem_type == GGUFValueType.STRING:
            elem_size = _MIN_STRING_BYTES
        else:
            self.fail(InvalidField, item + ".elem_type", self.here - 4, f"unknown element type {elem_type}")
        count_at = self.here
        count = self.read_u64(item + ".count")
        self.check(count * elem_size, item + ".count", f"{count} elements of >= {elem_size} bytes")

        values: tuple[object, ...] | None = None
        decode = key in self.decode_arrays
        if decode and count > self.limits.gguf_array_elements_decoded:
            self.warn(
                LimitExceeded,
                item + ".count",
                count_at,
                f"{count} elements over the limit of {self.limits.gguf_array_elements_decoded}; not decoded",
                limit="gguf_array_elements_decoded",
            )
            decode = False
        if decode:
            values = self.decode_array(elem_type, count, item + ".value")
        elif elem_type == GGUFValueType.STRING:
            self.skip_strings(count, item + ".value")
        else:
            # Fixed-size elements are skipped by arithmetic alone (R5): no bytes are read.
            self.seek_to(self.here + count * elem_size, item + ".value")

        expected = TOKENIZER_ARRAYS.get(key)
        if expected is not None and expected[0] != elem_type:
            self.warn(
                InvalidField,
                item + ".elem_type",
                count_at - 4,
                f"{key}: expected {_type_name(expected[0])}[{count}], found {_type_name(elem_type)}[{count}]",
                code="unexpected_type",
            )
        return GGUFArray(elem_type, count, values)

    def decode_array(self, elem_type: int, count: int, field: str) -> tuple[object, ...]:
        if elem_type == GGUFValueType.STRING:
            cap = self.limits.gguf_string_bytes
            return tuple(self.read_string(f"{field}[{j}]", cap) for j in range(count))
        fmt, size = GGUF_SCALAR[elem_type]
        self.fill(count * size, field)
        values: tuple[object, ...] = struct.unpack_from(f"{self.order}{count}{fmt}", self.buf, self.pos)
        if elem_type == GGUFValueType.BOOL:
            for j, byte in enumerate(values):
                if byte not in (0, 1):
                    self.fail(InvalidField, f"{field}[{j}]", self.here + j, f"bool byte {byte} not 0/1")
            values = tuple(byte == 1 for byte in values)
        self.pos += count * size
        return values

    def skip_strings(self, count: int, field: str) -> None:
        """Step over *count* length-prefixed strings without decoding them (R4, R5).

        The hot loop of the whole reader: a 262,144-token vocabulary is 262,144 iterations of
        one ``unpack_from`` and one addition over the buffered bytes. ``unpack_from`` itself
        raises when a length prefix runs past the buffer; then the buffer is refilled from the
        prefix on, and the position checked against the file size and the metadata cap.
        """
        unpack = self.u64
        buf, p, j = self.buf, self.pos, 0
        while True:
            seg_p, seg_j = p, j
            try:
                for j in range(seg_j, count):  # noqa: B007 - j is read after the loop on purpose
                    p += unpack(buf, p)[0] + 8
                j = count
            except (struct.error, OverflowError):
                pass  # the prefix of string j is not (wholly) in the buffer
            at = self.base + p
            if at > self.size or at > self.cap:
                # String j-1 claims more bytes than there are. Walk this buffer again (off the
                # hot path) to say where it starts.
                q = seg_p
                for _ in range(seg_j, j - 1):
                    q += unpack(buf, q)[0] + 8
                where = f"{field}[{j - 1}]"
                if at > self.size:
                    self.fail(
                        Truncated,
                        where,
                        self.base + q,
                        f"string of {at - self.base - q - 8} bytes runs past the end of the file ({self.size})",
                    )
                self.fail(
                    LimitExceeded,
                    where,
                    self.base + q,
                    f"metadata would reach byte {at}, over the limit of {self.cap}",
                    limit="gguf_metadata_bytes",
                )
            self.seek_to(at, field)
            if j == count:
                return
            self.fill(8, f"{field}[{j}]")
            buf, p = self.buf, self.pos

    def check_alignment(self, value: object, field: str, offset: int) -> int:
        # Checked before any padding arithmetic runs (HOSTILE G-24, PR #24997).
        assert isinstance(value, int)
        if not (1 <= value <= GGUF_MAX_ALIGNMENT and value & (value - 1) == 0):
            self.fail(InvalidField, field, offset, f"{value} not a power of two in [1, {GGUF_MAX_ALIGNMENT}]")
        if value % 8:
            # The spec asks for a multiple of 8; llama.cpp accepts any power of two.
            self.warn(
                InvalidField,
                field,
                offset,
                f"alignment {value} not a multiple of 8",
                code="alignment_not_multiple_of_8",
            )
        return value

    def check_tokenizer_counts(self, kv: dict[str, object]) -> None:
        tokens = kv.get("tokenizer.ggml.tokens")
        if not isinstance(tokens, GGUFArray):
            return
        for key, (_, same_count) in TOKENIZER_ARRAYS.items():
            other = kv.get(key)
            if same_count and isinstance(other, GGUFArray) and other.count != tokens.count:
                index = list(kv).index(key)
                self.warn(
                    InvalidField,
                    _label("kv", index, key) + ".count",
                    None,
                    f"{other.count} elements, but tokenizer.ggml.tokens has {tokens.count}",
                    code="count_mismatch",
                )

    # --- tensor infos ---------------------------------------------------------------------

    def read_tensor_infos(self, n_tensors: int) -> list[GGUFTensorInfo]:
        tensors: list[GGUFTensorInfo] = []
        seen: set[str] = set()
        for i in range(n_tensors):
            name_at = self.here
            name = self.read_name(f"tensor[{i}].name", GGML_MAX_NAME, None)
            item = _label("tensor", i, name)
            if name in seen:
                self.fail(DuplicateKey, item, name_at, f"duplicate tensor name '{_short(name)}'")
            seen.add(name)
            n_dims = self.read_u32(item + ".n_dims")
            if n_dims > GGML_MAX_DIMS:
                # Before reading any dim (CVE-2024-21802).
                self.fail(InvalidField, item + ".n_dims", self.here - 4, f"{n_dims} > {GGML_MAX_DIMS}")
            shape = []
            n_elements = 1
            for d in range(n_dims):
                dim = self.read_u64(f"{item}.dims[{d}]")
                if dim >= _INT64_LIMIT:
                    self.fail(InvalidField, f"{item}.dims[{d}]", self.here - 8, f"{dim} >= 2^63")
                shape.append(dim)
                n_elements *= dim
            if n_elements >= _INT64_LIMIT:
                self.fail(
                    InvalidField,
                    item + ".dims",
                    self.here - 8 * n_dims,
                    f"element count {n_elements} does not fit in int64",
                )
            ggml_type = self.read_u32(item + ".type")
            type_at = self.here - 4
            self.offset_fields.append(self.here)
            offset = self.read_u64(item + ".offset")
            block = GGML_BLOCK.get(ggml_type)
            n_bytes: int | None = None
            if block is None:
                self.warn(
                    Unsupported, item + ".type", type_at, f"unknown ggml type id {ggml_type}", code="unknown_ggml_type"
                )
            else:
                block_size, type_size = block
                ne0 = shape[0] if shape else 1
                if ne0 % block_size:
                    self.fail(
                        InvalidField,
                        item + ".dims[0]",
                        type_at - 8 * n_dims,
                        f"{ne0} not a multiple of block size {block_size}",
                    )
                rows = n_elements // ne0 if ne0 else 0
                n_bytes = ne0 // block_size * type_size * rows
            tensors.append(GGUFTensorInfo(name, tuple(shape), ggml_type, offset, n_elements, n_bytes))
        return tensors

    def check_layout(self, tensors: list[GGUFTensorInfo], data_offset: int, alignment: int) -> None:
        """llama.cpp's rule: each offset equals the padded size of the tensors before it (R9).

        Errors point at the byte of the tensor info's ``offset`` field.
        """
        expected: int | None = 0
        minimum = 0  # after a tensor of unknown size: the least offset the next one can have
        for i, t in enumerate(tensors):
            item = _label("tensor", i, t.name)
            at = self.offset_fields[i]
            if t.offset % alignment:
                self.fail(
                    LayoutError,
                    item + ".offset",
                    at,
                    f"offset {t.offset} not a multiple of alignment {alignment}",
                    code="misaligned",
                )
            if expected is None:
                # After a tensor of unknown size only the order can be checked.
                if t.offset < minimum:
                    self.fail(
                        LayoutError,
                        item + ".offset",
                        at,
                        f"offset {t.offset} overlaps the tensor before it, which is of unknown size",
                        code="overlap",
                    )
            elif t.offset < expected:
                self.fail(
                    LayoutError,
                    item + ".offset",
                    at,
                    f"offset {t.offset} overlaps the tensor before it, expected {expected}",
                    code="overlap",
                )
            elif t.offset > expected:
                self.fail(
                    LayoutError,
                    item + ".offset",
                    at,
                    f"offset {t.offset} leaves a hole of {t.offset - expected} bytes, expected {expected}",
                    code="hole",
                )
            if t.n_bytes is None:
                # A non-empty tensor takes at least one byte, so at least one alignment unit.
                expected = None
                minimum = t.offset + (alignment if t.n_elements else 0)
                continue
            end = data_offset + t.offset + t.n_bytes
            if end > self.size:
                self.fail(
                    Truncated, item, at, f"tensor data beyond end of file: ends at byte {end}, file has {self.size}"
                )
            expected = t.offset + _pad(t.n_bytes, alignment)


def parse_gguf_header(
    stream: BinaryIO,
    *,
    source: str,
    file_size: int | None = None,
    limits: Limits = BATCH_LIMITS,
    decode_arrays: Container[str] = frozenset(),
) -> GGUFHeader:
    """Parse the GGUF header that starts at *stream*'s current position.

    *source* names the file in errors. *file_size* is the size of the GGUF file (from its start);
    by default it is measured by seeking to the end, which a stream that cannot seek must spare
    us by passing it. Arrays are skipped unless their key is in *decode_arrays*.

    Raises :class:`NotAModel` (``empty_file``, ``bad_magic``, ``lfs_pointer``), :class:`Truncated`,
    :class:`LimitExceeded`, :class:`InvalidField`, :class:`Unsupported` (``unsupported_version``,
    ``nested_array``), :class:`LayoutError` (``misaligned``, ``overlap``, ``hole``),
    :class:`DuplicateKey`, or :class:`FileAccessError` when the stream itself fails.
    Non-fatal findings are in :attr:`GGUFHeader.warnings`.
    """
    return _Parser(stream, source, file_size, limits, decode_arrays).parse()


def read_gguf_header(
    path: str | os.PathLike[str],
    *,
    limits: Limits = BATCH_LIMITS,
    decode_arrays: Container[str] = frozenset(),
    expect: tuple[int, ...] | None = None,
    source: str | None = None,
) -> GGUFHeader:
    """Open *path* safely (``_fs.open_regular``) and parse its GGUF header.

    *expect* is the ``(st_dev, st_ino)`` a folder walk saw for *path* (a resolved path): a file
    swapped since then raises :class:`ChangedDuringScan` before anything is read. An empty file
    is :class:`NotAModel` (``empty_file``) from ``fstat`` alone. A file that changes while it is
    read raises :class:`ChangedDuringScan`, also when the change made the parse fail. Raises
    everything :func:`parse_gguf_header` raises, and :class:`FileAccessError`. *source* names the
    file in errors and in the header (default: *path*).
    """
    source = os.fsdecode(path) if source is None else source
    f, before = open_regular(path, expect=expect, source=source)
    with f:
        if before.st_size == 0:
            raise NotAModel(source, "empty file", format="gguf", code="empty_file")
        try:
            header = parse_gguf_header(
                f, source=source, file_size=before.st_size, limits=limits, decode_arrays=decode_arrays
            )
        except ModelScanError:
            # A truncated or garbled read of a file that is being rewritten is not corruption.
            verify_unchanged(source, f, before)
            raise
        verify_unchanged(source, f, before)
    return header
