// Times @huggingface/gguf's gguf(path, {allowLocalFile: true}) on one local file.
//
//   node benchmarks/node_gguf.cjs NODE_MODULES_DIR FILE RUNS
//
// Prints one JSON line: per-call wall times (ms; the first call includes JIT warm-up), rchar
// deltas of /proc/self/io per call, process.resourceUsage().maxRSS (kB), the RSS before the first
// call, and the facts the parser reports (counts, data offset, tensor names/shapes/types) so
// that the caller can check them against modelscan and gguf.GGUFReader.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

function procIo() {
  try {
    const text = fs.readFileSync("/proc/self/io", "utf8");
    const out = {};
    for (const line of text.split("\n")) {
      const [k, v] = line.split(":");
      if (v !== undefined) out[k.trim()] = Number(v.trim());
    }
    return out;
  } catch (e) {
    return null;
  }
}

async function main() {
  const [modulesDir, file, runsArg] = process.argv.slice(2);
  const runs = Math.max(1, Number(runsArg || "5"));
  const { gguf } = require(path.join(modulesDir, "@huggingface", "gguf"));

  // rchar counted by reading /proc/self/io itself.
  let overhead = Infinity;
  for (let i = 0; i < 5; i++) {
    const a = procIo();
    const b = procIo();
    if (!a || !b) { overhead = 0; break; }
    overhead = Math.min(overhead, b.rchar - a.rchar);
  }

  const rssBeforeKb = Math.round(process.memoryUsage().rss / 1024);
  const timesMs = [];
  const rchar = [];
  let result = null;
  for (let i = 0; i < runs; i++) {
    result = null;
    const io0 = procIo();
    const t0 = process.hrtime.bigint();
    result = await gguf(file, { allowLocalFile: true });
    const t1 = process.hrtime.bigint();
    const io1 = procIo();
    timesMs.push(Number(t1 - t0) / 1e6);
    if (io0 && io1) rchar.push(io1.rchar - io0.rchar - overhead);
  }
  const md = result.metadata;
  const facts = {
    version: Number(md.version),
    n_tensors: Number(md.tensor_count),
    n_kv: Number(md.kv_count),
    data_offset: Number(result.tensorDataOffset),
    tensors: result.tensorInfos.map((t) => [t.name, t.shape.map(Number), t.dtype]),
  };
  const tokens = md["tokenizer.ggml.tokens"];
  facts.vocab_size = Array.isArray(tokens) ? tokens.length : null;
  process.stdout.write(
    JSON.stringify({
      times_ms: timesMs,
      rchar,
      rss_before_kb: rssBeforeKb,
      maxrss_kb: process.resourceUsage().maxRSS,
      facts,
    }) + "\n",
  );
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack ? err.stack : err) }) + "\n");
  process.exit(1);
});
