"""The on-disk cache (modelscan.store): a repeat run reads no header; a bad file is no cache."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

import modelscan
from modelscan import cli, runs, store
from modelscan import read as read_module
from modelscan._walk import FileEntry
from modelscan.candidates import Origin
from modelscan.errors import InvalidField
from modelscan.facts import ArchNumbers, ModelFacts, TensorTypeStat

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "models")
    return tmp_path / "models"


def _every_field_set() -> ModelFacts:
    """A ModelFacts whose every field differs from its default (a new field must be stored too)."""
    facts = ModelFacts(
        format="mlx",
        path="/m/p/r",
        folder="/m/p/r",
        publisher="p",
        repo="r",
        type="embedding",
        architecture="bert",
        name_source="R",
        key_base="r",
        quant_name="4bit",
        quant_bits=4,
        size_bytes=123,
        params_string="22M",
        max_context_length=512,
        vision=True,
        trained_for_tool_use=True,
        n_params=22_713_728,
        n_params_active=1,
        bits_per_weight=4.5,
        tensor_types={"F32": TensorTypeStat(3, 12, None)},
        header_bytes=9,
        files=("/m/p/r/model.safetensors",),
        projector="/m/p/r/mmproj.gguf",
        projector_bytes=512,
        arch=ArchNumbers(
            architecture="gemma3",
            block_count=2,
            head_count=4,
            head_count_kv=(1, 2),
            rope_freq_base=10000.0,
            causal=True,
            sliding_window_layers=(True, False),
            kv_layout_known=True,
        ),
        has_chat_template=True,
        warnings=(InvalidField("/m/p/r/config.json", "expected int, got bool", field="x", code="wrong_type"),),
        metadata={"general.name": "R", "llama.context_length": 512, "tokens": []},
        source="hf-cache",
        source_name="r:latest",
        display_name="R",
        key="r",
        mtime_ns=1_700_000_000_123_456_789,
        digest="a" * 64,
    )
    unset = [name for name, default in ModelFacts._field_defaults.items() if getattr(facts, name) == default]
    assert unset == [], f"give these fields a value other than their default here: {unset}"
    return facts


def test_every_field_of_the_facts_round_trips() -> None:
    facts = _every_field_set()
    stored = json.loads(json.dumps(store._encode_facts(facts)))
    again = store._decode_facts(stored)
    assert again._replace(warnings=()) == facts._replace(warnings=())  # errors compare by identity
    assert [w.to_dict() for w in again.warnings] == [w.to_dict() for w in facts.warnings]
    assert type(again.warnings[0]) is InvalidField


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("block_count", True),
        ("block_count", "2"),
        ("head_count_kv", [1, True]),
        ("sliding_window_layers", [1, 0]),
        ("sliding_window_layers", 3),
        ("expert_count", [1]),
        ("causal", 1),
        ("rope_freq_base", "1e4"),
    ],
)
def test_bad_architecture_numbers_are_no_cache(field: str, value: object) -> None:
    stored = json.loads(json.dumps(store._encode_facts(_every_field_set())))
    stored[ModelFacts._fields.index("arch")][field] = value
    with pytest.raises(store._Bad):
        store._decode_facts(stored)


def _count_header_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    for name in ("read_gguf_entry", "read_safetensors_entry", "read_small_entry"):
        real = getattr(read_module, name)

        def counting(entry: Any, *args: Any, real: Any = real, **kwargs: Any) -> Any:
            reads.append(entry.path)
            return real(entry, *args, **kwargs)

        monkeypatch.setattr(read_module, name, counting)
    monkeypatch.setattr("modelscan.mlx.read_safetensors_entry", read_module.read_safetensors_entry)
    monkeypatch.setattr("modelscan.mlx.read_small_entry", read_module.read_small_entry)
    return reads


def test_a_repeat_run_reads_no_header(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _count_header_reads(monkeypatch)
    assert cli.main([str(root)]) == 0
    first = capsys.readouterr()
    assert len(reads) > 10
    reads.clear()
    # Without the kept output (tests/test_runs.py), the header cache alone spares every read.
    assert runs.clear(store.default_cache_dir()) == 1
    assert cli.main([str(root)]) == 0
    second = capsys.readouterr()
    assert reads == []
    assert second == first  # the same bytes on stdout, the same problems on stderr
    assert cli.main(["--no-cache", str(root)]) == 0
    assert capsys.readouterr() == first
    assert len(reads) > 10


def test_a_changed_model_is_read_again(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.main([str(root)]) == 0
    capsys.readouterr()
    gemma = next(root.rglob("gemma-3-270m-it-QAT-Q4_0.gguf"))
    with open(gemma, "ab") as f:
        f.write(b"\0" * 32)
    reads = _count_header_reads(monkeypatch)
    assert cli.main([str(root)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert reads == [str(gemma)]
    (entry,) = [e for e in out["models"] if e["key"] == "gemma-3-270m-it-qat"]
    assert entry["size_bytes"] == gemma.stat().st_size


def _cache_file() -> Path:
    return Path(store.default_cache_file())


@pytest.mark.parametrize(
    "damage",
    ["truncate", "garbage", "not-json-object", "other-version", "foreign-fields", "bool-for-int", "bad-code", "huge"],
)
def test_a_bad_cache_file_counts_as_no_cache(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    assert cli.main([str(root)]) == 0
    expected = capsys.readouterr()
    assert runs.clear(store.default_cache_dir()) == 1  # the kept output would be printed instead
    path = _cache_file()
    data = path.read_bytes()
    doc = json.loads(data)
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff" * 1000)
    elif damage == "not-json-object":
        path.write_text("[1, 2, 3]")
    elif damage == "other-version":
        doc["version"] = 999
        path.write_text(json.dumps(doc))
    elif damage == "foreign-fields":
        doc["fields"] = doc["fields"][::-1]
        path.write_text(json.dumps(doc))
    elif damage == "bool-for-int":  # one stored value of the wrong type: that entry is read again
        for entry in doc["entries"]:
            models = entry[4][0]
            if models:
                models[0][doc["fields"].index("size_bytes")] = True
        path.write_text(json.dumps(doc))
    elif damage == "bad-code":
        for entry in doc["entries"]:
            for problem in entry[4][1]:
                problem[7] = "no-such-code"
        path.write_text(json.dumps(doc))
    else:
        monkeypatch.setattr(store, "MAX_BYTES", len(data) - 1)
    reads = _count_header_reads(monkeypatch)
    assert cli.main([str(root)]) == 0
    assert capsys.readouterr() == expected
    assert reads  # the files were read again
    assert json.loads(_cache_file().read_bytes())["version"] == 1  # and a good file written back


def test_clear_cache(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([str(root)]) == 0
    assert _cache_file().exists()
    assert list(_cache_file().parent.glob("run-*.out"))
    assert cli.main(["--clear-cache"]) == 0
    assert not _cache_file().exists()
    assert not list(_cache_file().parent.glob("run-*.out"))
    assert "cleared the cache" in capsys.readouterr().err


def test_concurrent_writers_leave_one_whole_file(root: Path) -> None:
    caches = []
    for _ in range(4):
        cache = modelscan.ScanCache()
        modelscan.scan_models(root, cache=cache)
        caches.append(cache)
    path = _cache_file()
    threads = [threading.Thread(target=store.save, args=(c, path)) for c in caches for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    loaded = modelscan.ScanCache()
    assert store.load(loaded, path) == len(caches[0])
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert modelscan.scan_models(root, cache=loaded).to_response() == modelscan.scan_models(root).to_response()
    assert loaded.misses == 0


def test_a_loaded_entry_is_used_only_for_the_same_files(root: Path) -> None:
    cache = modelscan.ScanCache()
    modelscan.scan_models(root, cache=cache)
    store.save(cache, _cache_file())
    gemma = next(root.rglob("gemma-3-270m-it-QAT-Q4_0.gguf"))
    gemma.rename(gemma.with_name("renamed-Q4_0.gguf"))  # same inode, other path
    loaded = modelscan.ScanCache()
    store.load(loaded, _cache_file())
    report = modelscan.scan_models(root, cache=loaded)
    assert report.to_response() == modelscan.scan_models(root).to_response()
    assert loaded.misses == 1


def test_a_signature_is_stored_whole() -> None:
    entry = FileEntry("x.gguf", "/o/x.gguf", "/b/sha256-1", 10, 1, 2, 3)
    other = entry._replace(name="y.gguf", path="/o/y.gguf")
    origin = Origin("ollama", "/o", "library", "llama3.2", "llama3.2:latest")
    for signature in ((origin, ((entry, other), (other,)), (entry,)), (origin, (entry, other))):
        assert store._decode_signature(json.loads(json.dumps(store._encode_signature(signature)))) == signature
