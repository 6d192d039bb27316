"""Strict JSON for untrusted files (HOSTILE.md R8 and R15; catalogue section 7.3, C-02 to C-04).

Python's :mod:`json` is lenient where a model file must not be: it keeps the last of two
duplicate keys, reads ``NaN`` and ``Infinity``, lets lone surrogates through (``"\\ud800"``),
and has no depth option. :func:`parse_json` closes each gap, and it turns every failure into
one :class:`~modelscan.errors.ModelScanError` whose message never quotes the document
(``JSONDecodeError.doc``), only the parser's own message with a line and column.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import json
import operator
import re
import sys
import threading
from collections.abc import Callable, Iterator
from itertools import chain, compress, repeat
from typing import Any

from .errors import DuplicateKey, InvalidField, LimitExceeded, escape_text
from .limits import Limits

__all__ = ["parse_json", "paused_gc", "short_key"]

#: The most digits an integer literal may have: CPython's default ``sys.get_int_max_str_digits``.
#: Enforced here too, so a process that raised or disabled that limit still parses in linear time.
_MAX_INT_DIGITS = 4300

#: JSON type names for "top level is ..." (the catalogue's wording for a list is "list").
_TYPE_NAMES: dict[type, str] = {
    list: "list",
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}

#: An escape that may encode half of a surrogate pair; only then can a lone surrogate exist,
#: since the text itself was decoded strictly.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

#: Encodings ``json.detect_encoding`` may name, as a reader would say them in an error.
_ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-16": "UTF-16",
    "utf-16-be": "UTF-16",
    "utf-16-le": "UTF-16",
    "utf-32": "UTF-32",
    "utf-32-be": "UTF-32",
    "utf-32-le": "UTF-32",
}

_KEY_CHARS = 40  # R15: quote at most about 40 characters of file content

#: Documents at least this big are parsed with the cyclic garbage collector paused.
_PAUSE_GC_BYTES = 1 << 20


def short_key(key: str) -> str:
    """*key* as one escaped line of at most about 40 characters, for a ``field`` path (R15)."""
    if len(key) > _KEY_CHARS:
        return escape_text(key[:_KEY_CHARS]) + "..."
    return escape_text(key)


class _Reject(Exception):
    """Raised from inside a ``json.loads`` hook; carries the detail of the error."""


def _reject_constant(name: str) -> object:
    raise _Reject(f"JSON: {name} is not allowed")


def _capped_int_parser(inner: Callable[[str], object]) -> Callable[[str], object]:
    def parse_int(text: str) -> object:
        if len(text) - text.startswith("-") > _MAX_INT_DIGITS:
            raise _Reject(f"JSON: integer with more than {_MAX_INT_DIGITS} digits")
        return inner(text)

    return parse_int


def _python_int_cap() -> int:
    """CPython's own cap on integer literals (0: none; 3.10.7 and later have one)."""
    cap: int = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    return cap


def _needs_own_int_cap() -> bool:
    cap = _python_int_cap()
    return cap == 0 or cap > _MAX_INT_DIGITS


def _cap(text: str) -> str:
    """*text* cut to about 40 characters, for a detail (which the error escapes itself)."""
    return text if len(text) <= _KEY_CHARS else text[:_KEY_CHARS] + "..."


def parse_json(
    data: bytes,
    *,
    source: str,
    what: str,
    limits: Limits,
    utf8_only: bool = False,
    format: str = "json",
    offset: int | None = None,
    parse_int: Callable[[str], object] | None = None,
    check_depth: bool = True,
    check_duplicates: bool = True,
) -> dict[str, object]:
    """Parse *data* as one JSON object, strictly.

    *source* is the file (for messages), *what* names the document in ``field`` (``config.json``,
    ``header``). With *utf8_only* the bytes must be UTF-8 without a BOM (safetensors); otherwise a
    UTF-8 BOM and UTF-16/32 are detected as ``json.loads`` does (C-03). *format* and *offset* (where
    the document starts in its file) go into the errors; *parse_int* is passed to ``json.loads``.
    A caller that checks the type of every value itself may skip the depth walk (*check_depth*
    False): deeper values then fail its own checks, or ``json.loads`` at about 1000 levels. A
    caller that proves keys unique another way may skip the duplicate check (*check_duplicates*
    False, the last value wins); it must parse again with the check when the proof fails.

    Raises :class:`InvalidField` (not UTF-8, not JSON, ``NaN``/``Infinity``, a lone surrogate, an
    integer over 4300 digits, a top level that is not an object), :class:`DuplicateKey` (``field``
    is the path to the second occurrence) and :class:`LimitExceeded` (``limit="json_depth"``).
    """

    def invalid(detail: str) -> InvalidField:
        return InvalidField(source, detail, field=what, offset=offset, format=format)

    text = _decode(data, utf8_only, invalid, offset or 0)

    duplicate: list[tuple[str, dict[str, object]]] = []

    def pairs_hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        obj = dict(pairs)
        if len(obj) != len(pairs) and not duplicate:  # remember the first only; error raised below
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    duplicate.append((key, obj))
                    break
                seen.add(key)
        return obj

    if _needs_own_int_cap():
        parse_int = _capped_int_parser(parse_int or int)
    try:
        with paused_gc(len(data)):
            obj = json.loads(
                text,
                object_pairs_hook=pairs_hook if check_duplicates else None,
                parse_constant=_reject_constant,
                parse_int=parse_int,
            )
    except RecursionError as exc:
        raise _too_deep(source, what, limits, format, offset) from exc
    except _Reject as exc:
        raise invalid(str(exc)) from exc
    except json.JSONDecodeError as exc:
        msg = exc.msg.removesuffix(" at")  # "Invalid control character at"
        raise invalid(f"JSON: {msg} at line {exc.lineno} column {exc.colno}") from exc
    except ValueError as exc:  # int() of a literal longer than sys.get_int_max_str_digits()
        raise invalid(f"JSON: integer with more than {_python_int_cap()} digits") from exc

    if duplicate:
        key, holder = duplicate[0]
        raise DuplicateKey(
            source,
            f"duplicate key '{_cap(key)}'",
            field=f"{what}{_path_to(obj, holder)}.{short_key(key)}",
            offset=offset,
            format=format,
        )
    if type(obj) is not dict:
        raise invalid(f"top level is {_TYPE_NAMES.get(type(obj), type(obj).__name__)}")
    if check_depth and _deeper_than(obj, limits.json_depth):
        raise _too_deep(source, what, limits, format, offset)
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        _check_no_lone_surrogate(obj, invalid)
    return obj


class _GCPause:
    """Pauses of the cyclic collector in progress, across threads (see :func:`paused_gc`)."""

    lock = threading.Lock()
    count = 0
    was_enabled = False


@contextlib.contextmanager
def paused_gc(size: int) -> Iterator[None]:
    """Pause the cyclic garbage collector while a document of *size* bytes is parsed.

    The collector rescans every container built so far, again and again, while millions are
    built: that doubles ``json.loads`` on a 70 MB header and quadruples the checks after it. Such
    a parse makes no cycles, so below 1 MiB nothing changes. Pauses are counted under a lock, so
    overlapping parses in several threads give the collector back, in the state the first one
    found it, only when the last one ends.
    """
    if size < _PAUSE_GC_BYTES:
        yield
        return
    with _GCPause.lock:
        if _GCPause.count == 0:
            _GCPause.was_enabled = gc.isenabled()
            gc.disable()
        _GCPause.count += 1
    try:
        yield
    finally:
        with _GCPause.lock:
            _GCPause.count -= 1
            if _GCPause.count == 0 and _GCPause.was_enabled:
                gc.enable()


def _decode(data: bytes, utf8_only: bool, invalid: Callable[[str], InvalidField], base: int) -> str:
    shift = 0
    if utf8_only:
        encoding = "utf-8"
    else:
        encoding = json.detect_encoding(data)
        if encoding == "utf-8-sig":  # decode after the BOM ourselves, so error positions stay absolute
            encoding, shift = "utf-8", len(codecs.BOM_UTF8)
    try:
        return str(data[shift:], encoding)
    except UnicodeDecodeError as exc:
        name = _ENCODING_NAMES.get(encoding, encoding)
        raise invalid(f"not {name} at byte {base + shift + exc.start}") from exc


def _too_deep(source: str, what: str, limits: Limits, format: str, offset: int | None) -> LimitExceeded:
    return LimitExceeded(
        source,
        f"JSON nesting deeper than {limits.json_depth} levels",
        field=what,
        offset=offset,
        format=format,
        limit="json_depth",
    )


def _deeper_than(root: dict[str, object], cap: int) -> bool:
    """Whether *root* nests more than *cap* containers deep (the root counts as 1).

    Walks level by level with C iterators (``map``, ``compress``, ``chain``) instead of a Python
    loop per value: a flat document with a million entries costs a fraction of ``json.loads``.
    """
    dicts: list[Any] = [root]
    lists: list[Any] = []
    depth = 1
    while True:
        children = list(chain(chain.from_iterable(map(dict.values, dicts)), chain.from_iterable(lists)))
        types = list(map(type, children))
        present = set(types)
        if dict not in present and list not in present:
            return False
        depth += 1
        if depth > cap:
            return True
        dicts = list(compress(children, map(operator.is_, types, repeat(dict)))) if dict in present else []
        lists = list(compress(children, map(operator.is_, types, repeat(list)))) if list in present else []


def _path_to(root: object, target: object) -> str:
    """The path from *root* down to the container *target*, as ``.key[3].key`` (error path only)."""
    stack: list[tuple[object, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if isinstance(node, dict):
            stack.extend((v, f"{path}.{short_key(k)}") for k, v in node.items() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node) if isinstance(v, (dict, list)))
    return ""


def _check_no_lone_surrogate(obj: object, invalid: Callable[[str], InvalidField]) -> None:
    # One C-speed pass: a lone surrogate in any key or string cannot be encoded as UTF-8.
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(exc.object[exc.start])
        raise invalid(f"invalid unicode escape: lone surrogate U+{code:04X}") from None
