// bench/decode: llama.cpp as decode_bench's side-by-side peer, through node-llama-cpp's prebuilt
// CPU binaries (npm install --omit=optional here; run.sh does it). It loads the GGUF files that
// `decode_bench --write-gguf DIR` wrote (the very random weights decode_bench runs) and measures,
// for each file and thread count, prefill of N tokens and decode of N tokens (batch 1), tokens/s,
// the median of 3 reps after one warm-up run, as llama-bench reports.
//
// Two timings of the same runs:
//   llama.cpp's own (the "pp" and "tg" it reports, and what the ratios use): the context's
//     performance counters (performanceTracking; read and reset by printTimings() after each
//     phase), which node-llama-cpp's addon brackets exactly as llama-bench times a test:
//     llama_decode() then llama_synchronize(), nothing else. Prefill counts as "prompt eval",
//     each one-token decode as "eval".
//   wall (pp_wall, tg_wall): the same phases timed around the JS calls. node-llama-cpp adds
//     0.9-2 ms per call on this (shared, loaded) machine (a sampler object, a greedy pick over
//     the 32000 logits after llama_synchronize,
//     batch scheduling on the next event-loop turn, hops to the addon's worker threads):
//     that would dominate stories15M's decode, so it is shown but not compared.
// Per rep (the KV cache cleared before each, then one untimed warm-up rep first):
//   pp: one LlamaContextSequence.controlledEvaluate() of the N prompt tokens (decode_bench's ids,
//       (i * 7919) % 32000) in one batch (batchSize 512, llama-bench's n_ubatch), logits of the
//       last position only, as llama-bench's pp.
//   tg: N calls of controlledEvaluate([[token, {generateNext: {token: true}}]]), one token each,
//       right after the prefill (positions N..2N-1, as decode_bench does; llama-bench's tg starts
//       at an empty cache), feeding decode_bench's ids (1, 0, 1, 2, ...); each computes the full
//       32000 logits, as sllm does.
//   tg cpu ms/tok: CPU time of the whole process (every thread: llama.cpp's, spinning included,
//       and node's) per decoded token, as decode_bench's column: on a shared machine it says how
//       much work a token takes where wall time also counts the waits for cores others hold.
//   Not timed: model load, context creation, the warm-up, the KV clear, printTimings().
// llama.cpp's settings: CPU only (gpu: false, gpuLayers 0), mmap, F16 KV cache (sllm keeps
// F32), each cell run with flash attention on and off and each phase's faster kept (the "fa"
// column: pp/tg), context 2N,
// n_threads = n_threads_batch = the thread count.
//
// usage: node llama_cpp_peer.mjs --dir DIR [--shapes 15M,110M] [--types f32,q8_0,q4_0,q4_1]
//          [--threads 1,2] [--tokens 128] [--reps 3] [--json OUT.json] [--check]
//   --json writes {"15M/q8_0/2": {"pp": tok/s, "tg": tok/s}, ...} for decode_bench --peer.
//   --check compares llama.cpp's last-position logits on the f32 models (F32 KV cache) with
//   DIR/sllm_reference.json (sllm's, written by decode_bench --write-gguf): argmax and top 5.
import fs from "node:fs";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function parseArgs(argv) {
  const a = {
    dir: "", shapes: "15M,110M", types: "f32,q8_0,q4_0,q4_1", threads: "1,2", tokens: 128,
    reps: 3, json: "", check: false,
  };
  for (let i = 2; i < argv.length; ++i) {
    const k = argv[i].replace(/^--/, "");
    if (k === "check") a.check = true;
    else if (k in a) a[k] = typeof a[k] === "number" ? Number(argv[++i]) : argv[++i];
    else throw new Error(`unknown flag ${argv[i]}`);
  }
  if (!a.dir) throw new Error("--dir DIR (from decode_bench --write-gguf DIR) is required");
  return a;
}

const median = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e9;

// llama.cpp's log lines, kept while `capture` is set (for llama_perf_context_print's), else
// passed on when they are warnings or errors.
let captured = null;
function logger(level, message) {
  if (captured) captured.push(message);
  else if (level === LlamaLogLevel.error || level === LlamaLogLevel.warn) process.stderr.write(message + "\n");
}

// The milliseconds and count of llama.cpp's "prompt eval" and "eval" since the last call
// (printTimings() prints and resets the context's counters).
async function timings(context) {
  captured = [];
  await context.printTimings();
  const text = captured.join("\n");
  captured = null;
  const p = /prompt eval time =\s*([\d.]+) ms \/\s*(\d+) tokens/.exec(text);
  const e = /(?<!prompt )eval time =\s*([\d.]+) ms \/\s*(\d+) runs/.exec(text);
  if (!p || !e) throw new Error(`no llama_perf_context_print output in: ${text}`);
  return { ppMs: Number(p[1]), ppN: Number(p[2]), tgMs: Number(e[1]), tgN: Number(e[2]) };
}

// One prefill of `prompt` then `n` single-token decodes: tokens/s by llama.cpp's counters and
// by the wall clock around the calls.
async function prefillDecode(context, seq, prompt, n) {
  await seq.clearHistory();
  await timings(context);  // Resets the counters.
  const items = prompt.map((t, i) => (i === prompt.length - 1 ? [t, { generateNext: { token: true } }] : t));
  let t0 = now();
  await seq.controlledEvaluate(items);
  const ppWall = prompt.length / (now() - t0);
  const a = await timings(context);
  let tok = 1;
  const cpu0 = process.cpuUsage();
  t0 = now();
  for (let i = 0; i < n; ++i) {
    await seq.controlledEvaluate([[tok, { generateNext: { token: true } }]]);
    tok = i % 32000;
  }
  const tgWall = n / (now() - t0);
  const cpu = process.cpuUsage(cpu0);
  const tgCpuMs = (cpu.user + cpu.system) / 1e3 / n;
  const b = await timings(context);
  if (a.ppN !== prompt.length || b.tgN !== n)
    throw new Error(`llama.cpp counted ${a.ppN} prompt tokens and ${b.tgN} decodes, not ${prompt.length} and ${n}`);
  return { pp: (1e3 * a.ppN) / a.ppMs, tg: (1e3 * b.tgN) / b.tgMs, ppWall, tgWall, tgCpuMs };
}

async function bench(llama, a) {
  const n = a.tokens;
  const prompt = Array.from({ length: n }, (_, i) => (i * 7919) % 32000);
  const results = {};
  console.log(`llama.cpp ${llama.llamaCppRelease.release} via node-llama-cpp (CPU), ` +
              `prefill ${n} / decode ${n} tokens, median of ${a.reps}`);
  console.log(`llama.cpp system info: ${llama.systemInfo}`);
  console.log("pp, tg: llama.cpp's own timing of llama_decode + llama_synchronize (as llama-bench); " +
              "wall: around node-llama-cpp's calls");
  console.log(["shape", "type", "thr", "pp tok/s", "tg tok/s", "tg ms/tok", "pp wall", "tg wall", "tg cpu ms/tok", "fa"]
    .map((s, i) => (i < 3 ? s.padEnd(i === 2 ? 3 : 5) : s.padStart(10))).join(" "));
  for (const shape of a.shapes.split(",")) {
    for (const type of a.types.split(",")) {
      const file = path.join(a.dir, `stories${shape}-${type}.gguf`);
      const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, useMmap: true });
      for (const th of a.threads.split(",").map(Number)) {
        // Flash attention on (node-llama-cpp's "auto" turns it on here) halves llama.cpp's CPU
        // decode on this machine and off halves its prefill: each phase gets its faster one.
        const byFa = {};
        for (const fa of [true, false]) {
          const context = await model.createContext({
            contextSize: 2 * n, batchSize: 512, sequences: 1, threads: { ideal: th, min: th },
            performanceTracking: true, flashAttention: fa,
          });
          const seq = context.getSequence();
          await prefillDecode(context, seq, prompt, n);  // Warm-up.
          const reps = [];
          for (let r = 0; r < a.reps; ++r) reps.push(await prefillDecode(context, seq, prompt, n));
          if (context.currentThreads !== th)
            throw new Error(`llama.cpp runs ${context.currentThreads} threads, not ${th}`);
          byFa[fa] = Object.fromEntries(["pp", "tg", "ppWall", "tgWall", "tgCpuMs"].map((k) => [k, median(reps.map((x) => x[k]))]));
          await context.dispose();
        }
        const ppBest = byFa[true].pp >= byFa[false].pp ? byFa[true] : byFa[false];
        const tgBest = byFa[true].tg >= byFa[false].tg ? byFa[true] : byFa[false];
        const m = { pp: ppBest.pp, ppWall: ppBest.ppWall, tg: tgBest.tg, tgWall: tgBest.tgWall,
                    tgCpuMs: tgBest.tgCpuMs,
                    fa: `${ppBest === byFa[true] ? "on" : "off"}/${tgBest === byFa[true] ? "on" : "off"}` };
        results[`${shape}/${type}/${th}`] = { pp: m.pp, tg: m.tg, pp_wall: m.ppWall, tg_wall: m.tgWall, tg_cpu_ms: m.tgCpuMs, fa: m.fa };
        console.log([shape.padEnd(5), type.padEnd(5), String(th).padStart(3),
          m.pp.toFixed(0).padStart(10), m.tg.toFixed(1).padStart(10), (1e3 / m.tg).toFixed(3).padStart(10),
          m.ppWall.toFixed(0).padStart(10), m.tgWall.toFixed(1).padStart(10),
          m.tgCpuMs.toFixed(3).padStart(13), m.fa.padStart(7)].join(" "));
      }
      await model.dispose();
    }
  }
  return results;
}

// llama.cpp's top logits vs sllm's for the prompts of DIR/sllm_reference.json.
async function check(llama, a) {
  const ref = JSON.parse(fs.readFileSync(path.join(a.dir, "sllm_reference.json"), "utf8"));
  let ok = true;
  for (const [name, cases] of Object.entries(ref)) {
    const model = await llama.loadModel({ modelPath: path.join(a.dir, name), gpuLayers: 0 });
    const context = await model.createContext({
      contextSize: 64, sequences: 1, threads: 2, flashAttention: false,
      experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
    });
    const seq = context.getSequence();
    for (const { prompt, top } of cases) {
      await seq.clearHistory();
      const items = prompt.map((t, i) => (i === prompt.length - 1
        ? [t, { generateNext: { token: true, logits: { filter: { includeTop: 5 } } } }] : t));
      const out = await seq.controlledEvaluate(items);
      const next = out[prompt.length - 1].next;
      const theirs = [...next.logits.entries()].sort((x, y) => y[1] - x[1]).slice(0, 5);
      const sameArgmax = next.token === top[0][0] && theirs[0][0] === top[0][0];
      const sameTop5 = theirs.every(([id], i) => id === top[i][0]);
      const maxDiff = Math.max(...top.map(([id, v]) => Math.abs((next.logits.get(id) ?? NaN) - v)));
      ok &&= sameArgmax;
      console.log(`check ${name} prompt [${prompt.join(",")}]: sllm argmax ${top[0][0]} ` +
                  `(${top[0][1].toFixed(5)}), llama.cpp ${next.token} (${theirs[0][1].toFixed(5)}): ` +
                  `${sameArgmax ? "same" : "DIFFERENT"}; top 5 ${sameTop5 ? "same order" : "differ"}, ` +
                  `max |logit diff| over sllm's top 5 ${maxDiff.toExponential(2)}`);
    }
    await context.dispose();
    await model.dispose();
  }
  console.log(ok ? "check: llama.cpp's greedy next token agrees with sllm's on every prompt"
                 : "check: FAILED, argmax differs");
  return ok;
}

const a = parseArgs(process.argv);
// Info level: llama_perf_context_print logs at info; the logger drops all but warnings/errors.
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.info, logger, maxThreads: 0 });
let ok = true;
if (a.check) ok = await check(llama, a);
else {
  const results = await bench(llama, a);
  if (a.json) fs.writeFileSync(a.json, JSON.stringify(results, null, 1) + "\n");
}
await llama.dispose();
process.exit(ok ? 0 : 1);
