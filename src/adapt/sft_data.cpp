#include "sllm/adapt/sft_data.h"

#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/common/lines.h"
#include "sllm/io/file.h"

namespace sllm {

using nlohmann::json;

namespace {

// ShareGPT's {"from", "value"} turns as {"messages": [{"role", "content"}]}.
json sharegpt_to_messages(const json& conv, int lineno, const std::string& src) {
  static const std::pair<const char*, const char*> kRoles[] = {{"system", "system"},
                                                               {"human", "user"},
                                                               {"user", "user"},
                                                               {"gpt", "assistant"},
                                                               {"assistant", "assistant"}};
  if (!conv.is_array()) fail("{}:{}: 'conversations' must be an array", src, lineno);
  json msgs = json::array();
  for (size_t i = 0; i < conv.size(); ++i) {
    const json& m = conv[i];
    if (!m.is_object() || !m.contains("from") || !m["from"].is_string() || !m.contains("value") ||
        !m["value"].is_string())
      fail("{}:{}: conversation turn {} needs string 'from' and 'value'", src, lineno, i + 1);
    const std::string from = m["from"].get<std::string>();
    const char* role = nullptr;
    for (const auto& [f, r] : kRoles)
      if (from == f) role = r;
    if (!role)
      fail("{}:{}: conversation turn {} is from '{}' (expected system, human or gpt)", src, lineno,
           i + 1, from);
    msgs.push_back({{"role", role}, {"content", m["value"]}});
  }
  return {{"messages", msgs}};
}

SftExample parse_line(std::string_view line, int lineno, const std::string& src);

// TRL's prompt-completion rows: text (the completion trained) or messages (prompt + completion).
SftExample parse_prompt_completion(const json& j, int lineno, const std::string& src) {
  for (const char* k : {"prompt", "completion"})
    if (!j.contains(k)) fail("{}:{}: missing '{}'", src, lineno, k);
  const json &p = j["prompt"], &c = j["completion"];
  if (p.is_string() && c.is_string()) {
    SftExample ex;
    ex.line = lineno;
    ex.prompt = p.get<std::string>();
    ex.text = c.get<std::string>();
    if (ex.text.empty()) fail("{}:{}: 'completion' is empty", src, lineno);
    return ex;
  }
  if (!p.is_array() || !c.is_array())
    fail("{}:{}: 'prompt' and 'completion' must both be strings or both message arrays", src,
         lineno);
  if (c.empty() || !c.back().is_object() || c.back().value("content", json()) == "")
    fail("{}:{}: 'completion' is empty", src, lineno);
  json msgs = p;
  msgs.insert(msgs.end(), c.begin(), c.end());
  return parse_line(json{{"messages", msgs}}.dump(), lineno, src);
}

SftExample parse_line(std::string_view line, int lineno, const std::string& src) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 5e511.
    fail("{}:{}: invalid JSON: {}", src, lineno, e.what());
  }
  SftExample ex;
  ex.line = lineno;
  if (!j.is_object()) fail("{}:{}: expected a JSON object with 'messages' or 'text'", src, lineno);
  if (j.contains("completion") || j.contains("prompt"))
    return parse_prompt_completion(j, lineno, src);
  if (j.contains("conversations")) j = sharegpt_to_messages(j["conversations"], lineno, src);
  if (j.contains("text") && !j.contains("messages")) {
    if (!j["text"].is_string()) fail("{}:{}: 'text' must be a string", src, lineno);
    ex.text = j["text"].get<std::string>();
    if (ex.text.empty()) fail("{}:{}: 'text' is empty", src, lineno);
    return ex;
  }
  if (!j.contains("messages") || !j["messages"].is_array())
    fail("{}:{}: expected a JSON object with a 'messages' array (or a 'text' string)", src, lineno);
  const json& msgs = j["messages"];
  if (msgs.empty()) fail("{}:{}: 'messages' is empty", src, lineno);
  bool has_assistant = false;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const json& m = msgs[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      fail("{}:{}: message {} needs a string 'role'", src, lineno, i + 1);
    if (!m.contains("content") || !m["content"].is_string())
      fail("{}:{}: message {} needs a string 'content'", src, lineno, i + 1);
    ChatMessage cm{m["role"].get<std::string>(), m["content"].get<std::string>()};
    if (cm.role != "system" && cm.role != "user" && cm.role != "assistant" && cm.role != "tool")
      fail("{}:{}: message {} has role '{}' (expected system, user, assistant or tool)", src,
           lineno, i + 1, cm.role);
    if (cm.role == "system" && i != 0)
      fail("{}:{}: message {}: a system message must come first", src, lineno, i + 1);
    has_assistant |= cm.role == "assistant";
    ex.messages.push_back(std::move(cm));
  }
  if (!has_assistant)
    fail("{}:{}: no assistant message, so nothing to learn from this example", src, lineno);
  return ex;
}

}  // namespace

std::vector<SftExample> parse_sft_jsonl(std::string_view contents, const std::string& src) {
  std::vector<SftExample> out;
  for_each_line(contents, [&](std::string_view line, int lineno) {
    out.push_back(parse_line(line, lineno, src));
  });
  return out;
}

std::vector<SftExample> read_sft_jsonl(const std::string& path) {
  auto ex = parse_sft_jsonl(read_file(path), path);
  if (ex.empty()) fail("dataset {} holds no examples", path);
  return ex;
}

std::vector<std::string> chat_template_names() {
  return {"chatml", "zephyr", "plain"};
}

std::vector<TextSegment> render_chat(const std::string& tmpl,
                                     const std::vector<ChatMessage>& messages) {
  if (tmpl != "chatml" && tmpl != "zephyr" && tmpl != "plain")
    fail("unknown chat template '{}' (expected chatml, zephyr or plain)", tmpl);
  std::vector<TextSegment> seg;
  auto add = [&](std::string text, bool train) {
    if (!seg.empty() && seg.back().train == train)
      seg.back().text += text;
    else
      seg.push_back({std::move(text), train});
  };
  for (const auto& m : messages) {
    const bool a = m.role == "assistant";
    if (tmpl == "chatml") {
      add("<|im_start|>" + m.role + "\n", false);
      add(m.content + "<|im_end|>", a);
      add("\n", false);
    } else if (tmpl == "zephyr") {
      add("<|" + m.role + "|>\n", false);
      add(m.content + "</s>", a);
      add("\n", false);
    } else {
      const char* head = m.role == "system" ? "System: "
                         : m.role == "user" ? "User: "
                                            : "Assistant: ";
      add(head, false);
      add(m.content + "\n", a);
    }
  }
  return seg;
}

namespace {

// Cuts a token stream (with a per-token "is a training target" flag) into rows of T.
PackedSequences pack_stream(const std::vector<int32_t>& toks, const std::vector<uint8_t>& train,
                            int T) {
  if (T < 1) fail("sequence length {} must be >= 1", T);
  PackedSequences p;
  p.T = T;
  if (toks.size() < 2) return p;
  const size_t n = toks.size() - 1;  // Positions that have a next token.
  for (size_t start = 0; start < n; start += T) {
    std::vector<int32_t> in(T, 0), tg(T, -1);
    size_t trained = 0;
    for (int t = 0; t < T && start + t < n; ++t) {
      in[t] = toks[start + t];
      if (train[start + t + 1]) {
        tg[t] = toks[start + t + 1];
        ++trained;
      }
    }
    if (trained == 0) continue;
    p.inputs.insert(p.inputs.end(), in.begin(), in.end());
    p.targets.insert(p.targets.end(), tg.begin(), tg.end());
    p.trained_tokens += trained;
    ++p.rows;
  }
  return p;
}

}  // namespace

namespace {

using RenderFn = std::function<std::vector<TextSegment>(const std::vector<ChatMessage>&)>;

PackedSequences pack_examples(const std::vector<SftExample>& examples, const RenderFn& render,
                              const EncodeFn& encode, int32_t bos_id, int T,
                              const std::string& src) {
  if (examples.empty()) fail("dataset {} holds no examples", src);
  std::vector<int32_t> toks;
  std::vector<uint8_t> train;
  for (const auto& ex : examples) {
    std::vector<TextSegment> seg;
    try {
      seg = !ex.messages.empty() ? render(ex.messages)
            : ex.prompt.empty()  ? std::vector<TextSegment>{{ex.text, true}}
                                 : std::vector<TextSegment>{{ex.prompt, false}, {ex.text, true}};
    } catch (const Error& e) {
      fail("{}:{}: {}", src, ex.line, e.what());
    }
    const size_t start = toks.size();
    for (const auto& s : seg) {
      std::vector<int32_t> ids;
      try {
        ids = encode(s.text);
      } catch (const Error& e) {
        fail("{}:{}: cannot tokenize this example: {}", src, ex.line, e.what());
      }
      toks.insert(toks.end(), ids.begin(), ids.end());
      train.insert(train.end(), ids.size(), s.train ? 1 : 0);
    }
    // Each example starts with BOS, unless its template already printed it.
    if (bos_id >= 0 && (toks.size() == start || toks[start] != bos_id)) {
      toks.insert(toks.begin() + static_cast<long>(start), bos_id);
      train.insert(train.begin() + static_cast<long>(start), 0);
    }
  }
  PackedSequences p = pack_stream(toks, train, T);
  if (p.rows == 0) fail("dataset {}: no example has a token to train on after tokenization", src);
  return p;
}

}  // namespace

PackedSequences pack_sft(const std::vector<SftExample>& examples, const std::string& tmpl,
                         const EncodeFn& encode, int32_t bos_id, int T, const std::string& src) {
  if (examples.empty()) fail("dataset {} holds no examples", src);
  render_chat(tmpl, {});  // Rejects an unknown template name even when every example is text.
  return pack_examples(
      examples, [&](const std::vector<ChatMessage>& m) { return render_chat(tmpl, m); }, encode,
      bos_id, T, src);
}

PackedSequences pack_sft(const std::vector<SftExample>& examples, const ChatTemplate& t,
                         const EncodeFn& encode, int32_t bos_id, int T, const std::string& src) {
  return pack_examples(
      examples, [&](const std::vector<ChatMessage>& m) { return render_chat(t, m); }, encode,
      bos_id, T, src);
}

std::vector<TextSegment> render_chat(const ChatTemplate& t,
                                     const std::vector<ChatMessage>& messages) {
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const auto& m : messages) all.push_back({{"role", m.role}, {"content", m.content}});
  std::vector<std::pair<size_t, size_t>> spans;
  const std::string full = t.apply_json(all, false, nlohmann::ordered_json::object(), &spans);
  if (spans.empty()) {
    // No {% generation %} markers: each assistant turn is what its message adds to the
    // conversation before it, rendered with the generation prompt.
    for (size_t i = 0; i < messages.size(); ++i) {
      if (messages[i].role != "assistant") continue;
      nlohmann::ordered_json before = nlohmann::ordered_json::array(), upto;
      for (size_t k = 0; k < i; ++k) before.push_back(all[k]);
      for (size_t k = 0; k <= i; ++k) upto.push_back(all[k]);
      const std::string prompt = i == 0 ? std::string() : t.apply_json(before, true);
      const std::string with = t.apply_json(upto, false);
      if (!with.starts_with(prompt) || !full.starts_with(with) || with.size() == prompt.size())
        fail(
            "chat template '{}' does not render assistant message {} as an extension of the "
            "conversation before it, so its loss mask cannot be found (add {{% generation %}} "
            "markers to the template, or pick another with --chat-template)",
            t.name(), i + 1);
      spans.push_back({prompt.size(), with.size()});
    }
  }
  std::vector<TextSegment> seg;
  size_t pos = 0;
  for (auto [a, b] : spans) {
    if (a < pos || b > full.size())
      fail("chat template '{}': overlapping generation spans", t.name());
    if (a > pos) seg.push_back({full.substr(pos, a - pos), false});
    if (b > a) seg.push_back({full.substr(a, b - a), true});
    pos = b;
  }
  if (pos < full.size()) seg.push_back({full.substr(pos), false});
  return seg;
}

PackedSequences pack_tokens(const std::vector<int32_t>& tokens, int T) {
  std::vector<uint8_t> train(tokens.size(), 1);
  return pack_stream(tokens, train, T);
}

void split_rows(const PackedSequences& all, double fraction, PackedSequences& train,
                PackedSequences& val) {
  size_t nval = static_cast<size_t>(all.rows * fraction + 0.5);
  if (fraction > 0 && nval == 0 && all.rows >= 2) nval = 1;
  if (nval >= all.rows) nval = all.rows > 1 ? all.rows - 1 : 0;
  const size_t ntrain = all.rows - nval;
  auto slice = [&](PackedSequences& out, size_t from, size_t count) {
    out = PackedSequences{};
    out.T = all.T;
    out.rows = count;
    out.inputs.assign(all.inputs.begin() + from * all.T,
                      all.inputs.begin() + (from + count) * all.T);
    out.targets.assign(all.targets.begin() + from * all.T,
                       all.targets.begin() + (from + count) * all.T);
    for (int32_t t : out.targets) out.trained_tokens += t >= 0;
  };
  slice(train, 0, ntrain);
  slice(val, ntrain, nval);
}

}  // namespace sllm
