"""modelscan._json.parse_json: HOSTILE.md R8 and catalogue 7.3 (C-02, C-03, C-04)."""

from __future__ import annotations

import gc
import json
import pickle
import sys
from collections.abc import Callable

import pytest

from modelscan._json import parse_json, paused_gc, short_key
from modelscan.errors import DuplicateKey, InvalidField, LimitExceeded, ModelScanError
from modelscan.limits import BATCH_LIMITS

SOURCE = "models/acme/config.json"


def parse(
    data: bytes,
    *,
    parse_int: Callable[[str], object] | None = None,
    check_depth: bool = True,
    utf8_only: bool = False,
) -> dict[str, object]:
    return parse_json(
        data,
        source=SOURCE,
        what="config.json",
        limits=BATCH_LIMITS,
        parse_int=parse_int,
        check_depth=check_depth,
        utf8_only=utf8_only,
    )


def fail(data: bytes, *, utf8_only: bool = False) -> ModelScanError:
    with pytest.raises(ModelScanError) as info:
        parse(data, utf8_only=utf8_only)
    return info.value


# -- accepted -------------------------------------------------------------------------------------


def test_plain_object() -> None:
    assert parse(b'{"model_type": "llama", "n": [1, 2.5, true, null]}') == {
        "model_type": "llama",
        "n": [1, 2.5, True, None],
    }


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'\xef\xbb\xbf{"model_type":"llama"}', id="C-03-utf8-bom"),
        pytest.param('{"model_type":"llama"}'.encode("utf-16"), id="C-03-utf16-bom"),
        pytest.param('{"model_type":"llama"}'.encode("utf-16-le"), id="utf16-le"),
        pytest.param('{"model_type":"llama"}'.encode("utf-16-be"), id="utf16-be"),
        pytest.param('{"model_type":"llama"}'.encode("utf-32"), id="utf32-bom"),
    ],
)
def test_c03_encodings_accepted(data: bytes) -> None:
    assert parse(data) == {"model_type": "llama"}


def test_surrogate_pair_is_one_character() -> None:
    assert parse(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def test_escaped_backslash_before_u_is_not_an_escape() -> None:
    # The text \ud800 spelled with an escaped backslash is six ordinary characters.
    assert parse(b'{"a": "\\\\ud800"}') == {"a": "\\ud800"}


def test_depth_at_the_cap_is_accepted() -> None:
    depth = BATCH_LIMITS.json_depth  # the top-level object counts as one level
    data = b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    parse(data)


def test_integer_of_4300_digits_is_accepted() -> None:
    assert parse(b'{"a": ' + b"9" * 4300 + b"}")["a"] == int("9" * 4300)


@pytest.mark.parametrize("sign", [b"", b"-"])
def test_digit_cap_holds_when_python_lifts_its_own(sign: bytes) -> None:
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # unlimited: int() of a long literal is quadratic
    try:
        assert parse(b'{"a": ' + sign + b"9" * 4300 + b"}")["a"] == int(sign + b"9" * 4300)
        err = fail(b'{"a": ' + sign + b"9" * 4301 + b"}")
        assert (type(err), err.detail) == (InvalidField, "JSON: integer with more than 4300 digits")
    finally:
        sys.set_int_max_str_digits(old)


def test_parse_int_hook_is_used() -> None:
    assert parse(b'{"a": 7}', parse_int=lambda s: ("int", s)) == {"a": ("int", "7")}


def test_big_float_stays_python_semantics() -> None:
    # C-07 wants 1e400 in config.json reported as a warning by the caller, not a parse failure.
    assert parse(b'{"vocab_size": 1e400}') == {"vocab_size": float("inf")}


# -- C-02, C-04 and R8 failures ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        pytest.param(b"", "JSON: Expecting value at line 1 column 1", id="C-02-empty"),
        pytest.param(b"  \n", "JSON: Expecting value at line 2 column 1", id="C-02-whitespace"),
        pytest.param(b"[]", "top level is list", id="C-04-list"),
        pytest.param(b'"llama"', "top level is string", id="C-04-string"),
        pytest.param(b"null", "top level is null", id="C-04-null"),
        pytest.param(b"1", "top level is integer", id="top-integer"),
        pytest.param(b"1.5", "top level is number", id="top-float"),
        pytest.param(b"true", "top level is boolean", id="top-bool"),
        pytest.param(b'{"model_type":"\xff"}', "not UTF-8 at byte 15", id="C-03-invalid-utf8"),
        pytest.param(b'\xef\xbb\xbf{"a":"\xff"}', "not UTF-8 at byte 9", id="bom-then-invalid-utf8"),
        pytest.param(b'{"a": NaN}', "JSON: NaN is not allowed", id="R8-nan"),
        pytest.param(b'{"a": Infinity}', "JSON: Infinity is not allowed", id="R8-infinity"),
        pytest.param(b'{"a": [-Infinity]}', "JSON: -Infinity is not allowed", id="R8-minus-infinity"),
        pytest.param(b'{"\\ud800": 1}', "invalid unicode escape: lone surrogate U+D800", id="R8-surrogate-key"),
        pytest.param(b'{"a": "\\udc00"}', "invalid unicode escape: lone surrogate U+DC00", id="R8-surrogate-value"),
        pytest.param(
            b'{"a": ["\\ud83d\\u0041"]}', "invalid unicode escape: lone surrogate U+D83D", id="R8-high-then-ascii"
        ),
        pytest.param(b'{"a": ' + b"9" * 4301 + b"}", "JSON: integer with more than 4300 digits", id="R8-4301-digits"),
        pytest.param(
            b'{"a": 1,}', "JSON: Expecting property name enclosed in double quotes at line 1 column 9", id="comma"
        ),
        pytest.param(b'{"a": "x\x01"}', "JSON: Invalid control character at line 1 column 9", id="control-char"),
        pytest.param(b'{"a": 1} {"b": 2}', "JSON: Extra data at line 1 column 10", id="extra-data"),
    ],
)
def test_invalid(data: bytes, detail: str) -> None:
    err = fail(data)
    assert type(err) is InvalidField
    assert (err.code, err.format, err.field, err.detail) == ("invalid_field", "json", "config.json", detail)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'\xef\xbb\xbf{"a": 1}', id="bom"),
        pytest.param('{"a": 1}'.encode("utf-16"), id="utf16"),
        pytest.param(b'{"a": "\xed\xa0\x80"}', id="encoded-surrogate"),
        pytest.param(b'{"a": "\xc0\xaf"}', id="overlong"),
    ],
)
def test_utf8_only_rejects_everything_but_utf8(data: bytes) -> None:
    err = fail(data, utf8_only=True)
    assert type(err) is InvalidField


def test_encoded_surrogate_rejected_without_utf8_only() -> None:
    # json.loads(bytes) would decode with 'surrogatepass'; parse_json decodes strictly.
    assert fail(b'{"a": "\xed\xa0\x80"}').detail == "not UTF-8 at byte 7"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param(b'{"a": 1, "a": 2}', "config.json.a", id="top"),
        pytest.param(b'{"x": {"a": 1, "b": 0, "a": 1}}', "config.json.x.a", id="nested"),
        pytest.param(b'{"x": [0, {"a": 1, "a": 1}]}', "config.json.x[1].a", id="in-list"),
        pytest.param(b'[{"a": 1, "a": 1}]', "config.json[0].a", id="top-level-list"),
    ],
)
def test_r8_duplicate_keys(data: bytes, field: str) -> None:
    err = fail(data)
    assert type(err) is DuplicateKey
    assert (err.code, err.field, err.detail) == ("duplicate_key", field, "duplicate key 'a'")


def test_first_duplicate_in_document_order_is_reported() -> None:
    err = fail(b'{"x": {"b": 1, "b": 2}, "y": {"c": 1, "c": 2}}')
    assert err.field == "config.json.x.b"


def test_depth_over_the_cap() -> None:
    depth = BATCH_LIMITS.json_depth
    err = fail(b'{"a":' + b"[" * depth + b"]" * depth + b"}")
    assert type(err) is LimitExceeded
    assert (err.code, err.limit, err.field) == ("limit_exceeded", "json_depth", "config.json")
    assert err.detail == "JSON nesting deeper than 64 levels"


def test_depth_cap_is_configurable() -> None:
    limits = BATCH_LIMITS.replace(json_depth=2)
    parse_json(b'{"a": [1]}', source=SOURCE, what="config.json", limits=limits)
    with pytest.raises(LimitExceeded):
        parse_json(b'{"a": [[1]]}', source=SOURCE, what="config.json", limits=limits)
    with pytest.raises(LimitExceeded):
        parse_json(b'{"a": {"b": {}}}', source=SOURCE, what="config.json", limits=limits)


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_recursion_error_becomes_limit_exceeded(opener: bytes) -> None:
    data = b'{"a":' + opener * 100_000
    err = fail(data)
    assert type(err) is LimitExceeded
    assert err.limit == "json_depth"


def test_check_depth_false_skips_the_walk() -> None:
    deep = b'{"a":' + b"[" * 100 + b"]" * 100 + b"}"
    assert parse(deep, check_depth=False)["a"]


def test_format_and_offset_go_into_errors() -> None:
    with pytest.raises(InvalidField) as info:
        parse_json(
            b'{"\xff":1}', source="m.safetensors", what="header", limits=BATCH_LIMITS, format="safetensors", offset=8
        )
    err = info.value
    assert (err.format, err.field, err.offset, err.detail) == ("safetensors", "header", 8, "not UTF-8 at byte 10")
    assert str(err) == "m.safetensors: safetensors header at byte 8: not UTF-8 at byte 10"


# -- R15: messages ---------------------------------------------------------------------------------


def test_message_word_for_word() -> None:
    assert str(fail(b"")) == "models/acme/config.json: json config.json: JSON: Expecting value at line 1 column 1"


def test_message_never_quotes_the_document() -> None:
    secret = b"hunter2-secret-token"
    for data in (b'{"k": "' + secret + b'",}', b'{"a": "' + secret, b'{"a": "' + secret + b'", "b": NaN}'):
        assert "hunter2" not in str(fail(data))


def test_duplicate_key_quotes_at_most_40_characters() -> None:
    key = "s" * 1000
    err = fail(b'{"' + key.encode() + b'": 1, "' + key.encode() + b'": 2}')
    assert err.detail == "duplicate key '" + "s" * 40 + "...'"
    assert err.field == "config.json." + "s" * 40 + "..."


def test_hostile_key_is_escaped_and_cut_in_field() -> None:
    key = "\x1b[31m" + "k" * 500
    err = fail(json.dumps({key: 1}).encode()[:-1] + b', "' + json.dumps(key).encode()[1:-1] + b'": 2}')
    assert err.field is not None
    assert "\x1b" not in err.field and len(err.field) < 100
    assert "\x1b" not in str(err) and "\n" not in str(err)
    assert short_key(key) == "\\x1b[31m" + "k" * 35 + "..."


def test_errors_pickle() -> None:
    for data in (b"", b"[]", b'{"a":1,"a":2}', b'{"a":' + b"[" * 70 + b"]" * 70 + b"}"):
        err = fail(data)
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err)
        assert (copy.code, copy.field, copy.offset, copy.limit, str(copy)) == (
            err.code,
            err.field,
            err.offset,
            err.limit,
            str(err),
        )


# -- the GC pause for big documents ----------------------------------------------------------------


def big_document() -> bytes:
    return json.dumps({f"k{i}": {"v": [i, i]} for i in range(60_000)}).encode()


def test_gc_is_restored_after_a_big_document() -> None:
    data = big_document()
    assert len(data) >= 1 << 20
    assert gc.isenabled()
    parse(data)
    assert gc.isenabled()
    with pytest.raises(InvalidField):
        parse(data[:-1])
    assert gc.isenabled()


def test_gc_left_disabled_if_the_caller_disabled_it() -> None:
    data = big_document()
    gc.disable()
    try:
        parse(data)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_paused_gc_overlapping_pauses_restore_the_collector() -> None:
    assert gc.isenabled()
    outer = paused_gc(1 << 30)
    inner = paused_gc(1 << 30)
    outer.__enter__()
    inner.__enter__()
    assert not gc.isenabled()
    outer.__exit__(None, None, None)  # the first parse ends while the second still runs
    assert not gc.isenabled()
    inner.__exit__(None, None, None)
    assert gc.isenabled()  # the last one out gives it back
    with paused_gc(10):  # small documents never touch it
        assert gc.isenabled()
