"""GGUF header reader: the GGUF file format, versions 2 and 3 (ggml ``docs/gguf.md``).

Only the header is read: magic, version, counts, the key/value metadata and the tensor infos.
Tensor data is never touched; its declared layout is checked against the file size. The
checks mirror what llama.cpp's ``gguf_init_from_reader`` rejects (HOSTILE.md appendix), with
three deliberate differences:

- big-endian files (which gguf-py's writer produces) are read, not rejected;
- a tensor of a ggml type this table does not know is kept with ``n_bytes=None`` and a warning
  (ids are added upstream every few months, and one new type should not hide a model);
- strings longer than the configured caps or past the budget of strings not asked for, and
  arrays not asked for, are skipped, not read.

This module is the grammar; the bytes come through a :class:`~modelscan._cursor.Cursor`, which
owns buffering, refills, integer reads and string skipping, over any byte source (a local file
by ``os.pread``, a file-like stream, or a remote one), so the grammar never does I/O itself.

Hostile input (HOSTILE.md R1-R5): every count or length is checked against the bytes that remain
before anything is allocated or looped over, then against :class:`~modelscan.limits.Limits`.
What is kept is bounded too: string values are decoded in full only for the keys asked for (by
default the few that model facts read), others within a small total budget, and the tensor infos
can be summed into a :class:`GGUFTensorStats` as they are read instead of being kept, so a
million tensors cost a few MB. Every failure is a :class:`~modelscan.errors.ModelScanError` naming the file, the field
(``kv[3:tokenizer.ggml.tokens].count``) and the absolute byte offset.

Why one module of this size: it is one spec (the GGUF header grammar) and its checks, each
beside the field it guards; the byte cursor (``_cursor.py``) and the tensor-info reader
(``_gguf_tensors.py``) are already apart. Splitting the grammar further would put a field's
read and its R1 check in different files.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Container
from typing import Any, BinaryIO, NoReturn

from ._cursor import ByteSource, Cursor, FileSource, StreamSource
from ._fs import open_regular_fd, verify_unchanged
from ._gguf_tensors import GGUFTensorInfo, GGUFTensorStats, TensorInfos, label, short
from ._record import Record, set_field
from ._tables import (
    GGML_MAX_DIMS,
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
    InvalidField,
    LimitExceeded,
    ModelScanError,
    NotAModel,
    Truncated,
    Unsupported,
    quote_bytes,
)
from .limits import BATCH_LIMITS, Limits

__all__ = [
    "ALL_KEYS",
    "FACT_STRING_KEYS",
    "GGUFArray",
    "GGUFHeader",
    "GGUFTensorInfo",
    "GGUFTensorStats",
    "Undecoded",
    "parse_gguf_header",
    "read_gguf_header",
]

# Smallest possible encodings (R1): a KV is key length (8) + type (4) + a 1-byte value; a tensor
# info is name length (8) + n_dims (4) + type (4) + offset (8) with no dims and an empty name.
_MIN_KV_BYTES = 8 + 4 + 1
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8
_MIN_STRING_BYTES = 8
# Warnings of one kind kept per file; the rest are counted in one more (a million tensors of an
# unknown type would otherwise be a million warnings).
_WARNINGS_PER_KIND = 16
_LFS_PREFIX = b"version https://git-lfs"
_CHAT_TEMPLATE_PREFIX = "tokenizer.chat_template"

#: The string values model facts read (``facts_gguf``): the default of ``decode_strings``, decoded
#: up to their caps (``gguf_string_bytes``, ``gguf_chat_template_bytes``). Other string values
#: are decoded only while their total stays within ``Limits.gguf_other_strings_bytes`` (what
#: clients show of the metadata); the rest are kept as :class:`Undecoded`. So the decoded text of
#: any file within the limits stays within a few tens of MB, although CPython keeps a string with
#: one emoji at 4 bytes a character.
FACT_STRING_KEYS: frozenset[str] = frozenset(
    {
        "general.architecture",
        "general.name",
        "general.type",
        "general.size_label",
        "tokenizer.chat_template",
        "tokenizer.chat_template.tool_use",
    }
)


class _AllKeys:
    """A container that holds every key."""

    def __contains__(self, key: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ALL_KEYS"


#: Pass as ``decode_strings`` or ``decode_arrays`` to decode every value (within the caps).
ALL_KEYS: Container[str] = _AllKeys()


class Undecoded(Record):
    """A string value that was skipped (not asked for, or over its cap): its byte length only."""

    __slots__ = _fields = ("length",)
    length: int

    def __init__(self, length: int) -> None:
        set_field(self, "length", length)


class GGUFArray(Record):
    """An array value. ``values`` is ``None`` unless the key was asked for in ``decode_arrays``."""

    __slots__ = _fields = ("elem_type", "count", "values")
    elem_type: int
    count: int
    values: tuple[object, ...] | None

    def __init__(self, elem_type: int, count: int, values: tuple[object, ...] | None) -> None:
        set_field(self, "elem_type", elem_type)
        set_field(self, "count", count)
        set_field(self, "values", values)


class GGUFHeader(Record):
    """Everything in a GGUF file before its tensor data.

    Frozen; two headers are equal when every field but :attr:`warnings` is (errors compare by
    identity, so two parses of the same bytes would never be equal with them).
    """

    __slots__ = _fields = (
        "path",
        "version",
        "byteorder",
        "kv",
        "kv_types",
        "tensors",
        "alignment",
        "data_offset",
        "file_size",
        "warnings",
        "tensor_stats",
    )
    _compared = _fields[:-2] + _fields[-1:]

    path: str
    version: int
    byteorder: str  # "<" or ">"
    kv: dict[str, object]
    kv_types: dict[str, int]
    #: Every tensor info, in file order; empty when the parse was asked not to keep them
    #: (``keep_tensors=False``): :attr:`tensor_stats` has what the facts need either way.
    tensors: tuple[GGUFTensorInfo, ...]
    alignment: int
    data_offset: int  # absolute start of the tensor data, i.e. the header size in bytes
    file_size: int
    warnings: tuple[ModelScanError, ...]
    tensor_stats: GGUFTensorStats

    def __init__(  # noqa: PLR0917 -- positional, as the dataclass it replaces took them
        self,
        path: str,
        version: int,
        byteorder: str,
        kv: dict[str, object],
        kv_types: dict[str, int],
        tensors: tuple[GGUFTensorInfo, ...],
        alignment: int,
        data_offset: int,
        file_size: int,
        warnings: tuple[ModelScanError, ...],
        tensor_stats: GGUFTensorStats | None = None,
    ) -> None:
        set_field(self, "path", path)
        set_field(self, "version", version)
        set_field(self, "byteorder", byteorder)
        set_field(self, "kv", kv)
        set_field(self, "kv_types", kv_types)
        set_field(self, "tensors", tensors)
        set_field(self, "alignment", alignment)
        set_field(self, "data_offset", data_offset)
        set_field(self, "file_size", file_size)
        set_field(self, "warnings", warnings)
        set_field(self, "tensor_stats", GGUFTensorStats() if tensor_stats is None else tensor_stats)

    def get(self, key: str, default: object = None) -> object:
        """The value of metadata *key*, or *default*."""
        return self.kv.get(key, default)


def _pad(n: int, align: int) -> int:
    return n + (-n) % align


def _type_name(value_type: int) -> str:
    try:
        return GGUFValueType(value_type).name
    except ValueError:
        return str(value_type)


_Unpack = Callable[[bytes, int], tuple[Any, ...]]
_STRUCTS: dict[str, tuple[dict[int, tuple[_Unpack, int]], list[_Unpack]]] = {}


def _structs(order: str) -> tuple[dict[int, tuple[_Unpack, int]], list[_Unpack]]:
    """The precompiled structs of one byte order: scalar values by type, and a tensor info after
    its name and n_dims (the dims, the type and the offset in one call) by n_dims."""
    if order not in _STRUCTS:
        scalar: dict[int, tuple[_Unpack, int]] = {
            t: (struct.Struct(order + fmt).unpack_from, size) for t, (fmt, size) in GGUF_SCALAR.items()
        }
        dims: list[_Unpack] = [struct.Struct(order + "Q" * n + "IQ").unpack_from for n in range(GGML_MAX_DIMS + 1)]
        _STRUCTS[order] = (scalar, dims)
    return _STRUCTS[order]


class _Parser:
    """One parse of one source: the GGUF grammar, reading only through ``self.cur``."""

    def __init__(
        self,
        source: ByteSource,
        name: str,
        *,
        limits: Limits,
        decode_arrays: Container[str],
        decode_strings: Container[str],
        keep_tensors: bool,
    ) -> None:
        self.source = name
        self.limits = limits
        self.decode_arrays = decode_arrays
        self.decode_strings = decode_strings
        self.keep_tensors = keep_tensors
        # The tensor infos are kept (if only for the error paths) when they cannot be read again.
        self.can_reread = bool(getattr(source, "can_reread", True))
        self.warnings: list[ModelScanError] = []
        self.warned: dict[tuple[type[ModelScanError], ErrorCode | None, str | None], int] = {}
        self.text_left = limits.gguf_string_bytes_per_file  # bytes of strings still decoded
        self.others_left = limits.gguf_other_strings_bytes  # ... of which for keys not asked for
        self.elements_left = limits.gguf_array_elements_decoded_per_file  # array elements still decoded
        self.cur = Cursor(
            source, name=name, format="gguf", cap=limits.gguf_metadata_bytes, cap_limit="gguf_metadata_bytes"
        )
        self.size = self.cur.size
        self.set_byteorder("<")

    # --- errors ---------------------------------------------------------------------------

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
        if self.room(cls, code, limit):
            self.warnings.append(
                cls(self.source, detail, field=field, offset=offset, format="gguf", code=code, limit=limit)
            )

    def room(self, cls: type[ModelScanError], code: ErrorCode | None = None, limit: str | None = None) -> bool:
        """Count one warning of this kind; whether it is still to be kept (the first few are)."""
        kind = (cls, code, limit)
        seen = self.warned[kind] = self.warned.get(kind, 0) + 1
        return seen <= _WARNINGS_PER_KIND

    def warnings_kept(self) -> tuple[ModelScanError, ...]:
        """The warnings, and one for each kind that had more than were kept."""
        more = [
            cls(
                self.source,
                f"{n - _WARNINGS_PER_KIND} more {code or limit or cls.__name__} warnings not listed",
                format="gguf",
                code=code,
                limit=limit,
            )
            for (cls, code, limit), n in self.warned.items()
            if n > _WARNINGS_PER_KIND
        ]
        return (*self.warnings, *more)

    def set_byteorder(self, order: str) -> None:
        self.order = order
        self.cur.set_byteorder(order)
        self.scalar, self.dims_unpack = _structs(order)

    # --- strings --------------------------------------------------------------------------

    def read_string(self, field: str, cap: int, *, other: bool = False) -> str | Undecoded:
        """A length-prefixed string, decoded if it is within *cap* and what is left of the file's
        budget of decoded text (and, for a key not asked for by name, *other*, of the budget of
        other strings); else skipped and returned as Undecoded."""
        cur = self.cur
        at = cur.here
        length = cur.read_u64(field)
        cur.require(length, field)
        if length > cap or (other and length > self.others_left):
            cur.skip(length, field)
            return Undecoded(length)
        if length > self.text_left:
            self.warn(
                LimitExceeded,
                field,
                at,
                f"string of {length} bytes not decoded: {self.text_left} bytes left of the file's limit of "
                f"{self.limits.gguf_string_bytes_per_file}",
                limit="gguf_string_bytes_per_file",
            )
            cur.skip(length, field)
            return Undecoded(length)
        self.text_left -= length
        if other:
            self.others_left -= length
        raw = cur.take_view(length, field)  # decoded from the buffer: a 4 MiB template is not copied
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError:
            self.warn(InvalidField, field, at, "string not UTF-8 (replaced)", code="not_utf8")
            return str(raw, "utf-8", "replace")

    def read_name(self, field: str, max_len: int, limit: str | None) -> str:
        """A key or tensor name: non-empty for keys, length-capped, strictly UTF-8."""
        cur = self.cur
        at = cur.here
        length = cur.read_u64(field + ".len")
        cur.require(length, field)
        if limit is None:
            if length >= max_len:
                self.fail(InvalidField, field, at, f"length {length} >= {max_len} (GGML_MAX_NAME)")
        else:
            if length == 0:
                self.fail(InvalidField, field, at, "empty key")
            if length > max_len:
                self.fail(LimitExceeded, field, at, f"key of {length} bytes over the limit of {max_len}", limit=limit)
        raw = cur.take(length, field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidField(
                self.source, f"not UTF-8: {quote_bytes(raw)}", field=field, offset=at, format="gguf"
            ) from exc

    # --- the header -----------------------------------------------------------------------

    def read_preamble(self) -> tuple[int, int, int]:
        """Magic, version and the two counts, each count checked in O(1) (R1, then the caps)."""
        cur = self.cur
        if self.size <= 0:
            raise NotAModel(self.source, "empty file", format="gguf", code="empty_file")
        cur.ensure(4, "header.magic")
        first = cur.buf
        magic = first[:4]
        if magic not in (GGUF_MAGIC, GGUF_MAGIC_SWAPPED):
            if first.startswith(_LFS_PREFIX):
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
        cur.seek(4)
        raw_version = cur.read_u32("header.version")
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

        n_tensors = cur.read_u64("header.n_tensors")
        n_kv = cur.read_u64("header.n_kv")
        # R1 in O(1), before any loop: the smallest encoding of each item must fit.
        remain = self.size - cur.here
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
        cur.require(n_kv * _MIN_KV_BYTES + n_tensors * _MIN_TENSOR_INFO_BYTES, "header.n_kv")

        return version, n_tensors, n_kv

    def parse(self) -> GGUFHeader:
        version, n_tensors, n_kv = self.read_preamble()
        cur = self.cur
        kv: dict[str, object] = {}
        kv_types: dict[str, int] = {}
        alignment = GGUF_DEFAULT_ALIGNMENT
        key_bytes = 0
        for i in range(n_kv):
            # What is left of the header, roughly (real key/values and tensor infos average about
            # 40 and 64 bytes): a read the grammar cannot size reads that much.
            cur.rest = (n_kv - i) * 40 + n_tensors * 64
            key_at = cur.here
            key = self.read_name(f"kv[{i}].key", self.limits.gguf_key_bytes, "gguf_key_bytes")
            item = label("kv", i, key)
            key_bytes += cur.here - key_at - 8
            if key_bytes > self.limits.gguf_key_bytes_per_file:
                # Every key is kept: their total is what they cost (4 bytes a character at worst).
                self.fail(
                    LimitExceeded,
                    item,
                    key_at,
                    f"keys reach {key_bytes} bytes, over the limit of {self.limits.gguf_key_bytes_per_file}",
                    limit="gguf_key_bytes_per_file",
                )
            if key in kv:
                self.fail(DuplicateKey, item, key_at, f"duplicate key '{short(key)}'")
            value_type = cur.read_u32(item + ".type")
            if key == "general.alignment" and value_type != GGUFValueType.UINT32:
                # llama.cpp PR #26318: any other type is rejected, not converted.
                self.fail(InvalidField, item + ".type", cur.here - 4, f"must be uint32, found {_type_name(value_type)}")
            kv[key] = self.read_value(key, item, value_type)
            kv_types[key] = value_type
            if key == "general.alignment":
                alignment = self.check_alignment(kv[key], item + ".value", cur.here - 4)
        self.check_tokenizer_counts(kv)

        tensors = TensorInfos(self, n_tensors, alignment)
        tensors.read()
        data_offset = _pad(cur.here, alignment)
        tensors.check_after(data_offset)
        return GGUFHeader(
            path=self.source,
            version=version,
            byteorder=self.order,
            kv=kv,
            kv_types=kv_types,
            tensors=tuple(tensors.kept) if self.keep_tensors else (),
            alignment=alignment,
            data_offset=data_offset,
            file_size=self.size,
            warnings=self.warnings_kept(),
            tensor_stats=tensors.stats(),
        )

    # --- values ---------------------------------------------------------------------------

    def string_cap(self, key: str) -> int:
        if key.startswith(_CHAT_TEMPLATE_PREFIX):
            return self.limits.gguf_chat_template_bytes
        return self.limits.gguf_string_bytes

    def read_scalar(self, value_type: int, field: str) -> object:
        unpack, size = self.scalar[value_type]
        value = self.cur.unpack(unpack, size, field)
        if value_type == GGUFValueType.BOOL:
            if value not in (0, 1):
                self.fail(InvalidField, field, self.cur.here - size, f"bool byte {value} not 0/1")
            value = value == 1
        return value

    def read_value(self, key: str, item: str, value_type: int) -> object:
        field = item + ".value"
        if value_type in self.scalar:
            return self.read_scalar(value_type, field)
        if value_type == GGUFValueType.STRING:
            if key in self.decode_strings:
                return self.read_string(field, self.string_cap(key))
            # Any other string while the budget lasts (what clients show of the metadata).
            return self.read_string(field, self.limits.gguf_string_bytes, other=True)
        if value_type == GGUFValueType.ARRAY:
            return self.read_array(key, item)
        self.fail(InvalidField, item + ".type", self.cur.here - 4, f"unknown value type {value_type}")

    def read_array(self, key: str, item: str) -> GGUFArray:
        cur = self.cur
        elem_type = cur.read_u32(item + ".elem_type")
        if elem_type == GGUFValueType.ARRAY:
            # The spec allows nesting; llama.cpp rejects it, and so do we (gguf-py recursed, G-21).
            self.fail(
                Unsupported, item + ".elem_type", cur.here - 4, "nested arrays are not supported", code="nested_array"
            )
        if elem_type in self.scalar:
            elem_size = self.scalar[elem_type][1]
        elif elem_type == GGUFValueType.STRING:
            elem_size = _MIN_STRING_BYTES
        else:
            self.fail(InvalidField, item + ".elem_type", cur.here - 4, f"unknown element type {elem_type}")
        count_at = cur.here
        count = cur.read_u64(item + ".count")
        cur.require(count * elem_size, item + ".count", f"{count} elements of >= {elem_size} bytes")

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
        if decode and count > self.elements_left:
            self.warn(
                LimitExceeded,
                item + ".count",
                count_at,
                f"{count} elements over what is left ({self.elements_left}) of the file's limit of "
                f"{self.limits.gguf_array_elements_decoded_per_file}; not decoded",
                limit="gguf_array_elements_decoded_per_file",
            )
            decode = False
        if decode:
            self.elements_left -= count
            values = self.decode_array(key, elem_type, count, item + ".value")
        elif elem_type == GGUFValueType.STRING:
            cur.skip_strings(count, item + ".value")
        else:
            # Fixed-size elements are skipped by arithmetic alone (R5): no bytes are read.
            cur.skip(count * elem_size, item + ".value")

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

    def decode_array(self, key: str, elem_type: int, count: int, field: str) -> tuple[object, ...]:
        cur = self.cur
        if elem_type == GGUFValueType.STRING:
            cap = self.limits.gguf_string_bytes
            if key in self.decode_strings:
                return tuple(self.read_string(f"{field}[{j}]", cap) for j in range(count))
            # Strings of a key not asked for by name come out of the budget of other strings.
            return tuple(self.read_string(f"{field}[{j}]", cap, other=True) for j in range(count))
        fmt, size = GGUF_SCALAR[elem_type]
        cur.ensure(count * size, field, hint=count * size)
        at = cur.here
        values: tuple[object, ...] = struct.unpack_from(f"{self.order}{count}{fmt}", cur.buf, cur.pos)
        if elem_type == GGUFValueType.BOOL:
            for j, byte in enumerate(values):
                if byte not in (0, 1):
                    self.fail(InvalidField, f"{field}[{j}]", at + j, f"bool byte {byte} not 0/1")
            values = tuple(byte == 1 for byte in values)
        cur.moved_to(cur.pos + count * size)
        return values

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
                    label("kv", index, key) + ".count",
                    None,
                    f"{other.count} elements, but tokenizer.ggml.tokens has {tokens.count}",
                    code="count_mismatch",
                )


def parse_gguf_header(
    stream: BinaryIO | ByteSource,
    *,
    source: str,
    file_size: int | None = None,
    limits: Limits = BATCH_LIMITS,
    decode_arrays: Container[str] = frozenset(),
    decode_strings: Container[str] = FACT_STRING_KEYS,
    keep_tensors: bool = True,
) -> GGUFHeader:
    """Parse the GGUF header that starts at *stream*'s current position.

    *stream* is a binary file-like object, or a byte source (anything with ``size`` and
    ``read_at(offset, n)``, see :class:`modelscan._cursor.ByteSource`), which is read from its
    offset 0. *source* names the file in errors. *file_size* is the size of the GGUF file (from
    its start); for a stream it is measured by seeking to the end by default, which a stream that
    cannot seek must spare us by passing it.

    String values are decoded for the keys in *decode_strings* (by default
    :data:`FACT_STRING_KEYS`), and for other keys while their total stays within
    ``limits.gguf_other_strings_bytes``; the others are :class:`Undecoded`. Arrays are skipped
    unless their key is in *decode_arrays*. Pass :data:`ALL_KEYS` to decode every value (each
    within its cap).
    With *keep_tensors* false, :attr:`GGUFHeader.tensors` is empty and only
    :attr:`GGUFHeader.tensor_stats` is built: a few MB for a million tensors.

    Raises :class:`NotAModel` (``empty_file``, ``bad_magic``, ``lfs_pointer``), :class:`Truncated`,
    :class:`LimitExceeded`, :class:`InvalidField`, :class:`Unsupported` (``unsupported_version``,
    ``nested_array``), :class:`LayoutError` (``misaligned``, ``overlap``, ``hole``),
    :class:`DuplicateKey`, or :class:`FileAccessError` when the stream itself fails.
    Non-fatal findings are in :attr:`GGUFHeader.warnings`.
    """
    if hasattr(stream, "read_at"):
        byte_source: ByteSource = stream  # type: ignore[assignment]
        if file_size is not None and file_size != byte_source.size:
            raise TypeError("parse_gguf_header: file_size differs from the source's size")
    else:
        byte_source = StreamSource(stream, file_size)
    return _Parser(
        byte_source,
        source,
        limits=limits,
        decode_arrays=decode_arrays,
        decode_strings=decode_strings,
        keep_tensors=keep_tensors,
    ).parse()


def read_gguf_header(
    path: str | os.PathLike[str],
    *,
    source: str | None = None,
    limits: Limits = BATCH_LIMITS,
    decode_arrays: Container[str] = frozenset(),
    decode_strings: Container[str] = FACT_STRING_KEYS,
    keep_tensors: bool = True,
    expect: tuple[int, ...] | None = None,
) -> GGUFHeader:
    """Open *path* safely (``_fs.open_regular``) and parse its GGUF header.

    *source* is the name the file goes by in errors and in :attr:`GGUFHeader.path` (by default
    *path*): a caller that opens the resolved target of a symbolic link names the file as it was
    found. *expect* is what a folder walk saw of *path* (a resolved path), passed on to
    :func:`~modelscan._fs.open_regular`: a file swapped (or rewritten) since then raises
    :class:`ChangedDuringScan` before anything is read. An empty
    file is :class:`NotAModel` (``empty_file``) from ``fstat`` alone. A file that changes while it
    is read raises :class:`ChangedDuringScan`, also when the change made the parse fail. The file
    is read with ``os.pread``, sized to the header. *decode_strings*, *decode_arrays* and
    *keep_tensors* are as for :func:`parse_gguf_header`. Raises everything
    :func:`parse_gguf_header` raises, and :class:`FileAccessError`.
    """
    name = os.fsdecode(path) if source is None else source
    fd, before = open_regular_fd(path, expect=expect, source=name)
    try:
        if before.st_size == 0:
            raise NotAModel(name, "empty file", format="gguf", code="empty_file")
        try:
            header = parse_gguf_header(
                FileSource(fd, before.st_size),
                source=name,
                limits=limits,
                decode_arrays=decode_arrays,
                decode_strings=decode_strings,
                keep_tensors=keep_tensors,
            )
        except ModelScanError:
            # A truncated or garbled read of a file that is being rewritten is not corruption.
            verify_unchanged(name, fd, before)
            raise
        verify_unchanged(name, fd, before)
    finally:
        os.close(fd)
    return header
