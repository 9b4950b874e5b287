// The web UI served at "/": one self-contained page (no external assets, works offline) with a
// streaming chat, a model picker, sampling settings, and the usage page of the caller's key.
#include "server_impl.h"

namespace sllm::serve {

namespace {
const char* kPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sllm</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; display: flex; height: 100vh; color: #222; }
  aside { width: 260px; padding: 12px; background: #f4f4f6; border-right: 1px solid #ddd; overflow-y: auto; }
  main { flex: 1; display: flex; flex-direction: column; }
  nav button { margin-right: 4px; }
  label { display: block; font-size: 13px; margin-top: 8px; }
  input, select, textarea { width: 100%; box-sizing: border-box; font: inherit; }
  #log { flex: 1; overflow-y: auto; padding: 12px; }
  .msg { white-space: pre-wrap; margin: 8px 0; padding: 8px; border-radius: 6px; }
  .user { background: #e8f0fe; } .assistant { background: #f1f1f1; } .error { background: #fde8e8; color: #900; }
  form { display: flex; gap: 8px; padding: 12px; border-top: 1px solid #ddd; }
  form textarea { flex: 1; height: 60px; }
  table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
  .hidden { display: none !important; }
</style>
</head>
<body>
<aside>
  <nav><button id="tab-chat">Chat</button><button id="tab-usage">Usage</button></nav>
  <label>API key <input id="apikey" type="password" placeholder="sk-sllm-... (if the server has keys)"></label>
  <label>Model <select id="model"></select></label>
  <label>Temperature <input id="temperature" type="number" step="0.1" min="0" max="2" value="0.8"></label>
  <label>Top-p <input id="top_p" type="number" step="0.05" min="0.01" max="1" value="0.95"></label>
  <label>Top-k (0 = off) <input id="top_k" type="number" min="0" value="40"></label>
  <label>Max tokens <input id="max_tokens" type="number" min="1" value="128"></label>
  <label>Seed (empty = random) <input id="seed" type="number"></label>
  <label>System prompt <textarea id="system" rows="3"></textarea></label>
  <p><button id="clear">New chat</button></p>
  <p id="status" style="font-size:12px;color:#666"></p>
</aside>
<main>
  <section id="chat-view" style="display:flex;flex-direction:column;flex:1;min-height:0">
    <div id="log"></div>
    <form id="send-form">
      <textarea id="prompt" placeholder="Say something (Enter sends, Shift+Enter for a new line)"></textarea>
      <button id="send" type="submit">Send</button>
      <button id="stop" type="button" disabled>Stop</button>
    </form>
  </section>
  <section id="usage-view" class="hidden" style="padding:12px;overflow-y:auto">
    <h2>Usage of this key</h2>
    <div id="usage"></div>
  </section>
</main>
<script>
const $ = (id) => document.getElementById(id);
const history = [];
let controller = null;
$('apikey').value = localStorage.getItem('sllm-key') || '';
$('apikey').addEventListener('change', () => { localStorage.setItem('sllm-key', $('apikey').value); loadModels(); });

function headers() {
  const h = { 'Content-Type': 'application/json' };
  if ($('apikey').value) h['Authorization'] = 'Bearer ' + $('apikey').value;
  return h;
}
async function errorText(res) {
  try { const j = await res.json(); return j.error ? j.error.message : res.statusText; } catch (e) { return res.statusText; }
}
async function loadModels() {
  const res = await fetch('/v1/models', { headers: headers() });
  if (!res.ok) { $('status').textContent = await errorText(res); return; }
  const data = (await res.json()).data;
  const sel = $('model'), keep = sel.value;
  sel.innerHTML = '';
  for (const m of data) { const o = document.createElement('option'); o.value = o.textContent = m.id; sel.appendChild(o); }
  if (keep && data.some((m) => m.id === keep)) sel.value = keep;
  $('status').textContent = data.length + ' model(s)';
}
function addMessage(role, text) {
  const d = document.createElement('div');
  d.className = 'msg ' + role;
  d.textContent = text;
  $('log').appendChild(d);
  $('log').scrollTop = $('log').scrollHeight;
  return d;
}
function settings() {
  const s = { temperature: +$('temperature').value, top_p: +$('top_p').value, top_k: +$('top_k').value,
              max_tokens: +$('max_tokens').value };
  if ($('seed').value !== '') s.seed = +$('seed').value;
  return s;
}
async function send(text) {
  history.push({ role: 'user', content: text });
  addMessage('user', text);
  const out = addMessage('assistant', '');
  const messages = ($('system').value ? [{ role: 'system', content: $('system').value }] : []).concat(history);
  controller = new AbortController();
  $('send').disabled = true; $('stop').disabled = false;
  let answer = '', usage = null;
  try {
    const res = await fetch('/v1/chat/completions', { method: 'POST', headers: headers(), signal: controller.signal,
      body: JSON.stringify(Object.assign({ model: $('model').value, messages, stream: true,
                                           stream_options: { include_usage: true } }, settings())) });
    if (!res.ok) throw new Error(await errorText(res));
    const reader = res.body.getReader(), decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, i); buf = buf.slice(i + 2);
        if (!event.startsWith('data: ')) continue;
        const data = event.slice(6);
        if (data === '[DONE]') continue;
        const j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message);
        if (j.usage) usage = j.usage;
        if (j.choices && j.choices.length && j.choices[0].delta.content) {
          answer += j.choices[0].delta.content;
          out.textContent = answer;
          $('log').scrollTop = $('log').scrollHeight;
        }
      }
    }
    history.push({ role: 'assistant', content: answer });
    if (usage) $('status').textContent = usage.prompt_tokens + ' prompt + ' + usage.completion_tokens + ' completion tokens';
  } catch (e) {
    if (e.name !== 'AbortError') { out.className = 'msg error'; out.textContent = 'Error: ' + e.message; }
    else history.push({ role: 'assistant', content: answer });
  } finally {
    controller = null;
    $('send').disabled = false; $('stop').disabled = true;
  }
}
$('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('prompt').value.trim();
  if (!text || controller) return;
  $('prompt').value = '';
  send(text);
});
$('prompt').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('send-form').requestSubmit(); }
});
$('stop').addEventListener('click', () => controller && controller.abort());
$('clear').addEventListener('click', () => { history.length = 0; $('log').innerHTML = ''; });

async function loadUsage() {
  const res = await fetch('/v1/usage', { headers: headers() });
  const box = $('usage');
  if (!res.ok) { box.textContent = await errorText(res); return; }
  const u = await res.json();
  const q = (n) => (n ? n : 'unlimited');
  let html = '<p>Key <b id="usage-key"></b> (<code id="usage-prefix"></code>)</p>' +
    '<p>Quota: ' + q(u.quota.tokens_per_day) + ' tokens per day, ' + q(u.quota.requests_per_minute) + ' requests per minute</p>' +
    '<p>Today (UTC): <span id="usage-today">' + u.today.total_tokens + '</span> tokens in ' + u.today.requests +
    ' requests. All time: ' + u.all_time.total_tokens + ' tokens in ' + u.all_time.requests + ' requests.</p>' +
    '<table><tr><th>day</th><th>requests</th><th>prompt tokens</th><th>completion tokens</th></tr>';
  for (const d of u.daily)
    html += '<tr><td>' + d.day + '</td><td>' + d.requests + '</td><td>' + d.prompt_tokens + '</td><td>' + d.completion_tokens + '</td></tr>';
  box.innerHTML = html + '</table>';
  $('usage-key').textContent = u.key.name;
  $('usage-prefix').textContent = u.key.prefix;
}
function show(view) {
  $('chat-view').classList.toggle('hidden', view !== 'chat');
  $('usage-view').classList.toggle('hidden', view !== 'usage');
  if (view === 'usage') loadUsage();
}
$('tab-chat').addEventListener('click', () => show('chat'));
$('tab-usage').addEventListener('click', () => show('usage'));
loadModels();
</script>
</body>
</html>
)HTML";
}  // namespace

const std::string& web_ui_html() {
  static const std::string page = kPage;
  return page;
}

}  // namespace sllm::serve
