"""safetensors header reader (huggingface/safetensors 0.8.0 format; HOSTILE.md R1, R2, R6-R9, R12,
R14, R15 and catalogue section 7.2, S-01 to S-27).

A file is ``N`` (u64, little endian), ``N`` bytes of JSON, then the data section. The JSON maps
each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to
the data section) and may hold ``"__metadata__"``, a map of strings to strings.

The checks are those of the reference reader (``read_metadata`` and ``Metadata::validate`` in
``safetensors/src/tensor.rs``, HOSTILE.md appendix 2.3), so a file is accepted exactly when
safetensors 0.8.0 accepts it, except where a comment marked *stricter than the reference* says
why modelscan refuses more: duplicate keys (S-23), serde's other spellings of an entry (a JSON
array) or of a dtype (``{"F32": null}``), nesting deeper than ``limits.json_depth`` and the
configurable limits. Only the ``8 + N`` header bytes are read: no numpy, no mmap (R6). They are
checked chunk by chunk as they come, so a header that cannot be JSON text is refused at its first
bad byte, and a long one is checked whole before it is kept (see ``_read_header_text``).

Why one module of this size: it is one spec (the safetensors header) held to its reference
reader's exact acceptance, check by check, and each deliberate strictness is commented where it
applies; the JSON itself is parsed by ``_json.py``.
"""

from __future__ import annotations

import codecs
import functools
import math
import operator
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, NamedTuple, cast

from ._fs import open_regular, verify_unchanged
from ._json import on_fresh_stack, parse_json, paused_gc, short_key, stack_is_low
from ._record import Record, set_field
from .errors import (
    InvalidField,
    LayoutError,
    LimitExceeded,
    ModelScanError,
    NotAModel,
    Truncated,
    quote_bytes,
)
from .limits import BATCH_LIMITS, Limits

__all__ = [
    "DTYPE_BITS",
    "SafetensorsHeader",
    "SafetensorsTensor",
    "parse_safetensors_header",
    "read_safetensors_header",
]

_FORMAT = "safetensors"

#: Bits per element of every dtype safetensors 0.8.0 knows: the ``Dtype`` enum and
#: ``Dtype::bitsize`` of ``safetensors/src/tensor.rs``, in the enum's order (as listed by the
#: library's own "unknown variant ..., expected one of ..." error). tests/test_safetensors.py
#: checks the names and sizes against the installed library.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,  # float4 e2m1 (MXFP4/NVFP4 payloads), two per byte
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,  # MX scale factors
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,  # complex64: two F32
    "F64": 64,
    "I64": 64,
    "U64": 64,
}

_U64_MAX = (1 << 64) - 1  # the reference reads shapes and offsets as usize (64-bit here)
_METADATA_KEY = "__metadata__"
_TENSOR_KEYS = frozenset({"dtype", "shape", "data_offsets"})

#: The shortest entry a tensor can have, with its separating comma: bounds the tensor count by
#: the header length before any parsing (R1).
_MIN_ENTRY_BYTES = len(b'"":{"dtype":"F4","shape":[],"data_offsets":[0,0]},')

_APPLEDOUBLE_MAGIC = b"\x00\x05\x16\x07"
_LFS_PREFIXES = (b"version https://git-lfs.github.com/spec/", b"version https://hawser.github.com/spec/")
_LFS_PROBE_BYTES = 64

_NAME_CHARS = 40

#: The header is read and checked this many bytes at a time (see _read_header_text).
_CHUNK = 1 << 20
#: Bytes that cannot be anywhere in JSON text (RFC 8259: a control character other than tab, LF
#: and CR, which must be escaped inside strings and may not appear outside them).
_NOT_JSON_TEXT = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: JSON's whitespace (RFC 8259 "ws").
_JSON_WHITESPACE = " \t\n\r"

#: Frames the reader needs beyond the JSON nesting it allows (its calls, json's, the checks').
_STACK_RESERVE = 100

#: Headers up to this size are first parsed without the duplicate-key hook (see below).
_FAST_PATH_BYTES = 1 << 20

#: Builds the InvalidField for a field and a detail (a closure over the file's name).
_Invalid = Callable[[str, str], InvalidField]


class SafetensorsTensor(NamedTuple):
    """One tensor entry. ``begin`` and ``end`` are offsets into the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def n_elements(self) -> int:
        """The product of the shape (1 for a scalar), as a Python int."""
        return math.prod(self.shape)


class SafetensorsHeader(Record):
    """A validated header: the tensors sorted by ``begin``, ties by name."""

    _fields = ("path", "metadata", "tensors", "header_bytes", "data_bytes", "file_size")
    __slots__ = (*_fields, "_by_name")

    path: str
    metadata: dict[str, str] | None
    tensors: tuple[SafetensorsTensor, ...]
    #: ``8 + N``: where the data section starts.
    header_bytes: int
    #: The length of the data section (the last tensor's ``end``).
    data_bytes: int
    file_size: int
    _by_name: dict[str, SafetensorsTensor] | None

    def __init__(  # noqa: PLR0917 -- positional, as the dataclass it replaces took them
        self,
        path: str,
        metadata: dict[str, str] | None,
        tensors: tuple[SafetensorsTensor, ...],
        header_bytes: int,
        data_bytes: int,
        file_size: int,
    ) -> None:
        set_field(self, "path", path)
        set_field(self, "metadata", metadata)
        set_field(self, "tensors", tensors)
        set_field(self, "header_bytes", header_bytes)
        set_field(self, "data_bytes", data_bytes)
        set_field(self, "file_size", file_size)
        set_field(self, "_by_name", None)

    @property
    def by_name(self) -> dict[str, SafetensorsTensor]:
        """The tensors by name (built on first use, then kept)."""
        if self._by_name is None:
            set_field(self, "_by_name", {t.name: t for t in self.tensors})
        return self._by_name  # type: ignore[return-value]  # set just above


def parse_safetensors_header(
    stream: BinaryIO, *, source: str, file_size: int, limits: Limits = BATCH_LIMITS
) -> SafetensorsHeader:
    """Read and validate the header of the safetensors file at the start of *stream*.

    *file_size* is the size of the whole file (from ``fstat``); *source* names it in errors.
    Reads the ``8 + N`` header bytes at most, a header over 1 MiB twice when *stream* can seek
    (checked, then kept), and never the data section.

    Raises :class:`NotAModel` (``empty_file``, ``lfs_pointer``, ``appledouble``),
    :class:`Truncated`, :class:`LimitExceeded` (``safetensors_header_bytes``,
    ``safetensors_tensors``, ``json_depth``), :class:`InvalidField`, :class:`DuplicateKey` and
    :class:`LayoutError` (``overlap``, ``hole``, ``size_mismatch``, ``trailing_bytes``,
    ``misaligned``).
    """
    if stack_is_low(limits.json_depth + _STACK_RESERVE):  # a caller deep in recursion: see on_fresh_stack
        return on_fresh_stack(
            lambda: parse_safetensors_header(stream, source=source, file_size=file_size, limits=limits)
        )
    if file_size == 0:
        raise NotAModel(source, "empty file (0 bytes)", format=_FORMAT, code="empty_file")
    head = _read_upto(stream, min(8, file_size))
    pending = _reject_junk(stream, head, source, file_size)
    if len(head) < 8:
        raise Truncated(source, f"{len(head)} bytes < 8", field="header.length", offset=0, format=_FORMAT)

    n = int.from_bytes(head, "little")
    if n > limits.safetensors_header_bytes:
        raise LimitExceeded(
            source,
            f"header of {n} bytes exceeds the limit of {limits.safetensors_header_bytes}",
            field="header.length",
            offset=0,
            format=_FORMAT,
            limit="safetensors_header_bytes",
        )
    if n > file_size - 8:
        raise Truncated(
            source, f"{n} > {file_size - 8} bytes available", field="header.length", offset=0, format=_FORMAT
        )
    if n == 0:
        raise InvalidField(source, "empty JSON", field="header", offset=8, format=_FORMAT)
    text = _read_header_text(stream, pending[:n], n, source)

    cap = limits.safetensors_tensors
    # R1: a header of N bytes holds at most N / 50 entries; only when that bound exceeds the cap,
    # count the entries (str.count runs at memory speed) before paying for json.loads.
    # Stricter than the reference only through the limit, and only for a header that spells
    # "data_offsets" as a whole string more than `cap` times (a hostile one).
    if (n - 1) // _MIN_ENTRY_BYTES > cap:
        count = text.count('"data_offsets"')
        if count > cap:
            raise _too_many(source, count, cap)

    # Stricter than the reference: parse_json rejects every duplicate key (DuplicateKey). serde
    # refuses a repeated "dtype", "shape", "data_offsets" or "__metadata__" field too, but keeps
    # the last of two tensors with one name (S-23) or two equal metadata keys, so an auditor
    # reading the first and a loader reading the last would disagree about the same bytes; the
    # format's documentation says names are unique. NaN, Infinity and lone surrogates are refused
    # by both readers.
    #
    # The duplicate check costs a Python call per JSON object, a third of the whole parse for a
    # typical header. So a header up to 1 MiB is first parsed without it, and accepted only if
    # _unique_members proves it had no duplicates; any doubt or error, and the header is parsed
    # again the strict way, which alone decides what is raised.
    if n <= _FAST_PATH_BYTES:
        try:
            fast = _parse_header(text, source=source, limits=limits, check_duplicates=False)
            return _validate(fast, source=source, n=n, file_size=file_size, limits=limits, prove_unique_in=text)
        except (ModelScanError, _Unproven):
            pass
    with paused_gc(n):  # the checks build a few objects per tensor too
        strict = _parse_header(text, source=source, limits=limits, check_duplicates=True)
        del text  # not needed by the checks: a big header is held as objects only, not also as text
        return _validate(strict, source=source, n=n, file_size=file_size, limits=limits, prove_unique_in=None)


def _parse_header(text: str, *, source: str, limits: Limits, check_duplicates: bool) -> dict[str, object]:
    return parse_json(
        text,  # decoded strictly from UTF-8 by _read_header_text (the reference has no BOM handling)
        source=source,
        what="header",
        limits=limits,
        format=_FORMAT,
        offset=8,
        # serde reads the literal -0 as a float, so it is not a valid dimension or offset there.
        parse_int=_int_or_float_minus_zero if "-0" in text else None,
        # _validate checks the type of every value, and walks the free-form ones with the cap.
        check_depth=False,
        check_duplicates=check_duplicates,
    )


def read_safetensors_header(
    path: str | os.PathLike[str],
    *,
    limits: Limits = BATCH_LIMITS,
    expect: tuple[int, ...] | None = None,
    source: str | None = None,
) -> SafetensorsHeader:
    """Open *path* safely (R7), read its header with :func:`parse_safetensors_header`, and check
    that the file did not change meanwhile (R14).

    *expect* is what a folder walk saw for *path* (a resolved path; see ``_fs.open_regular``): a file
    swapped or rewritten since then raises :class:`~modelscan.errors.ChangedDuringScan` before
    anything is read. *source* is the name used in errors and in the header's ``path`` (default: *path* as given),
    for a caller that opens a symbolic link's resolved target but names the file as it found it.
    A file that changes while it is read raises :class:`~modelscan.errors.ChangedDuringScan`, also
    when the change made the parse fail (a header half old, half new is not corrupt).

    Raises what :func:`parse_safetensors_header` raises, :class:`~modelscan.errors.FileAccessError`
    and :class:`~modelscan.errors.ChangedDuringScan`.
    """
    if stack_is_low(limits.json_depth + _STACK_RESERVE):
        return on_fresh_stack(lambda: read_safetensors_header(path, limits=limits, expect=expect, source=source))
    name = os.fsdecode(path) if source is None else source
    f, before = open_regular(path, expect=expect, source=name)
    with f:
        try:
            header = parse_safetensors_header(cast(BinaryIO, f), source=name, file_size=before.st_size, limits=limits)
        except ModelScanError:
            verify_unchanged(name, f, before)  # a failure on a file that changed is the change's doing
            raise
        verify_unchanged(name, f, before)
    return header


# -- reading -----------------------------------------------------------------------------------


def _read_upto(stream: BinaryIO, n: int) -> bytes:
    """Up to *n* bytes: fewer only at end of file."""
    data = stream.read(n) or b""
    if len(data) < n:
        parts = [data]
        got = len(data)
        while got < n:
            chunk = stream.read(n - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        data = b"".join(parts)
    return data


def _read_header_text(stream: BinaryIO, pending: bytes, n: int, source: str) -> str:
    """The *n* header bytes (*pending* first, then *stream*) as text, checked as they are read.

    A header is refused at the first byte that cannot be in a JSON object's text (see
    :func:`_checked_text`): a length that claims the whole file, over tensor data or a sparse
    file, costs a chunk, not N bytes read and decoded. A header longer than a chunk is read twice
    when the stream can seek: once to check every byte, keeping nothing, then to keep the text.
    So only a header that is JSON text from end to end (the only kind that can be valid) is ever
    held whole, and then once, as text (never as bytes and text).

    Raises :class:`Truncated` (the file ends first) and :class:`InvalidField` (``field="header"``).
    """
    if n > _CHUNK and stream.seekable():
        start = stream.tell()
        deque(_checked_text(stream, pending, n, source), maxlen=0)
        stream.seek(start)
    return "".join(_checked_text(stream, pending, n, source))


def _checked_text(stream: BinaryIO, pending: bytes, n: int, source: str) -> Iterator[str]:
    """The *n* header bytes decoded chunk by chunk, each checked before the next is read.

    What cannot be in a JSON object's text is invalid UTF-8, a control character other than tab,
    LF and CR (JSON allows them nowhere; inside strings only escaped), or a first character after
    whitespace other than ``{``. Each makes a header the reference refuses too, and the first of
    them in the file is the one raised, whatever the chunk size.
    """
    tail = b""  # the start of a UTF-8 sequence that the next chunk completes
    done = 0  # header bytes read so far
    opened = False  # the first character after whitespace was seen (and was "{")
    while done < n:
        want = min(_CHUNK, n - done)
        chunk, pending = pending[:want], pending[want:]
        if len(chunk) < want:
            chunk += _read_upto(stream, want - len(chunk))
        if len(chunk) < want:
            got = done + len(chunk)
            raise Truncated(
                source, f"file ended after {got} of {n} header bytes", field="header", offset=8 + got, format=_FORMAT
            )
        base = 8 + done  # the file offset of chunk[0]
        # (file offset, rank, what is there): the first offset is raised; at one offset, a byte
        # that is no text at all is named before one that only opens the wrong value.
        problems: list[tuple[int, int, str]] = []
        bad = _NOT_JSON_TEXT.search(chunk)
        if bad is not None:
            problems.append((base + bad.start(), 0, f"JSON: control character 0x{chunk[bad.start()]:02x}"))
        data = tail + chunk if tail else chunk
        start = base - len(tail)  # the file offset of data[0]
        try:
            text, used = codecs.utf_8_decode(data, "strict", done + want == n)
        except UnicodeDecodeError as exc:
            problems.append((start + exc.start, 0, "not UTF-8"))
            # What came before the error still counts for the first-character check below.
            text, used = (str(data[: exc.start], "utf-8") if not opened else ""), exc.start
        if not opened:
            # Checked on the text: a first character that is not ASCII is known only once decoded.
            rest = text.lstrip(_JSON_WHITESPACE)
            if rest:
                opened = True
                if rest[0] != "{":
                    first = quote_bytes(rest[0].encode("utf-8"))
                    problems.append((start + len(text) - len(rest), 1, f"top level is not an object: {first}"))
        if problems:
            at, _, what = min(problems)
            raise InvalidField(source, f"{what} at byte {at}", field="header", offset=8, format=_FORMAT)
        tail = data[used:]
        done += want
        yield text
        del text, data, chunk  # not held while the next chunk is read


def _reject_junk(stream: BinaryIO, head: bytes, source: str, file_size: int) -> bytes:
    """Raise :class:`NotAModel` for a Git LFS pointer or an AppleDouble sidecar (R12).

    Returns the bytes read past *head* to tell (they belong to the header otherwise).
    """
    # Read as N, the AppleDouble magic gives N = 0x07160500 + k * 2**32 > 100_000_000, which the
    # reference rejects too, so naming the cause loses no valid file at the default limits.
    if head[:4] == _APPLEDOUBLE_MAGIC:
        raise NotAModel(
            source, "AppleDouble resource fork (a '._' sidecar), not a model", format=_FORMAT, code="appledouble"
        )
    if head == b"version ":
        more = _read_upto(stream, min(_LFS_PROBE_BYTES, file_size - 8))
        if (head + more).startswith(_LFS_PREFIXES):
            raise NotAModel(source, "weights not downloaded (git-lfs pointer)", format=_FORMAT, code="lfs_pointer")
        return more
    return b""


def _int_or_float_minus_zero(text: str) -> object:
    return -0.0 if text == "-0" else int(text)


def _too_many(source: str, count: int, cap: int) -> LimitExceeded:
    return LimitExceeded(
        source,
        f"{count} tensors exceed the limit of {cap}",
        field="header",
        offset=8,
        format=_FORMAT,
        limit="safetensors_tensors",
    )


# -- validation --------------------------------------------------------------------------------


def _at(name: str, part: str = "") -> str:
    """The ``field`` of a tensor entry, or of one of its keys: ``tensor[w].dtype``."""
    return f"tensor[{short_key(name)}].{part}" if part else f"tensor[{short_key(name)}]"


def _quote(name: str) -> str:
    """A tensor name for a detail: quoted, cut to 40 characters (the error escapes it)."""
    return f"'{name}'" if len(name) <= _NAME_CHARS else f"'{name[:_NAME_CHARS]}'..."


def _validate(
    obj: dict[str, object],
    *,
    source: str,
    n: int,
    file_size: int,
    limits: Limits,
    prove_unique_in: str | None,
) -> SafetensorsHeader:
    """The header that *obj* describes. Given *prove_unique_in* (the JSON bytes, parsed without
    the duplicate check), raises :class:`_Unproven` unless it shows there was no duplicate key."""
    data_start = 8 + n

    def invalid(field: str, detail: str) -> InvalidField:
        return InvalidField(source, detail, field=field, offset=8, format=_FORMAT)

    has_metadata = _METADATA_KEY in obj
    metadata = _validate_metadata(obj.pop(_METADATA_KEY, None), invalid)
    if len(obj) > limits.safetensors_tensors:
        raise _too_many(source, len(obj), limits.safetensors_tensors)

    columns = _columns_fast(obj)
    if prove_unique_in is not None and (
        columns is None or not _unique_members(prove_unique_in, columns[0], has_metadata, metadata)
    ):
        raise _Unproven
    if columns is None:  # something is off, or an entry has extra keys: check entry by entry
        columns = _columns_checked(obj, invalid, source, data_start, limits)
    names, dtypes, shapes, begins, ends = columns

    # R9: sort by (begin, end) as the reference does, with names breaking ties so that errors are
    # deterministic (the reference names whichever tensor its HashMap yields first). Then every
    # tensor must begin where the one before it ended: no hole, no overlap. Writers list tensors
    # in offset order, and a header already contiguous in its own order is sorted, so that common
    # case skips the sort.
    if begins and begins[0] == 0 and begins[1:] == ends[:-1] and not any(map(operator.eq, begins, ends)):
        covered = ends[-1]
        order = None
    else:
        order = sorted(zip(begins, ends, names, range(len(names)), strict=True))
        sorted_begins = list(map(_FIRST, order))
        sorted_ends = list(map(_SECOND, order))
        if sorted_begins and (sorted_begins[0] != 0 or sorted_begins[1:] != sorted_ends[:-1]):
            _raise_layout(source, order, data_start)
        covered = sorted_ends[-1] if sorted_ends else 0

    data_bytes = file_size - data_start
    if covered < data_bytes:
        raise LayoutError(
            source,
            f"tensors cover {covered} bytes, data section has {data_bytes}: {data_bytes - covered} trailing bytes",
            field="data",
            offset=data_start + covered,
            format=_FORMAT,
            code="trailing_bytes",
        )
    if covered > data_bytes:
        raise Truncated(
            source,
            f"tensors cover {covered} bytes, data section has {data_bytes}",
            field="data",
            offset=file_size,
            format=_FORMAT,
        )
    if order is None:
        tensors = _new_tensors(names, dtypes, map(tuple, shapes), begins, ends)
    else:
        # Only a zero-size tensor can share a begin offset with another: those ties go by name.
        order.sort(key=_BEGIN_AND_NAME)
        index = list(map(_FOURTH, order))
        tensors = _new_tensors(
            map(names.__getitem__, index),
            map(dtypes.__getitem__, index),
            map(tuple, map(shapes.__getitem__, index)),
            map(_FIRST, order),
            map(_SECOND, order),
        )
    return SafetensorsHeader(
        path=source,
        metadata=metadata,
        tensors=tensors,
        header_bytes=data_start,
        data_bytes=data_bytes,
        file_size=file_size,
    )


def _unique_members(raw: str, names: list[str], has_metadata: bool, metadata: dict[str, str] | None) -> bool:
    """Whether the JSON *raw*, parsed into these plainly valid entries, had no duplicate key.

    Outside strings a colon appears only between a key and its value, so *raw* holds one colon
    per member parsed plus the colons inside string literals. Count what the result holds: a
    member per name and three per entry, one for ``__metadata__`` and one per metadata key, plus
    the colons in names and metadata strings (entry keys, dtypes and numbers have none). A
    duplicate is a member parsed but dropped, so *raw* has more colons than that. A string can
    also spell a colon ``\\u003a``, which the result counts and *raw* does not, so such a header
    proves nothing.
    """
    if "\\u003" in raw and ("\\u003a" in raw or "\\u003A" in raw):  # one pass when absent
        return False
    members = 4 * len(names) + has_metadata
    in_strings = "".join(names).count(":")
    if metadata:
        members += len(metadata)
        in_strings += "".join(metadata).count(":") + "".join(metadata.values()).count(":")
    return raw.count(":") == members + in_strings


def _new_tensors(
    names: Iterable[str],
    dtypes: Iterable[str],
    shapes: Iterable[tuple[int, ...]],
    begins: Iterable[int],
    ends: Iterable[int],
) -> tuple[SafetensorsTensor, ...]:
    """Build the tensors from columns, all in C: the same objects as ``SafetensorsTensor(...)``
    without a call of the ``NamedTuple``'s Python ``__new__`` per tensor (for a large header that
    cost would rival ``json.loads`` itself)."""
    return tuple(map(_NEW_TENSOR, zip(names, dtypes, shapes, begins, ends, strict=True)))


_NEW_TENSOR = functools.partial(tuple.__new__, SafetensorsTensor)
_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)
_FOURTH = operator.itemgetter(3)
_BEGIN_AND_NAME = operator.itemgetter(0, 2)

#: names, dtypes, shapes, begins, ends: one list per field, in header order.
_Columns = tuple[list[str], list[str], list[list[int]], list[int], list[int]]


def _columns_fast(obj: dict[str, object]) -> _Columns | None:
    """The entries as columns when every one is plainly valid, else None.

    One tight loop with no error paths: any doubt (a wrong type, an extra key, a size that does
    not match, a zero-size tensor whose dims overflow) returns None, and
    :func:`_columns_checked` decides entry by entry, with the precise error.
    """
    names: list[str] = []
    dtypes: list[str] = []
    shapes: list[list[int]] = []
    begins: list[int] = []
    ends: list[int] = []
    bits_of = DTYPE_BITS.get
    for name, info in obj.items():
        if type(info) is not dict or len(info) != 3:
            return None
        dtype = info.get("dtype")
        shape = info.get("shape")
        offsets = info.get("data_offsets")
        bits = bits_of(dtype) if type(dtype) is str else None
        if bits is None or type(shape) is not list or type(offsets) is not list or len(offsets) != 2:
            return None
        count = 1
        for dim in shape:
            if type(dim) is not int or dim < 0 or dim > _U64_MAX:  # type(x) is int: no bool (R8)
                return None
            count *= dim
        begin, end = offsets
        nbits = count * bits
        if (
            type(begin) is not int
            or type(end) is not int
            or begin < 0
            or end > _U64_MAX
            or nbits > _U64_MAX
            or nbits & 7
            or end - begin != nbits >> 3
            or (count == 0 and _prefix_overflows(shape))
        ):
            return None
        names.append(name)
        dtypes.append(dtype)  # type: ignore[arg-type]
        shapes.append(shape)
        begins.append(begin)
        ends.append(end)
    return names, dtypes, shapes, begins, ends


class _Unproven(Exception):
    """A header parsed without the duplicate-key check that must be parsed again with it."""


def _columns_checked(
    obj: dict[str, object], invalid: _Invalid, source: str, data_start: int, limits: Limits
) -> _Columns:
    """The entries as columns, checked one by one; raises the first entry's error in header order."""
    names: list[str] = []
    dtypes: list[str] = []
    shapes: list[list[int]] = []
    begins: list[int] = []
    ends: list[int] = []
    for name, info in obj.items():
        if type(info) is not dict:
            # Stricter than the reference: serde also reads an entry written as a JSON array
            # ["F32", [4], [0, 16]]; no writer produces that, and other readers would not agree.
            raise invalid(_at(name), f"must be an object, not {_json_type(info)}")
        for key in ("dtype", "shape", "data_offsets"):
            if key not in info:
                raise invalid(_at(name, key), "missing")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if type(dtype) is not str:
            # Stricter than the reference: serde also reads an enum written as {"F32": null}.
            raise invalid(_at(name, "dtype"), f"must be a dtype name, not {_json_type(dtype)}")
        bits = DTYPE_BITS.get(dtype)
        if bits is None:
            raise invalid(_at(name, "dtype"), f"unknown dtype {_quote(dtype)}")
        if type(shape) is not list:
            raise invalid(_at(name, "shape"), f"must be a list of non-negative ints, not {_json_type(shape)}")
        for i, dim in enumerate(shape):
            if type(dim) is not int or dim < 0:  # type(x) is int: no bool, no float (R8)
                raise invalid(_at(name, "shape"), f"must be a list of non-negative ints; [{i}] is {_json_type(dim)}")
            if dim > _U64_MAX:
                raise invalid(_at(name, "shape"), f"[{i}] exceeds 2**64 - 1")
        if type(offsets) is not list or len(offsets) != 2:
            what = f"{len(offsets)} values" if type(offsets) is list else _json_type(offsets)
            raise invalid(_at(name, "data_offsets"), f"must be [begin, end], not {what}")
        for i, value in enumerate(offsets):
            if type(value) is not int or value < 0:
                raise invalid(_at(name, "data_offsets"), f"must be two non-negative ints; [{i}] is {_json_type(value)}")
            if value > _U64_MAX:
                raise invalid(_at(name, "data_offsets"), f"[{i}] exceeds 2**64 - 1")
        begin, end = offsets
        if end < begin:
            raise invalid(_at(name, "data_offsets"), f"end {end} < begin {begin}")
        for key in sorted(info.keys() - _TENSOR_KEYS):
            _check_free_value(info[key], _at(name, short_key(key)), invalid, source, limits)

        count = math.prod(shape)
        nbits = count * bits
        if nbits > _U64_MAX or (count == 0 and _prefix_overflows(shape)):
            # The reference multiplies with checked_mul, left to right, in 64 bits.
            raise invalid(_at(name, "shape"), "element count times bits overflows 64 bits")
        if nbits % 8:
            raise LayoutError(
                source,
                f"{count} x {dtype} is {nbits} bits, not a whole number of bytes",
                field=_at(name, "shape"),
                offset=8,
                format=_FORMAT,
                code="misaligned",
            )
        if end - begin != nbits >> 3:
            raise LayoutError(
                source,
                f"{end - begin} bytes declared, needs {nbits >> 3}",
                field=_at(name, "data_offsets"),
                offset=data_start + begin,
                format=_FORMAT,
                code="size_mismatch",
            )
        names.append(name)
        dtypes.append(dtype)
        shapes.append(shape)
        begins.append(begin)
        ends.append(end)
    return names, dtypes, shapes, begins, ends


def _validate_metadata(value: object, invalid: _Invalid) -> dict[str, str] | None:
    if value is None:  # absent, or null (serde reads null as no metadata)
        return None
    field = f"header.{_METADATA_KEY}"
    if type(value) is not dict:
        raise invalid(field, f"must map strings to strings, not {_json_type(value)}")
    if set(map(type, value.values())) <= {str}:
        return value
    for key, item in value.items():
        if type(item) is not str:
            if "data_offsets" in value or "dtype" in value:
                raise invalid(field, f"'{_METADATA_KEY}' is reserved and cannot name a tensor")
            raise invalid(field, f"value of {_quote(key)} is {_json_type(item)}, not a string")
    return value


def _check_free_value(value: object, field: str, invalid: _Invalid, source: str, limits: Limits) -> None:
    """Check a value the reference parses but ignores (an extra key in a tensor entry).

    serde_json still rejects numbers beyond the float range there (1e400, a 400-digit integer)
    and nesting beyond 127 levels; modelscan applies ``limits.json_depth`` (stricter by default).
    """
    stack: list[tuple[object, int]] = [(value, 3)]  # the root object is level 1, the entry 2
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if (kind is dict or kind is list) and depth > limits.json_depth:
            raise LimitExceeded(
                source,
                f"JSON nesting deeper than {limits.json_depth} levels",
                field=field,
                offset=8,
                format=_FORMAT,
                limit="json_depth",
            )
        if kind is dict:
            stack.extend((v, depth + 1) for v in item.values())  # type: ignore[attr-defined]
        elif kind is list:
            stack.extend((v, depth + 1) for v in item)  # type: ignore[attr-defined]
        elif kind is float and math.isinf(item):  # type: ignore[arg-type]
            raise invalid(field, "number out of range")
        elif kind is int:
            try:
                float(item)  # type: ignore[arg-type]
            except OverflowError:
                raise invalid(field, "number out of range") from None


def _prefix_overflows(shape: list[int]) -> bool:
    """Whether a left-to-right product of *shape* passes 2**64 - 1 before reaching a zero."""
    product = 1
    for dim in shape:
        product *= dim
        if product > _U64_MAX:
            return True
    return False


def _raise_layout(source: str, order: list[tuple[int, int, str, int]], data_start: int) -> None:
    """Raise the hole or overlap error for the first tensor, in sorted order, that is out of place."""
    cursor = 0
    previous = None  # the last tensor that owns bytes
    for begin, end, name, _ in order:
        field = f"tensor[{short_key(name)}].data_offsets"
        if begin > cursor:
            raise LayoutError(
                source,
                f"hole before tensor {_quote(name)}: it begins at {begin}, the data before it ends at {cursor}",
                field=field,
                offset=data_start + cursor,
                format=_FORMAT,
                code="hole",
            )
        if begin < cursor:
            raise LayoutError(
                source,
                f"tensor {_quote(name)} [{begin}, {end}] overlaps tensor {_quote(previous or '')},"
                f" which ends at {cursor}",
                field=field,
                offset=data_start + begin,
                format=_FORMAT,
                code="overlap",
            )
        if end > begin:
            previous = name
        cursor = end
    raise AssertionError("layout is contiguous")


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if type(value) is int and value < 0:
        return "negative"
    return _JSON_TYPES.get(type(value), type(value).__name__)


_JSON_TYPES: dict[type, str] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}
