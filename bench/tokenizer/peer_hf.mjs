// The peer of bench/tokenizer's tokenizer.json rows: @lenml/tokenizers (a fork of
// transformers.js) with the real tokenizer.json of @lenml/tokenizer-NAME, one thread.
//   node peer_hf.mjs NAME TEXT_FILE [SECONDS]     (NAME: llama3, qwen3, gemma3, llama2, deepseek_v3)
// Encodes the whole text without special tokens, as `tokenizer_bench encode DIR` does, and
// prints one line of JSON (measure.mjs).
import { measure } from './measure.mjs'

const [name, file, secondsArg] = process.argv.slice(2)
const { fromPreTrained } = await import(`@lenml/tokenizer-${name}`)
const tok = fromPreTrained()
measure(name, (t) => tok.encode(t, { add_special_tokens: false }), file, Number(secondsArg ?? 2))
