// The official OpenAI SDK against a running `sllm serve`, unmodified: models, chat and text
// completions (plain and streamed, with the usage chunk), JSON mode, embeddings, and errors.
// Usage: SLLM_BASE_URL=http://127.0.0.1:PORT/v1 SLLM_MODEL=name [SLLM_API_KEY=...] node openai_sdk.mjs
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const model = process.env.SLLM_MODEL;
const client = new OpenAI({ baseURL: process.env.SLLM_BASE_URL, apiKey: process.env.SLLM_API_KEY || 'none', maxRetries: 0 });

const models = await client.models.list();
assert.ok(models.data.some((m) => m.id === model), `model ${model} is listed`);

const chat = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 12, temperature: 0.8, top_p: 0.9, seed: 7,
});
assert.equal(chat.object, 'chat.completion');
assert.equal(typeof chat.choices[0].message.content, 'string');
assert.ok(['stop', 'length'].includes(chat.choices[0].finish_reason));
assert.ok(chat.usage.prompt_tokens > 0 && chat.usage.completion_tokens > 0);
assert.equal(chat.usage.total_tokens, chat.usage.prompt_tokens + chat.usage.completion_tokens);

// Same seed, same text.
const again = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 12, temperature: 0.8, top_p: 0.9, seed: 7,
});
assert.equal(again.choices[0].message.content, chat.choices[0].message.content);

const stream = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 12, temperature: 0.8, top_p: 0.9, seed: 7,
  stream: true, stream_options: { include_usage: true },
});
let streamed = '', usage = null, finish = null, chunks = 0;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  const c = chunk.choices[0];
  if (c && c.delta && c.delta.content) streamed += c.delta.content;
  if (c && c.finish_reason) finish = c.finish_reason;
}
assert.ok(chunks >= 3, 'several chunks');
assert.equal(streamed, chat.choices[0].message.content, 'streamed text equals the plain response');
assert.ok(finish);
assert.deepEqual(usage, chat.usage);

const text = await client.completions.create({ model, prompt: 'The cat', max_tokens: 5, temperature: 0 });
assert.equal(text.object, 'text_completion');
assert.equal(text.usage.completion_tokens, 5);
let streamedText = '';
for await (const c of await client.completions.create({ model, prompt: 'The cat', max_tokens: 5, temperature: 0, stream: true }))
  streamedText += c.choices[0]?.text ?? '';
assert.equal(streamedText, text.choices[0].text);

const json = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'JSON please' }], max_tokens: 40, response_format: { type: 'json_object' }, seed: 1,
});
JSON.parse(json.choices[0].message.content);  // Always parses, even when cut short.

const emb = await client.embeddings.create({ model, input: ['hello', 'world'] });
assert.equal(emb.data.length, 2);
assert.ok(emb.data[0].embedding.length > 0);
const emb64 = await client.embeddings.create({ model, input: 'hello' });  // The SDK asks for base64 and decodes it.
assert.equal(emb64.data[0].embedding.length, emb.data[0].embedding.length);
assert.ok(Math.abs(emb64.data[0].embedding[0] - emb.data[0].embedding[0]) < 1e-6);

await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
  (e) => e.status === 404 && e.code === 'model_not_found');
await assert.rejects(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }),
  (e) => e.status === 400 && e.param === 'temperature');

console.log('openai sdk: all checks passed');
