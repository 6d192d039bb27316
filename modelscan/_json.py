"""Strict JSON for untrusted files (HOSTILE.md R8 and R15; catalogue section 7.3, C-02 to C-04).

Python's :mod:`json` is lenient where a model file must not be: it keeps the last of two
duplicate keys, reads ``NaN`` and ``Infinity``, lets lone surrogates through (``"\\ud800"``),
and has no depth option. :func:`parse_json` closes each gap, and it turns every failure into
one :class:`~modelscan.errors.ModelScanError` whose message never quotes the document
(``JSONDecodeError.doc``), only the parser's own message with a line and column.

Why one module of this size: strict JSON is one concern (duplicates, constants, surrogates, depth
from any stack, the lean parse of a million-entry shard index), and each check relies on the
others' guarantees.
"""

from __future__ import annotations

import _thread
import codecs
import contextlib
import functools
import gc
import json
import operator
import os
import re
import sys
import threading
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from itertools import chain, compress, islice, repeat
from typing import Any, TypeVar

from .errors import DuplicateKey, InvalidField, LimitExceeded, ModelScanError, escape_text
from .limits import Limits

__all__ = [
    "FlatStringMap",
    "on_fresh_stack",
    "parse_json",
    "parse_json_flat_member",
    "paused_gc",
    "short_key",
    "stack_is_low",
    "type_name",
]

_T = TypeVar("_T")

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

#: A whole run of backslashes, then ``u`` and a surrogate's four hex digits. In valid JSON every
#: backslash starts an escape of two characters (``\\\\``, ``\\n``...) or six (``\\uXXXX``), so
#: the run's last backslash starts a ``\\u`` escape exactly when the run is odd; an even run is
#: escaped backslashes followed by the letters ``uD8..``. Matching whole runs keeps the search
#: linear: inside a run the look-behind fails at once.
_SURROGATE_RUN = re.compile(r"(?<!\\)(\\+)u([dD][89a-fA-F][0-9a-fA-F]{2})")

#: Frames a parse needs beyond the document's own nesting: our calls, json's and the checks'.
_STACK_RESERVE = 100
#: A stack at most this deep never counts as low (see stack_is_low).
_SHALLOW_STACK = 50

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
    data: bytes | str,
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
    UTF-8 BOM and UTF-16/32 are detected as ``json.loads`` does (C-03). A ``str`` *data* is text
    its caller already decoded strictly (a reader that checks the bytes as it reads them holds the
    text once, not bytes and text). *format* and *offset* (where the document starts in its file)
    go into the errors; *parse_int* is passed to ``json.loads``. A caller that checks the type of
    every value itself may skip the depth walk (*check_depth* False): deeper values then fail its
    own checks, or ``json.loads`` at about 1000 levels. A caller that proves keys unique another
    way may skip the duplicate check (*check_duplicates* False, the last value wins); it must
    parse again with the check when the proof fails.

    Nothing here walks the parsed object recursively, and the answer never depends on the
    caller's stack: a caller deep in its own recursion (fewer than ``json_depth`` + 100 frames
    left), or a document that ``json.loads`` could not finish on the stack it had, is parsed on a
    fresh one (:func:`on_fresh_stack`).

    Raises :class:`InvalidField` (not UTF-8, not JSON, ``NaN``/``Infinity``, a lone surrogate, an
    integer over 4300 digits, a top level that is not an object), :class:`DuplicateKey` (``field``
    is the path to the second occurrence) and :class:`LimitExceeded` (``limit="json_depth"``).
    """

    def on_a_fresh_stack() -> dict[str, object]:
        again = functools.partial(  # not a lambda: a frame fewer on the fresh stack
            parse_json,
            data,
            source=source,
            what=what,
            limits=limits,
            utf8_only=utf8_only,
            format=format,
            offset=offset,
            parse_int=parse_int,
            check_depth=check_depth,
            check_duplicates=check_duplicates,
        )
        return on_fresh_stack(again, parse_at_base=True)

    if stack_is_low(limits.json_depth + _STACK_RESERVE):
        return on_a_fresh_stack()

    def invalid(detail: str) -> InvalidField:
        return InvalidField(source, detail, field=what, offset=offset, format=format)

    text = data if isinstance(data, str) else _decode(data, utf8_only, invalid, offset or 0)

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

    int_parser = _capped_int_parser(parse_int or int) if _needs_own_int_cap() else parse_int
    recursed = False
    try:
        with paused_gc(len(data)):
            obj = json.loads(
                text,
                object_pairs_hook=pairs_hook if check_duplicates else None,
                parse_constant=_reject_constant,
                parse_int=int_parser,
            )
    except RecursionError as exc:
        # More than json_depth levels (json_depth + _STACK_RESERVE frames were left, see above).
        # What is refused must not depend on the caller's stack, so the parse is done again on a
        # fresh one, which holds at least as many levels as any caller's: the answer is always
        # the fresh stack's (a caller that skips the depth walk gets what json.loads built there).
        if _FRESH.parse_at_base:
            raise _too_deep(source, what, limits, format, offset) from exc
        recursed = True
    except _Reject as exc:
        raise invalid(str(exc)) from exc
    except json.JSONDecodeError as exc:
        msg = exc.msg.removesuffix(" at")  # "Invalid control character at"
        raise invalid(f"JSON: {msg} at line {exc.lineno} column {exc.colno}") from exc
    except ValueError as exc:  # int() of a literal longer than sys.get_int_max_str_digits()
        raise invalid(f"JSON: integer with more than {_python_int_cap()} digits") from exc
    if recursed:
        return on_a_fresh_stack()

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
    lone = _lone_surrogate(text)
    if lone is not None:
        raise invalid(f"invalid unicode escape: lone surrogate U+{lone:04X}")
    return obj


class _FreshStack(threading.local):
    """What this thread is, if :func:`on_fresh_stack` started it."""

    #: Its stack is as fresh as any: no hop from it.
    active = False
    #: parse_json runs at its base: a parse that runs out of stack there would anywhere.
    parse_at_base = False


_FRESH = _FreshStack()


def stack_is_low(need: int) -> bool:
    """Whether a parse that needs *need* frames should run on a fresh stack: fewer than that
    are left below the recursion limit, or none of its caller's (the top of a stack holds one
    level more than a fresh thread's, and the answer must be the same from everywhere).

    Never on a fresh stack itself, nor on one at most 50 frames deep that is not the top: a
    hop from there would gain nothing.
    """
    if _FRESH.active:
        return False
    try:
        sys._getframe(3)  # this frame, the parse's, its caller's, and one above
    except ValueError:
        return True
    try:
        sys._getframe(max(sys.getrecursionlimit() - need, _SHALLOW_STACK))
    except ValueError:  # the stack is not that deep
        return False
    return True


def on_fresh_stack(call: Callable[[], _T], *, parse_at_base: bool = False) -> _T:
    """Run *call* in a new thread, whose stack is empty, and return or raise what it did.

    For a caller deep in its own recursion: ``json.loads`` recurses once per nesting level, and a
    parse must not fail, or be called too deep, because of frames that are not the document's.
    Only C calls are made here (``_thread``), so this works with a handful of frames left. The
    thread gets a C stack of its own size, 16 MiB (some platforms give threads 128 KiB, too
    little for a thousand levels); where no thread can be had, *call* runs here, as if fresh.
    *parse_at_base* is for :func:`parse_json` only: *call* is a parse at the stack's base.
    """
    done = _thread.allocate_lock()
    done.acquire()
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        _FRESH.active = True
        _FRESH.parse_at_base = parse_at_base
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed back to the caller below, whatever it is
            outcome.append((False, exc))
        finally:
            done.release()

    try:
        _start_thread(run)
    except RuntimeError:  # "can't start new thread": a process or memory limit
        was = _FRESH.active, _FRESH.parse_at_base
        _FRESH.active, _FRESH.parse_at_base = True, parse_at_base
        try:
            return call()
        finally:
            _FRESH.active, _FRESH.parse_at_base = was
    done.acquire()
    ok, value = outcome[0]
    if not ok:
        raise value
    result: _T = value
    return result


#: The C stack of a thread that on_fresh_stack starts.
_FRESH_STACK_BYTES = 16 << 20
_STACK_SIZE_LOCK = _thread.allocate_lock()


def _start_thread(run: Callable[[], None]) -> None:
    """Start *run* in a thread with a ``_FRESH_STACK_BYTES`` stack (the process's setting is
    put back at once: threads others start keep theirs)."""
    with _STACK_SIZE_LOCK:
        try:
            previous = _thread.stack_size(_FRESH_STACK_BYTES)
        except (ValueError, RuntimeError):  # the platform sets no stack size: take its default
            _thread.start_new_thread(run, ())
            return
        try:
            _thread.start_new_thread(run, ())
        finally:
            _thread.stack_size(previous)


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


def _lone_surrogate(text: str) -> int | None:
    """The first surrogate that a ``\\uXXXX`` escape of the JSON *text* leaves unpaired, or ``None``.

    Read from the text, not from the parsed object: nothing here recurses, whatever the nesting.
    ``json`` joins a high-surrogate escape with a low-surrogate escape right after it, and keeps
    any other surrogate escape as a lone code point; the text itself holds no surrogate (it was
    decoded strictly), so those escapes are the only source of one.
    """
    if "\\u" not in text or _SURROGATE_ESCAPE.search(text) is None:  # one C pass when absent
        return None
    high = -1  # a high surrogate waiting for its low half
    high_end = -1  # where that escape ends: the low half must start there
    for m in _SURROGATE_RUN.finditer(text):
        if len(m[1]) % 2 == 0:
            continue  # escaped backslashes, then plain letters
        start = m.start(2) - 2  # the escape's backslash
        code = int(m[2], 16)
        if high >= 0:
            if start == high_end and code >= 0xDC00:
                high = -1  # a pair: one character
                continue
            return high
        if code >= 0xDC00:
            return code
        high, high_end = code, m.end()
    return high if high >= 0 else None


# -- a big flat member, parsed lean ----------------------------------------------------------------

#: Documents at least this big may take the lean path of :func:`parse_json_flat_member`.
_LEAN_BYTES = 1 << 20

#: About this many bytes of pairs are decoded at once.
_LEAN_CHUNK = 1 << 20

# Possessive: no backtracking state, which the matcher would allocate for every string.
_WS = rb"[ \t\n\r]*+"
_STR = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
#: Up to 4096 ``"key": "value",`` pairs (the repeat is bounded so the matcher's state stays small).
_LEAN_BLOCK = 4096
_LEAN_PAIRS = re.compile(rb"(?:" + _WS + _STR + _WS + rb":" + _WS + _STR + _WS + rb",){%d}+" % _LEAN_BLOCK)
#: One such pair.
_LEAN_PAIR = re.compile(_WS + _STR + _WS + rb":" + _WS + _STR + _WS + rb",")
#: The last pair and the brace that closes the object.
_LEAN_LAST = re.compile(_WS + _STR + _WS + rb":" + _WS + _STR + _WS + rb"\}")


#: The hashes of the keys are checked for repeats in this many ranges, one at a time.
_HASH_RANGES = 64


class FlatStringMap:
    """A JSON object of string values kept as its text: the pairs are decoded again on each walk.

    Built by :func:`parse_json_flat_member` only after every pair decoded strictly and the keys
    proved unique, so walking it cannot fail. ``first_use`` maps each distinct value (interned) to
    the first key naming it, in order of first use.
    """

    def __init__(self, data: bytes, spans: list[tuple[int, int, int]], size: int, first_use: dict[str, str]) -> None:
        self._data = data
        self._spans = spans
        self._size = size
        self.first_use = first_use

    def __len__(self) -> int:
        return self._size

    def chunks(self) -> Iterator[dict[str, str]]:
        """The map as consecutive dicts of about 1 MB of text each, in order."""
        for start, end, _ in self._spans:
            chunk: dict[str, str] = json.loads("{" + str(self._data[start:end], "utf-8") + "}")
            yield chunk

    def items(self) -> Iterator[tuple[str, str]]:
        return chain.from_iterable(map(dict.items, self.chunks()))

    def keys(self) -> Iterator[str]:
        return chain.from_iterable(self.chunks())

    __iter__ = keys


def parse_json_flat_member(
    data: bytes, member: str, *, source: str, what: str, limits: Limits
) -> tuple[dict[str, object], FlatStringMap] | None:
    """:func:`parse_json` for a big document whose top-level *member* is a flat object of strings.

    Returns the document (its *member* an empty dict, to be replaced by the map) and the member as
    a :class:`FlatStringMap`, after proving that :func:`parse_json` would accept *data* whole and
    give the same object; raises the :class:`DuplicateKey` it would raise for a key repeated in
    *member*. Returns ``None`` when that proof is not made cheaply (a small or non-UTF-8 document,
    another shape, any other error): the caller then parses whole, which gives the exact result.
    The member's pairs are decoded about 1 MB at a time and only their hashes are kept, so a
    million entries cost tens of MB, not the hundreds a whole parse takes.
    """
    if len(data) < _LEAN_BYTES or json.detect_encoding(data) != "utf-8":
        return None
    opening = re.compile(b'"' + re.escape(member.encode()) + b'"' + _WS + b":" + _WS + b"\\{")
    for found in islice(opening.finditer(data), 4):  # a decoy (in a string, nested) costs one try
        result = _lean_at(data, found.end(), member, source=source, what=what, limits=limits)
        if result is not None:
            return result
    return None


def _lean_spans(data: bytes, start: int) -> tuple[list[tuple[int, int, int]], int] | None:
    """The chunks ``(start, end, pairs)`` of a flat object of strings whose body starts at *start*,
    and where its ``}`` is; ``None`` when the body is not ``"key": "value"`` pairs."""
    spans: list[tuple[int, int, int]] = []
    chunk_start = pos = start
    pairs = 0
    while True:
        m = _LEAN_PAIRS.match(data, pos)
        if m is None:
            break
        pos = m.end()
        pairs += _LEAN_BLOCK
        if pos - chunk_start >= _LEAN_CHUNK:
            spans.append((chunk_start, pos - 1, pairs))  # without the trailing comma
            chunk_start, pairs = pos, 0
    while (m := _LEAN_PAIR.match(data, pos)) is not None:  # fewer than a block left
        pos = m.end()
        pairs += 1
    last = _LEAN_LAST.match(data, pos)
    if last is None:
        return None
    close = last.end() - 1
    spans.append((chunk_start, close, pairs + 1))
    return spans, close


def _lean_at(
    data: bytes, body: int, member: str, *, source: str, what: str, limits: Limits
) -> tuple[dict[str, object], FlatStringMap] | None:
    found = _lean_spans(data, body)
    if found is None:
        return None
    spans, close = found
    # The rest of the document, with a key no file can hold (random) where the pairs were: parsed
    # back in that very place, it proves the pairs are the top-level member's whole value.
    nonce = "\x00" + os.urandom(16).hex()
    sentinel = json.dumps({nonce: 0}).encode()[1:-1]
    try:
        rest = parse_json(data[:body] + sentinel + data[close:], source=source, what=what, limits=limits)
    except ModelScanError:
        return None
    value = rest.get(member)
    if type(value) is not dict or len(value) != 1 or value.get(nonce) != 0 or type(value[nonce]) is not int:
        return None
    value.clear()

    size = 0
    first_use: dict[str, str] = {}
    codes: list[array[int]] = []  # per chunk, the keys' hashes sorted
    repeated: set[int] = set()  # hashes seen twice: a repeated key, or (rarely) two keys
    try:
        with paused_gc(len(data)):
            for start, end, pairs in spans:
                text = str(data[start:end], "utf-8")
                chunk: dict[str, str] = json.loads("{" + text + "}")
                if _lone_surrogate(text) is not None:
                    return None  # the whole parse raises the precise error
                del text
                size += pairs
                hashes = sorted(map(hash, chunk))
                if len(chunk) != pairs:  # a key repeated in this chunk; its hash may be seen once only
                    repeated.update(hashes)
                codes.append(array("q", hashes))
                del hashes
                # each value -> its first key (reversed: the last write wins)
                firsts = dict(zip(reversed(chunk.values()), reversed(chunk.keys()), strict=True))
                for shard in dict.fromkeys(chunk.values()):
                    if shard not in first_use:
                        first_use[shard] = firsts[shard]
                del firsts
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError and -EncodeError are ValueErrors
        return None
    width = (1 << 64) // _HASH_RANGES
    for low in range(-(1 << 63), 1 << 63, width):
        part = array("q")
        for mine in codes:
            part += mine[bisect_left(mine, low) : bisect_left(mine, low + width)]
        if len(set(part)) != len(part):
            ordered = sorted(part)
            repeated.update(a for a, b in zip(ordered, islice(ordered, 1, None), strict=False) if a == b)
    del codes
    lean = FlatStringMap(data, spans, size, first_use)
    if repeated:
        keys: set[str] = set()
        for start, end, _ in spans:  # the pairs, not the map's walk (a dict keeps the last of two)
            for key, _ in json.loads("{" + str(data[start:end], "utf-8") + "}", object_pairs_hook=list):
                if hash(key) in repeated:
                    if key in keys:
                        raise DuplicateKey(
                            source,
                            f"duplicate key '{_cap(key)}'",
                            field=f"{what}.{short_key(member)}.{short_key(key)}",
                            format="json",
                        )
                    keys.add(key)
    return rest, lean


_VALUE_TYPE_NAMES: dict[type, str] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    list: "list",
    dict: "object",
    type(None): "null",
}


def type_name(value: object) -> str:
    """The JSON type of a parsed value, as a warning names it (``expected int, got bool``)."""
    return _VALUE_TYPE_NAMES.get(type(value), type(value).__name__)
