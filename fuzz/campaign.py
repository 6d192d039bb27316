"""The adversarial campaign of issue 9, kept as a script: three attacks, each for a set time.

- ``differential``: random *valid* GGUF files written by the ``gguf`` package, read by
  modelscan and by ``gguf.GGUFReader``; every key/value and tensor info must agree.
- ``mutate``: valid GGUF, safetensors and ``config.json`` files with bytes flipped, cut,
  repeated or replaced, scanned as model folders; anything but a report (a crash, a non-
  ``ModelScanError`` exception, a good model lost beside the bad file) is a finding.
- ``race``: scanning threads (with and without a shared ``ScanCache``) against a writer that
  rewrites files in place; a listing whose name and size come from different versions of a file,
  or any exception, is a finding, and the last cached scan must equal a fresh one.

::

    python fuzz/campaign.py race --seconds 20
    python fuzz/campaign.py differential mutate race --seconds 60 --seed 1

Findings are printed and saved under ``fuzz/crashes/``; the exit status is 1 if there was any.
Needs the test dependencies (``pip install '.[test]'``).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

# The test helpers and reference readers come from the test extra, importable once the paths above
# are set.
import numpy as np  # noqa: E402
from gguf import GGUFReader, GGUFValueType, GGUFWriter  # noqa: E402
from hostile_catalogue import GOOD_KV, VALID_CONFIG, VALID_ST  # noqa: E402

import modelscan  # noqa: E402
from fixtures.make_fixtures import Q4_0, llm_tensors, write_gguf  # noqa: E402
from modelscan.gguf import GGUFArray, read_gguf_header  # noqa: E402

CRASHES = HERE / "crashes"


class Campaign:
    def __init__(self, seconds: float, seed: int, work: Path) -> None:
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.work = work
        self.findings: list[str] = []
        self.counts: dict[str, int] = {}

    def finding(self, attack: str, detail: str, data: bytes | None = None) -> None:
        CRASHES.mkdir(exist_ok=True)
        n = len(self.findings)
        (CRASHES / f"campaign-{attack}-{n}.txt").write_text(detail)
        if data is not None:
            (CRASHES / f"campaign-{attack}-{n}.bin").write_bytes(data)
        self.findings.append(f"{attack}: {detail.splitlines()[0] if detail else ''}")
        print(f"FINDING {attack}: {detail[:300]}", file=sys.stderr)

    def until(self, attack: str, step: Callable[[], None]) -> None:
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            step()
            self.counts[attack] = self.counts.get(attack, 0) + 1

    # -- differential ---------------------------------------------------------------------------

    def differential(self) -> None:
        path = self.work / "diff.gguf"
        rng = self.rng

        def one() -> None:
            w = GGUFWriter(str(path), rng.choice(["llama", "qwen2", "gemma3"]))
            for i in range(rng.randrange(0, 12)):
                kind = rng.choice(["u32", "i64", "f32", "str", "bool", "arr"])
                key = f"k{i}.{rng.randrange(1000)}"
                if kind == "u32":
                    w.add_uint32(key, rng.randrange(2**32))
                elif kind == "i64":
                    w.add_int64(key, rng.randrange(-(2**63), 2**63))
                elif kind == "f32":
                    w.add_float32(key, rng.random())
                elif kind == "str":
                    w.add_string(key, "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(40))))
                elif kind == "bool":
                    w.add_bool(key, rng.random() < 0.5)
                else:
                    w.add_array(key, [rng.randrange(100) for _ in range(rng.randrange(1, 20))])
            for t in range(rng.randrange(0, 6)):
                shape = tuple(rng.randrange(1, 9) for _ in range(rng.randrange(1, 4)))
                w.add_tensor(f"t{t}", np.zeros(shape, dtype=rng.choice([np.float32, np.float16])))
            w.write_header_to_file()
            w.write_kv_data_to_file()
            w.write_tensors_to_file()
            w.close()
            data = path.read_bytes()
            try:
                ours = read_gguf_header(path, decode_arrays=_EVERY_KEY)
                theirs = GGUFReader(str(path))
            except Exception:
                self.finding("differential", traceback.format_exc(), data)
                return
            for field in theirs.fields.values():
                if field.name.startswith("GGUF."):
                    continue
                value = ours.kv.get(field.name)
                expected = field.contents()
                if field.types[0] == GGUFValueType.ARRAY:
                    same = isinstance(value, GGUFArray) and list(value.values or ()) == list(expected)
                elif field.types[0] == GGUFValueType.FLOAT32:
                    same = isinstance(value, float) and np.float32(value) == np.float32(expected)
                else:
                    same = value == expected
                if not same:
                    self.finding("differential", f"{field.name}: ours {value!r}, GGUFReader {expected!r}", data)
            mine = [(t.name, list(t.shape), t.n_bytes) for t in ours.tensors]
            theirs_t = [(t.name, [int(d) for d in t.shape], int(t.n_bytes)) for t in theirs.tensors]
            if mine != theirs_t:
                self.finding("differential", f"tensor infos differ: {mine} != {theirs_t}", data)

        self.until("differential", one)

    # -- mutate ---------------------------------------------------------------------------------

    def mutate(self) -> None:
        seeds = _seed_files(self.work / "seeds")
        rng = self.rng
        root = self.work / "mutants"

        def one() -> None:
            shutil.rmtree(root, ignore_errors=True)
            good = root / "pub" / "Good-GGUF"
            good.mkdir(parents=True)
            shutil.copy(seeds["gguf"], good / "good-Q4_0.gguf")
            bad = root / "pub" / "Bad-GGUF"
            bad.mkdir()
            kind = rng.choice(["gguf", "safetensors", "config"])
            data = bytearray(
                seeds[kind].read_bytes() if kind == "gguf" else (VALID_ST if kind == "safetensors" else VALID_CONFIG)
            )
            for _ in range(rng.randrange(1, 8)):
                if not data:
                    break
                op = rng.randrange(4)
                at = rng.randrange(max(1, len(data)))
                if op == 0:
                    data[at] = rng.randrange(256)
                elif op == 1:
                    del data[at:]
                elif op == 2:
                    data[at:at] = data[at : at + rng.randrange(1, 64)] * rng.randrange(1, 4)
                else:
                    data[at : at + 8] = rng.randrange(2**64).to_bytes(8, "little")
            if kind == "gguf":
                (bad / "bad-Q8_0.gguf").write_bytes(data)
            else:
                (bad / "config.json").write_bytes(data if kind == "config" else VALID_CONFIG)
                (bad / "model.safetensors").write_bytes(data if kind == "safetensors" else VALID_ST)
            try:
                report = modelscan.scan_models(root)
            except Exception:
                self.finding("mutate", traceback.format_exc(), bytes(data))
                return
            if not any(m.folder.endswith("Good-GGUF") for m in report.models):
                self.finding("mutate", "the good model beside a bad file was lost", bytes(data))
            for p in report.problems:
                if "\n" in str(p):
                    self.finding("mutate", f"a multi-line problem: {p!r}", bytes(data))

        self.until("mutate", one)

    # -- race -----------------------------------------------------------------------------------

    def race(self, threads: int = 8) -> None:
        versions = _versions(self.work / "versions", 8)
        sizes = {name: len(data) for name, data in versions.items()}
        root = self.work / "race"
        folder = root / "pub" / "Raced-GGUF"
        folder.mkdir(parents=True)
        paths = [folder / f"model-{i}-Q4_0.gguf" for i in range(4)]
        for p in paths:
            p.write_bytes(versions["v0"])
        stop = threading.Event()
        cache = modelscan.ScanCache()
        datas = list(versions.values())

        def writer() -> None:
            rng = random.Random(self.rng.random())
            while not stop.is_set():
                with open(rng.choice(paths), "r+b") as f:
                    f.truncate(0)
                    f.write(rng.choice(datas))

        def scanner(shared: bool) -> None:
            while not stop.is_set():
                try:
                    report = modelscan.scan_models(root, cache=cache if shared else None)
                except Exception:
                    self.finding("race", traceback.format_exc())
                    continue
                self.counts["race"] = self.counts.get("race", 0) + 1
                for m in report.models:
                    if sizes.get(m.name_source) != m.size_bytes:
                        self.finding("race", f"mixed listing: name {m.name_source!r}, size {m.size_bytes}")

        workers = [threading.Thread(target=writer)] + [
            threading.Thread(target=scanner, args=(i % 2 == 0,)) for i in range(threads)
        ]
        for t in workers:
            t.start()
        time.sleep(self.seconds)
        stop.set()
        for t in workers:
            t.join()
        cached = modelscan.scan_models(root, cache=cache).to_response()
        fresh = modelscan.scan_models(root).to_response()
        if cached != fresh:
            self.finding("race", "the last cached scan differs from a fresh one")


class _Every:
    """A container that holds every key: decode every array (the differential compares them)."""

    def __contains__(self, key: object) -> bool:
        return True


_EVERY_KEY = _Every()


def _versions(folder: Path, n: int) -> dict[str, bytes]:
    """*n* versions of one GGUF: version v is named ``v<v>`` and is v blocks longer."""
    out = {}
    for v in range(n):
        path = write_gguf(folder / f"v{v}.gguf", "llama", {**GOOD_KV, "general.name": f"v{v}"}, llm_tensors(Q4_0))
        out[f"v{v}"] = path.read_bytes() + b"\0" * (32 * v)
    return out


def _seed_files(folder: Path) -> dict[str, Path]:
    return {"gguf": write_gguf(folder / "seed.gguf", "llama", GOOD_KV, llm_tensors(Q4_0))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("attacks", nargs="+", choices=["differential", "mutate", "race"])
    p.add_argument("--seconds", type=float, default=20.0, help="how long each attack runs (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelscan-campaign-") as tmp:
        campaign = Campaign(args.seconds, args.seed, Path(tmp))
        for attack in args.attacks:
            getattr(campaign, attack)()
    for attack, n in campaign.counts.items():
        print(f"{attack}: {n} rounds")
    print(f"{len(campaign.findings)} finding(s)")
    for f in campaign.findings:
        print(f"  {f}")
    return 1 if campaign.findings else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
