// Issue 24 with the official OpenAI SDK: forced tool calls whose arguments validate (ajv),
// a follow-up turn with the tool's result, streamed tool-call deltas that reassemble to the
// non-streamed calls, json_schema outputs that validate, logprobs, n with a seed, and a 400
// naming an unsupported parameter. SLLM_AGENT_RUNS (default 100) sets the repetitions.
// Usage: SLLM_BASE_URL=http://127.0.0.1:PORT/v1 SLLM_MODEL=name node openai_agents.mjs
import OpenAI from 'openai';
import Ajv from 'ajv';
import assert from 'node:assert/strict';

const model = process.env.SLLM_MODEL;
const runs = Number(process.env.SLLM_AGENT_RUNS || 100);
const client = new OpenAI({ baseURL: process.env.SLLM_BASE_URL, apiKey: process.env.SLLM_API_KEY || 'none', maxRetries: 0 });
const ajv = new Ajv({ strict: false });
const user = (content) => [{ role: 'user', content }];

// Tools: required and named, each `runs` times with different seeds.
const weather = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 1, maxLength: 12 },
    unit: { enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 7 },
  },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const search = { type: 'object', properties: { query: { type: 'string', maxLength: 20 } }, required: ['query'] };
const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: weather } },
  { type: 'function', function: { name: 'search', description: 'Web search', parameters: search } },
];
const validators = { get_weather: ajv.compile(weather), search: ajv.compile(search) };
let valid = 0;
for (let i = 0; i < runs; i++) {
  const tool_choice = i % 2 ? 'required' : { type: 'function', function: { name: 'get_weather' } };
  const r = await client.chat.completions.create({ model, messages: user('Oslo?'), tools, tool_choice, seed: i, max_tokens: 120 });
  const c = r.choices[0];
  assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c));
  const call = c.message.tool_calls[0];
  if (i % 2 === 0) assert.equal(call.function.name, 'get_weather');
  const args = JSON.parse(call.function.arguments);
  assert.ok(validators[call.function.name](args), `${call.function.arguments}: ${ajv.errorsText(validators[call.function.name].errors)}`);
  valid++;
}
console.log(`tool calls: ${valid} of ${runs} validate`);

// The follow-up turn carries the call and its result through the chat template.
const first = await client.chat.completions.create({ model, messages: user('Oslo?'), tools, tool_choice: 'required', seed: 5, max_tokens: 120 });
const msg = first.choices[0].message;
const followup = await client.chat.completions.create({
  model, tools, max_tokens: 8, seed: 1,
  messages: [...user('Oslo?'), msg, { role: 'tool', tool_call_id: msg.tool_calls[0].id, content: '21' }],
});
assert.ok(followup.usage.prompt_tokens > first.usage.prompt_tokens);

// Streamed deltas reassemble to the calls of the same request without streaming.
const streamed = [];
let streamFinish = null;
for await (const chunk of await client.chat.completions.create({ model, messages: user('Oslo?'), tools, tool_choice: 'required', seed: 5, max_tokens: 120, stream: true })) {
  const c = chunk.choices[0];
  if (!c) continue;
  for (const d of c.delta?.tool_calls ?? []) {
    streamed[d.index] ??= { name: '', arguments: '' };
    if (d.function?.name) streamed[d.index].name += d.function.name;
    if (d.function?.arguments) streamed[d.index].arguments += d.function.arguments;
  }
  if (c.finish_reason) streamFinish = c.finish_reason;
}
assert.equal(streamFinish, 'tool_calls');
assert.deepEqual(streamed, msg.tool_calls.map((t) => ({ name: t.function.name, arguments: t.function.arguments })));

// json_schema: five schemas, each `runs` outputs that validate.
const schemas = [
  { type: 'object', properties: { name: { type: 'string', pattern: '^[A-Z][a-z]{1,8}$' }, age: { type: 'integer', minimum: 0, maximum: 120 } }, required: ['name', 'age'], additionalProperties: false },
  { type: 'array', items: { type: 'number', minimum: -1, maximum: 1 }, minItems: 2, maxItems: 4 },
  { type: 'object', properties: { kind: { enum: ['cat', 'dog'] }, tags: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 5 }, maxItems: 3 } }, required: ['kind'] },
  { anyOf: [{ type: 'boolean' }, { type: 'object', properties: { ok: { const: true } }, required: ['ok'] }] },
  { type: 'object', properties: { point: { type: 'object', properties: { x: { type: 'integer', exclusiveMinimum: -10, exclusiveMaximum: 10 }, y: { type: ['integer', 'null'] } }, required: ['x', 'y'] } }, required: ['point'] },
];
for (const [k, schema] of schemas.entries()) {
  const validate = ajv.compile(schema);
  for (let i = 0; i < runs; i++) {
    const r = await client.chat.completions.create({
      model, messages: user('JSON please'), seed: i, max_tokens: 80,
      response_format: { type: 'json_schema', json_schema: { name: `s${k}`, schema, strict: true } },
    });
    const text = r.choices[0].message.content;
    assert.ok(validate(JSON.parse(text)), `schema ${k}, seed ${i}: ${text}: ${ajv.errorsText(validate.errors)}`);
  }
  console.log(`json_schema ${k}: ${runs} of ${runs} validate`);
}

// Logprobs: chat top_logprobs sorted; completions echo for lm-eval.
const lp = await client.chat.completions.create({ model, messages: user('hi'), logprobs: true, top_logprobs: 5, max_tokens: 5, seed: 3 });
for (const t of lp.choices[0].logprobs.content) {
  for (let j = 1; j < t.top_logprobs.length; j++) assert.ok(t.top_logprobs[j - 1].logprob >= t.top_logprobs[j].logprob);
  assert.ok(t.top_logprobs.length === 5);
}
const echo = await client.completions.create({ model, prompt: 'The cat sat', echo: true, max_tokens: 0, logprobs: 1 });
assert.equal(echo.choices[0].text, 'The cat sat');
assert.equal(echo.choices[0].logprobs.token_logprobs[0], null);
assert.ok(echo.choices[0].logprobs.token_logprobs.slice(1).every((x) => x <= 0));

// n = 4 with a seed: identical from run to run, every choice billed.
const nreq = { model, prompt: 'Once', n: 4, seed: 9, max_tokens: 6, temperature: 1, logit_bias: { 257: -100 } };
const n1 = await client.completions.create(nreq);
const n2 = await client.completions.create(nreq);
assert.equal(n1.choices.length, 4);
assert.deepEqual(n1.choices.map((c) => c.text), n2.choices.map((c) => c.text));
assert.equal(n1.usage.completion_tokens, 24);

// An unsupported parameter is a 400 that names it.
await assert.rejects(client.chat.completions.create({ model, messages: user('x'), audio: { voice: 'alloy', format: 'mp3' } }),
  (e) => e.status === 400 && e.param === 'audio');
console.log('openai agents: all checks passed');
