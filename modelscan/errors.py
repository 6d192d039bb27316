"""The whole exception hierarchy of modelscan (HOSTILE.md section 6).

Every failure a public call can meet on any input file is one of these. Each error carries:

- ``path``: the file (a ``str``; undecodable bytes kept as surrogates),
- ``format``: ``"gguf"``, ``"safetensors"``, ``"json"``, ``"fs"`` or ``"http"`` (a server's answer),
- ``code``: a stable string callers can switch on,
- ``field``: a dotted location inside the file (``kv[3:general.name].value``),
- ``offset``: an absolute byte offset for binary formats, else ``None``,
- ``limit``: the name of the limit that was hit, if one was,
- ``detail``: a short human sentence that never quotes more than a few escaped bytes.

All classes subclass :class:`ValueError` (a malformed file is a bad value) and pickle cleanly,
so errors cross process boundaries in parallel scans.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from typing import TypeAlias

    from .shapes import ErrorRecord

__all__ = [
    "ERROR_CODES",
    "ChangedDuringScan",
    "DuplicateKey",
    "ErrorCode",
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
    "os_error",
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


#: Every ``code`` an error or warning can carry: the stable strings callers switch on. Grouped by
#: the class that carries them; docs/errors.md lists them with the same words.
ErrorCode: TypeAlias = Literal[
    # ModelScanError itself
    "error",
    # a batch target that is not a path, a URL or an hf:// reference (modelscan.scan_target)
    "bad_target",
    # NotAModel
    "not_a_model",
    "empty_file",
    "bad_magic",
    "lfs_pointer",
    "appledouble",
    "not_a_projector",
    # Truncated
    "truncated",
    # LimitExceeded
    "limit_exceeded",
    "scan_truncated",
    # InvalidField (fatal, or a warning of a listed model)
    "invalid_field",
    "wrong_type",
    "bad_value",
    "missing_field",
    "not_utf8",
    "not_decoded",
    "unexpected_type",
    "count_mismatch",
    "alignment_not_multiple_of_8",
    "bad_shard_name",
    "unlisted_shard",
    "index_mismatch",
    "param_mismatch",
    "bad_quantization",
    "quantization_conflict",
    "bad_rope_scaling",
    "bad_chat_template",
    "duplicate_tensor",
    "bad_digest",
    # Unsupported
    "unsupported",
    "unsupported_version",
    "unknown_ggml_type",
    "nested_array",
    # LayoutError
    "layout",
    "overlap",
    "hole",
    "size_mismatch",
    "trailing_bytes",
    "misaligned",
    # DuplicateKey
    "duplicate_key",
    # FileAccessError
    "file_access",
    "not_regular_file",
    "permission_denied",
    "symlink_loop",
    "broken_symlink",
    "outside_root",
    "not_found",
    "os_error",
    "http_error",
    "bad_response",
    "too_many_redirects",
    "connection_failed",
    # IncompleteModel
    "incomplete_model",
    "missing_shard",
    "missing_config",
    "missing_weights",
    "partial_download",
    "missing_blob",
    "blob_size_mismatch",
    # ChangedDuringScan
    "changed_during_scan",
]

#: What each code means, for documentation and ``--help``-style listings.
ERROR_CODES: dict[str, str] = {
    "error": "an error of no more specific kind",
    "bad_target": "a batch target that is not a path, a URL or an hf:// reference",
    "not_a_model": "not a model file of a known format",
    "empty_file": "the file is empty (decided from its size, nothing read)",
    "bad_magic": "the first bytes are not a GGUF magic",
    "lfs_pointer": "a Git LFS pointer: the weights were never downloaded",
    "appledouble": "a macOS AppleDouble '._' sidecar",
    "not_a_projector": "named like a projector (mmproj) but its header says it is not one",
    "truncated": "the file ends before a structure it declares",
    "limit_exceeded": "a count or size is over a configured limit (`limit` names it)",
    "scan_truncated": "the folder walk stopped at a depth, entry or time budget",
    "invalid_field": "a field holds a value the format does not allow",
    "wrong_type": "a JSON value has the wrong type; it counts as absent",
    "bad_value": "a JSON value is out of range; it counts as absent",
    "missing_field": "a field the listing needs is absent",
    "not_utf8": "text that is not UTF-8; searched or shown with replacements",
    "not_decoded": "a string over its cap was skipped, not decoded",
    "unexpected_type": "a GGUF array has an unexpected element type",
    "count_mismatch": "tokenizer arrays of different lengths",
    "alignment_not_multiple_of_8": "general.alignment is a power of two but not a multiple of 8",
    "bad_shard_name": "a shard index names a file outside the model folder",
    "unlisted_shard": "a .safetensors file the shard index does not list",
    "index_mismatch": "the shard index and the shard headers disagree",
    "param_mismatch": "the index's total_parameters differs from the headers' count",
    "bad_quantization": "config.json's quantization object is unusable",
    "quantization_conflict": "quantization and quantization_config disagree",
    "bad_rope_scaling": "a YaRN rope_scaling object is unusable",
    "bad_chat_template": "a chat_template value of an unexpected shape",
    "duplicate_tensor": "a tensor present in two shards (the first counts)",
    "bad_digest": "an Ollama manifest digest that is not sha256:<64 hex>; it never becomes a path",
    "unsupported": "a valid construct modelscan does not support",
    "unsupported_version": "a GGUF version other than 2 or 3",
    "unknown_ggml_type": "a ggml tensor type this table does not know",
    "nested_array": "a GGUF array of arrays",
    "layout": "tensor data regions that do not tile the data section",
    "overlap": "two tensors' data overlap",
    "hole": "bytes between tensors that no tensor owns",
    "size_mismatch": "a declared size differs from the one its fields imply",
    "trailing_bytes": "bytes after the last tensor",
    "misaligned": "a tensor offset that is not aligned",
    "duplicate_key": "a key or tensor name that appears twice",
    "file_access": "the file could not be opened safely",
    "not_regular_file": "a FIFO, device, socket or directory where a file was expected",
    "permission_denied": "the operating system refused access",
    "symlink_loop": "symbolic links that point at each other",
    "broken_symlink": "a symbolic link whose target is missing",
    "outside_root": "a symbolic link that leaves the scanned folders",
    "not_found": "no such file or folder",
    "os_error": "another operating-system error (the detail says which)",
    "http_error": "a server answered with an error status other than 401, 403, 404 or 410",
    "bad_response": "a server's answer is not valid HTTP, or not what was asked for (range, length)",
    "too_many_redirects": "more redirects than modelscan follows (a loop)",
    "connection_failed": "a connection to a server could not be made, or closed mid-answer",
    "incomplete_model": "a model whose parts are not all there",
    "missing_shard": "a split model or shard index names a shard that is not there",
    "missing_config": "safetensors weights without config.json",
    "missing_weights": "config.json without .safetensors weights",
    "partial_download": "a download in progress or abandoned",
    "missing_blob": "an Ollama manifest names a blob that is not in the store",
    "blob_size_mismatch": "an Ollama blob whose size differs from the manifest's",
    "changed_during_scan": "the file changed while it was read; scanning again may succeed",
}


class ModelScanError(ValueError):
    """Base class: a file (or folder) that modelscan could not read as a model."""

    code: ErrorCode = "error"
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
        code: ErrorCode | None = None,
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

    def to_dict(self) -> ErrorRecord:
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

    code: ErrorCode = "not_a_model"


class Truncated(ModelScanError):
    """The file ends before a structure it declares is complete."""

    code: ErrorCode = "truncated"


class LimitExceeded(ModelScanError):
    """A count or size in the file exceeds a configured limit (``limit`` names it)."""

    code: ErrorCode = "limit_exceeded"


class InvalidField(ModelScanError):
    """A field holds a value the format does not allow."""

    code: ErrorCode = "invalid_field"


class Unsupported(ModelScanError):
    """A valid but unsupported construct: version, ggml type, nested array."""

    code: ErrorCode = "unsupported"


class LayoutError(ModelScanError):
    """Tensor data regions that overlap, leave holes, or do not match their declared sizes."""

    code: ErrorCode = "layout"


class DuplicateKey(ModelScanError):
    """A key or tensor name that appears twice."""

    code: ErrorCode = "duplicate_key"


class FileAccessError(ModelScanError):
    """The file could not be opened safely: not regular, no permission, symlink trouble."""

    code: ErrorCode = "file_access"


class IncompleteModel(ModelScanError):
    """A model whose parts are not all there: a missing shard, a missing config, a partial download."""

    code: ErrorCode = "incomplete_model"


class ChangedDuringScan(ModelScanError):
    """The file changed while it was read; scanning again may succeed."""

    code: ErrorCode = "changed_during_scan"
    retryable = True


class UsageError(ValueError):
    """A caller passed a bad argument (an unknown model key in ``loaded``, a bad option).

    Not a :class:`ModelScanError`: nothing is wrong with any file.
    """


def os_error(path: object, exc: OSError, what: str = "cannot open") -> FileAccessError:
    """The one mapping from an ``OSError`` to the hierarchy: *what* was being done to *path*.

    ``ELOOP`` is a symbolic link loop, ``EACCES``/``EPERM`` a refusal, ``ENOENT``/``ENOTDIR``
    a missing file, ``EISDIR`` not a regular file; the rest keep the system's words.
    """
    number = exc.errno
    code: ErrorCode
    if number == errno.ELOOP:
        code, reason = "symlink_loop", "too many levels of symbolic links"
    elif number in (errno.EACCES, errno.EPERM):
        code, reason = "permission_denied", "permission denied"
    elif number in (errno.ENOENT, errno.ENOTDIR):
        code, reason = "not_found", "no such file"
    elif number == errno.EISDIR:
        code, reason = "not_regular_file", "is a directory"
    else:
        code, reason = "os_error", str(exc.strerror or exc)
    return FileAccessError(path, f"{what}: {reason}", format="fs", code=code)
