#include "hf_components.h"

#include <unicode/bytestream.h>
#include <unicode/casemap.h>
#include <unicode/normalizer2.h>

#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "pretokenizer.h"
#include "sllm/common/error.h"
#include "utf8.h"

namespace sllm::hf {

using json = nlohmann::json;

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581

std::string type_of(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    fail("{}: component without a \"type\" string: {}", where, j.dump().substr(0, 200));
  return j["type"].get<std::string>();
}

// Refuses fields this reader does not know: an unknown option would otherwise change nothing
// here while it changes the original's output.
void check_keys(const json& j, std::initializer_list<std::string_view> known,
                const std::string& where) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = it.key() == "type";
    for (auto k : known) ok = ok || it.key() == k;
    if (!ok)
      fail("{}: {} has the field \"{}\", which sllm does not support", where,
           j["type"].get<std::string>(), it.key());
  }
}

std::string str_field(const json& j, const char* key, const std::string& where,
                      const char* dflt = nullptr) {
  if (!j.contains(key) || j[key].is_null()) {
    if (dflt) return dflt;
    fail("{}: {} needs the string field \"{}\"", where, j.value("type", "?"), key);
  }
  if (!j[key].is_string()) fail("{}: {}.{} must be a string", where, j.value("type", "?"), key);
  return j[key].get<std::string>();
}

bool bool_field(const json& j, const char* key, bool dflt, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  if (!j[key].is_boolean())
    fail("{}: {}.{} must be true or false", where, j.value("type", "?"), key);
  return j[key].get<bool>();
}

std::string escape_literal(std::string_view s) {
  return "\\Q" + std::string(s) + "\\E";
}

// Calls fn(start, end, is_match) for every match of `re` and every gap between matches.
void segments(const Pretokenizer& re, std::string_view s,
              const std::function<void(size_t, size_t, bool)>& fn) {
  size_t pos = 0, a, b;
  while (pos < s.size() && re.next_match(s, pos, &a, &b)) {
    if (a > pos) fn(pos, a, false);
    fn(a, b, true);
    pos = b;
  }
  if (pos < s.size()) fn(pos, s.size(), false);
}

std::string replace_regex(const Pretokenizer& re, std::string_view s, std::string_view with) {
  std::string out;
  segments(re, s, [&](size_t a, size_t b, bool m) {
    if (m)
      out += with;
    else
      out.append(s.substr(a, b - a));
  });
  return out;
}

// ---- normalizers ----

struct UnicodeForm final : Normalizer {
  const icu::Normalizer2* n = nullptr;
  void apply(std::string& s) const override {
    bool ascii = true;
    for (char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii) return;
    UErrorCode st = U_ZERO_ERROR;
    if (n->isNormalizedUTF8(s, st) && U_SUCCESS(st)) return;
    st = U_ZERO_ERROR;
    std::string out;
    icu::StringByteSink<std::string> sink(&out);
    n->normalizeUTF8(0, s, sink, nullptr, st);
    if (U_FAILURE(st)) fail("unicode normalization failed: {}", u_errorName(st));
    s = std::move(out);
  }
};

struct ReplaceN final : Normalizer {
  std::unique_ptr<Pretokenizer> re;
  std::string content;
  void apply(std::string& s) const override { s = replace_regex(*re, s, content); }
};

struct PrependN final : Normalizer {
  std::string prefix;
  void apply(std::string& s) const override {
    if (!s.empty()) s.insert(0, prefix);  // as tokenizers: an empty text stays empty
  }
};

struct StripN final : Normalizer {
  bool left = false, right = false;
  void apply(std::string& s) const override { s = std::string(trim_js(s, left, right)); }
};

struct LowercaseN final : Normalizer {
  void apply(std::string& s) const override {
    UErrorCode st = U_ZERO_ERROR;
    std::string out;
    icu::StringByteSink<std::string> sink(&out);
    icu::CaseMap::utf8ToLower("", 0, s, sink, nullptr, st);
    if (U_FAILURE(st)) fail("lowercasing failed: {}", u_errorName(st));
    s = std::move(out);
  }
};

struct SequenceN final : Normalizer {
  std::vector<std::unique_ptr<Normalizer>> parts;
  void apply(std::string& s) const override {
    for (auto& p : parts) p->apply(s);
  }
};

using NormalizerMaker = std::unique_ptr<Normalizer> (*)(const json&, const std::string&);

std::unique_ptr<Normalizer> unicode_form(const json& j, const std::string& where, bool nfkc) {
  check_keys(j, {}, where);
  UErrorCode st = U_ZERO_ERROR;
  auto n = std::make_unique<UnicodeForm>();
  n->n = nfkc ? icu::Normalizer2::getNFKCInstance(st) : icu::Normalizer2::getNFCInstance(st);
  if (U_FAILURE(st))
    fail("{}: ICU has no {} normalizer: {}", where, nfkc ? "NFKC" : "NFC", u_errorName(st));
  return n;
}

const struct {
  const char* type;
  NormalizerMaker make;
} kNormalizers[] = {
    {"NFC", [](const json& j, const std::string& w) { return unicode_form(j, w, false); }},
    {"NFKC", [](const json& j, const std::string& w) { return unicode_form(j, w, true); }},
    {"Replace",
     [](const json& j, const std::string& w) -> std::unique_ptr<Normalizer> {
       check_keys(j, {"pattern", "content"}, w);
       auto n = std::make_unique<ReplaceN>();
       n->re = std::make_unique<Pretokenizer>(regex_of(j.at("pattern"), w));
       n->content = str_field(j, "content", w);
       return n;
     }},
    {"Prepend",
     [](const json& j, const std::string& w) -> std::unique_ptr<Normalizer> {
       check_keys(j, {"prepend"}, w);
       auto n = std::make_unique<PrependN>();
       n->prefix = str_field(j, "prepend", w);
       return n;
     }},
    {"Strip",
     [](const json& j, const std::string& w) -> std::unique_ptr<Normalizer> {
       check_keys(j, {"strip_left", "strip_right"}, w);
       auto n = std::make_unique<StripN>();
       n->left = bool_field(j, "strip_left", false, w);
       n->right = bool_field(j, "strip_right", false, w);
       return n;
     }},
    {"Lowercase",
     [](const json& j, const std::string& w) -> std::unique_ptr<Normalizer> {
       check_keys(j, {}, w);
       return std::make_unique<LowercaseN>();
     }},
    {"Sequence",
     [](const json& j, const std::string& w) -> std::unique_ptr<Normalizer> {
       check_keys(j, {"normalizers"}, w);
       auto n = std::make_unique<SequenceN>();
       if (!j.contains("normalizers") || !j["normalizers"].is_array())
         fail("{}: normalizer Sequence needs a \"normalizers\" list", w);
       for (const auto& p : j["normalizers"]) n->parts.push_back(make_normalizer(p, w));
       return n;
     }},
};

// ---- pre-tokenizers ----

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior behavior_of(const json& j, const std::string& where, const char* dflt) {
  static const std::pair<const char*, Behavior> kNames[] = {
      {"Removed", Behavior::Removed},
      {"Isolated", Behavior::Isolated},
      {"MergedWithPrevious", Behavior::MergedWithPrevious},
      {"MergedWithNext", Behavior::MergedWithNext},
      {"Contiguous", Behavior::Contiguous}};
  std::string b = str_field(j, "behavior", where, dflt);
  for (auto& [n, v] : kNames)
    if (b == n) return v;
  fail("{}: unknown split behavior \"{}\"", where, b);
}

// The tokenizers library's split: matches are delimiters (non-matches with invert), kept,
// dropped or glued to a neighbour as `behavior` says.
struct SplitP final : PreTokenizer {
  std::unique_ptr<Pretokenizer> re;
  Behavior behavior = Behavior::Isolated;
  bool invert = false;
  void split(std::string_view s, bool, std::vector<std::string>& out) const override {
    struct Seg {
      size_t a, b;
      bool m;
    };
    std::vector<Seg> segs;
    segments(*re, s, [&](size_t a, size_t b, bool m) { segs.push_back({a, b, m != invert}); });
    std::vector<Seg> res;
    bool prev = false;
    switch (behavior) {
      case Behavior::Removed:
      case Behavior::Isolated:
        for (auto& g : segs)
          if (!(behavior == Behavior::Removed && g.m)) res.push_back(g);
        break;
      case Behavior::MergedWithPrevious:
        for (auto& g : segs) {
          if (g.m && !prev && !res.empty())
            res.back().b = g.b;
          else
            res.push_back(g);
          prev = g.m;
        }
        break;
      case Behavior::MergedWithNext:
        for (size_t k = segs.size(); k-- > 0;) {
          const Seg& g = segs[k];
          if (g.m && !prev && !res.empty())
            res.back().a = g.a;
          else
            res.push_back(g);
          prev = g.m;
        }
        std::reverse(res.begin(), res.end());
        break;
      case Behavior::Contiguous:
        for (size_t k = 0; k < segs.size(); ++k) {
          if (k > 0 && segs[k].m == prev && !res.empty())
            res.back().b = segs[k].b;
          else
            res.push_back(segs[k]);
          prev = segs[k].m;
        }
        break;
    }
    for (auto& g : res)
      if (g.b > g.a) out.emplace_back(s.substr(g.a, g.b - g.a));
  }
};

struct ByteLevelP final : PreTokenizer {
  bool add_prefix_space = false;
  std::unique_ptr<Pretokenizer> re;  // GPT-2's regex when use_regex
  void split(std::string_view s, bool, std::vector<std::string>& out) const override {
    std::string buf;
    if (add_prefix_space && !s.starts_with(' ')) {
      buf = " ";
      buf += s;
      s = buf;
    }
    if (!re) {
      out.emplace_back(s);
      return;
    }
    re->split(s, [&](std::string_view p) { out.emplace_back(p); });
  }
  bool byte_level() const override { return true; }
};

struct MetaspaceP final : PreTokenizer {
  std::string replacement;
  enum { Always, Never, First } scheme = Always;
  bool split_words = true;
  void split(std::string_view s, bool first, std::vector<std::string>& out) const override {
    std::string t;
    for (char c : s) {
      if (c == ' ')
        t += replacement;
      else
        t += c;
    }
    if ((scheme == Always || (scheme == First && first)) && !t.starts_with(replacement))
      t.insert(0, replacement);
    if (!split_words) {
      out.push_back(std::move(t));
      return;
    }
    // Split before every replacement character (MergedWithNext).
    size_t start = 0;
    for (size_t p = t.find(replacement, 1); p != std::string::npos;
         p = t.find(replacement, p + 1)) {
      if (p > start) out.push_back(t.substr(start, p - start));
      start = p;
    }
    if (start < t.size()) out.push_back(t.substr(start));
  }
};

struct SequenceP final : PreTokenizer {
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  void split(std::string_view s, bool first, std::vector<std::string>& out) const override {
    std::vector<std::string> cur{std::string(s)}, next;
    for (auto& p : parts) {
      next.clear();
      for (size_t k = 0; k < cur.size(); ++k) p->split(cur[k], first && k == 0, next);
      cur.swap(next);
    }
    for (auto& c : cur) out.push_back(std::move(c));
  }
  bool byte_level() const override {
    for (auto& p : parts)
      if (p->byte_level()) return true;
    return false;
  }
};

std::unique_ptr<SplitP> split_on(const std::string& regex, Behavior b) {
  auto p = std::make_unique<SplitP>();
  p->re = std::make_unique<Pretokenizer>(regex);
  p->behavior = b;
  return p;
}

using PreMaker = std::unique_ptr<PreTokenizer> (*)(const json&, const std::string&);

const struct {
  const char* type;
  PreMaker make;
} kPreTokenizers[] = {
    {"Split",
     [](const json& j, const std::string& w) -> std::unique_ptr<PreTokenizer> {
       check_keys(j, {"pattern", "behavior", "invert"}, w);
       auto p = split_on(regex_of(j.at("pattern"), w), behavior_of(j, w, nullptr));
       p->invert = bool_field(j, "invert", false, w);
       return p;
     }},
    {"ByteLevel",
     [](const json& j, const std::string& w) -> std::unique_ptr<PreTokenizer> {
       // trim_offsets only moves the offsets transformers reports, never the ids.
       check_keys(j, {"add_prefix_space", "trim_offsets", "use_regex"}, w);
       auto p = std::make_unique<ByteLevelP>();
       p->add_prefix_space = bool_field(j, "add_prefix_space", true, w);
       if (bool_field(j, "use_regex", true, w))
         p->re = std::make_unique<Pretokenizer>(js_compatible_regex(builtin_pattern("gpt2")));
       return p;
     }},
    {"Digits",
     [](const json& j, const std::string& w) -> std::unique_ptr<PreTokenizer> {
       check_keys(j, {"individual_digits"}, w);
       bool each = bool_field(j, "individual_digits", false, w);
       return split_on("\\p{N}", each ? Behavior::Isolated : Behavior::Contiguous);
     }},
    {"Punctuation",
     [](const json& j, const std::string& w) -> std::unique_ptr<PreTokenizer> {
       check_keys(j, {"behavior"}, w);
       // The tokenizers library's is_punctuation: Unicode P* plus the ASCII symbols.
       return split_on("[\\p{P}!-/:-@\\[-`{-~]", behavior_of(j, w, "Isolated"));
     }},
    {"Whitespace",
     [](const json& j, const std::string& w) -> std::unique_ptr<PreTokenizer> {
       check_keys(j, {}, w);
       auto p = split_on(js_compatible_regex("\\w+|[^\\w\\s]+"), Behavior::Removed);
       p->invert = true;
       return p;
     }},
    {"WhitespaceSplit",
     [](const json& j, const std::string& w) -> std::unique_ptr<PreTokenizer> {
       check_keys(j, {}, w);
       return split_on(js_compatible_regex("\\s+"), Behavior::Removed);
     }},
    {"Metaspace",
     [](const json& j, const std::string& w) -> std::unique_ptr<PreTokenizer> {
       check_keys(j, {"replacement", "add_prefix_space", "prepend_scheme", "split", "str_rep"}, w);
       auto p = std::make_unique<MetaspaceP>();
       p->replacement = str_field(j, "replacement", w, "\xE2\x96\x81");
       if (j.contains("str_rep") && j["str_rep"] != p->replacement)
         fail("{}: Metaspace with str_rep different from replacement", w);
       std::string scheme = str_field(
           j, "prepend_scheme", w, bool_field(j, "add_prefix_space", true, w) ? "always" : "never");
       if (scheme == "always")
         p->scheme = MetaspaceP::Always;
       else if (scheme == "never")
         p->scheme = MetaspaceP::Never;
       else if (scheme == "first")
         p->scheme = MetaspaceP::First;
       else
         fail("{}: unknown Metaspace prepend_scheme \"{}\"", w, scheme);
       p->split_words = bool_field(j, "split", true, w);
       return p;
     }},
    {"Sequence",
     [](const json& j, const std::string& w) -> std::unique_ptr<PreTokenizer> {
       check_keys(j, {"pretokenizers"}, w);
       if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array())
         fail("{}: pre-tokenizer Sequence needs a \"pretokenizers\" list", w);
       auto p = std::make_unique<SequenceP>();
       for (const auto& q : j["pretokenizers"]) p->parts.push_back(make_pre_tokenizer(q, w));
       return p;
     }},
};

// ---- decoders ----

struct ByteLevelD final : Decoder {
  const std::unordered_set<std::string>* added = nullptr;
  void apply(std::vector<std::string>& toks) const override {
    for (auto& t : toks) {
      if (added && added->count(t)) continue;
      std::string out;
      const auto* p = reinterpret_cast<const uint8_t*>(t.data());
      for (size_t i = 0; i < t.size();) {
        uint32_t cp;
        int len = utf8::decode(p + i, t.size() - i, &cp);
        int b = len > 0 ? unicode_to_byte(cp) : -1;
        if (b >= 0)
          out += static_cast<char>(b);
        else
          out.append(t, i, std::max(len, 1));
        i += std::max(len, 1);
      }
      t = std::move(out);
    }
  }
};

struct ByteFallbackD final : Decoder {
  void apply(std::vector<std::string>& toks) const override {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    for (auto& t : toks) {
      if (t.size() == 6 && t.starts_with("<0x") && t[5] == '>' && hex(t[3]) >= 0 && hex(t[4]) >= 0)
        t = std::string(1, static_cast<char>(hex(t[3]) * 16 + hex(t[4])));
    }
  }
};

struct ReplaceD final : Decoder {
  std::unique_ptr<Pretokenizer> re;
  std::string content;
  void apply(std::vector<std::string>& toks) const override {
    for (auto& t : toks) t = replace_regex(*re, t, content);
  }
};

struct FuseD final : Decoder {
  void apply(std::vector<std::string>& toks) const override {
    std::string all;
    for (auto& t : toks) all += t;
    toks.assign(1, std::move(all));
  }
};

// Cuts up to `start` leading and `stop` trailing copies of one character from every token.
struct StripD final : Decoder {
  std::string content;
  size_t start = 0, stop = 0;
  void apply(std::vector<std::string>& toks) const override {
    for (auto& t : toks) {
      std::string_view v = t;
      for (size_t i = 0; i < start && v.starts_with(content); ++i) v.remove_prefix(content.size());
      for (size_t i = 0; i < stop && v.ends_with(content); ++i) v.remove_suffix(content.size());
      t = std::string(v);
    }
  }
  bool drops_leading_space() const override { return content == " " && start > 0; }
};

struct MetaspaceD final : Decoder {
  std::string replacement;
  bool prepend = true;
  void apply(std::vector<std::string>& toks) const override {
    for (size_t i = 0; i < toks.size(); ++i) {
      std::string t;
      std::string_view v = toks[i];
      for (size_t q; (q = v.find(replacement)) != std::string_view::npos;) {
        t.append(v.substr(0, q));
        t += ' ';
        v.remove_prefix(q + replacement.size());
      }
      t.append(v);
      if (prepend && i == 0 && t.starts_with(' ')) t.erase(0, 1);
      toks[i] = std::move(t);
    }
  }
  bool drops_leading_space() const override { return prepend; }
};

struct SequenceD final : Decoder {
  std::vector<std::unique_ptr<Decoder>> parts;
  void apply(std::vector<std::string>& toks) const override {
    for (auto& p : parts) p->apply(toks);
  }
  bool drops_leading_space() const override {
    for (auto& p : parts)
      if (p->drops_leading_space()) return true;
    return false;
  }
};

using DecoderMaker = std::unique_ptr<Decoder> (*)(const json&, const std::string&,
                                                  const std::unordered_set<std::string>*);

size_t count_field(const json& j, const char* key, const std::string& w) {
  if (!j.contains(key)) return 0;
  if (!j[key].is_number_unsigned()) fail("{}: {}.{} must be a count", w, j.value("type", "?"), key);
  return j[key].get<size_t>();
}

const struct {
  const char* type;
  DecoderMaker make;
} kDecoders[] = {
    {"ByteLevel",
     [](const json& j, const std::string& w,
        const std::unordered_set<std::string>* added) -> std::unique_ptr<Decoder> {
       // As a decoder, ByteLevel only maps characters back to bytes; its options are for offsets.
       check_keys(j, {"add_prefix_space", "trim_offsets", "use_regex"}, w);
       auto d = std::make_unique<ByteLevelD>();
       d->added = added;
       return d;
     }},
    {"ByteFallback",
     [](const json& j, const std::string& w,
        const std::unordered_set<std::string>*) -> std::unique_ptr<Decoder> {
       check_keys(j, {}, w);
       return std::make_unique<ByteFallbackD>();
     }},
    {"Replace",
     [](const json& j, const std::string& w,
        const std::unordered_set<std::string>*) -> std::unique_ptr<Decoder> {
       check_keys(j, {"pattern", "content"}, w);
       auto d = std::make_unique<ReplaceD>();
       d->re = std::make_unique<Pretokenizer>(regex_of(j.at("pattern"), w));
       d->content = str_field(j, "content", w);
       return d;
     }},
    {"Fuse",
     [](const json& j, const std::string& w,
        const std::unordered_set<std::string>*) -> std::unique_ptr<Decoder> {
       check_keys(j, {}, w);
       return std::make_unique<FuseD>();
     }},
    {"Strip",
     [](const json& j, const std::string& w,
        const std::unordered_set<std::string>*) -> std::unique_ptr<Decoder> {
       check_keys(j, {"content", "start", "stop"}, w);
       auto d = std::make_unique<StripD>();
       d->content = str_field(j, "content", w);
       d->start = count_field(j, "start", w);
       d->stop = count_field(j, "stop", w);
       return d;
     }},
    {"Metaspace",
     [](const json& j, const std::string& w,
        const std::unordered_set<std::string>*) -> std::unique_ptr<Decoder> {
       check_keys(j, {"replacement", "add_prefix_space", "prepend_scheme", "split", "str_rep"}, w);
       auto d = std::make_unique<MetaspaceD>();
       d->replacement = str_field(j, "replacement", w, "\xE2\x96\x81");
       std::string scheme = str_field(
           j, "prepend_scheme", w, bool_field(j, "add_prefix_space", true, w) ? "always" : "never");
       d->prepend = scheme != "never";
       return d;
     }},
    {"Sequence",
     [](const json& j, const std::string& w,
        const std::unordered_set<std::string>* added) -> std::unique_ptr<Decoder> {
       check_keys(j, {"decoders"}, w);
       if (!j.contains("decoders") || !j["decoders"].is_array())
         fail("{}: decoder Sequence needs a \"decoders\" list", w);
       auto d = std::make_unique<SequenceD>();
       for (const auto& q : j["decoders"]) d->parts.push_back(make_decoder(q, w, added));
       return d;
     }},
};

template <typename Table>
auto find_maker(const Table& table, const std::string& type) -> decltype(&table[0]) {
  for (const auto& e : table)
    if (type == e.type) return &e;
  return nullptr;
}

template <typename Table>
std::string names_of(const Table& table) {
  std::string s;
  for (const auto& e : table) s += (s.empty() ? "" : ", ") + std::string(e.type);
  return s;
}

}  // namespace

bool js_space(uint32_t c) {
  return c == 0x09 || c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D || c == 0x20 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

std::string_view trim_js(std::string_view s, bool left, bool right) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t a = 0, b = s.size();
  uint32_t cp;
  while (left && a < b) {
    int len = utf8::decode(p + a, b - a, &cp);
    if (len == 0 || !js_space(cp)) break;
    a += len;
  }
  while (right && b > a) {
    size_t k = b - 1;
    while (k > a && (p[k] & 0xC0) == 0x80) --k;
    int len = utf8::decode(p + k, b - k, &cp);
    if (len == 0 || k + len != b || !js_space(cp)) break;
    b = k;
  }
  return s.substr(a, b - a);
}

std::string js_compatible_regex(std::string_view r) {
  // transformers.js' PROBLEMATIC_REGEX_MAP: JavaScript has no (?i:...), and its replacement
  // does not fold U+017F (long s) to 's' as a case-insensitive group would.
  static const std::pair<std::string_view, std::string_view> kRewrites[] = {
      {"(?i:'s|'t|'re|'ve|'m|'ll|'d)", "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))"},
      {"(?i:'S|'T|'RE|'VE|'M|'LL|'D)", "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))"},
  };
  std::string s(r);
  for (auto [from, to] : kRewrites)
    for (size_t p; (p = s.find(from)) != std::string::npos;) s.replace(p, from.size(), to);
  // JavaScript's \s also matches U+FEFF, PCRE2's does not.
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      char n = s[i + 1];
      if (n == 's')
        out += in_class ? "\\s\\x{FEFF}" : "[\\s\\x{FEFF}]";
      else if (n == 'S' && !in_class)
        out += "[^\\s\\x{FEFF}]";
      else
        out.append(s, i, 2);
      ++i;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      if (i + 1 < s.size() && s[i + 1] == '^') out += s[++i];
      if (i + 1 < s.size() && s[i + 1] == ']') out += s[++i];  // a literal ] first in a class
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

std::string regex_of(const json& pattern, const std::string& where) {
  if (pattern.is_object() && pattern.size() == 1 && pattern.contains("String") &&
      pattern["String"].is_string())
    return escape_literal(pattern["String"].get<std::string>());
  if (pattern.is_object() && pattern.size() == 1 && pattern.contains("Regex") &&
      pattern["Regex"].is_string())
    return js_compatible_regex(pattern["Regex"].get<std::string>());
  fail("{}: a pattern must be {{\"String\": ...}} or {{\"Regex\": ...}}, not {}", where,
       pattern.dump().substr(0, 200));
}

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  std::string type = type_of(j, where);
  const auto* e = find_maker(kNormalizers, type);
  if (!e)
    fail("{}: normalizer type \"{}\" is not supported (sllm reads {})", where, type,
         names_of(kNormalizers));
  return e->make(j, where);
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  std::string type = type_of(j, where);
  const auto* e = find_maker(kPreTokenizers, type);
  if (!e)
    fail("{}: pre-tokenizer type \"{}\" is not supported (sllm reads {})", where, type,
         names_of(kPreTokenizers));
  return e->make(j, where);
}

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where,
                                      const std::unordered_set<std::string>* added) {
  if (j.is_null()) return nullptr;
  std::string type = type_of(j, where);
  const auto* e = find_maker(kDecoders, type);
  if (!e)
    fail("{}: decoder type \"{}\" is not supported (sllm reads {})", where, type,
         names_of(kDecoders));
  return e->make(j, where, added);
}

uint32_t byte_to_unicode(uint8_t b) {
  if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
  uint32_t n = 0;  // the others get 256, 257, ... in byte order
  for (int x = 0; x < b; ++x)
    if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174)) ++n;
  return 256 + n;
}

int unicode_to_byte(uint32_t cp) {
  static const std::vector<int> table = [] {
    std::vector<int> t(512, -1);
    for (int b = 0; b < 256; ++b) t[byte_to_unicode(static_cast<uint8_t>(b))] = b;
    return t;
  }();
  return cp < table.size() ? table[cp] : -1;
}

}  // namespace sllm::hf
