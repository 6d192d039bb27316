// Times @huggingface/gguf's gguf(url) on one file served over HTTP (Range requests).
//
//   node benchmarks/node_gguf_url.cjs NODE_MODULES_DIR URL RUNS
//
// Prints one JSON line: per-call wall times (ms; the first call includes JIT warm-up) and the
// data offset and tensor count the parser reports, for the caller to check against modelscan.
// The requests and bytes are counted by the server (benchmarks/bench_remote.py).
"use strict";

const path = require("node:path");

async function main() {
  const [modulesDir, url, runsArg] = process.argv.slice(2);
  const runs = Math.max(1, Number(runsArg || "3"));
  const { gguf } = require(path.join(modulesDir, "@huggingface", "gguf"));
  const timesMs = [];
  let result = null;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    result = await gguf(url);
    timesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  process.stdout.write(
    JSON.stringify({
      times_ms: timesMs,
      data_offset: Number(result.tensorDataOffset),
      n_tensors: Number(result.metadata.tensor_count),
    }) + "\n",
  );
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack ? err.stack : err) }) + "\n");
  process.exit(1);
});
