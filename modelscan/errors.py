"""The whole exception hierarchy of modelscan (HOSTILE.md section 6).

Every failure a public call can meet on any input file is one of these. Each error carries:

- ``path``: the file (a ``str``; undecodable bytes kept as surrogates),
- ``format``: ``"gguf"``, ``"safetensors"``, ``"json"`` or ``"fs"``,
- ``code``: a stable string callers can switch on,
- ``field``: a dotted location inside the file (``kv[3:general.name].value``),
- ``offset``: an absolute byte offset for binary formats, else ``None``,
- ``limit``: the name of the limit that was hit, if one was,
- ``detail``: a short human sentence that never quotes more than a few escaped bytes.

All classes subclass :class:`ValueError` (a malformed file is a bad value) and pickle cleanly,
so errors cross process boundaries in parallel scans.
"""

from __future__ import annotations

__all__ = [
    "ChangedDuringScan",
    "DuplicateKey",
    "FileAccessError",
    "IncompleteModel",
    "InvalidField",
    "LayoutError",
    "LimitExceeded",
    "ModelScanError",
    "NotAModel",
    "Truncated",
    "Unsupported",
    "UsageError",
    "display_path",
    "escape_text",
    "quote_bytes",
]

_MAX_QUOTE = 40


def escape_text(text: str) -> str:
    """Escape control characters and lone surrogates so *text* is one safe line of output."""
    out = []
    for ch in text:
        o = ord(ch)
        if o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0:
            out.append(f"\\x{o:02x}")
        elif 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif 0xD800 <= o <= 0xDFFF or o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


def display_path(path: object) -> str:
    """A path as one printable line: control characters and undecodable bytes escaped."""
    return escape_text(str(path))


def quote_bytes(data: bytes, limit: int = _MAX_QUOTE) -> str:
    """At most *limit* bytes of file content, escaped, for an error message (R15)."""
    head = bytes(data[:limit])
    text = "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x27, 0x5C) else f"\\x{b:02x}" for b in head)
    return f"'{text}'" if len(data) <= limit else f"'{text}'..."


class ModelScanError(ValueError):
    """Base class: a file (or folder) that modelscan could not read as a model."""

    code = "error"
    retryable = False

    def __init__(
        self,
        path: object,
        detail: str,
        *,
        field: str | None = None,
        offset: int | None = None,
        limit: str | None = None,
        format: str | None = None,
        code: str | None = None,
    ) -> None:
        self.path = str(path)
        self.detail = detail
        self.field = field
        self.offset = offset
        self.limit = limit
        self.format = format
        if code is not None:
            self.code = code
        super().__init__(self._message())

    def _message(self) -> str:
        where = " ".join(p for p in (self.format, self.field) if p) if self.field or self.offset is not None else ""
        if self.offset is not None:
            where = f"{where} at byte {self.offset}" if where else f"at byte {self.offset}"
        head = display_path(self.path)
        return f"{head}: {where}: {escape_text(self.detail)}" if where else f"{head}: {escape_text(self.detail)}"

    def __str__(self) -> str:
        return self._message()

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild, (type(self), self.path, self.detail, self.__dict__.copy()))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready record of this error."""
        return {
            "path": self.path,
            "code": self.code,
            "format": self.format,
            "field": self.field,
            "offset": self.offset,
            "limit": self.limit,
            "detail": self.detail,
            "retryable": self.retryable,
        }


def _rebuild(cls: type[ModelScanError], path: str, detail: str, state: dict[str, object]) -> ModelScanError:
    err = cls.__new__(cls)
    ValueError.__init__(err, f"{path}: {detail}")
    err.__dict__.update(state)
    return err


class NotAModel(ModelScanError):
    """The file is not a model of a known format: empty, wrong magic, an LFS pointer, a sidecar."""

    code = "bad_magic"


class Truncated(ModelScanError):
    """The file ends before a structure it declares is complete."""

    code = "truncated"


class LimitExceeded(ModelScanError):
    """A count or size in the file exceeds a configured limit (``limit`` names it)."""

    code = "limit_exceeded"


class InvalidField(ModelScanError):
    """A field holds a value the format does not allow."""

    code = "invalid_field"


class Unsupported(ModelScanError):
    """A valid but unsupported construct: version, ggml type, nested array."""

    code = "unsupported"


class LayoutError(ModelScanError):
    """Tensor data regions that overlap, leave holes, or do not match their declared sizes."""

    code = "layout"


class DuplicateKey(ModelScanError):
    """A key or tensor name that appears twice."""

    code = "duplicate_key"


class FileAccessError(ModelScanError):
    """The file could not be opened safely: not regular, no permission, symlink trouble."""

    code = "file_access"


class IncompleteModel(ModelScanError):
    """A model whose parts are not all there: a missing shard, a missing config, a partial download."""

    code = "incomplete_model"


class ChangedDuringScan(ModelScanError):
    """The file changed while it was read; scanning again may succeed."""

    code = "changed_during_scan"
    retryable = True


class UsageError(ValueError):
    """A caller passed a bad argument (an unknown model key in ``loaded``, a bad option).

    Not a :class:`ModelScanError`: nothing is wrong with any file.
    """
