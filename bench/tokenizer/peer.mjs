// The peer of bench/tokenizer: npm's gpt-tokenizer (pure JavaScript tiktoken), one thread.
//   node peer.mjs ENCODING TEXT_FILE [SECONDS]     (ENCODING: r50k_base, cl100k_base, o200k_base)
// Prints one line of JSON like tokenizer_bench does.
import { readFileSync } from 'node:fs'

const [encoding, file, secondsArg] = process.argv.slice(2)
const minSeconds = Number(secondsArg ?? 2)
const { encode } = await import(`gpt-tokenizer/encoding/${encoding}`)
const text = readFileSync(file, 'utf8')
const bytes = Buffer.byteLength(text, 'utf8')
let tokens = encode(text).length // warm-up: JIT, caches
let reps = 0
const t0 = process.hrtime.bigint()
let elapsed = 0
do {
  tokens = encode(text).length
  reps++
  elapsed = Number(process.hrtime.bigint() - t0) / 1e9
} while (elapsed < minSeconds)
const s = elapsed / reps
console.log(JSON.stringify({ what: 'encode', tokenizer: encoding, threads: 1, bytes, tokens, seconds: s, mb_per_s: bytes / 1e6 / s }))
