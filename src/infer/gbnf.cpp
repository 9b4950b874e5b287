#include "sllm/infer/gbnf.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "grammar_build.h"
#include "sllm/common/error.h"

namespace sllm {

namespace {

using G = Grammar;

constexpr int kMaxRepeat = 1000;  // {m,n} bounds: each copy is a rule.

// UTF-8 sequences of byte ranges covering the code points [lo, hi] (no surrogates), as in
// RE2 / regex-syntax: split at encoded-length and continuation-byte boundaries until each
// piece is a product of byte ranges.
void utf8_ranges(uint32_t lo, uint32_t hi, std::vector<GrammarAlt>& out) {
  if (lo > hi) return;
  if (lo <= 0xDFFF && hi >= 0xD800) {
    if (lo < 0xD800) utf8_ranges(lo, 0xD7FF, out);
    if (hi > 0xDFFF) utf8_ranges(0xE000, hi, out);
    return;
  }
  for (uint32_t max : {0x7Fu, 0x7FFu, 0xFFFFu})
    if (lo <= max && hi > max) {
      utf8_ranges(lo, max, out);
      utf8_ranges(max + 1, hi, out);
      return;
    }
  const int len = lo <= 0x7F ? 1 : lo <= 0x7FF ? 2 : lo <= 0xFFFF ? 3 : 4;
  for (int i = 1; i < len; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8_ranges(lo, lo | m, out);
        utf8_ranges((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        utf8_ranges(lo, (hi & ~m) - 1, out);
        utf8_ranges(hi & ~m, hi, out);
        return;
      }
    }
  }
  auto encode = [&](uint32_t c) {
    std::vector<uint8_t> b;
    if (len == 1) return std::vector<uint8_t>{uint8_t(c)};
    static const uint8_t lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
    b.push_back(uint8_t(lead[len] | (c >> (6 * (len - 1)))));
    for (int i = len - 2; i >= 0; --i) b.push_back(uint8_t(0x80 | ((c >> (6 * i)) & 0x3F)));
    return b;
  };
  const auto a = encode(lo), b = encode(hi);
  GrammarAlt alt;
  for (int i = 0; i < len; ++i) alt.push_back(G::range(a[i], b[i]));
  out.push_back(alt);
}

void append_utf8(std::string& s, uint32_t c) {
  std::vector<GrammarAlt> seq;
  utf8_ranges(c, c, seq);
  for (const auto& e : seq.at(0)) s += char(e.bytes[0].first);
}

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  std::shared_ptr<const Grammar> parse() {
    space(true);
    while (pos_ < t_.size()) {
      const std::string name = word();
      if (name.empty()) error("expected a rule name");
      space(false);
      if (t_.substr(pos_, 3) != "::=") error("expected ::= after '" + name + "'");
      pos_ += 3;
      space(true);
      const int r = rule(name);
      if (defined_.count(r)) error("rule '" + name + "' is defined twice");
      defined_.insert(r);
      alternatives(r, false);
      if (pos_ < t_.size() && t_[pos_] != '\n' && t_[pos_] != '\r') error("unexpected character");
      space(true);
    }
    for (const auto& [name, r] : rules_)
      if (!defined_.count(r)) fail("GBNF: rule '{}' is used but not defined", name);
    auto root = rules_.find("root");
    if (root == rules_.end()) fail("GBNF: the grammar has no 'root' rule");
    g_->set_root(root->second);
    g_->finalize();
    return g_;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < t_.size(); ++i) {
      col = t_[i] == '\n' ? 1 : col + 1;
      line += t_[i] == '\n';
    }
    fail("GBNF line {} column {}: {}", line, col, what);
  }
  bool at(char c) const { return pos_ < t_.size() && t_[pos_] == c; }

  // Spaces and comments; newlines only when `newlines` (inside groups, after '|').
  void space(bool newlines) {
    while (pos_ < t_.size()) {
      const char c = t_[pos_];
      if (c == ' ' || c == '\t' || ((c == '\n' || c == '\r') && newlines)) {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < t_.size() && t_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string word() {
    const size_t from = pos_;
    while (pos_ < t_.size() &&
           (std::isalnum(uint8_t(t_[pos_])) || t_[pos_] == '-' || t_[pos_] == '_'))
      ++pos_;
    return std::string(t_.substr(from, pos_ - from));
  }

  int rule(const std::string& name) {
    auto it = rules_.find(name);
    if (it != rules_.end()) return it->second;
    return rules_[name] = g_->add_rule(name);
  }

  void alternatives(int r, bool nested) {
    if (++depth_ > 64) error("groups nest too deeply");
    for (;;) {
      g_->add_alt(r, sequence(nested));
      if (!at('|')) break;
      ++pos_;
      space(true);
    }
    --depth_;
  }

  GrammarAlt sequence(bool nested) {
    GrammarAlt seq;
    while (pos_ < t_.size()) {
      const size_t start = seq.size();
      const char c = t_[pos_];
      if (c == '"') {
        ++pos_;
        std::string lit;
        while (!at('"')) {
          if (pos_ >= t_.size()) error("unterminated string");
          literal_char(lit);
        }
        ++pos_;
        for (char b : lit) seq.push_back(G::lit(uint8_t(b)));
        if (lit.empty()) seq.push_back(G::ref(empty_rule()));
      } else if (c == '[') {
        seq.push_back(G::ref(char_class()));
      } else if (c == '.') {
        ++pos_;
        seq.push_back(G::ref(any_char()));
      } else if (c == '(') {
        ++pos_;
        space(true);
        const int group = g_->add_rule("group" + std::to_string(g_->size()));
        alternatives(group, true);
        if (!at(')')) error("expected )");
        ++pos_;
        seq.push_back(G::ref(group));
      } else if (std::isalnum(uint8_t(c)) || c == '-' || c == '_') {
        const size_t save = pos_;
        const std::string name = word();
        space(false);
        if (t_.substr(pos_, 3) == "::=") {  // The next rule starts here (no newline before).
          pos_ = save;
          if (nested) error("expected ) before the next rule");
          break;
        }
        pos_ = save + name.size();
        seq.push_back(G::ref(rule(name)));
      } else {
        break;
      }
      space(nested);
      postfix(seq, start);
      space(nested);
    }
    return seq;
  }

  // *, +, ? or {m,n} after the element(s) seq[start..].
  void postfix(GrammarAlt& seq, size_t start) {
    int lo = -1, hi = -1;
    if (at('*')) {
      lo = 0;
    } else if (at('+')) {
      lo = 1;
    } else if (at('?')) {
      lo = 0;
      hi = 1;
    } else if (at('{')) {
      ++pos_;
      lo = number();
      hi = lo;
      if (at(',')) {
        ++pos_;
        hi = at('}') ? -1 : number();
      }
      if (!at('}')) error("expected }");
      if (hi >= 0 && hi < lo) error("repetition {m,n} needs m <= n");
    } else {
      return;
    }
    ++pos_;
    if (seq.size() == start) error("nothing to repeat");
    GrammarAlt item(seq.begin() + std::ptrdiff_t(start), seq.end());
    seq.resize(start);
    seq.push_back(
        G::ref(grammar_build::repeat(*g_, "repeat" + std::to_string(g_->size()), item, lo, hi)));
  }

  int number() {
    const size_t from = pos_;
    int v = 0;
    while (pos_ < t_.size() && std::isdigit(uint8_t(t_[pos_]))) {
      v = v * 10 + (t_[pos_++] - '0');
      if (v > kMaxRepeat) error("repetition counts above 1000 are not supported");
    }
    if (pos_ == from) error("expected a number");
    return v;
  }

  uint32_t hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i, ++pos_) {
      if (pos_ >= t_.size() || !std::isxdigit(uint8_t(t_[pos_]))) error("bad hex escape");
      const char c = char(std::tolower(uint8_t(t_[pos_])));
      v = v * 16 + uint32_t(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) error("escape is not a Unicode character");
    return v;
  }

  // One character of a literal or class (an escape or one UTF-8 character) as a code point.
  uint32_t code_point() {
    if (pos_ >= t_.size()) error("unexpected end");
    const uint8_t c = uint8_t(t_[pos_++]);
    if (c == '\\') {
      if (pos_ >= t_.size()) error("unexpected end after \\");
      const char e = t_[pos_++];
      static const std::map<char, uint32_t> simple = {{'n', '\n'},  {'r', '\r'}, {'t', '\t'},
                                                      {'\\', '\\'}, {'"', '"'},  {'[', '['},
                                                      {']', ']'},   {'-', '-'},  {'^', '^'}};
      if (auto it = simple.find(e); it != simple.end()) return it->second;
      if (e == 'x') return hex(2);
      if (e == 'u') return hex(4);
      if (e == 'U') return hex(8);
      error(std::string("unknown escape \\") + e);
    }
    if (c < 0x80) return c;
    const int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || pos_ + len - 1 > t_.size()) error("invalid UTF-8");
    uint32_t v = c & (0x3F >> (len - 1));
    for (int i = 1; i < len; ++i) {
      const uint8_t b = uint8_t(t_[pos_++]);
      if ((b & 0xC0) != 0x80) error("invalid UTF-8");
      v = v << 6 | (b & 0x3F);
    }
    return v;
  }

  void literal_char(std::string& out) {
    const size_t from = pos_;
    if (t_[pos_] != '\\' && uint8_t(t_[pos_]) >= 0x80) {
      code_point();  // Validates; the bytes are copied as they are.
      out += t_.substr(from, pos_ - from);
      return;
    }
    append_utf8(out, code_point());
  }

  // A rule over the code points of [...] (or its complement with ^).
  int char_class() {
    ++pos_;
    const bool negate = at('^');
    if (negate) ++pos_;
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    while (!at(']')) {
      const uint32_t lo = code_point();
      uint32_t hi = lo;
      if (at('-') && pos_ + 1 < t_.size() && t_[pos_ + 1] != ']') {
        ++pos_;
        hi = code_point();
        if (hi < lo) error("class range is reversed");
      }
      ranges.push_back({lo, hi});
    }
    ++pos_;
    if (negate) {
      std::sort(ranges.begin(), ranges.end());
      std::vector<std::pair<uint32_t, uint32_t>> rest;
      uint32_t next = 0;
      for (const auto& [lo, hi] : ranges) {
        if (lo > next) rest.push_back({next, lo - 1});
        next = std::max(next, hi + 1);
      }
      if (next <= 0x10FFFF) rest.push_back({next, 0x10FFFF});
      ranges = rest;
    }
    return class_rule(ranges);
  }

  int any_char() {
    if (any_ < 0) any_ = class_rule({{0, 0x10FFFF}});
    return any_;
  }

  int class_rule(const std::vector<std::pair<uint32_t, uint32_t>>& ranges) {
    const int r = g_->add_rule("class" + std::to_string(g_->size()));
    GrammarElem ascii{-1, {}};
    std::vector<GrammarAlt> multi;
    for (const auto& [lo, hi] : ranges) {
      if (lo <= 0x7F) ascii.bytes.push_back({uint8_t(lo), uint8_t(std::min<uint32_t>(hi, 0x7F))});
      if (hi > 0x7F) utf8_ranges(std::max<uint32_t>(lo, 0x80), hi, multi);
    }
    if (!ascii.bytes.empty()) g_->add_alt(r, {ascii});
    for (auto& a : multi) g_->add_alt(r, a);
    if (g_->alts(r).empty()) error("character class matches nothing");
    return r;
  }

  int empty_rule() {
    if (empty_ < 0) {
      empty_ = g_->add_rule("empty");
      g_->add_alt(empty_, {});
    }
    return empty_;
  }

  std::string_view t_;
  size_t pos_ = 0;
  int depth_ = 0, any_ = -1, empty_ = -1;
  std::shared_ptr<Grammar> g_ = std::make_shared<Grammar>();
  std::map<std::string, int> rules_;
  std::set<int> defined_;
};

}  // namespace

std::shared_ptr<const Grammar> parse_gbnf(std::string_view text) {
  return Parser(text).parse();
}

std::shared_ptr<const Constraint> gbnf_constraint(std::string_view text) {
  return std::make_shared<GrammarConstraint>(parse_gbnf(text));
}

}  // namespace sllm
