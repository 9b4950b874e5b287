// The peer of bench/tokenizer: npm's gpt-tokenizer (pure JavaScript tiktoken), one thread.
//   node peer.mjs ENCODING TEXT_FILE [SECONDS]     (ENCODING: r50k_base, cl100k_base, o200k_base)
// Prints one line of JSON (measure.mjs).
import { measure } from './measure.mjs'

const [encoding, file, secondsArg] = process.argv.slice(2)
const { encode } = await import(`gpt-tokenizer/encoding/${encoding}`)
measure(encoding, encode, file, Number(secondsArg ?? 2))
