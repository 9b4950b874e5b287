#include "sllm/tokenizer/hf_tokenizer.h"

#include <unicode/uchar.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "hf_components.h"
#include "pretokenizer.h"
#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/tokenizer/bpe.h"
#include "utf8.h"

namespace sllm {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false, normalized = false, lstrip = false, rstrip = false, single_word = false;
};

// Leftmost-longest matching of the added tokens (transformers.js' DictionarySplitter).
class Trie {
 public:
  Trie() { std::fill(std::begin(root_), std::end(root_), -1); }
  bool empty() const { return nodes_.empty(); }
  void add(std::string_view s, int32_t value) {
    int32_t* slot = &root_[static_cast<uint8_t>(s[0])];
    for (size_t i = 1;; ++i) {
      if (*slot < 0) {
        *slot = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
      }
      int32_t node = *slot;
      if (i == s.size()) {
        nodes_[node].value = value;
        return;
      }
      auto& next = nodes_[node].next;
      uint8_t c = static_cast<uint8_t>(s[i]);
      auto it = std::find_if(next.begin(), next.end(), [&](auto& e) { return e.first == c; });
      if (it == next.end()) {
        next.push_back({c, -1});
        it = next.end() - 1;
      }
      slot = &it->second;
    }
  }
  // The value of the longest entry starting at text[pos], and its length; -1 when none.
  int32_t match(std::string_view text, size_t pos, size_t* len) const {
    int32_t node = root_[static_cast<uint8_t>(text[pos])], best = -1;
    for (size_t i = pos + 1; node >= 0; ++i) {
      if (nodes_[node].value >= 0) {
        best = nodes_[node].value;
        *len = i - pos;
      }
      if (i == text.size()) break;
      int32_t nx = -1;
      for (auto& [c, n] : nodes_[node].next)
        if (c == static_cast<uint8_t>(text[i])) nx = n;
      node = nx;
    }
    return best;
  }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> next;
    int32_t value = -1;
  };
  int32_t root_[256];
  std::vector<Node> nodes_;
};

bool word_char_at(std::string_view s, size_t pos, bool before) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  if (before) {
    if (pos == 0) return false;
    size_t k = pos - 1;
    while (k > 0 && (p[k] & 0xC0) == 0x80) --k;
    pos = k;
  } else if (pos >= s.size()) {
    return false;
  }
  uint32_t cp;
  if (utf8::decode(p + pos, s.size() - pos, &cp) == 0) return false;
  return cp == '_' || u_isalnum(static_cast<UChar32>(cp));
}

bool flag(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return false;
  if (!j[key].is_boolean()) fail("{}: added token field \"{}\" must be true or false", where, key);
  return j[key].get<bool>();
}

// A token name in tokenizer_config.json: a string, an AddedToken object, or null.
std::string token_name(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return {};
  if (j[key].is_string()) return j[key].get<std::string>();
  if (j[key].is_object() && j[key].contains("content") && j[key]["content"].is_string())
    return j[key]["content"].get<std::string>();
  fail("tokenizer config: \"{}\" must be a string or an object with \"content\"", key);
}

void clean_up_tokenization(std::string& s) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto [from, to] : kRules) {
    std::string out;
    size_t pos = 0;
    for (size_t q; (q = s.find(from, pos)) != std::string::npos; pos = q + from.size()) {
      out.append(s, pos, q - pos);
      out += to;
    }
    out.append(s, pos);
    s = std::move(out);
  }
}

}  // namespace

struct HfTokenizer::Impl {
  std::unique_ptr<BpeTokenizer> model;
  std::vector<AddedToken> added;
  std::unordered_set<std::string> added_set;
  std::vector<int32_t> added_of_id;               // index into `added`, or -1
  Trie raw_all, raw_plain, norm_all, norm_plain;  // plain: the non-special ones only
  std::unique_ptr<hf::Normalizer> normalizer;
  std::unique_ptr<hf::PreTokenizer> pre;
  std::unique_ptr<hf::Decoder> decoder;
  std::vector<int32_t> prefix, suffix;  // post-processor
  std::vector<std::string> vocab_str;   // tokenizer.json form of every id (decoder input)
  int32_t size = 0;

  struct Section {
    std::string_view text;
    int32_t added = -1;
  };

  void split(std::string_view text, const Trie& trie, std::vector<Section>& out) const {
    size_t first = out.size();
    if (trie.empty()) {
      out.push_back({text});
      return;
    }
    size_t start = 0;
    for (size_t i = 0; i < text.size();) {
      size_t len = 0;
      int32_t k = trie.match(text, i, &len);
      if (k >= 0 && added[k].single_word &&
          (word_char_at(text, i, true) || word_char_at(text, i + len, false)))
        k = -1;
      if (k < 0) {
        ++i;
        continue;
      }
      if (i > start) out.push_back({text.substr(start, i - start)});
      out.push_back({{}, k});
      i += len;
      start = i;
    }
    if (start < text.size()) out.push_back({text.substr(start)});
    for (size_t s = first; s < out.size(); ++s) {
      if (out[s].added < 0) continue;
      const AddedToken& a = added[out[s].added];
      if (a.lstrip && s > first && out[s - 1].added < 0)
        out[s - 1].text = hf::trim_js(out[s - 1].text, false, true);
      if (a.rstrip && s + 1 < out.size() && out[s + 1].added < 0)
        out[s + 1].text = hf::trim_js(out[s + 1].text, true, false);
    }
  }

  void encode_model(std::string_view s, bool first, std::vector<int32_t>& out) const {
    if (!pre) {
      model->encode_append(s, out, false);
      return;
    }
    std::vector<std::string> pieces;
    pre->split(s, first, pieces);
    for (const auto& p : pieces) model->encode_append(p, out, false);
  }
};

HfTokenizer::HfTokenizer() : impl_(std::make_unique<Impl>()) {}
HfTokenizer::~HfTokenizer() = default;

int32_t HfTokenizer::vocab_size() const {
  return impl_->size;
}

std::string_view HfTokenizer::token_bytes(int32_t id) const {
  check_id(id);
  int32_t a = impl_->added_of_id[id];
  if (a >= 0) return impl_->added[a].content;
  return impl_->model->token_bytes(id);
}

bool HfTokenizer::drops_leading_space() const {
  return impl_->decoder && impl_->decoder->drops_leading_space();
}

void HfTokenizer::encode_sections(std::string_view text, bool all_added,
                                  std::vector<int32_t>& out) const {
  const Impl& m = *impl_;
  std::vector<Impl::Section> secs;
  m.split(text, all_added ? m.raw_all : m.raw_plain, secs);
  const Trie& norm_trie = all_added ? m.norm_all : m.norm_plain;
  for (size_t k = 0; k < secs.size(); ++k) {
    if (secs[k].added >= 0) {
      out.push_back(m.added[secs[k].added].id);
      continue;
    }
    if (secs[k].text.empty()) continue;
    if (!m.normalizer) {
      m.encode_model(secs[k].text, k == 0, out);
      continue;
    }
    std::string norm(secs[k].text);
    m.normalizer->apply(norm);
    if (norm.empty()) continue;
    if (norm_trie.empty()) {
      m.encode_model(norm, k == 0, out);
      continue;
    }
    // Tokens marked `normalized` are matched in the normalized text.
    std::vector<Impl::Section> sub;
    m.split(norm, norm_trie, sub);
    for (size_t q = 0; q < sub.size(); ++q) {
      if (sub[q].added >= 0)
        out.push_back(m.added[sub[q].added].id);
      else if (!sub[q].text.empty())
        m.encode_model(sub[q].text, k == 0 && q == 0, out);
    }
  }
}

void HfTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  encode_sections(text, false, out);
}

void HfTokenizer::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  encode_sections(text, true, out);
}

std::vector<int32_t> HfTokenizer::encode_with_specials(std::string_view text) const {
  std::vector<int32_t> out = impl_->prefix;
  encode_append(text, out, true);
  out.insert(out.end(), impl_->suffix.begin(), impl_->suffix.end());
  return out;
}

std::string HfTokenizer::decode(std::span<const int32_t> ids) const {
  std::vector<std::string> toks;
  toks.reserve(ids.size());
  for (int32_t id : ids) {
    check_id(id);
    toks.push_back(impl_->vocab_str[id]);
  }
  std::string out;
  if (impl_->decoder) {
    impl_->decoder->apply(toks);
    for (auto& t : toks) out += t;
  } else {  // as the tokenizers library: tokens joined by spaces
    for (size_t i = 0; i < toks.size(); ++i) out += (i ? " " : "") + toks[i];
  }
  if (config_.clean_up_tokenization_spaces) clean_up_tokenization(out);
  return out;
}

void HfTokenizer::save(const std::string& path) const {
  write_file_atomic(path, json_);
}

void HfTokenizer::save_config(const std::string& dir) const {
  write_file_atomic(dir + "/tokenizer_config.json", hf_tokenizer_config_json(config_));
  if (std::string g = hf_generation_config_json(config_); !g.empty())
    write_file_atomic(dir + "/generation_config.json", g);
}

std::string hf_tokenizer_config_json(const HfTokenizerConfig& c) {
  nlohmann::ordered_json j = {{"tokenizer_class", "PreTrainedTokenizerFast"}};
  for (const auto& [key, value] :
       {std::pair<const char*, const std::string&>{"bos_token", c.bos_token},
        {"eos_token", c.eos_token},
        {"pad_token", c.pad_token},
        {"unk_token", c.unk_token}})
    if (!value.empty()) j[key] = value;
  if (c.has_add_bos) j["add_bos_token"] = c.add_bos_token;
  if (c.has_add_eos) j["add_eos_token"] = c.add_eos_token;
  j["clean_up_tokenization_spaces"] = c.clean_up_tokenization_spaces;
  if (!c.named_templates.empty()) {
    j["chat_template"] = nlohmann::ordered_json::array();
    for (const auto& [name, text] : c.named_templates)
      j["chat_template"].push_back({{"name", name}, {"template", text}});
  } else if (!c.chat_template.empty()) {
    j["chat_template"] = c.chat_template;
  }
  return j.dump(2) + "\n";
}

std::string hf_generation_config_json(const HfTokenizerConfig& c) {
  if (c.eos_ids.empty()) return {};
  nlohmann::ordered_json j;
  if (c.eos_ids.size() == 1)
    j["eos_token_id"] = c.eos_ids[0];
  else
    j["eos_token_id"] = c.eos_ids;
  return j.dump(2) + "\n";
}

void HfTokenizer::set_config(HfTokenizerConfig config) {
  config_ = std::move(config);
  auto id_of = [&](const std::string& name, const char* what) -> int32_t {
    if (name.empty()) return -1;
    for (const auto& a : impl_->added)
      if (a.content == name) return a.id;
    int32_t id = impl_->model->token_id(name);
    if (id < 0)
      fail("tokenizer '{}': the config's {} '{}' is not a token", this->name(), what, name);
    return id;
  };
  int32_t bos = config_.bos_token.empty() ? bos_id() : id_of(config_.bos_token, "bos_token");
  int32_t eos = config_.eos_token.empty() ? eos_id() : id_of(config_.eos_token, "eos_token");
  set_bos_eos(bos, eos);
  for (int32_t id : config_.eos_ids) check_id(id);
}

HfTokenizerConfig parse_hf_tokenizer_config(std::string_view text, const std::string& where) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail("{}: not a JSON object", where);
  HfTokenizerConfig c;
  try {
    c.bos_token = token_name(j, "bos_token");
    c.eos_token = token_name(j, "eos_token");
    c.pad_token = token_name(j, "pad_token");
    c.unk_token = token_name(j, "unk_token");
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
  auto get_bool = [&](const char* key, bool* out, bool* has) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_boolean()) fail("{}: \"{}\" must be true or false", where, key);
    *out = j[key].get<bool>();
    if (has) *has = true;
  };
  get_bool("add_bos_token", &c.add_bos_token, &c.has_add_bos);
  get_bool("add_eos_token", &c.add_eos_token, &c.has_add_eos);
  c.clean_up_tokenization_spaces = true;  // transformers' default
  get_bool("clean_up_tokenization_spaces", &c.clean_up_tokenization_spaces, nullptr);
  if (j.contains("chat_template") && !j["chat_template"].is_null()) {
    const json& t = j["chat_template"];
    if (t.is_string()) {
      c.chat_template = t.get<std::string>();
    } else if (t.is_array()) {
      for (const auto& e : t) {
        if (!e.is_object() || !e.contains("name") || !e["name"].is_string() ||
            !e.contains("template") || !e["template"].is_string())
          fail("{}: chat_template list entries need a \"name\" and a \"template\" string", where);
        c.named_templates.push_back(
            {e["name"].get<std::string>(), e["template"].get<std::string>()});
        if (c.named_templates.back().first == "default")
          c.chat_template = c.named_templates.back().second;
      }
    } else {
      fail("{}: chat_template must be a string or a list of named templates", where);
    }
  }
  return c;
}

void parse_hf_generation_config(std::string_view text, const std::string& where,
                                HfTokenizerConfig& c) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail("{}: not a JSON object", where);
  if (!j.contains("eos_token_id") || j["eos_token_id"].is_null()) return;
  const json& e = j["eos_token_id"];
  c.eos_ids.clear();
  for (const auto& v : e.is_array() ? e : json::array({e})) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
      fail("{}: eos_token_id must be a token id or a list of them", where);
    c.eos_ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
}

namespace {

void parse_post_processor(const json& j, const std::string& where, HfTokenizer::Impl& m,
                          const std::unordered_map<std::string, int32_t>& ids) {
  if (j.is_null()) return;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    fail("{}: post_processor without a \"type\"", where);
  std::string type = j["type"];
  auto id_of = [&](const std::string& tok) {
    auto it = ids.find(tok);
    if (it == ids.end()) fail("{}: post-processor token '{}' is not in the vocabulary", where, tok);
    return it->second;
  };
  if (type == "ByteLevel") return;  // changes offsets only
  if (type == "Sequence") {
    if (!j.contains("processors") || !j["processors"].is_array())
      fail("{}: post-processor Sequence needs a \"processors\" list", where);
    for (const auto& p : j["processors"]) parse_post_processor(p, where, m, ids);
    return;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    for (const char* k : {"cls", "sep"})
      if (!j.contains(k) || !j[k].is_array() || j[k].size() != 2 || !j[k][1].is_number_integer())
        fail("{}: {} needs \"{}\" as [token, id]", where, type, k);
    m.prefix.insert(m.prefix.begin(), j["cls"][1].get<int32_t>());
    m.suffix.push_back(j["sep"][1].get<int32_t>());
    return;
  }
  if (type != "TemplateProcessing")
    fail(
        "{}: post-processor type \"{}\" is not supported (sllm reads TemplateProcessing, "
        "ByteLevel, BertProcessing, RobertaProcessing, Sequence)",
        where, type);
  if (!j.contains("single")) fail("{}: TemplateProcessing needs \"single\"", where);
  std::unordered_map<std::string, std::vector<int32_t>> special;
  if (j.contains("special_tokens") && j["special_tokens"].is_object())
    for (auto it = j["special_tokens"].begin(); it != j["special_tokens"].end(); ++it) {
      std::vector<int32_t> v;
      if (!it.value().contains("ids") || !it.value()["ids"].is_array())
        fail("{}: TemplateProcessing special token '{}' has no \"ids\"", where, it.key());
      for (const auto& x : it.value()["ids"]) {
        if (!x.is_number_integer()) fail("{}: TemplateProcessing ids must be integers", where);
        v.push_back(x.get<int32_t>());
      }
      special[it.key()] = v;
    }
  std::vector<int32_t> pre, post;
  bool seen_a = false;
  auto add_special = [&](const std::string& name) {
    auto& dst = seen_a ? post : pre;
    auto it = special.find(name);
    if (it != special.end())
      dst.insert(dst.end(), it->second.begin(), it->second.end());
    else
      dst.push_back(id_of(name));
  };
  auto add_sequence = [&](const std::string& seq) {
    if (seq != "A") fail("{}: TemplateProcessing single template uses sequence {}", where, seq);
    if (seen_a) fail("{}: TemplateProcessing single template has two sequences", where);
    seen_a = true;
  };
  const json& single = j["single"];
  if (single.is_string()) {  // "<s> $A </s>" form
    std::string s = single;
    for (size_t pos = 0; pos < s.size();) {
      size_t end = s.find(' ', pos);
      if (end == std::string::npos) end = s.size();
      std::string piece = s.substr(pos, end - pos);
      pos = end + 1;
      if (piece.empty()) continue;
      std::string base = piece.substr(0, piece.find(':'));
      if (base.starts_with("$"))
        add_sequence(base == "$" ? "A" : base.substr(1));
      else
        add_special(base);
    }
  } else if (single.is_array()) {
    for (const auto& item : single) {
      if (item.contains("SpecialToken") && item["SpecialToken"].contains("id"))
        add_special(item["SpecialToken"]["id"].get<std::string>());
      else if (item.contains("Sequence") && item["Sequence"].contains("id"))
        add_sequence(item["Sequence"]["id"].get<std::string>());
      else
        fail("{}: TemplateProcessing item {} is neither SpecialToken nor Sequence", where,
             item.dump().substr(0, 100));
    }
  } else {
    fail("{}: TemplateProcessing \"single\" must be a list or a string", where);
  }
  if (!seen_a) fail("{}: TemplateProcessing single template has no $A", where);
  // Applied after what earlier processors of a Sequence added.
  m.prefix.insert(m.prefix.begin(), pre.begin(), pre.end());
  m.suffix.insert(m.suffix.end(), post.begin(), post.end());
}

void check_keys(const json& j, std::initializer_list<std::string_view> known, const char* what,
                const std::string& where) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (auto k : known) ok = ok || it.key() == k;
    if (!ok)
      fail("{}: {} has the field \"{}\", which sllm does not support", where, what, it.key());
  }
}

std::string llama_pattern_of(const json& j, bool byte_level) {
  if (!byte_level) return {};
  // llama.cpp applies no normalizer; its converter still names Qwen's NFC tokenizers qwen2.
  const json norm = j.value("normalizer", json());
  if (!norm.is_null() && norm.value("type", "") != "NFC" &&
      !(norm.value("type", "") == "Sequence" && norm.value("normalizers", json::array()).empty()))
    return {};
  const json pre = j.value("pre_tokenizer", json());
  std::vector<json> stages;
  if (pre.value("type", "") == "Sequence")
    for (const auto& p : pre["pretokenizers"]) stages.push_back(p);
  else
    stages.push_back(pre);
  std::string pattern;
  for (size_t k = 0; k < stages.size(); ++k) {
    const json& st = stages[k];
    const std::string type = st.value("type", "");
    if (k + 1 < stages.size()) {
      if (type != "Split" || st.value("behavior", "") != "Isolated" || st.value("invert", false) ||
          !st.contains("pattern") || !st["pattern"].contains("Regex"))
        return {};
      pattern +=
          (pattern.empty() ? "" : std::string(1, '\0')) + st["pattern"]["Regex"].get<std::string>();
      continue;
    }
    if (type != "ByteLevel" || st.value("add_prefix_space", true)) return {};
    if (st.value("use_regex", true)) {
      if (!pattern.empty()) return {};
      pattern = builtin_pattern("gpt2");
    }
  }
  return pattern;
}

}  // namespace

const BpeTokenizer& HfTokenizer::model() const {
  return *impl_->model;
}

std::unique_ptr<HfTokenizer> parse_hf_tokenizer(std::string_view text, const std::string& where,
                                                const HfTokenizerConfig* config) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", where, e.what());
  }
  if (!j.is_object()) fail("{}: not a JSON object", where);
  // truncation and padding: transformers resets both on every call, so they never apply.
  check_keys(j,
             {"version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer",
              "model", "post_processor", "decoder"},
             "tokenizer.json", where);
  std::unique_ptr<HfTokenizer> tok(new HfTokenizer());
  HfTokenizer::Impl& m = *tok->impl_;
  tok->json_ = std::string(text);

  if (!j.contains("model") || !j["model"].is_object()) fail("{}: no \"model\" object", where);
  const json& model = j["model"];
  std::string type = model.value("type", model.contains("merges") ? "BPE" : "");
  if (type != "BPE") fail("{}: model type \"{}\" is not supported (sllm reads BPE)", where, type);
  check_keys(model,
             {"type", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
              "fuse_unk", "byte_fallback", "ignore_merges", "vocab", "merges"},
             "BPE model", where);
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0))
    fail("{}: BPE dropout is not supported", where);
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(k) && !model[k].is_null() && model[k] != "")
      fail("{}: BPE {} is not supported", where, k);
  auto model_flag = [&](const char* k) {
    if (!model.contains(k) || model[k].is_null()) return false;
    if (!model[k].is_boolean()) fail("{}: BPE {} must be true or false", where, k);
    return model[k].get<bool>();
  };
  if (!model.contains("vocab") || !model["vocab"].is_object())
    fail("{}: BPE model without a \"vocab\" object", where);
  if (!model.contains("merges") || !model["merges"].is_array())
    fail("{}: BPE model without a \"merges\" list", where);

  std::unordered_map<std::string, int32_t> ids;  // tokenizer.json form -> id
  ids.reserve(model["vocab"].size() * 2);
  int32_t size = 0;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() >= (1 << 30))
      fail("{}: vocab entry '{}' has no valid id", where, it.key());
    int32_t id = it.value().get<int32_t>();
    ids[it.key()] = id;
    size = std::max(size, id + 1);
  }
  const int32_t model_size = size;
  std::vector<std::string> vocab_str(size);
  std::vector<char> in_vocab(size, 0);
  for (auto& [s, id] : ids) {
    if (in_vocab[id]) fail("{}: vocab id {} is used twice", where, id);
    in_vocab[id] = 1;
    vocab_str[id] = s;
  }

  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    if (!j["added_tokens"].is_array()) fail("{}: added_tokens must be a list", where);
    for (const auto& a : j["added_tokens"]) {
      check_keys(a, {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"},
                 "added token", where);
      AddedToken t;
      if (!a.contains("id") || !a["id"].is_number_integer() || a["id"].get<int64_t>() < 0 ||
          a["id"].get<int64_t>() >= (1 << 30) || !a.contains("content") ||
          !a["content"].is_string() || a["content"].get<std::string>().empty())
        fail("{}: added token {} needs an id and a non-empty content", where,
             a.dump().substr(0, 100));
      t.id = a["id"].get<int32_t>();
      t.content = a["content"].get<std::string>();
      t.special = flag(a, "special", where);
      t.normalized = flag(a, "normalized", where);
      t.lstrip = flag(a, "lstrip", where);
      t.rstrip = flag(a, "rstrip", where);
      t.single_word = flag(a, "single_word", where);
      m.added.push_back(std::move(t));
    }
  }
  for (const auto& a : m.added) size = std::max(size, a.id + 1);
  m.size = size;
  vocab_str.resize(size);
  m.added_of_id.assign(size, -1);
  std::unordered_map<std::string, int32_t> shadowed;
  for (size_t k = 0; k < m.added.size(); ++k) {
    const AddedToken& a = m.added[k];
    if (m.added_of_id[a.id] >= 0) fail("{}: two added tokens have id {}", where, a.id);
    if (!m.added_set.insert(a.content).second)
      fail("{}: added token '{}' appears twice", where, a.content);
    m.added_of_id[a.id] = static_cast<int32_t>(k);
    vocab_str[a.id] = a.content;
    // As transformers: the added token's id wins the text (merges still use the vocab's).
    if (auto it = ids.find(a.content); it != ids.end() && it->second != a.id)
      shadowed[a.content] = it->second;
    ids[a.content] = a.id;
    int32_t v = static_cast<int32_t>(k);
    (a.normalized ? m.norm_all : m.raw_all).add(a.content, v);
    if (!a.special) (a.normalized ? m.norm_plain : m.raw_plain).add(a.content, v);
  }

  const std::string w = where;
  m.normalizer = hf::make_normalizer(j.value("normalizer", json()), w);
  m.pre = hf::make_pre_tokenizer(j.value("pre_tokenizer", json()), w);
  m.decoder = hf::make_decoder(j.value("decoder", json()), w, &m.added_set);
  const bool byte_level = m.pre && m.pre->byte_level();

  BpeSpec spec;
  spec.name = fs::path(where).parent_path().filename().string();
  if (spec.name.empty()) spec.name = "tokenizer.json";
  spec.tokens.resize(size);
  spec.types.assign(size, TokenType::Unused);
  spec.order = MergeOrder::Merges;
  spec.whole_piece_first = model_flag("ignore_merges");
  spec.sentencepiece = !byte_level;
  spec.raw_pieces = !byte_level;
  spec.add_space_prefix = false;
  spec.byte_fallback = model_flag("byte_fallback");
  spec.fuse_unk = model_flag("fuse_unk");
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    auto it = ids.find(model["unk_token"].get<std::string>());
    if (it == ids.end())
      fail("{}: unk_token '{}' is not in the vocabulary", where,
           model["unk_token"].get<std::string>());
    spec.unk_id = it->second;
  }
  for (int32_t id = 0; id < size; ++id) {
    if (id >= model_size || !in_vocab[id]) {
      spec.tokens[id] = vocab_str[id];  // an added token outside the model's vocabulary, or a gap
      continue;
    }
    const std::string& s = vocab_str[id];
    spec.types[id] = TokenType::Normal;
    if (!byte_level) {
      spec.tokens[id] = s;
      if (spec.byte_fallback && s.size() == 6 && s.starts_with("<0x") && s[5] == '>')
        spec.types[id] = TokenType::Byte;
      continue;
    }
    std::string bytes;
    bool mapped = true;
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    for (size_t i = 0; i < s.size() && mapped;) {
      uint32_t cp;
      int len = utf8::decode(p + i, s.size() - i, &cp);
      int b = len > 0 ? hf::unicode_to_byte(cp) : -1;
      mapped = b >= 0;
      bytes += static_cast<char>(b);
      i += len;
    }
    if (!mapped) {
      // An added token kept in the vocab as its plain text (DeepSeek's specials): matched as
      // an added token, never formed by merges.
      if (m.added_of_id[id] < 0)
        fail("{}: byte-level vocab token {} ('{}') has a character outside the byte alphabet",
             where, id, s);
      spec.types[id] = TokenType::Unused;
      spec.tokens[id] = s;
      continue;
    }
    spec.tokens[id] = std::move(bytes);
  }
  spec.merges.reserve(model["merges"].size());
  auto vocab_id = [&](const std::string& s, size_t r) {
    if (auto sh = shadowed.find(s); sh != shadowed.end()) return sh->second;
    auto it = ids.find(s);
    if (it == ids.end() || it->second >= model_size || !in_vocab[it->second])
      fail("{}: merge {} uses '{}', which is not in the vocabulary", where, r, s);
    return it->second;
  };
  for (size_t r = 0; r < model["merges"].size(); ++r) {
    const json& e = model["merges"][r];
    std::string a, b;
    if (e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        fail("{}: merge {} ('{}') is not two tokens separated by a space", where, r, s);
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    } else {
      fail("{}: merge {} must be \"a b\" or [\"a\", \"b\"]", where, r);
    }
    spec.merges.push_back({vocab_id(a, r), vocab_id(b, r)});
  }
  m.vocab_str = std::move(vocab_str);
  try {
    m.model = std::make_unique<BpeTokenizer>(std::move(spec));
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
  parse_post_processor(j.value("post_processor", json()), w, m, ids);

  tok->llama_pattern_ = llama_pattern_of(j, byte_level);
  tok->set_name(m.model->name());
  std::vector<SpecialToken> specials;
  for (const auto& a : m.added)
    if (a.special) specials.push_back({a.content, a.id});
  tok->set_special_tokens(std::move(specials));
  tok->set_config(config ? *config : HfTokenizerConfig{});
  return tok;
}

std::string hf_chat_template(const std::string& dir) {
  fs::path d = dir;
  if (fs::exists(d / "tokenizer_config.json")) {
    std::string p = (d / "tokenizer_config.json").string();
    HfTokenizerConfig c = parse_hf_tokenizer_config(read_file(p), p);
    if (!c.chat_template.empty()) return c.chat_template;
  }
  if (fs::exists(d / "chat_template.jinja")) return read_file((d / "chat_template.jinja").string());
  return {};
}

std::unique_ptr<HfTokenizer> load_hf_tokenizer(const std::string& path) {
  fs::path file = path, dir;
  std::error_code ec;
  if (fs::is_directory(file, ec)) {
    dir = file;
    file = dir / "tokenizer.json";
    if (!fs::exists(file)) fail("{}: folder has no tokenizer.json", path);
  } else {
    dir = file.parent_path();
  }
  HfTokenizerConfig config;
  if (fs::exists(dir / "tokenizer_config.json")) {
    std::string p = (dir / "tokenizer_config.json").string();
    config = parse_hf_tokenizer_config(read_file(p), p);
  }
  if (config.chat_template.empty() && fs::exists(dir / "chat_template.jinja"))
    config.chat_template = read_file((dir / "chat_template.jinja").string());
  if (fs::exists(dir / "generation_config.json")) {
    std::string p = (dir / "generation_config.json").string();
    parse_hf_generation_config(read_file(p), p, config);
  }
  return parse_hf_tokenizer(read_file(file.string()), file.string(), &config);
}

}  // namespace sllm
