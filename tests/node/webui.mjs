// The web UI in Debian's headless Chromium (playwright-core, no browser download): pick a
// model, set sampling, chat with streaming, then open the usage page of the key.
// Usage: SLLM_URL=http://127.0.0.1:PORT/ SLLM_MODEL=name SLLM_API_KEY=key node webui.mjs
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage',
         '--no-first-run', '--disable-extensions'],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(process.env.SLLM_URL);
  await page.fill('#apikey', process.env.SLLM_API_KEY || '');
  await page.dispatchEvent('#apikey', 'change');
  await page.waitForFunction((m) => [...document.querySelectorAll('#model option')].some((o) => o.value === m), process.env.SLLM_MODEL);
  await page.selectOption('#model', process.env.SLLM_MODEL);
  await page.fill('#temperature', '0');
  await page.fill('#max_tokens', '16');
  await page.fill('#prompt', 'Once upon a time');
  await page.click('#send');
  await page.waitForSelector('.msg.user');
  // Streaming: the Stop button is live while tokens arrive, and the answer fills in.
  await page.waitForFunction(() => document.querySelector('#send').disabled === false && document.querySelectorAll('.msg.assistant').length === 1);
  const answer = await page.textContent('.msg.assistant');
  assert.ok(answer.length > 0, 'the assistant answered');
  assert.equal(await page.locator('.msg.error').count(), 0);
  assert.match(await page.textContent('#status'), /completion tokens/);
  if (process.env.SLLM_API_KEY) {
    await page.click('#tab-usage');
    await page.waitForSelector('#usage-key');
    assert.equal(await page.textContent('#usage-key'), process.env.SLLM_KEY_NAME);
    assert.ok(Number(await page.textContent('#usage-today')) > 0, 'usage shows today\'s tokens');
  }
  console.log('web ui: all checks passed');
} finally {
  await browser.close();
}
