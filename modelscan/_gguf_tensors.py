"""GGUF tensor infos: the part of the grammar that a million tensors go through.

The tensor infos of one file are read by :class:`TensorInfos` for :mod:`modelscan.gguf`, which
hands it the parser (for its cursor, errors and name reading). What comes out is the list of
:class:`GGUFTensorInfo` if asked for, and always the :class:`GGUFTensorStats` that model facts
need (type histogram, element counts, MoE expert elements), summed as the infos are read.

The hot loop reads each info straight from the cursor's buffer once the longest possible info is
buffered: precompiled structs, one slice for the name, no per-field check for more bytes and no
label. Anything it does not accept, and the last infos before the end of the file or the cap,
go to :meth:`TensorInfos.check_one`, the field-by-field reading that raises the exact error.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from itertools import pairwise
from math import prod
from typing import TYPE_CHECKING, NamedTuple, NoReturn, Protocol

from ._record import Record, set_field
from ._tables import GGML_BLOCK, GGML_MAX_DIMS, GGML_MAX_NAME
from .errors import (
    DuplicateKey,
    ErrorCode,
    InvalidField,
    LayoutError,
    ModelScanError,
    Truncated,
    Unsupported,
    escape_text,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._cursor import Cursor


class ParserLike(Protocol):
    """What the tensor-info reader uses of the GGUF parser (``gguf._Parser``) that drives it."""

    cur: Cursor
    source: str
    size: int
    keep_tensors: bool
    can_reread: bool
    warnings: list[ModelScanError]
    dims_unpack: list[Callable[..., tuple[int, ...]]]

    def fail(
        self,
        cls: type[ModelScanError],
        field: str,
        offset: int | None,
        detail: str,
        *,
        code: ErrorCode | None = None,
        limit: str | None = None,
    ) -> NoReturn: ...

    def room(self, cls: type[ModelScanError], code: ErrorCode | None = None, limit: str | None = None) -> bool: ...

    def read_name(self, field: str, max_len: int, limit: str | None) -> str: ...


__all__ = ["GGUFTensorInfo", "GGUFTensorStats", "ParserLike", "TensorInfos", "is_expert_tensor", "label", "short"]

# Largest tensor info: a name of GGML_MAX_NAME - 1 bytes and GGML_MAX_DIMS dims. With this many
# bytes buffered, one tensor info is read with no per-field check for more bytes.
_MAX_TENSOR_INFO_BYTES = 8 + (GGML_MAX_NAME - 1) + 4 + 8 * GGML_MAX_DIMS + 4 + 8
# Up to this many tensors, duplicate names are found with a set of the names, as they are read.
# Past it (when the infos are not kept), with 64-bit hashes after the last one is read, confirmed
# by reading the names again: 8 bytes per tensor instead of about 100.
_NAME_SET_MAX = 1 << 16
_HASH_BUCKETS = 16
# Field labels keep at most this many characters of a key or tensor name (R15).
_LABEL_CHARS = 80
_INT64_LIMIT = 1 << 63


class GGUFTensorInfo(NamedTuple):
    """One tensor info. ``shape`` is in file (``ne``) order, innermost dimension first."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # relative to GGUFHeader.data_offset
    n_elements: int
    n_bytes: int | None  # None when the ggml type is unknown


def is_expert_tensor(name: str) -> bool:
    """A stacked tensor of MoE experts (``blk.0.ffn_up_exps.weight``)."""
    return "_exps." in name or name.endswith("_exps")


class GGUFTensorStats(Record):
    """The tensor infos of one file, summed as they are read (all a model's facts need of them)."""

    __slots__ = _fields = ("count", "elements", "expert_elements", "by_type", "matrix_bytes")

    #: Tensors.
    count: int
    #: Elements of all tensors.
    elements: int
    #: Elements of the stacked MoE expert tensors (:func:`is_expert_tensor`).
    expert_elements: int
    #: ggml type id -> (tensors, elements, bytes); bytes is ``None`` for a type this reader does
    #: not know (``GGUFTensorInfo.n_bytes`` is ``None``).
    by_type: dict[int, tuple[int, int, int | None]]
    #: ggml type id -> bytes of its tensors of two or more dimensions (known types only).
    matrix_bytes: dict[int, int]

    def __init__(
        self,
        count: int = 0,
        elements: int = 0,
        expert_elements: int = 0,
        by_type: dict[int, tuple[int, int, int | None]] | None = None,
        matrix_bytes: dict[int, int] | None = None,
    ) -> None:
        set_field(self, "count", count)
        set_field(self, "elements", elements)
        set_field(self, "expert_elements", expert_elements)
        set_field(self, "by_type", {} if by_type is None else by_type)
        set_field(self, "matrix_bytes", {} if matrix_bytes is None else matrix_bytes)

    @classmethod
    def combine(cls, parts: Iterable[GGUFTensorStats]) -> GGUFTensorStats:
        """The stats of several files (the shards of one model) as one."""
        count = elements = experts = 0
        by_type: dict[int, tuple[int, int, int | None]] = {}
        matrix: dict[int, int] = {}
        for s in parts:
            count += s.count
            elements += s.elements
            experts += s.expert_elements
            for t, (n, e, b) in s.by_type.items():
                if t in by_type:
                    n0, e0, b0 = by_type[t]
                    by_type[t] = (n0 + n, e0 + e, None if b is None or b0 is None else b0 + b)
                else:
                    by_type[t] = (n, e, b)
            for t, b in s.matrix_bytes.items():
                matrix[t] = matrix.get(t, 0) + b
        return cls(count, elements, experts, by_type, matrix)

    def dominant_matrix_type(self) -> int | None:
        """The ggml type holding the most bytes among tensors of 2+ dims (ties: the lowest id)."""
        if not self.matrix_bytes:
            return None
        return max(sorted(self.matrix_bytes), key=self.matrix_bytes.__getitem__)


def label(kind: str, index: int, name: str | None) -> str:
    """A field label: ``kv[3:tokenizer.ggml.tokens]``, the name escaped and cut short (R15)."""
    if name is None:
        return f"{kind}[{index}]"
    # Nearly every real name is printable ASCII: skip the per-character escape loop for those.
    shown = name if name.isprintable() and "\\" not in name else escape_text(name)
    if len(shown) > _LABEL_CHARS:
        shown = shown[:_LABEL_CHARS] + "..."
    return f"{kind}[{index}:{shown}]"


def short(name: str) -> str:
    """A key or name for a detail message (which ModelScanError escapes itself), cut short."""
    return name if len(name) <= _LABEL_CHARS else name[:_LABEL_CHARS] + "..."


class TensorInfos:
    """The tensor infos of one parse: read, checked, summed, and kept if asked.

    The hot loop reads each tensor info straight from the cursor's buffer once
    :data:`_MAX_TENSOR_INFO_BYTES` are buffered, with no per-field refill and no label. Anything
    it does not accept (a bad length, a name not UTF-8, a repeated name...) and the last few
    infos before the end of the file or the cap go to :meth:`check_one`, the field-by-field
    reading that raises the exact error; an info it accepts is then read by the hot loop.

    Layout (R9, llama.cpp's rule: each offset equals the padded size of the tensors before it)
    is checked as the infos are read; the first failure is raised after the last info is read,
    as are a tensor's data past the end of the file (which needs ``data_offset``, known only
    then) and, past :data:`_NAME_SET_MAX` tensors not kept, a repeated name. Those error paths
    find the tensor's name and field offset by reading the infos again.
    """

    def __init__(self, parser: ParserLike, n: int, alignment: int) -> None:
        self.p = parser
        self.cur = parser.cur
        self.n = n
        self.alignment = alignment
        self.start = parser.cur.here
        self.keep = parser.keep_tensors or not parser.can_reread
        self.kept: list[GGUFTensorInfo] = []
        use_set = self.keep or n <= _NAME_SET_MAX
        self.seen: set[bytes] | None = set() if use_set else None
        self.hashes: list[array[int]] = [] if use_set else [array("q") for _ in range(_HASH_BUCKETS)]
        self.by_type: dict[int, list[int]] = {}
        self.matrix: dict[int, int] = {}
        self.experts = 0
        self.last_end = -1
        self.layout_error: LayoutError | None = None

    # --- the hot loop ---------------------------------------------------------------------

    def read(self) -> None:
        cur = self.cur
        n = self.n
        need = _MAX_TENSOR_INFO_BYTES
        u64, u32 = cur.u64, cur.u32
        dims_unpack = self.p.dims_unpack
        block_of = GGML_BLOCK.get
        seen = self.seen
        buckets = self.hashes
        keep = self.keep
        kept = self.kept
        info = GGUFTensorInfo
        by_type = self.by_type
        matrix = self.matrix
        experts = 0
        alignment = self.alignment
        amask = alignment - 1
        expected: int | None = 0
        minimum = 0  # after a tensor of unknown size: the least offset the next one can have
        # The end of the last tensor of known size (relative to data_offset) before the first
        # layout error, -1 before there is one. Ends only grow while the layout holds.
        last_end = -1
        failed = False
        limit = _INT64_LIMIT
        max_name, max_dims = GGML_MAX_NAME, GGML_MAX_DIMS

        i = 0
        checked = -1  # the index check_one last accepted: the hot loop reads it whatever is buffered
        while i < n:
            if i != checked:
                done = cur.here - self.start
                per_info = done // i + 4 if i else 80
                if cur.window(need, hint=(n - i) * per_info + need) is None:
                    self.check_one(i)  # raises, or leaves tensor i's info whole in the buffer
                    checked = i
                    continue
            buf, p = cur.buf, cur.pos
            base = cur.base
            stop = len(buf) - need
            refused = False
            for i in range(i, n):  # noqa: B020 - i goes on from where it was
                if p > stop and i != checked:
                    break
                nlen = u64(buf, p)[0]
                if nlen >= max_name:
                    refused = True
                    break
                q = p + 8 + nlen
                raw = buf[p + 8 : q]
                nd = u32(buf, q)[0]
                if nd > max_dims:
                    refused = True
                    break
                fields = dims_unpack[nd](buf, q + 4)
                if nd == 2:
                    ne0 = fields[0]
                    n_el = ne0 * fields[1]
                    # Under 2^63 and not zero, no dim can be 2^63 or more.
                    if n_el >= limit or (not n_el and max(ne0, fields[1]) >= limit):
                        refused = True
                        break
                elif nd == 1:
                    ne0 = n_el = fields[0]
                    if ne0 >= limit:
                        refused = True
                        break
                elif nd:
                    dims = fields[:nd]
                    ne0 = dims[0]
                    n_el = prod(dims)
                    if n_el >= limit or (not n_el and max(dims) >= limit):
                        refused = True
                        break
                else:
                    ne0 = n_el = 1
                if not raw.isascii():
                    try:
                        raw.decode("utf-8")
                    except UnicodeDecodeError:
                        refused = True
                        break
                if seen is not None and raw in seen:
                    refused = True
                    break
                ggml_type = fields[nd]
                block = block_of(ggml_type)
                n_bytes: int | None
                if block is None:
                    n_bytes = None
                elif ne0 % block[0]:
                    refused = True
                    break
                else:
                    n_bytes = n_el // block[0] * block[1]  # rows of ne0 // block whole blocks
                # Accepted: from here on nothing breaks out.
                if seen is not None:
                    seen.add(raw)
                else:
                    h = hash(raw)
                    buckets[h & (_HASH_BUCKETS - 1)].append(h)
                offset = fields[nd + 1]
                if keep:
                    kept.append(info(raw.decode("utf-8"), fields[:nd], ggml_type, offset, n_el, n_bytes))

                # The sums.
                try:
                    row = by_type[ggml_type]
                except KeyError:
                    row = by_type[ggml_type] = [0, 0, 0]
                row[0] += 1
                row[1] += n_el
                if n_bytes is None:
                    self.unknown_type(i, raw, base + q + 4 + 8 * nd, ggml_type)
                else:
                    row[2] += n_bytes
                    if nd >= 2:
                        matrix[ggml_type] = matrix.get(ggml_type, 0) + n_bytes
                if b"_exps" in raw and (b"_exps." in raw or raw.endswith(b"_exps")):
                    experts += n_el

                # The layout, up to its first failure.
                if not failed:
                    if offset & amask or (offset < minimum if expected is None else offset != expected):
                        failed = True
                        at = base + q + 8 + 8 * nd
                        self.layout_failure(i, raw, at, offset=offset, expected=expected, minimum=minimum)
                    elif n_bytes is None:
                        # Only the order of the next tensor can be checked; a non-empty tensor
                        # takes at least one byte, so at least one alignment unit.
                        expected = None
                        minimum = offset + (alignment if n_el else 0)
                    else:
                        last_end = offset + n_bytes
                        expected = last_end + (-last_end & amask)

                p = q + 16 + 8 * nd
            else:
                i = n
            cur.moved_to(p)
            if refused:
                # Tensor i was not accepted: the field-by-field reading says why.
                if i == checked:  # pragma: no cover - check_one and the hot loop disagree
                    raise AssertionError(f"tensor[{i}] accepted by check_one, refused by the hot loop")
                self.check_one(i)
                checked = i
        self.experts, self.last_end = experts, last_end

    def unknown_type(self, i: int, raw: bytes, at: int, ggml_type: int) -> None:
        if self.p.room(Unsupported, "unknown_ggml_type"):  # the label is built for those kept only
            self.p.warnings.append(
                Unsupported(
                    self.p.source,
                    f"unknown ggml type id {ggml_type}",
                    field=label("tensor", i, raw.decode("utf-8")) + ".type",
                    offset=at,
                    format="gguf",
                    code="unknown_ggml_type",
                )
            )

    def layout_failure(self, i: int, raw: bytes, at: int, *, offset: int, expected: int | None, minimum: int) -> None:
        """Keep the first layout error (errors point at the byte of the info's ``offset`` field)."""
        field = label("tensor", i, raw.decode("utf-8")) + ".offset"
        code: ErrorCode
        if offset % self.alignment:
            detail, code = f"offset {offset} not a multiple of alignment {self.alignment}", "misaligned"
        elif expected is None:
            detail, code = f"offset {offset} overlaps the tensor before it, which is of unknown size", "overlap"
        elif offset < expected:
            detail, code = f"offset {offset} overlaps the tensor before it, expected {expected}", "overlap"
        else:
            detail, code = f"offset {offset} leaves a hole of {offset - expected} bytes, expected {expected}", "hole"
        self.layout_error = LayoutError(self.p.source, detail, field=field, offset=at, format="gguf", code=code)

    # --- the careful path -----------------------------------------------------------------

    def check_one(self, i: int) -> None:
        """Read tensor info *i* field by field and raise what is wrong with it, in field order.

        If nothing is, leave the position at its start with the whole info buffered. Used near the
        end of the file or the cap and for what the hot loop does not accept, so labels are only
        built here.
        """
        cur = self.cur
        start = cur.here
        # Everything up to the end of the file or the cap, if shorter than the longest info: then
        # no read below can refill and drop the bytes from ``start`` on.
        cur.ensure(min(_MAX_TENSOR_INFO_BYTES, cur.end - start), f"tensor[{i}]")
        name = self.p.read_name(f"tensor[{i}].name", GGML_MAX_NAME, None)
        item = label("tensor", i, name)
        if self.seen is not None and name.encode("utf-8") in self.seen:
            self.p.fail(DuplicateKey, item, start, f"duplicate tensor name '{short(name)}'")
        n_dims = cur.read_u32(item + ".n_dims")
        if n_dims > GGML_MAX_DIMS:
            # Before reading any dim (CVE-2024-21802).
            self.p.fail(InvalidField, item + ".n_dims", cur.here - 4, f"{n_dims} > {GGML_MAX_DIMS}")
        n_elements = 1
        ne0 = 1
        for d in range(n_dims):
            dim = cur.read_u64(f"{item}.dims[{d}]")
            if dim >= _INT64_LIMIT:
                self.p.fail(InvalidField, f"{item}.dims[{d}]", cur.here - 8, f"{dim} >= 2^63")
            if d == 0:
                ne0 = dim
            n_elements *= dim
        if n_elements >= _INT64_LIMIT:
            self.p.fail(
                InvalidField,
                item + ".dims",
                cur.here - 8 * n_dims,
                f"element count {n_elements} does not fit in int64",
            )
        ggml_type = cur.read_u32(item + ".type")
        type_at = cur.here - 4
        cur.read_u64(item + ".offset")
        block = GGML_BLOCK.get(ggml_type)
        if block is not None and ne0 % block[0]:
            self.p.fail(
                InvalidField,
                item + ".dims[0]",
                type_at - 8 * n_dims,
                f"{ne0} not a multiple of block size {block[0]}",
            )
        cur.seek(start)

    # --- after the last info --------------------------------------------------------------

    def walk(self) -> Iterator[tuple[int, int, bytes, int, int, int | None]]:
        """``(index, info offset, name, offset field offset, offset, n_bytes)`` of every info
        already read, from the kept infos or by reading them again (error paths only)."""
        if self.keep:
            at = self.start
            for i, t in enumerate(self.kept):
                raw = t.name.encode("utf-8")
                field_at = at + 8 + len(raw) + 8 + 8 * len(t.shape)
                yield i, at, raw, field_at, t.offset, t.n_bytes
                at = field_at + 8
            return
        cur = self.cur
        cur.seek(self.start)
        for i in range(self.n):
            at = cur.here
            raw = cur.take(cur.read_u64("tensor.name.len"), "tensor.name")
            n_dims = cur.read_u32("tensor.n_dims")
            ne = [cur.read_u64("tensor.dims") for _ in range(n_dims)]
            ggml_type = cur.read_u32("tensor.type")
            field_at = cur.here
            offset = cur.read_u64("tensor.offset")
            block = GGML_BLOCK.get(ggml_type)
            n_bytes = None
            if block is not None:
                ne0 = ne[0] if ne else 1
                n_bytes = ne0 // block[0] * block[1] * (prod(ne) // ne0) if ne0 else 0
            yield i, at, raw, field_at, offset, n_bytes

    def check_after(self, data_offset: int) -> None:
        """The checks that wait for the last info: repeated names (hashed), data past the end of
        the file, then the first layout error."""
        if self.seen is None:
            self.check_hashed_names()
        if self.last_end >= 0 and self.last_end > self.p.size - data_offset:
            room = self.p.size - data_offset
            for i, _, raw, field_at, offset, n_bytes in self.walk():
                if n_bytes is not None and offset + n_bytes > room:
                    end = data_offset + offset + n_bytes
                    self.p.fail(
                        Truncated,
                        label("tensor", i, raw.decode("utf-8")),
                        field_at,
                        f"tensor data beyond end of file: ends at byte {end}, file has {self.p.size}",
                    )
            raise AssertionError("last_end without a tensor reaching it")  # pragma: no cover
        if self.layout_error is not None:
            raise self.layout_error

    def check_hashed_names(self) -> None:
        """A repeated hash is a repeated name, or (rarely) two names: read them again to know."""
        repeated: set[int] = set()
        for bucket in self.hashes:
            if len(set(bucket)) != len(bucket):
                ordered = sorted(bucket)
                repeated.update(a for a, b in pairwise(ordered) if a == b)
        self.hashes = []
        if not repeated:
            return
        first: set[bytes] = set()
        for i, at, raw, _, _, _ in self.walk():
            if hash(raw) in repeated:
                if raw in first:
                    name = raw.decode("utf-8")
                    self.p.fail(DuplicateKey, label("tensor", i, name), at, f"duplicate tensor name '{short(name)}'")
                first.add(raw)

    def stats(self) -> GGUFTensorStats:
        by_type = {t: (row[0], row[1], row[2] if t in GGML_BLOCK else None) for t, row in sorted(self.by_type.items())}
        count = sum(row[0] for row in by_type.values())
        elements = sum(row[1] for row in by_type.values())
        return GGUFTensorStats(count, elements, self.experts, by_type, self.matrix)
