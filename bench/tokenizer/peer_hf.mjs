// The peer of bench/tokenizer's tokenizer.json rows: @lenml/tokenizers (a fork of
// transformers.js) with the real tokenizer.json of @lenml/tokenizer-NAME, one thread.
//   node peer_hf.mjs NAME TEXT_FILE [SECONDS]     (NAME: llama3, qwen3, gemma3, llama2, deepseek_v3)
// Encodes the whole text without special tokens, as `tokenizer_bench encode DIR` does, and
// prints the same JSON line as peer.mjs.
import { readFileSync } from 'node:fs'

const [name, file, secondsArg] = process.argv.slice(2)
const minSeconds = Number(secondsArg ?? 2)
const { fromPreTrained } = await import(`@lenml/tokenizer-${name}`)
const tok = fromPreTrained()
const encode = (t) => tok.encode(t, { add_special_tokens: false })
const text = readFileSync(file, 'utf8')
const bytes = Buffer.byteLength(text, 'utf8')
const now = () => Number(process.hrtime.bigint()) / 1e9
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}
let tokens = encode(text).length // warm-up: JIT, caches
let reps = 0
let best = Infinity
const cpu0 = cpu()
const t0 = now()
do {
  const r0 = now()
  tokens = encode(text).length
  best = Math.min(best, now() - r0)
  reps++
} while (now() - t0 < minSeconds)
const wall = now() - t0
const cpuSeconds = cpu() - cpu0
console.log(
  JSON.stringify({
    what: 'encode',
    tokenizer: name,
    threads: 1,
    bytes,
    tokens,
    reps,
    seconds: best,
    mean_seconds: wall / reps,
    cpu_per_wall: cpuSeconds / wall,
    mb_per_s: bytes / best / 1e6,
    mb_per_cpu_s: (bytes * reps) / cpuSeconds / 1e6,
  })
)
