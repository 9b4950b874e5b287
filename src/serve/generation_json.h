// The state of one generation response (its choices and their jobs) and the JSON pieces of
// OpenAI's completion and chat-completion bodies, shared by generation.cpp and
// generation_response.cpp.
#pragma once
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server_impl.h"
#include "sllm/serve/tool_calls.h"

namespace sllm::serve {

struct Choice {
  int index = 0;
  std::shared_ptr<Job> job;  // Null when nothing is generated (echo with max_tokens 0).
  std::string echo;          // Completions with echo: the prompt's text comes first...
  std::vector<TokenLogprob> echo_logprobs;  // ...and with logprobs its tokens' (the first NaN).
  std::string text;                         // What arrived so far.
  std::vector<TokenLogprob> logprobs;
  size_t offset = 0;  // Completions: text_offset of the next token.
  bool done = false;
  std::string reason() const { return job ? job->finish_reason() : "length"; }
};

struct GenState {
  std::vector<Choice> choices;
  std::optional<ApiKey> key;
  std::string id, model, endpoint;
  int64_t created = 0;
  bool chat = false, include_usage = false;
  int logprobs = -1;
  std::vector<std::string> tool_names;  // The tools whose calls are parsed from the output.
  bool parallel_tool_calls = true;      // false: a reply carries at most its first call.
  int prompt_tokens = 0;                // All prompts, each counted once (shared by its n).
  std::unique_ptr<QuotaReservation> reservation;  // Released once the usage is recorded.
  bool settled = false;  // The ledger has its row (the provider and releaser run one after the
                         // other on the connection's thread).

  int completion_tokens() const {
    int n = 0;
    for (const auto& c : choices) n += c.job ? c.job->completion_tokens() : 0;
    return n;
  }
  int taken_tokens() const {
    int n = 0;
    for (const auto& c : choices) n += c.job ? c.job->taken_tokens() : 0;
    return n;
  }
  // The ledger's finish reason: "error" when any choice failed, else the first choice's.
  std::string reason() const {
    for (const auto& c : choices)
      if (c.reason() == "error") return "error";
    return choices.empty() ? "stop" : choices[0].reason();
  }
  const std::string* error() const {
    for (const auto& c : choices)
      if (c.job && c.job->finish_reason() == "error") return &c.job->error();
    return nullptr;
  }
};

inline json usage_json(int prompt, int completion) {
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion}};
}

inline std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

inline json bytes_json(const std::string& s) {
  json a = json::array();
  for (unsigned char c : s) a.push_back(int(c));
  return a;
}

// A token as text: its bytes when they are UTF-8 by themselves, else OpenAI's "bytes:\xHH..."
// (a byte-level token may hold part of a character; JSON strings cannot).
inline std::string token_text(const std::string& b) {
  for (size_t i = 0; i < b.size();) {
    const uint8_t c = uint8_t(b[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= b.size() && (n != 2 || c >= 0xC2);
    for (size_t k = 1; ok && k < n; ++k) ok = (uint8_t(b[i + k]) & 0xC0) == 0x80;
    if (!ok) {
      std::string out = "bytes:";
      for (unsigned char x : b) out += fmt::format("\\x{:02x}", x);
      return out;
    }
    i += n;
  }
  return b;
}

inline json logprob_value(double lp) {
  return std::isnan(lp) ? json(nullptr) : json(lp);
}

// Chat: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
inline json chat_logprobs(const std::vector<TokenLogprob>& lps) {
  json content = json::array();
  for (const auto& t : lps) {
    json top = json::array();
    for (const auto& c : t.top)
      top.push_back(
          {{"token", token_text(c.bytes)}, {"logprob", c.logprob}, {"bytes", bytes_json(c.bytes)}});
    content.push_back({{"token", token_text(t.chosen.bytes)},
                       {"logprob", t.chosen.logprob},
                       {"bytes", bytes_json(t.chosen.bytes)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

// Completions: parallel arrays; `offset` is the text offset of the first token, and moves on.
inline json completion_logprobs(const std::vector<TokenLogprob>& lps, size_t& offset) {
  json tokens = json::array(), values = json::array(), tops = json::array(),
       offsets = json::array();
  for (const auto& t : lps) {
    tokens.push_back(token_text(t.chosen.bytes));
    values.push_back(logprob_value(t.chosen.logprob));
    if (std::isnan(t.chosen.logprob)) {
      tops.push_back(nullptr);
    } else {
      json top = json::object();
      for (const auto& c : t.top) top[token_text(c.bytes)] = c.logprob;
      tops.push_back(top);
    }
    offsets.push_back(offset);
    offset += t.chosen.bytes.size();
  }
  return {{"tokens", tokens},
          {"token_logprobs", values},
          {"top_logprobs", tops},
          {"text_offset", offsets}};
}

// OpenAI's tool_calls array for parsed calls; the stream sends each with its index.
inline json tool_calls_json(const std::vector<ToolCall>& calls, bool with_index) {
  json out = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    json c = {{"id", random_id("call_")},
              {"type", "function"},
              {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}};
    if (with_index) c["index"] = i;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace sllm::serve
