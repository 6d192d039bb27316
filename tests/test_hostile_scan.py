"""Whole scans over the hostile catalogue, and properties over random and mutated files.

- The catalogue module holds every entry of HOSTILE.md 7.1 to 7.5 (checked here), and each
  entry's expectation holds for the public readers.
- One folder holding every catalogue file that can live in a folder (``<root>/hostile/<id>/``)
  plus valid models, scanned by ``python -m modelscan``: valid models listed, each bad file one
  line on stderr, stdout JSON, exit 0 (1 with ``--strict``).
- Hypothesis (HOSTILE.md 5.5): totality over random bytes and mutated valid files, extreme
  values at every integer field, batch isolation and determinism.
- Regression inputs found by fuzz/fuzz_readers.py, bytes inline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import itertools
import json
import os
import re
import subprocess
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import IS_ROOT, ROOT, child_env, run_python
from hostile_catalogue import (
    BY_ID,
    CATALOGUE_IDS,
    ENTRIES,
    GOOD_KV,
    VALID_CONFIG,
    VALID_GGUF,
    VALID_ST,
    W4,
    Entry,
    remove_tree,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelscan
from fixtures.make_fixtures import MODELS, Q4_0, llm_tensors, write_gguf
from modelscan import SERVER_LIMITS
from modelscan._json import parse_json
from modelscan.errors import ModelScanError, display_path
from modelscan.gguf import parse_gguf_header
from modelscan.limits import BATCH_LIMITS
from modelscan.safetensors import parse_safetensors_header, read_safetensors_header

pytestmark = pytest.mark.usefixtures("remove_deep_trees")

PROPERTY = settings(
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- the catalogue itself ---------------------------------------------------------------------


HOSTILE_MD = ROOT.parent / "shared" / "HOSTILE.md"


def test_every_catalogue_entry_is_there() -> None:
    refs = {e.ref for e in ENTRIES}
    assert set(CATALOGUE_IDS) <= refs, sorted(set(CATALOGUE_IDS) - refs)
    # Beyond sections 7.1-7.5: G-19 and G-21, which R4 and section 6 name, and the regressions
    # of later issues, whose notes say which ("issue 9, finding 1: ...").
    later = {e.ref for e in ENTRIES if e.note.startswith("issue ")}
    assert refs - set(CATALOGUE_IDS) - later == {"G-19", "G-21"}
    for e in ENTRIES:
        assert e.outcome in ("fatal", "warn", "accept"), e.id
        if e.outcome == "fatal":
            assert e.cls is not None, e.id
            assert e.code or e.kind == "folder", e.id


@pytest.mark.skipif(not HOSTILE_MD.exists(), reason="shared/HOSTILE.md is not beside the checkout")
def test_catalogue_ids_are_those_of_hostile_md() -> None:
    text = HOSTILE_MD.read_text(encoding="utf-8")
    section7 = text[text.index("## 7. Hostile-input catalogue") : text.index("## Appendix")]
    listed = re.findall(r"^- \*\*([GSCFP]-\d+[a-z]?) ", section7, flags=re.MULTILINE)
    assert listed == CATALOGUE_IDS


def _read(entry: Entry, path: Path) -> object:
    limits = SERVER_LIMITS if entry.limits == "server" else BATCH_LIMITS
    if path.name.endswith(".gguf"):
        return modelscan.read_gguf_header(path, limits=limits)
    if path.name.endswith(".safetensors"):
        return read_safetensors_header(path, limits=limits)
    return parse_json(path.read_bytes(), source=str(path), what=path.name, limits=limits.replace(json_depth=64))


READER_ENTRIES = [e for e in ENTRIES if e.kind in ("gguf", "safetensors") and not e.big]


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.id) for e in READER_ENTRIES])
def test_public_reader_on_the_entry(entry: Entry, tmp_path: Path) -> None:
    path = entry.write(tmp_path / "m")
    if entry.outcome == "fatal":
        assert entry.cls is not None
        with pytest.raises(ModelScanError) as info:
            _read(entry, path)
        err = info.value
        assert type(err) is entry.cls
        assert (err.code, err.path) == (entry.code, str(path))
        if entry.field is not None:
            assert err.field == entry.field
        if entry.limit is not None:
            assert err.limit == entry.limit
        assert "\n" not in str(err)
    else:
        result = _read(entry, path)
        warnings = getattr(result, "warnings", ())
        if entry.outcome == "warn":
            assert entry.code in [w.code for w in warnings]
            (w,) = [w for w in warnings if w.code == entry.code]
            assert entry.cls is not None
            assert isinstance(w, entry.cls) and w.field == entry.field
        else:
            assert list(warnings) == []


# --- one folder holding the whole catalogue, scanned by the command line ----------------------


def _folder_entries() -> list[Entry]:
    out = []
    for e in ENTRIES:
        if e.dynamic or e.big:
            continue  # big ones are read one by one in test_hostile_subprocess.py
        if e.posix_root and not IS_ROOT:
            continue
        out.append(e)
    return out


VALID_MODELS = {
    # folder under the root -> number of models it lists
    "valid/llama-GGUF": 1,
    "valid/two-quants-GGUF": 2,
    "valid/mlx-model": 1,
}


def _write_valid(root: Path) -> None:
    write_gguf(root / "valid" / "llama-GGUF" / "llama-Q4_0.gguf", "llama", GOOD_KV, llm_tensors(Q4_0))
    for quant in ("Q4_0", "Q8_0"):
        write_gguf(root / "valid" / "two-quants-GGUF" / f"m-{quant}.gguf", "llama", GOOD_KV, llm_tensors(Q4_0))
    (root / "valid" / "mlx-model").mkdir(parents=True)
    (root / "valid" / "mlx-model" / "model.safetensors").write_bytes(VALID_ST)
    (root / "valid" / "mlx-model" / "config.json").write_bytes(VALID_CONFIG)


def _cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return run_python("-m", "modelscan", *args)


@pytest.fixture(scope="module")
def catalogue_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("catalogue") / "root"
    for e in _folder_entries():
        e.write(root / "hostile" / e.id)
    _write_valid(root)
    yield root
    remove_tree(root)


def _within(path: str, folder: Path) -> bool:
    return path == str(folder) or path.startswith(str(folder) + os.sep)


def test_whole_catalogue_folder_by_the_command_line(catalogue_root: Path) -> None:
    root = catalogue_root
    facts = _cli(str(root), "--facts")
    assert facts.returncode == 0, facts.stderr[-2000:]
    out = json.loads(facts.stdout)
    models: list[dict[str, Any]] = out["models"]
    problems: list[dict[str, Any]] = out["problems"]

    # Every valid model is listed.
    for name, count in VALID_MODELS.items():
        assert sum(_within(m["path"], root / name) for m in models) == count, name
    # Every entry gives exactly the problems, models and warnings its catalogue entry says.
    claimed: set[int] = set()
    for e in _folder_entries():
        folder = root / "hostile" / e.id
        indexes = [i for i, p in enumerate(problems) if _within(p["path"], folder)]
        claimed.update(indexes)
        mine = sorted((os.path.relpath(problems[i]["path"], folder), problems[i]["code"]) for i in indexes)
        listed = [m for m in models if _within(m["path"], folder)]
        warnings = {w["code"] for m in listed for w in m["warnings"]}
        assert e.scan.matches(mine, len(listed), warnings), (e.id, mine, len(listed), warnings)
    assert len(claimed) == len(problems)  # no problem outside the entries' folders
    assert len(models) == sum(VALID_MODELS.values()) + sum(e.scan.models for e in _folder_entries())

    # The plain run: endpoint JSON on stdout, exit 0, one escaped line per problem on stderr.
    plain = _cli(str(root))
    assert plain.returncode == 0
    response = json.loads(plain.stdout)
    assert len(response["models"]) == len(models)
    lines = plain.stderr.decode("utf-8").splitlines()
    assert len(lines) == len(problems)
    for line, problem in zip(lines, problems, strict=True):
        assert line.startswith(display_path(problem["path"]) + ": "), (line, problem)
        assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in line)
    # --strict: the same output, exit 1.
    strict = _cli(str(root), "--strict")
    assert strict.returncode == 1
    assert strict.stdout == plain.stdout


def test_a_clean_folder_exits_0_with_strict(tmp_path: Path) -> None:
    _write_valid(tmp_path / "root")
    proc = _cli(str(tmp_path / "root"), "--strict")
    assert proc.returncode == 0 and proc.stderr == b""
    assert len(json.loads(proc.stdout)["models"]) == sum(VALID_MODELS.values())


# --- properties ---------------------------------------------------------------------------------

EXTREMES = (0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1)


def _rich_gguf(path: Path) -> bytes:
    kv = {
        **GOOD_KV,
        "general.name": "Rich",
        "tokenizer.ggml.tokens": ["<s>", "</s>", "hello", "world"],
        "tokenizer.ggml.scores": [0.0, 0.0, -1.0, -2.0],
        "tokenizer.ggml.token_type": [3, 3, 1, 1],
        "tokenizer.chat_template": "{{ messages }}",
        "general.alignment": 32,
        "llama.rope.freq_base": 10000.0,
    }
    write_gguf(path, "llama", kv, llm_tensors(Q4_0))
    return path.read_bytes()


def _rich_safetensors() -> bytes:
    header = {
        "__metadata__": {"format": "mlx"},
        "a.weight": {"dtype": "F16", "shape": [2, 4], "data_offsets": [0, 16]},
        "b.scales": {"dtype": "BF16", "shape": [4], "data_offsets": [16, 24]},
        "c.q": {"dtype": "U32", "shape": [2, 1], "data_offsets": [24, 32]},
        "z": {"dtype": "F32", "shape": [0], "data_offsets": [32, 32]},
    }
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + b"\0" * 32


def _fixture_gguf(name: str) -> bytes:
    return next(MODELS.rglob(name)).read_bytes()


GGUF_SEED_NAMES = ["VALID_GGUF", "rich", "gemma-QAT-Q4_0", "qwen3-moe-shard-1"]


@functools.cache
def gguf_seeds() -> list[bytes]:
    """Valid GGUF files to mutate, in the order of GGUF_SEED_NAMES. Built on first use, inside a
    test: the rich one is written under the session's own tempfile folder (conftest.py)."""
    with tempfile.TemporaryDirectory() as d:
        rich = _rich_gguf(Path(d) / "rich.gguf")
    return [
        VALID_GGUF,
        rich,
        _fixture_gguf("gemma-3-270m-it-QAT-Q4_0.gguf"),
        _fixture_gguf("Qwen3-30B-A3B-UD-Q4_K_XL-00001-of-00002.gguf"),
    ]


def st_seeds() -> list[bytes]:
    return [VALID_ST, _rich_safetensors()]


def json_seeds() -> list[bytes]:
    return [VALID_CONFIG, b'{"a": [1, {"b": null}]}']


def gguf_int_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of every integer field of a *valid* little-endian GGUF header: counts,
    lengths, types, the first elements of each array, dims and offsets."""

    def u32(at: int) -> int:
        return int.from_bytes(data[at : at + 4], "little")

    def u64(at: int) -> int:
        return int.from_bytes(data[at : at + 8], "little")

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    fields = [(4, 4), (8, 8), (16, 8)]
    n_tensors, n_kv = u64(8), u64(16)
    at = 24

    def value(t: int, at: int, keep: bool) -> int:
        if t in sizes:
            if keep and sizes[t] in (4, 8):
                fields.append((at, sizes[t]))
            return at + sizes[t]
        if t == 8:
            if keep:
                fields.append((at, 8))
            return at + 8 + u64(at)
        assert t == 9
        et, count = u32(at), u64(at + 4)
        if keep:
            fields.extend([(at, 4), (at + 4, 8)])
        at += 12
        for j in range(count):
            at = value(et, at, keep and j < 2)
        return at

    for _ in range(n_kv):
        fields.append((at, 8))
        at += 8 + u64(at)
        fields.append((at, 4))
        t = u32(at)
        at = value(t, at + 4, True)
    for _ in range(n_tensors):
        fields.append((at, 8))
        at += 8 + u64(at)
        n_dims = u32(at)
        fields.append((at, 4))
        at += 4
        for _ in range(n_dims):
            fields.append((at, 8))
            at += 8
        fields += [(at, 4), (at + 4, 8)]
        at += 12
    return fields


def _extreme_values(remaining: int, width: int) -> list[int]:
    return [v for v in (*EXTREMES, remaining, remaining + 1) if v < 1 << (8 * width)]


def _outcome(read: Any, data: bytes, path: Path, limits: Any = BATCH_LIMITS) -> tuple[object, ...]:
    """Write *data* to *path* and read it: ("ok",) or the error's identity. Anything other than
    a ModelScanError propagates and fails the test."""
    path.write_bytes(data)
    try:
        read(path, limits=limits)
    except ModelScanError as err:
        assert err.path == str(path)
        assert "\n" not in str(err)
        return type(err).__name__, err.code, err.field, err.offset
    return ("ok",)


@pytest.mark.parametrize("seed", range(len(GGUF_SEED_NAMES)), ids=GGUF_SEED_NAMES)
def test_gguf_extreme_substitution_at_every_integer_field(seed: int, tmp_path: Path) -> None:
    data = gguf_seeds()[seed]
    path = tmp_path / "x.gguf"
    assert _outcome(modelscan.read_gguf_header, data, path) == ("ok",)
    header_bytes = modelscan.read_gguf_header(path).data_offset
    fields = gguf_int_fields(data)
    assert len(fields) >= 11  # VALID_GGUF has 11; the others many more
    tracemalloc.start()
    try:
        for offset, width in fields:
            for v in _extreme_values(len(data) - offset - width, width):
                mutated = data[:offset] + v.to_bytes(width, "little") + data[offset + width :]
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                _outcome(modelscan.read_gguf_header, mutated, path)
                peak = tracemalloc.get_traced_memory()[1] - base
                assert peak < (1 << 20) + 2 * header_bytes + len(data), (offset, width, v, peak)
    finally:
        tracemalloc.stop()


_INT_IN_JSON = re.compile(rb"(?<=[\[,:])\d+(?=[,\]])")


@pytest.mark.parametrize("seed", [0, 1])
def test_safetensors_extreme_substitution(seed: int, tmp_path: Path) -> None:
    data = st_seeds()[seed]
    path = tmp_path / "x.safetensors"
    assert _outcome(read_safetensors_header, data, path) == ("ok",)
    n = int.from_bytes(data[:8], "little")
    header, rest = data[8 : 8 + n], data[8 + n :]
    cases = [v.to_bytes(8, "little") + data[8:] for v in _extreme_values(len(data) - 8, 8)]
    for m in _INT_IN_JSON.finditer(header):
        for v in (*EXTREMES, len(rest), len(rest) + 1, 2**64, 10**30, -1):
            h = header[: m.start()] + str(v).encode() + header[m.end() :]
            cases.append(len(h).to_bytes(8, "little") + h + rest)
    assert len(cases) >= 40
    tracemalloc.start()
    try:
        for mutated in cases:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            _outcome(read_safetensors_header, mutated, path)
            assert tracemalloc.get_traced_memory()[1] - base < (1 << 20) + 20 * len(data)
    finally:
        tracemalloc.stop()


@st.composite
def mutated(draw: st.DrawFn, get_seeds: Callable[[], list[bytes]]) -> bytes:
    """A seed (of ``get_seeds()``) with one to four flips, cuts, splices or extreme values at
    random offsets."""
    seeds = get_seeds()
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        op = draw(st.sampled_from(["flip", "cut", "splice", "extreme", "delete", "insert"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[at:]
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, len(other) - 1))
            length = draw(st.integers(1, 64))
            data[at : at + length] = other[start : start + length]
        elif op == "extreme":
            width = draw(st.sampled_from([4, 8]))
            value = draw(st.sampled_from([*EXTREMES, len(data) - at, len(data) - at + 1]))
            data[at : at + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scratch")


@PROPERTY
@given(data=st.binary(max_size=4096))
def test_random_bytes_only_raise_modelscan_errors(data: bytes, scratch: Path) -> None:
    _outcome(modelscan.read_gguf_header, data, scratch / "r.gguf")
    _outcome(read_safetensors_header, data, scratch / "r.safetensors")
    _outcome(modelscan.read_gguf_header, b"GGUF" + data, scratch / "r.gguf")
    _outcome(modelscan.read_gguf_header, b"GGUF\x03\0\0\0" + data, scratch / "r.gguf")
    _outcome(read_safetensors_header, len(data).to_bytes(8, "little") + data, scratch / "r.safetensors")


@PROPERTY
@given(data=mutated(gguf_seeds))
def test_mutated_gguf_only_raises_modelscan_errors(data: bytes, scratch: Path) -> None:
    first = _outcome(modelscan.read_gguf_header, data, scratch / "m.gguf")
    # Determinism: the same bytes, under another name and from a stream, fail the same way.
    again = _outcome(modelscan.read_gguf_header, data, scratch / "other-name.gguf")
    assert again == first
    try:
        parse_gguf_header(io.BytesIO(data), source="stream")
        streamed: tuple[object, ...] = ("ok",)
    except ModelScanError as err:
        streamed = (type(err).__name__, err.code, err.field, err.offset)
    if first[0] != "ChangedDuringScan":
        assert streamed == first


@PROPERTY
@given(data=mutated(st_seeds))
def test_mutated_safetensors_only_raises_modelscan_errors(data: bytes, scratch: Path) -> None:
    first = _outcome(read_safetensors_header, data, scratch / "m.safetensors")
    assert _outcome(read_safetensors_header, data, scratch / "n.safetensors") == first
    try:
        parse_safetensors_header(io.BytesIO(data), source="s", file_size=len(data))
        streamed: tuple[object, ...] = ("ok",)
    except ModelScanError as err:
        streamed = (type(err).__name__, err.code, err.field, err.offset)
    assert streamed == first


@PROPERTY
@given(data=st.one_of(st.binary(max_size=2048), mutated(json_seeds)))
def test_json_parser_only_raises_modelscan_errors(data: bytes) -> None:
    for limits in (BATCH_LIMITS, BATCH_LIMITS.replace(json_depth=2)):
        try:
            parse_json(data, source="config.json", what="config.json", limits=limits)
        except ModelScanError as err:
            assert "\n" not in str(err)


# Fatal catalogue entries that make exactly one problem and no model in their folder.
ONE_PROBLEM = [
    e
    for e in ENTRIES
    if e.kind in ("gguf", "safetensors", "json")
    and not e.big
    and e.outcome == "fatal"
    and len(e.scan.problems) == 1
    and e.scan.models == 0
]


_BATCHES = itertools.count()


@settings(PROPERTY, max_examples=40)
@given(
    good=st.integers(0, 4),
    bad=st.lists(st.one_of(st.sampled_from([e.id for e in ONE_PROBLEM]), st.binary(max_size=64)), max_size=6),
    depths=st.lists(st.integers(0, 3), min_size=10, max_size=10),
)
def test_batch_isolation(good: int, bad: list[str | bytes], depths: list[int], scratch: Path) -> None:
    # N good and M hostile model folders anywhere in one tree: N models and M problems.
    root = scratch / f"batch-{next(_BATCHES)}"
    try:
        folders = [
            root.joinpath(*[f"lvl{k}" for k in range(depths[i % 10])], f"pub{i}", f"model{i}")
            for i in range(good + len(bad))
        ]
        for i in range(good):
            write_gguf(folders[i] / f"m{i}.gguf", "llama", GOOD_KV, llm_tensors(Q4_0))
        expected = set()
        for j, item in enumerate(bad):
            folder = folders[good + j]
            if isinstance(item, bytes):
                folder.mkdir(parents=True)
                (folder / "random.gguf").write_bytes(b"X" + item if item.startswith(b"GGUF") else item)
                expected.add(str(folder / "random.gguf"))
            else:
                entry = BY_ID[item]
                entry.write(folder)
                rel = entry.scan.problems[0][0]
                expected.add(str(folder) if rel == "." else str(folder / rel))
        report = modelscan.scan_models(root) if folders else modelscan.ScanReport([], [])
        assert len(report.models) == good
        assert {p.path for p in report.problems} == expected
        assert len(report.problems) == len(bad)
        assert all(isinstance(p, ModelScanError) for p in report.problems)
    finally:
        if root.exists():
            remove_tree(root)


def test_determinism_across_runs_of_the_catalogue(tmp_path: Path) -> None:
    # The same catalogue bytes give the same (code, field, offset) every time, also from
    # another process start (no hash-order dependence): compared with a child's answers.
    entries = [e for e in READER_ENTRIES if e.outcome == "fatal"]
    paths = {e.id: e.write(tmp_path / e.id) for e in entries}

    def answers() -> dict[str, list[object]]:
        out: dict[str, list[object]] = {}
        for e in entries:
            try:
                _read(e, paths[e.id])
            except ModelScanError as err:
                out[e.id] = [err.code, err.field, err.offset]
        return out

    here = answers()
    code = (
        "import json, sys; sys.path[:0] = ['tests']; from pathlib import Path\n"
        "from test_hostile_scan import answers_for\nprint(json.dumps(answers_for(sys.argv[1])))"
    )
    proc = run_python("-c", code, str(tmp_path), text=True, env=child_env(PYTHONHASHSEED="12345"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == here


def answers_for(base: str) -> dict[str, list[object]]:
    """For the child of test_determinism_across_runs_of_the_catalogue."""
    out: dict[str, list[object]] = {}
    for e in READER_ENTRIES:
        if e.outcome != "fatal":
            continue
        try:
            _read(e, Path(base) / e.id / (e.target or ""))
        except ModelScanError as err:
            out[e.id] = [err.code, err.field, err.offset]
    return out


# --- regressions found by fuzz/fuzz_readers.py ----------------------------------------------------

# (id, reader, input bytes): each once made a reader raise something other than a ModelScanError.
# Empty so far: fuzz runs of atheris (1.04 million inputs, 17 min) and hypothesis (136,000, 15 min)
# found no such input. Add each future find here, with its bytes inline.
FUZZ_REGRESSIONS: list[tuple[str, str, bytes]] = []


def test_fuzz_regressions(tmp_path: Path) -> None:
    for case_id, reader, data in FUZZ_REGRESSIONS:
        if reader == "json":
            with contextlib.suppress(ModelScanError):
                parse_json(data, source="x.json", what="x.json", limits=BATCH_LIMITS)
            continue
        read = modelscan.read_gguf_header if reader == "gguf" else read_safetensors_header
        _outcome(read, data, tmp_path / f"{case_id}.{reader}")


def test_entry_dataclass_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        BY_ID["G-01-empty"].code = "x"  # type: ignore[misc]  # the assignment a frozen dataclass refuses
    assert W4["shape"] == [4]
