#include "sllm/adapt/preference_data.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/common/lines.h"
#include "sllm/io/file.h"

namespace sllm {

using nlohmann::json;

namespace {

std::vector<ChatMessage> parse_messages(const json& a, const char* key, int lineno,
                                        const std::string& src) {
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < a.size(); ++i) {
    const json& m = a[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string())
      fail("{}:{}: '{}' message {} needs string 'role' and 'content'", src, lineno, key, i + 1);
    out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return out;
}

PreferenceExample parse_line(std::string_view line, int lineno, const std::string& src) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded()) fail("{}:{}: invalid JSON", src, lineno);
  if (!j.is_object())
    fail("{}:{}: expected a JSON object with 'chosen' and 'rejected'", src, lineno);
  for (const char* k : {"chosen", "rejected"})
    if (!j.contains(k)) fail("{}:{}: missing '{}'", src, lineno, k);
  PreferenceExample ex;
  ex.line = lineno;
  ex.conversational = j["chosen"].is_array();
  const bool has_prompt = j.contains("prompt");
  for (const char* k : {"prompt", "chosen", "rejected"}) {
    if (!j.contains(k)) continue;
    const json& v = j[k];
    if (ex.conversational ? !v.is_array() : !v.is_string())
      fail("{}:{}: '{}' must be {} like 'chosen'", src, lineno, k,
           ex.conversational ? "a message array" : "a string");
  }
  if (!ex.conversational) {
    if (has_prompt) ex.prompt_text = j["prompt"].get<std::string>();
    ex.chosen_text = j["chosen"].get<std::string>();
    ex.rejected_text = j["rejected"].get<std::string>();
    if (ex.chosen_text.empty()) fail("{}:{}: 'chosen' is an empty completion", src, lineno);
    if (ex.rejected_text.empty()) fail("{}:{}: 'rejected' is an empty completion", src, lineno);
    return ex;
  }
  if (has_prompt) ex.prompt = parse_messages(j["prompt"], "prompt", lineno, src);
  ex.chosen = parse_messages(j["chosen"], "chosen", lineno, src);
  ex.rejected = parse_messages(j["rejected"], "rejected", lineno, src);
  if (!has_prompt) {  // Implicit prompt: all but the last message, shared by both.
    if (ex.chosen.size() != ex.rejected.size() ||
        !std::equal(ex.chosen.begin(), ex.chosen.end() - (ex.chosen.empty() ? 0 : 1),
                    ex.rejected.begin(), [](const ChatMessage& a, const ChatMessage& b) {
                      return a.role == b.role && a.content == b.content;
                    }))
      fail(
          "{}:{}: without 'prompt', 'chosen' and 'rejected' must differ only in their last message",
          src, lineno);
    if (!ex.chosen.empty()) {
      ex.prompt.assign(ex.chosen.begin(), ex.chosen.end() - 1);
      ex.chosen.erase(ex.chosen.begin(), ex.chosen.end() - 1);
      ex.rejected.erase(ex.rejected.begin(), ex.rejected.end() - 1);
    }
  }
  for (const auto* side : {&ex.chosen, &ex.rejected}) {
    const char* k = side == &ex.chosen ? "chosen" : "rejected";
    if (side->empty() || side->back().role != "assistant" || side->back().content.empty())
      fail("{}:{}: '{}' is an empty completion (it must end with a non-empty assistant message)",
           src, lineno, k);
  }
  return ex;
}

// One sequence's tokens and whether each is a completion (trained) token.
struct Sequence {
  std::vector<int32_t> ids;
  std::vector<uint8_t> train;
  void add(const std::vector<int32_t>& t, bool tr) {
    ids.insert(ids.end(), t.begin(), t.end());
    train.insert(train.end(), t.size(), tr ? 1 : 0);
  }
};

// Keeps only the last run of trained segments: the completion, not earlier assistant turns.
std::vector<TextSegment> last_turn_only(std::vector<TextSegment> seg) {
  size_t i = seg.size();
  while (i > 0 && !seg[i - 1].train) --i;
  while (i > 0 && seg[i - 1].train) --i;
  for (size_t k = 0; k < i; ++k) seg[k].train = false;
  return seg;
}

void write_row(const Sequence& s, int T, int32_t* in, int32_t* tg) {
  const size_t n = s.ids.size();
  size_t first = 0;
  while (first < n && !s.train[first]) ++first;
  size_t begin = 0;  // keep_end: drop the prompt's start while the row is too long
  if (n - 1 > static_cast<size_t>(T)) begin = std::min(n - 1 - T, first == 0 ? 0 : first - 1);
  std::fill(in, in + T, 0);
  std::fill(tg, tg + T, -1);
  for (int t = 0; t < T && begin + t + 1 < n; ++t) {
    in[t] = s.ids[begin + t];
    if (s.train[begin + t + 1]) tg[t] = s.ids[begin + t + 1];
  }
}

}  // namespace

std::vector<PreferenceExample> parse_preference_jsonl(std::string_view contents,
                                                      const std::string& src) {
  std::vector<PreferenceExample> out;
  for_each_line(contents, [&](std::string_view line, int lineno) {
    out.push_back(parse_line(line, lineno, src));
    if (out.back().conversational != out.front().conversational)
      fail("{}:{}: mixes conversational and standard rows (line {} is the other kind)", src, lineno,
           out.front().line);
  });
  return out;
}

std::vector<PreferenceExample> read_preference_jsonl(const std::string& path) {
  auto ex = parse_preference_jsonl(read_file(path), path);
  if (ex.empty()) fail("preference dataset {} holds no rows", path);
  return ex;
}

PreferencePairs pack_preferences(const std::vector<PreferenceExample>& examples,
                                 const ChatRenderFn& render, const EncodeFn& encode, int32_t bos_id,
                                 int32_t eos_id, int T, const std::string& src) {
  if (T < 1) fail("sequence length {} must be >= 1", T);
  if (examples.empty()) fail("preference dataset {} holds no rows", src);
  PreferencePairs p;
  p.T = T;
  p.pairs = examples.size();
  p.inputs.resize(p.pairs * 2 * T);
  p.targets.resize(p.inputs.size());
  for (size_t e = 0; e < examples.size(); ++e) {
    const PreferenceExample& ex = examples[e];
    for (int which = 0; which < 2; ++which) {
      const char* side = which ? "rejected" : "chosen";
      Sequence s;
      try {
        std::vector<TextSegment> seg;
        if (ex.conversational) {
          std::vector<ChatMessage> all = ex.prompt;
          const auto& c = which ? ex.rejected : ex.chosen;
          all.insert(all.end(), c.begin(), c.end());
          seg = last_turn_only(render(all));
        } else {
          seg = {{ex.prompt_text, false}, {which ? ex.rejected_text : ex.chosen_text, true}};
        }
        for (const auto& sg : seg) s.add(encode(sg.text), sg.train);
        if (!ex.conversational && eos_id >= 0) s.add({eos_id}, true);
      } catch (const Error& e) {
        fail("{}:{}: {}: {}", src, ex.line, side, e.what());
      }
      if (bos_id >= 0 && (s.ids.empty() || s.ids[0] != bos_id)) {
        s.ids.insert(s.ids.begin(), bos_id);
        s.train.insert(s.train.begin(), 0);
      }
      if (std::find(s.train.begin() + 1, s.train.end(), 1) == s.train.end())
        fail("{}:{}: the {} completion has no token to train on after tokenization", src, ex.line,
             side);
      const size_t r = e * 2 + which;
      write_row(s, T, p.inputs.data() + r * T, p.targets.data() + r * T);
    }
  }
  return p;
}

void split_pairs(const PreferencePairs& all, double fraction, PreferencePairs& train,
                 PreferencePairs& val) {
  size_t nval = static_cast<size_t>(all.pairs * fraction + 0.5);
  if (fraction > 0 && nval == 0 && all.pairs >= 2) nval = 1;
  if (nval >= all.pairs) nval = all.pairs > 1 ? all.pairs - 1 : 0;
  auto slice = [&](PreferencePairs& out, size_t from, size_t count) {
    out = PreferencePairs{};
    out.T = all.T;
    out.pairs = count;
    const size_t row = 2 * static_cast<size_t>(all.T);
    out.inputs.assign(all.inputs.begin() + from * row, all.inputs.begin() + (from + count) * row);
    out.targets.assign(all.targets.begin() + from * row,
                       all.targets.begin() + (from + count) * row);
    if (!all.ref_logps.empty())
      out.ref_logps.assign(all.ref_logps.begin() + from * 2,
                           all.ref_logps.begin() + (from + count) * 2);
  };
  slice(train, 0, all.pairs - nval);
  slice(val, all.pairs - nval, nval);
}

}  // namespace sllm
