"""``import modelscan`` in a fresh interpreter: time, and whether numpy (or anything heavy) comes along.

    python benchmarks/bench_import.py            # 15 runs of each
    python benchmarks/bench_import.py --quick    # 3 runs
    python benchmarks/bench_import.py --json out.json

Two measures, interleaved run by run:

- wall time of ``python -c "import modelscan"`` minus that of ``python -c "pass"`` (the
  interpreter's own start-up), median over the runs, both from this checkout;
- ``python -X importtime -c "import modelscan"``: the cumulative microseconds of the
  ``modelscan`` line (the import alone, as CPython measures it), median over the runs.

And once: which modules ``import modelscan`` adds to ``sys.modules`` (numpy must not be one), and
which more modules a first ``scan_models`` of a GGUF + MLX folder imports lazily.
"""

# ruff: noqa: PLC0415
# (imports are lazy on purpose: each benchmark and child process imports only what it measures)

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.use_working_tree()

HEAVY = (
    "numpy",
    "gguf",
    "safetensors",
    "huggingface_hub",
    "mlx",
    "torch",
    "jinja2",
    "multiprocessing",
    "concurrent",
    "asyncio",
    "email",
    "http",
    "ssl",
    "xml",
    "tomllib",
    "decimal",
)

_MODULES = r"""
import json, sys
before = set(sys.modules)
import modelscan
after = set(sys.modules)
print(json.dumps({"added": sorted(after - before), "file": modelscan.__file__}))
"""

_LAZY = r"""
import json, sys, time
import modelscan
before = set(sys.modules)
t0 = time.perf_counter()
report = modelscan.scan_models(sys.argv[1], workers=1)
t = time.perf_counter() - t0
print(json.dumps({"added": sorted(set(sys.modules) - before), "models": len(report.models), "scan_s": t}))
"""


def _wall(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    return C.run_timed(argv, env)


_IMPORTTIME = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def importtime(env: dict[str, str], module: str = "modelscan") -> tuple[int, list[tuple[str, int, int]]]:
    """(cumulative us of *module*, [(module, self us, cumulative us)] of everything it imported)."""
    res = subprocess.run(
        [C.PYTHON, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, env=env, check=True
    )
    rows = []
    for line in res.stderr.splitlines():
        m = _IMPORTTIME.match(line)
        if m:
            rows.append((m[4], int(m[1]), int(m[2]), len(m[3])))
    total = next((cum for name, _self, cum, _ in rows if name == module), 0)
    # The lines before the top-level module's line (and after the previous top-level line) are its imports.
    idx = next(i for i, r in enumerate(rows) if r[0] == module)
    start = idx
    while start > 0 and rows[start - 1][3] > rows[idx][3]:
        start -= 1
    return total, [(n, s, c) for n, s, c, _ in rows[start : idx + 1]]


def _tiny_tree(tmp: Path) -> Path:
    from bench_tree import Templates, generate_tree

    generate_tree(tmp / "models", 20, Templates())
    return tmp / "models"


def run(*, quick: bool = False, runs: int | None = None) -> dict[str, Any]:
    runs = runs or (3 if quick else 15)
    notes: list[str] = []
    checks: list[dict[str, Any]] = []
    measured: dict[bool, dict[str, Any]] = {}
    for cached in (True, False):
        env = C.child_env(bytecode_cache=cached)
        walls: dict[str, list[float]] = {"pass": [], "import": []}
        cpus: dict[str, list[float]] = {"pass": [], "import": []}
        it_us: list[int] = []
        breakdown: list[tuple[str, int, int]] = []
        _wall([C.PYTHON, "-c", "pass"], env)  # warm the interpreter's files (and write the bytecode)
        _wall([C.PYTHON, "-c", "import modelscan"], env)
        for i in range(runs):
            order = ("pass", "import") if i % 2 == 0 else ("import", "pass")
            for what in order:
                wall, cpu = _wall([C.PYTHON, "-c", "pass" if what == "pass" else "import modelscan"], env)
                walls[what].append(wall)
                cpus[what].append(cpu)
            total, found = importtime(env)
            it_us.append(total)
            if not breakdown or total == sorted(it_us)[len(it_us) // 2]:
                breakdown = found
        diffs = [b - a for a, b in zip(walls["pass"], walls["import"], strict=True)]
        cpu_ms = (C.median(cpus["import"]) - C.median(cpus["pass"])) * 1e3
        measured[cached] = {
            "diffs": diffs,
            "wall_ms": C.median(diffs) * 1e3,
            "it_us": it_us,
            "cpu_ms": cpu_ms,
            "it_ms": C.median(it_us) / 1e3,
            "pass_ms": C.median(walls["pass"]) * 1e3,
            "breakdown": breakdown,
        }
    wall_ms, it_ms = measured[True]["wall_ms"], measured[True]["it_ms"]
    breakdown = measured[True]["breakdown"]

    mods = json.loads(
        subprocess.run([C.PYTHON, "-c", _MODULES], capture_output=True, text=True, env=C.child_env(), check=True).stdout
    )
    added = mods["added"]
    heavy = sorted({m.split(".")[0] for m in added} & set(HEAVY))
    checks.append(
        C.check(
            "import modelscan does not import numpy",
            "numpy" not in {m.split(".")[0] for m in added},
            f"{len(added)} modules added; heavy ones: {heavy or 'none'}",
        )
    )
    checks.append(C.check("modelscan imported from this checkout", mods["file"].startswith(str(C.ROOT)), mods["file"]))

    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        tree = _tiny_tree(Path(tmp))
        lazy = json.loads(
            subprocess.run(
                [C.PYTHON, "-c", _LAZY, str(tree)], capture_output=True, text=True, env=C.child_env(), check=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    lazy_heavy = sorted({m.split(".")[0] for m in lazy["added"]} & set(HEAVY))
    checks.append(
        C.check(
            "a first scan_models (GGUF + MLX folders, workers=1) imports no numpy",
            "numpy" not in {m.split(".")[0] for m in lazy["added"]},
            f"lazily imported: {', '.join(lazy['added']) or 'nothing'}",
        )
    )

    top = sorted((r for r in breakdown if r[0] != "modelscan"), key=lambda r: -r[1])[:10]
    rows = []
    for cached, label in ((True, "bytecode cached, as installed"), (False, "no bytecode cache: compiles sources")):
        m = measured[cached]
        rows += [
            {
                "what": f"import modelscan (wall, minus `python -c pass`; {label})",
                "median_ms": m["wall_ms"],
                "runs": runs,
                "samples_ms": [d * 1e3 for d in m["diffs"]],
            },
            {
                "what": f"import modelscan (-X importtime, cumulative; {label})",
                "median_ms": m["it_ms"],
                "runs": runs,
                "samples_ms": [u / 1e3 for u in m["it_us"]],
            },
            {
                "what": f"import modelscan (CPU user+sys, minus `python -c pass`; {label})",
                "median_ms": m["cpu_ms"],
                "runs": runs,
            },
        ]
    rows.append({"what": "python -c pass (baseline start-up)", "median_ms": measured[True]["pass_ms"], "runs": runs})
    cpu_ms = measured[True]["cpu_ms"]
    ratios = [
        C.ratio_entry("import time (wall) / 50 ms budget", wall_ms / 50, "<= 1", wall_ms < 50, "median of differences"),
        C.ratio_entry("import time (-X importtime) / 50 ms budget", it_ms / 50, "<= 1", it_ms < 50, "median"),
        C.ratio_entry(
            "import CPU time / 50 ms budget",
            cpu_ms / 50,
            "<= 1",
            cpu_ms < 50,
            "difference of median CPU times (least sensitive to other load)",
        ),
    ]
    notes.append(
        "the budget applies to the bytecode-cached import (an installed package has its .pyc files); "
        f"this environment sets PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}, "
        f"so the benchmarks' children cache bytecode under {C.PYCACHE_PREFIX} instead"
    )
    notes.append(
        "largest self times inside `import modelscan` (-X importtime, median run, bytecode cached): "
        + ", ".join(f"{n} {s / 1e3:.1f} ms" for n, s, _ in top)
    )
    notes.append(
        f"heavy stdlib/3rd-party packages pulled by import: {heavy or 'none'}; "
        f"by a first scan (lazily): {lazy_heavy or 'none'}"
    )
    return {
        "benchmark": "import",
        "quick": quick,
        "inputs": {
            "modelscan": C.modelscan_version(),
            "python": C.PYTHON,
            "modules added by import modelscan": len(added),
        },
        "rows": rows,
        "row_headers": ("what", "median", "runs"),
        "row_cells_fn": _cells,
        "ratios": ratios,
        "checks": checks,
        "notes": notes,
        "modules_added": added,
        "lazy_modules": lazy["added"],
        "importtime_breakdown": [{"module": n, "self_us": s, "cumulative_us": c} for n, s, c in breakdown],
        "importtime_breakdown_uncached": [
            {"module": n, "self_us": s, "cumulative_us": c} for n, s, c in measured[False]["breakdown"]
        ],
    }


def _cells(row: dict[str, Any]) -> list[str]:
    return [row["what"], f"{row['median_ms']:.1f} ms", str(row["runs"])]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 runs (smoke test)")
    ap.add_argument("--runs", type=int, help="runs of each measure (default 15)")
    ap.add_argument("--json", metavar="OUT", help="write the result as JSON")
    args = ap.parse_args(argv)
    return C.finish(run(quick=args.quick, runs=args.runs), args.json)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
