"""Run every benchmark, print one combined table, write benchmarks/results/latest.json and a
Markdown table for the README's "Performance" section.

    python benchmarks/run_all.py               # the full run (about 15-20 minutes on 2 cores)
    python benchmarks/run_all.py --quick       # smoke sizes (well under a minute)
    python benchmarks/run_all.py --only gguf,import --json /tmp/out.json

Each benchmark also runs on its own (``python benchmarks/bench_gguf.py --help``).
"""

# ruff: noqa: PLC0415
# (imports are lazy on purpose: each benchmark and child process imports only what it measures)

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

ALL = ("import", "gguf", "safetensors", "tree")


def _row(result: dict[str, Any], method: str, case_contains: str = "") -> dict[str, Any] | None:
    rows: list[dict[str, Any]] = result.get("rows", [])
    return next(
        (r for r in rows if r.get("method") == method and case_contains in r.get("case", "") and not r.get("error")),
        None,
    )


def _ratio(result: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((r for r in result.get("ratios", []) if r["name"] == name), None)


def _t(row: dict[str, Any] | None) -> str:
    return C.fmt_time(row["median_s"]) if row else "-"


def _mem(row: dict[str, Any] | None) -> str:
    if not row:
        return ""
    parts = []
    if row.get("tracemalloc_peak_bytes") is not None:
        parts.append(f"peak alloc {C.fmt_bytes(row['tracemalloc_peak_bytes'])}")
    if row.get("child_maxrss_kb"):
        parts.append(f"RSS {C.fmt_bytes(row['child_maxrss_kb'] * 1024)}")
    return ", ".join(parts)


def _line(
    bench: str,
    figure: str,
    modelscan: str,
    alternative: str,
    ratio: float | None,
    *,
    target: str | None = None,
    met: bool | None = None,
) -> dict[str, Any]:
    return {
        "benchmark": bench,
        "figure": figure,
        "modelscan": modelscan,
        "alternative": alternative,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


def summarize(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The key figures of every benchmark: modelscan beside the alternative, with the ratio."""
    out: list[dict[str, Any]] = []
    g = results.get("gguf")
    if g:
        what = g["inputs"]["file"]
        ms = _row(g, "modelscan.read_gguf_header")
        ms_txt = f"{_t(ms)}; {_mem(ms)}; read {C.fmt_bytes(ms['bytes_read']) if ms else '-'}"
        for method, name, ratio_name, target in (
            ("gguf.GGUFReader", "gguf.GGUFReader", "GGUFReader / modelscan", ">= 300"),
            ("fastest pure-Python skip", "fastest pure-Python skip", "modelscan / fastest skip", "<= 1.5"),
            ("floor: os.read(header_bytes)", "floor: os.read(header bytes)", "modelscan / floor", None),
            ("@huggingface/gguf (Node, warm)", "@huggingface/gguf (Node)", "@huggingface/gguf / modelscan", None),
        ):
            alt = _row(g, method)
            if alt is None and method.startswith("@"):
                continue
            r = _ratio(g, ratio_name)
            out.append(
                _line(
                    "gguf",
                    f"{what}: {ratio_name}",
                    ms_txt,
                    f"{name}: {_t(alt)}; {_mem(alt)}" if alt else f"{name}: not run",
                    r["value"] if r else None,
                    target=target,
                    met=r["met"] if r else None,
                )
            )
        cold_ms = _row(g, "modelscan.read_gguf_header", "[page cache dropped]")
        cold_floor = _row(g, "floor: os.read(header_bytes)", "[page cache dropped]")
        if cold_ms and cold_floor:
            ratio = 1 / cold_floor["vs_modelscan"] if cold_floor["vs_modelscan"] else None
            out.append(
                _line(
                    "gguf",
                    f"{what}, page cache dropped: modelscan / floor",
                    _t(cold_ms),
                    f"floor: {_t(cold_floor)}",
                    ratio,
                )
            )
    s = results.get("safetensors")
    if s:
        ms = _row(s, "modelscan.safetensors.read_safetensors_header")
        for method, ratio_name in (
            ("safetensors.safe_open (keys, shape, dtype)", "safe_open / modelscan (file)"),
            ("huggingface_hub.parse_local_safetensors_file_metadata", "huggingface_hub / modelscan (file)"),
            ("floor + json.loads", "floor+json / modelscan (file)"),
        ):
            alt = _row(s, method)
            r = _ratio(s, ratio_name)
            out.append(
                _line(
                    "safetensors",
                    f"MiniLM file: {ratio_name}",
                    f"{_t(ms)}; {_mem(ms)}",
                    f"{method}: {_t(alt)}; {_mem(alt)}",
                    r["value"] if r else None,
                )
            )
        folder_ms = _row(s, "modelscan.scan_models(folder)")
        folder_hdr = _row(s, "modelscan read_safetensors_header x shards")
        for method, ratio_name in (
            ("huggingface_hub.get_local_safetensors_metadata(folder)", "huggingface_hub / modelscan headers (folder)"),
            ("safetensors.safe_open x shards", "safe_open / modelscan headers (folder)"),
        ):
            alt = _row(s, method)
            r = _ratio(s, ratio_name)
            out.append(
                _line(
                    "safetensors",
                    f"3-shard folder: {ratio_name}",
                    f"headers {_t(folder_hdr)}; whole scan_models {_t(folder_ms)}",
                    f"{method}: {_t(alt)}",
                    r["value"] if r else None,
                )
            )
    t = results.get("tree")
    if t:
        for row in t["rows"]:
            if row["mode"].startswith(("cold, workers=", "warm")):
                extra = f", first scan with cache {C.fmt_time(row['first_scan_s'])}" if "first_scan_s" in row else ""
                cpu = f", CPU {C.fmt_time(row['cpu_s'])}" if row.get("cpu_s") else ""
                speed = f"{C.fmt_time(row['median_s'])} ({row['models_per_s']:,.0f} models/s{cpu}){extra}"
                out.append(_line("tree", f"{row['models']:,} models, {row['mode']}", speed, "", None))
        for r in t["ratios"]:
            out.append(
                _line("tree", r["name"], "", r.get("how", ""), r["value"], target=r.get("target"), met=r.get("met"))
            )
        w1 = [r for r in t["rows"] if r["mode"] == "cold, workers=1"]
        if w1:
            r = w1[-1]
            out.append(
                _line(
                    "tree",
                    f"bytes read per model ({r['models']:,} models, workers=1)",
                    C.fmt_bytes(r["rchar_per_model"]),
                    f"header + JSON bytes per model {C.fmt_bytes(r['header_bytes_per_model'])}",
                    r["rchar_per_model"] / r["header_bytes_per_model"],
                )
            )
    i = results.get("import")
    if i:
        wall = i["rows"][0]["median_ms"]
        it = i["rows"][1]["median_ms"]
        numpy_ok = all(c["ok"] for c in i["checks"] if "numpy" in c["name"])
        out.append(
            _line(
                "import",
                "import modelscan (fresh interpreter)",
                f"{wall:.1f} ms wall, {it:.1f} ms -X importtime",
                f"budget 50 ms; numpy imported: {'no' if numpy_ok else 'YES'}",
                wall / 50,
                target="< 1",
                met=wall < 50 and numpy_ok,
            )
        )
    return out


def render_summary(lines: list[dict[str, Any]]) -> str:
    return C.render_table(
        ("benchmark", "figure", "modelscan", "alternative / detail", "ratio", "target", "met"),
        [
            (
                x["benchmark"],
                x["figure"],
                x["modelscan"],
                x["alternative"],
                C.fmt_ratio(x["ratio"]),
                x["target"] or "-",
                {True: "yes", False: "NO", None: "-"}[x["met"]],
            )
            for x in lines
        ],
    )


def markdown(results: dict[str, dict[str, Any]], machine: dict[str, Any], command: str) -> str:
    """The README "Performance" section."""
    lines = summarize(results)
    load = machine.get("loadavg_at_start")
    where = (
        f"Measured with `{command}` on {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['implementation']} {machine['python']}"
    )
    if machine.get("node"):
        where += f", Node {machine['node']}"
    version = str(machine.get("modelscan", ""))
    if version.startswith("commit "):
        where += f", modelscan {version.split(';', maxsplit=1)[0].split(' + ', maxsplit=1)[0]}"
        where += " with local changes" if " + " in version.split(";", maxsplit=1)[0] else ""
    where += f" ({machine.get('date', '')}"
    where += f"; load average at start {load[0]:.2f})." if load else ")."
    out = [
        "## Performance",
        "",
        where,
        "Times are medians; ratios compare methods measured in the same run (per-round ratios where they "
        "ran interleaved). The machine was shared, so single figures move by tens of percent between runs; "
        "the ratios move much less.",
        "",
        "| benchmark | figure | modelscan | alternative | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for x in lines:
        target = x["target"] or ""
        if x["met"] is not None:
            target += " (met)" if x["met"] else " (**not met**)"
        out.append(
            f"| {x['benchmark']} | {x['figure']} | {x['modelscan']} | {x['alternative']} | "
            f"{C.fmt_ratio(x['ratio'])} | {target} |"
        )
    return "\n".join(out)


def run_benchmarks(
    which: list[str], *, quick: bool, node: str, drop: bool, profile: bool, quiet: bool = False
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name in which:
        t0 = time.perf_counter()
        if not quiet:
            print(f"\n### running {name} ({'quick' if quick else 'full'}) ...", flush=True)
        if name == "import":
            import bench_import

            res = bench_import.run(quick=quick)
        elif name == "gguf":
            import bench_gguf

            res = bench_gguf.run(quick=quick, node=node, cold=None if drop else False)
        elif name == "safetensors":
            import bench_safetensors

            res = bench_safetensors.run(quick=quick)
        elif name == "tree":
            import bench_tree

            res = bench_tree.run(quick=quick, drop=None if drop else False, profile=profile)
        else:
            raise SystemExit(f"unknown benchmark {name}")
        res["elapsed_s"] = time.perf_counter() - t0
        results[name] = res
        if not quiet:
            print(C.render_result(res), flush=True)
            if name == "tree" and profile:
                import bench_tree

                print(bench_tree.profile_text(res))
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke sizes")
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(ALL)}")
    ap.add_argument(
        "--json",
        metavar="OUT",
        default=str(C.RESULTS_DIR / "latest.json"),
        help="where to write all results (default benchmarks/results/latest.json)",
    )
    ap.add_argument("--markdown", metavar="OUT", help="also write the README Markdown table to OUT")
    ap.add_argument(
        "--node",
        choices=("auto", "present", "off"),
        default="auto",
        help="the @huggingface/gguf column: auto installs it with npm into benchmarks/.node",
    )
    ap.add_argument("--no-drop", action="store_true", help="never drop the page cache")
    ap.add_argument("--profile", action="store_true", help="cProfile one workers=1 tree scan per size")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the other benchmarks' results already in the JSON file (re-run a subset)",
    )
    args = ap.parse_args(argv)
    which = args.only.split(",") if args.only else list(ALL)
    machine = C.machine_info()
    machine["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine["modelscan"] = C.modelscan_version()
    argv_shown = sys.argv[1:] if argv is None else argv
    command = "python benchmarks/run_all.py" + (" " + shlex.join(argv_shown) if argv_shown else "")
    t0 = time.perf_counter()
    results = run_benchmarks(which, quick=args.quick, node=args.node, drop=not args.no_drop, profile=args.profile)
    if args.merge and Path(args.json).is_file():
        previous = json.loads(Path(args.json).read_text())
        kept = {k: v for k, v in previous.get("results", {}).items() if k not in results}
        results = {k: ({**kept, **results})[k] for k in ALL if k in kept or k in results}
        command = previous.get("command", command) + f"; then {command}"
    lines = summarize(results)
    print("\n== summary ==")
    print(render_summary(lines))
    md = markdown(results, machine, command)
    print("\n== Markdown for README.md ==\n")
    print(md)
    failed = [c for r in results.values() for c in r.get("checks", []) if not c["ok"]]
    if failed:
        print("\nFAILED checks:\n" + "\n".join(f"  {c['name']}: {c['detail']}" for c in failed))
    doc = {
        "machine": machine,
        "command": command,
        "quick": args.quick,
        "elapsed_s": time.perf_counter() - t0,
        "summary": lines,
        "markdown": md,
        "results": results,
    }
    C.write_json(args.json, doc)
    print(f"\nwrote {args.json}")
    if args.markdown:
        Path(args.markdown).write_text(md + "\n")
    return doc


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
