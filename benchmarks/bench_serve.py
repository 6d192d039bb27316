"""`modelscan serve` under load: GET /api/v1/models over loopback, against the same server
returning precomputed bytes.

    python benchmarks/bench_serve.py               # 1,000 models, 32 clients, 3 rounds
    python benchmarks/bench_serve.py --quick       # 40 models, 8 clients (smoke run)
    python benchmarks/bench_serve.py --models 1000 --clients 32 --requests 40 --rounds 3 --json out.json

A generated LM Studio tree (``bench_tree.generate_tree``: GGUF files, split models, projectors,
MLX folders, sparse) is served by two uvicorn processes, each on 127.0.0.1 and a port of its own:

- **modelscan**: ``ModelsApp(root)`` as ``modelscan serve`` runs it (``revalidate_ms=500``: under
  load it walks the tree about twice a second in the background, and reads no header again);
- **baseline**: a bare ASGI app that answers every request with the same bytes, rendered once
  before it starts: the floor any server of this listing could reach with uvicorn.

This process is the load: *clients* concurrent keep-alive connections (asyncio, HTTP/1.1, one
request at a time each) send *requests* each, per round; rounds alternate the two servers. Per
server: throughput (requests per second of wall time), p50 and p99 latency over every request,
and the server's CPU time per request (from ``/proc/<pid>/stat``: the number that does not depend
on how fast this client is). A status other than 200, or a connection error, fails the run.

Then the cost of one request, one client, medians of several tries: after 1.1 s idle with nothing
changed (past twice ``revalidate_ms`` the request waits for a rescan: one walk), after 1.1 s idle
once one GGUF file grew by 32 bytes (one walk, one header read, the view rendered again; the
response must show the new size), and right after that (the bytes of the snapshot).
"""

# ruff: noqa: PLC0415
# (imports are lazy on purpose: the servers are child processes that import only what they need)

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.use_working_tree()

SERVER = r"""
import json, os, socket, sys
import uvicorn
kind, root = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # IPPROTO_TCP: asyncio sets TCP_NODELAY
sock.bind(("127.0.0.1", 0))
sock.listen(2048)
if kind == "modelscan":
    from modelscan.server import ModelsApp
    app = ModelsApp(root, revalidate_ms=500, workers=1)
    app.refresh()
    lifespan = "on"
else:
    import modelscan
    from modelscan import views
    body = views.dumps(views.to_v1(modelscan.scan_models(root, limits=modelscan.SERVER_LIMITS).models))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    lifespan = "off"
print(json.dumps({"port": sock.getsockname()[1], "pid": os.getpid()}), flush=True)
config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan)
uvicorn.Server(config).run(sockets=[sock])
"""

PATH = "/api/v1/models"


class Server:
    """One uvicorn child process serving *kind* over *root*."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.proc = subprocess.Popen(
            [C.PYTHON, "-c", SERVER, kind, str(root)], stdout=subprocess.PIPE, text=True, env=C.child_env()
        )
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.port: int = info["port"]
        self.pid: int = info["pid"]

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server process so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _client(port: int, n: int, latencies: list[float], errors: list[str]) -> None:
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        errors.append(f"connect: {exc}")
        return
    try:
        for _ in range(n):
            start = time.perf_counter()
            status, _ = await _one(reader, writer, request)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(f"status {status}")
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


def load(server: Server, clients: int, requests: int) -> dict[str, Any]:
    """*clients* connections sending *requests* each, all at once; the round's figures."""
    latencies: list[float] = []
    errors: list[str] = []

    async def run() -> None:
        await asyncio.gather(*(_client(server.port, requests, latencies, errors) for _ in range(clients)))

    cpu = server.cpu_seconds()
    start = time.perf_counter()
    asyncio.run(run())
    wall = time.perf_counter() - start
    cpu = server.cpu_seconds() - cpu
    return {
        "requests": len(latencies),
        "errors": errors,
        "wall": wall,
        "rps": len(latencies) / wall,
        "cpu_per_request": cpu / max(1, len(latencies)),
        "latencies": latencies,
    }


def one_request(port: int) -> tuple[float, bytes]:
    async def run() -> tuple[float, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        start = time.perf_counter()
        status, body = await _one(reader, writer, request)
        elapsed = time.perf_counter() - start
        writer.close()
        assert status == 200, status
        return elapsed, body

    return asyncio.run(run())


def change_costs(server: Server, root: Path, tries: int, idle: float) -> dict[str, Any]:
    """One request after *idle* seconds: unchanged, after one file grew, and right after."""
    # Single-file models only: their size_bytes is the file's size (no shard, no projector).
    files = [p for p in sorted(root.rglob("*-Q4_K_M.gguf")) if len(list(p.parent.iterdir())) == 1][:tries]
    unchanged: list[float] = []
    changed: list[float] = []
    fresh: list[float] = []
    seen = True
    for path in files:
        time.sleep(idle)
        unchanged.append(one_request(server.port)[0])
        with open(path, "ab") as f:
            f.write(b"\0" * 32)
        time.sleep(idle)
        elapsed, body = one_request(server.port)
        changed.append(elapsed)
        size = path.stat().st_size
        seen = seen and f'"size_bytes": {size},'.encode() in body
        fresh.append(one_request(server.port)[0])
    return {
        "unchanged": statistics.median(unchanged),
        "changed": statistics.median(changed),
        "fresh": statistics.median(fresh),
        "tries": len(files),
        "change_seen": seen,
    }


def _pct(xs: Sequence[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(models: int, clients: int, requests: int, rounds: int, tries: int) -> dict[str, Any]:
    from bench_tree import generate_tree

    result: dict[str, Any] = {
        "benchmark": "serve",
        "machine": C.machine_info(),
        "modelscan": C.modelscan_version(),
        "config": {"models": models, "clients": clients, "requests": requests, "rounds": rounds},
        "checks": [],
    }
    with tempfile.TemporaryDirectory(prefix="modelscan-bench-serve-") as tmp:
        root = Path(tmp) / "models"
        result["tree"] = generate_tree(root, models)
        servers = {"modelscan": Server("modelscan", root), "baseline": Server("baseline", root)}
        try:
            same = one_request(servers["modelscan"].port)[1] == one_request(servers["baseline"].port)[1]
            result["checks"].append(C.check("both servers send the same bytes", same))
            result["body_bytes"] = len(one_request(servers["baseline"].port)[1])
            for server in servers.values():  # warm up: connections, caches, the first rescan
                load(server, clients, 2)
            runs: dict[str, list[dict[str, Any]]] = {"modelscan": [], "baseline": []}
            for r in range(rounds):
                order = ["modelscan", "baseline"] if r % 2 == 0 else ["baseline", "modelscan"]
                for name in order:
                    runs[name].append(load(servers[name], clients, requests))
            summary: dict[str, Any] = {}
            for name, rs in runs.items():
                lat = [x for r in rs for x in r["latencies"]]
                summary[name] = {
                    "rps": statistics.median(r["rps"] for r in rs),
                    "p50": _pct(lat, 0.50),
                    "p99": _pct(lat, 0.99),
                    "cpu_per_request": statistics.median(r["cpu_per_request"] for r in rs),
                    "requests": sum(r["requests"] for r in rs),
                    "errors": [e for r in rs for e in r["errors"]],
                }
            ratio = statistics.median(
                m["rps"] / b["rps"] for m, b in zip(runs["modelscan"], runs["baseline"], strict=True)
            )
            summary["throughput_ratio"] = ratio
            base_cpu = summary["baseline"]["cpu_per_request"]  # clock ticks: 0 for a very short run
            summary["cpu_ratio"] = summary["modelscan"]["cpu_per_request"] / base_cpu if base_cpu else None
            result["load"] = summary
            errors = summary["modelscan"]["errors"] + summary["baseline"]["errors"]
            expected = clients * requests * rounds
            result["checks"].append(C.check("no error under load", not errors, "; ".join(errors[:5])))
            result["checks"].append(
                C.check(
                    "every request answered",
                    summary["modelscan"]["requests"] == summary["baseline"]["requests"] == expected,
                )
            )
            result["checks"].append(C.check("throughput >= 50% of precomputed bytes", ratio >= 0.5, f"{ratio:.2f}"))
            costs = change_costs(servers["modelscan"], root, tries, idle=1.1)
            result["change"] = costs
            result["checks"].append(C.check("a changed file is in the next listing", costs["change_seen"]))
        finally:
            for server in servers.values():
                server.stop()
    return result


def render(result: dict[str, Any]) -> str:
    load_ = result["load"]
    rows = []
    for name in ("modelscan", "baseline"):
        s = load_[name]
        rows.append(
            [
                name,
                f"{s['rps']:,.0f}/s",
                C.fmt_time(s["p50"]),
                C.fmt_time(s["p99"]),
                C.fmt_time(s["cpu_per_request"]),
                f"{s['requests']:,}",
                str(len(s["errors"])),
            ]
        )
    cfg = result["config"]
    out = [
        f"GET {PATH}: {cfg['models']:,} models ({result['body_bytes']:,} bytes), {cfg['clients']} clients, "
        f"{cfg['requests']} requests each, {cfg['rounds']} rounds per server",
        C.render_table(("server", "throughput", "p50", "p99", "server CPU/request", "requests", "errors"), rows),
        f"throughput ratio modelscan/baseline: {load_['throughput_ratio']:.2f} (median of paired rounds); "
        f"server CPU per request: {C.fmt_ratio(load_['cpu_ratio'])} the baseline's",
    ]
    ch = result["change"]
    out.append(
        f"one request after 1.1 s idle: unchanged {C.fmt_time(ch['unchanged'])}; one GGUF file grew "
        f"{C.fmt_time(ch['changed'])}; right after {C.fmt_time(ch['fresh'])} (medians of {ch['tries']})"
    )
    for c in result["checks"]:
        out.append(f"[{'ok' if c['ok'] else 'FAIL'}] {c['name']}" + (f": {c['detail']}" if c["detail"] else ""))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, default=1000)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--requests", type=int, default=40, help="per client and round")
    p.add_argument("--rounds", type=int, default=3, help="per server, alternated")
    p.add_argument("--tries", type=int, default=7, help="of the one-request costs")
    p.add_argument("--quick", action="store_true", help="40 models, 8 clients, 20 requests, 1 round, 2 tries")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    if args.quick:
        args.models, args.clients, args.requests, args.rounds, args.tries = 40, 8, 20, 1, 2
    result = run(args.models, args.clients, args.requests, args.rounds, args.tries)
    print(render(result), flush=True)
    if args.json:
        C.write_json(args.json, {k: v for k, v in result.items() if k != "latencies"})
    failed = [c for c in result["checks"] if not c["ok"]]
    if failed:
        print(f"{len(failed)} check(s) failed", file=sys.stderr)
    return result


if __name__ == "__main__":
    sys.exit(1 if any(not c["ok"] for c in main()["checks"]) else 0)
