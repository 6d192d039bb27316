"""Fuzz the GGUF and safetensors header readers and the strict JSON parser.

Anything a reader raises other than :class:`modelscan.ModelScanError` is a crash: the input is
saved to ``fuzz/crashes/<target>-<sha1>.bin`` with the traceback beside it (``.txt``). So is an
input that takes longer than ``--timeout`` seconds (default 5).

Two engines:

- atheris (coverage-guided, ``pip install atheris``)::

      python fuzz/fuzz_readers.py -atheris_runs=2000000 [CORPUS_DIR ...] [libFuzzer flags]
      python fuzz/fuzz_readers.py -max_total_time=300 -rss_limit_mb=2048 fuzz/corpus

  The first byte of each input picks the target (0 GGUF, 1 safetensors, 2 JSON), unless
  ``--target NAME`` fixes one. ``--write-corpus DIR`` writes the seed corpus (every catalogue
  entry and the valid seeds, each with its target byte) for libFuzzer to start from.

- hypothesis (no extra install; structure-aware generators plus mutations of valid files)::

      python fuzz/fuzz_readers.py --minutes 5 [--target gguf|safetensors|json]

  runs rounds of fresh random examples until the time is up, and prints how many inputs each
  target saw. Used automatically when atheris is not importable.

Exit status: 0 when no crash was found, 1 otherwise. Turn each crash into a regression test
(tests/test_hostile_scan.py, ``FUZZ_REGRESSIONS``) with its bytes inline.
"""

from __future__ import annotations

# Imports of modelscan (and of the test helpers) are deferred on purpose: atheris instruments only
# modules imported inside its instrument_imports() block.
# ruff: noqa: PLC0415
import argparse
import hashlib
import io
import json
import signal
import struct
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

CRASHES = HERE / "crashes"
TARGETS = ("gguf", "safetensors", "json")


class _Timeout(BaseException):
    """Raised by SIGALRM inside a target: the input took too long (a hang)."""


class _Readers:
    """The functions under test, imported when :func:`_import_modelscan` runs."""

    def __init__(self) -> None:
        from modelscan import BATCH_LIMITS, SERVER_LIMITS, ModelScanError
        from modelscan._json import parse_json
        from modelscan.gguf import parse_gguf_header
        from modelscan.safetensors import parse_safetensors_header

        self.error = ModelScanError
        self.limits = (BATCH_LIMITS, SERVER_LIMITS.replace(json_depth=4))
        self.gguf = parse_gguf_header
        self.safetensors = parse_safetensors_header
        self.json = parse_json


_readers: list[_Readers] = []


def _import_modelscan() -> None:
    _readers[:] = [_Readers()]


def run_target(target: str, data: bytes) -> None:
    """Feed *data* to one reader; ModelScanError is the only allowed failure."""
    r = _readers[0]
    try:
        if target == "gguf":
            h = r.gguf(
                io.BytesIO(data),
                source="fuzz.gguf",
                file_size=len(data),
                decode_arrays=frozenset({"tokenizer.ggml.tokens", "tokenizer.ggml.scores"}),
            )
            for w in h.warnings:
                str(w)
        elif target == "safetensors":
            r.safetensors(io.BytesIO(data), source="fuzz.safetensors", file_size=len(data))
        else:
            for limits in r.limits:
                r.json(data, source="fuzz.json", what="config.json", limits=limits)
    except r.error as err:
        text = str(err)  # the message must render, on one line
        if "\n" in text or "\r" in text:
            raise AssertionError(f"error message spans lines: {text[:200]!r}") from err


def save_crash(target: str, data: bytes, exc: BaseException) -> Path:
    CRASHES.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:16]
    path = CRASHES / f"{target}-{digest}.bin"
    path.write_bytes(data)
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    path.with_suffix(".txt").write_text(f"target: {target}\nbytes: {data[:512]!r}\n\n{detail}")
    return path


def checked(target: str, data: bytes, timeout: int, crashes: list[Path]) -> None:
    """run_target with a hang alarm; a crash is saved and recorded, never raised."""
    signal.alarm(timeout)
    try:
        run_target(target, data)
    except _Timeout as exc:
        crashes.append(save_crash(target, data, exc))
    except Exception as exc:  # the bug being looked for
        crashes.append(save_crash(target, data, exc))
    finally:
        signal.alarm(0)


def _on_alarm(signum: int, frame: object) -> None:
    raise _Timeout(f"input took longer than the timeout (signal {signum})")


# --- seeds ----------------------------------------------------------------------------------------


def seeds() -> dict[str, list[bytes]]:
    """Every catalogue entry's bytes (the small ones) and valid files, by target."""
    import hostile_catalogue as hc

    out: dict[str, list[bytes]] = {t: [] for t in TARGETS}
    for e in hc.ENTRIES:
        for name, content in e.files:
            if not isinstance(content, bytes) or len(content) > 1 << 20:
                continue
            if name.endswith(".gguf"):
                out["gguf"].append(content)
            elif name.endswith(".safetensors"):
                out["safetensors"].append(content)
            elif name.endswith(".json"):
                out["json"].append(content)
    out["gguf"].append(_rich_gguf())
    out["json"] += [hc.VALID_CONFIG, b'{"a": [1, 2, {"b": null, "c": "\\u00e9"}], "d": 1.5e3}']
    return out


def _rich_gguf() -> bytes:
    import hostile_catalogue as hc

    tokens = [b"<s>", b"</s>", b"hello", "wörld".encode()]
    data = (
        hc.hdr(2, 6)
        + hc.ARCH
        + hc.kv_u32("llama.context_length", 2048)
        + hc.kv_arr("tokenizer.ggml.tokens", hc.T_STR, 4, b"".join(hc.gstr(t) for t in tokens))
        + hc.kv_arr("tokenizer.ggml.scores", hc.T_F32, 4, struct.pack("<4f", 0, 0, -1, -2))
        + hc.kv_str("tokenizer.chat_template", "{{ messages }}")
        + hc.kv_u32("general.alignment", 32)
        + hc.tinfo("a", [32], 2, 0)
        + hc.tinfo("b", [4, 2], 0, 32)
    )
    return hc.pad(data) + b"\0" * 64


def write_corpus(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for i, target in enumerate(TARGETS):
        for data in seeds()[target]:
            blob = bytes([i]) + data
            (folder / hashlib.sha1(blob).hexdigest()).write_bytes(blob)
            n += 1
    return n


# --- atheris ----------------------------------------------------------------------------------------


def run_atheris(argv: list[str], fixed: str | None, timeout: int) -> int:
    import atheris  # type: ignore[import-untyped]

    with atheris.instrument_imports(include=["modelscan"]):
        _import_modelscan()

    def one_input(data: bytes) -> None:
        if fixed is not None:
            target = fixed
        else:
            if not data:
                return
            target, data = TARGETS[data[0] % len(TARGETS)], data[1:]
        signal.alarm(timeout)
        try:
            run_target(target, data)
        except BaseException as exc:  # save it, then let atheris report and stop
            if not isinstance(exc, KeyboardInterrupt):
                print(f"crash saved to {save_crash(target, data, exc)}", file=sys.stderr)
            raise
        finally:
            signal.alarm(0)

    atheris.Setup(argv, one_input)
    atheris.Fuzz()
    return 0


# --- hypothesis -------------------------------------------------------------------------------------


def _strategies() -> dict[str, object]:
    from hypothesis import strategies as st

    extremes = [0, 1, 2, 3, 4, 8, 13, 31, 32, 33, 64, 255, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1]
    ints = st.one_of(st.sampled_from(extremes), st.integers(0, 2**64 - 1), st.integers(0, 300))

    @st.composite
    def gguf_like(draw: st.DrawFn) -> bytes:
        """A GGUF header built field by field, each field now and then absurd."""

        def u32(v: int) -> bytes:
            return struct.pack("<I", v % 2**32)

        def u64(v: int) -> bytes:
            return struct.pack("<Q", v % 2**64)

        def gstr(b: bytes) -> bytes:
            n = len(b) if draw(st.integers(0, 9)) else draw(ints)
            return u64(n) + b

        def text() -> bytes:
            return draw(
                st.one_of(
                    st.sampled_from(
                        [
                            b"general.architecture",
                            b"general.alignment",
                            b"general.name",
                            b"tokenizer.ggml.tokens",
                            b"tokenizer.ggml.scores",
                            b"tokenizer.chat_template",
                            b"llama.context_length",
                            b"",
                        ]
                    ),
                    st.binary(max_size=12),
                    st.text(max_size=8).map(str.encode),
                )
            )

        def value(t: int, depth: int) -> bytes:
            scalar = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
            if t in scalar:
                return draw(st.binary(min_size=scalar[t], max_size=scalar[t]))
            if t == 8:
                return gstr(text())
            if t == 9 and depth < 2:
                et = draw(st.one_of(st.integers(0, 12), ints))
                count = draw(st.one_of(st.integers(0, 4), ints))
                items = b"".join(value(et, depth + 1) for _ in range(min(count, 4)))
                return u32(et) + u64(count) + items
            return draw(st.binary(max_size=8))

        n_kv = draw(st.integers(0, 5))
        n_t = draw(st.integers(0, 3))
        out = [
            b"GGUF" if draw(st.integers(0, 19)) else draw(st.binary(min_size=4, max_size=4)),
            u32(draw(st.one_of(st.just(3), st.just(2), ints))),
            u64(n_t if draw(st.integers(0, 9)) else draw(ints)),
            u64(n_kv if draw(st.integers(0, 9)) else draw(ints)),
        ]
        for _ in range(n_kv):
            t = draw(st.one_of(st.integers(0, 12), ints))
            out.append(gstr(text()) + u32(t) + value(t % 2**32, 0))
        for _ in range(n_t):
            dims = draw(st.lists(st.one_of(st.integers(0, 64), ints), max_size=5))
            n_dims = len(dims) if draw(st.integers(0, 9)) else draw(ints)
            ggml_type = draw(st.one_of(st.integers(0, 41), ints))
            offset = draw(st.one_of(st.sampled_from([0, 32, 64]), ints))
            out.append(
                gstr(draw(st.binary(max_size=8)))
                + u32(n_dims)
                + b"".join(u64(d) for d in dims)
                + u32(ggml_type)
                + u64(offset)
            )
        data = b"".join(out)
        return data + b"\0" * draw(st.integers(0, 256))

    json_values = st.recursive(
        st.one_of(
            st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=8)
        ),
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
        ),
        max_leaves=12,
    )
    dtypes = st.one_of(
        st.sampled_from(["F32", "F16", "BF16", "U8", "I64", "F4", "F6_E2M3", "BOOL", "C64", "F8_E8M0"]), json_values
    )
    entry = st.fixed_dictionaries(
        {
            "dtype": dtypes,
            "shape": st.one_of(st.lists(ints, max_size=4), json_values),
            "data_offsets": st.one_of(st.lists(ints, min_size=2, max_size=2), json_values),
        }
    )

    @st.composite
    def safetensors_like(draw: st.DrawFn) -> bytes:
        header = draw(
            st.dictionaries(
                st.one_of(st.text(max_size=6), st.just("__metadata__")), st.one_of(entry, json_values), max_size=5
            )
        )
        raw = json.dumps(header).encode()
        if draw(st.integers(0, 4)) == 0:
            raw = draw(mutate(st.just(raw)))
        n = len(raw) if draw(st.integers(0, 9)) else draw(ints)
        return struct.pack("<Q", n % 2**64) + raw + b"\0" * draw(st.integers(0, 128))

    @st.composite
    def mutate(draw: st.DrawFn, base: object) -> bytes:
        data = bytearray(draw(base))  # type: ignore[arg-type]
        for _ in range(draw(st.integers(1, 6))):
            if not data:
                break
            at = draw(st.integers(0, len(data) - 1))
            op = draw(st.integers(0, 5))
            if op == 0:
                data[at] ^= 1 << draw(st.integers(0, 7))
            elif op == 1:
                del data[at:]
            elif op == 2:
                width = draw(st.sampled_from([4, 8]))
                data[at : at + width] = (draw(ints) % 2 ** (8 * width)).to_bytes(width, "little")
            elif op == 3:
                data[at:at] = draw(st.binary(min_size=1, max_size=16))
            elif op == 4:
                del data[at : at + draw(st.integers(1, 32))]
            else:
                data[at : at + 1] = bytes([draw(st.sampled_from(b'{}[]":,\\0-9eE.-\x00\xff'))])
        return bytes(data)

    seed = seeds()

    def dumps(value: object) -> bytes:
        return json.dumps(value).encode()

    json_docs = st.one_of(
        json_values.map(dumps), st.dictionaries(st.text(max_size=8), json_values, max_size=6).map(dumps)
    )
    raw = st.binary(max_size=512)
    return {
        "gguf": st.one_of(gguf_like(), mutate(st.sampled_from(seed["gguf"])), raw),
        "safetensors": st.one_of(safetensors_like(), mutate(st.sampled_from(seed["safetensors"])), raw),
        "json": st.one_of(json_docs, mutate(json_docs), mutate(st.sampled_from(seed["json"])), raw),
    }


def run_hypothesis(minutes: float, targets: tuple[str, ...], timeout: int) -> int:
    from hypothesis import HealthCheck, given, seed, settings

    _import_modelscan()
    strategies = _strategies()
    crashes: list[Path] = []
    counts = dict.fromkeys(targets, 0)
    deadline = time.monotonic() + minutes * 60
    rounds = 0

    def make(target: str, round_no: int) -> Callable[[], None]:
        @seed(round_no * 7919 + TARGETS.index(target))
        @settings(
            max_examples=2_000, deadline=None, database=None, derandomize=False, suppress_health_check=list(HealthCheck)
        )
        @given(strategies[target])  # type: ignore[call-overload, untyped-decorator]
        def fuzz(data: bytes) -> None:
            counts[target] += 1
            checked(target, data, timeout, crashes)

        return fuzz  # type: ignore[no-any-return]

    while time.monotonic() < deadline:
        for target in targets:
            make(target, rounds)()
            if time.monotonic() >= deadline:
                break
        rounds += 1
    print(
        f"hypothesis fuzzing: {minutes:g} min, {rounds} rounds, inputs per target: {counts}; crashes: {len(crashes)}",
        file=sys.stderr,
    )
    for path in sorted(set(crashes)):
        print(f"  {path}", file=sys.stderr)
    return 1 if crashes else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=True)
    parser.add_argument("--minutes", type=float, help="hypothesis mode: fuzz for this long")
    parser.add_argument("--target", choices=TARGETS, help="fuzz one reader only")
    parser.add_argument("--timeout", type=int, default=5, help="seconds one input may take (a hang)")
    parser.add_argument("--write-corpus", metavar="DIR", help="write the seed corpus for atheris and exit")
    parser.add_argument("--hypothesis", action="store_true", help="use hypothesis even if atheris is installed")
    args, rest = parser.parse_known_args(argv[1:])
    signal.signal(signal.SIGALRM, _on_alarm)
    if args.write_corpus:
        print(f"{write_corpus(Path(args.write_corpus))} seed inputs written to {args.write_corpus}")
        return 0
    try:
        import atheris  # noqa: F401

        have_atheris = True
    except ImportError:
        have_atheris = False
    if args.minutes is not None or args.hypothesis or not have_atheris:
        targets = (args.target,) if args.target else TARGETS
        return run_hypothesis(args.minutes if args.minutes is not None else 1.0, targets, args.timeout)
    return run_atheris([argv[0], *rest], args.target, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
