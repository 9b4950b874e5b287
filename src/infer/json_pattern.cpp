#include "json_pattern.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "sllm/common/error.h"
#include "sllm/infer/gbnf.h"

namespace sllm {

namespace {

// JSON string characters that need no escape: what classes and `.` are narrowed to, so every
// generated string is valid JSON whose value matches the pattern.
constexpr const char* kPlain = "[^\"\\\\\\x00-\\x1F]";

std::string gbnf_literal(unsigned char c) {
  if (c == '"') return "\"\\\\\\\"\"";  // The JSON escape \" (two bytes).
  return fmt::format("\"\\x{:02X}\"", c);
}

class Translator {
 public:
  explicit Translator(std::string_view p) : p_(p) {}

  std::string gbnf() {
    bool start = false, end = false;
    if (!p_.empty() && p_.front() == '^') start = true, p_.remove_prefix(1);
    if (!p_.empty() && p_.back() == '$' && (p_.size() < 2 || p_[p_.size() - 2] != '\\'))
      end = true, p_.remove_suffix(1);
    std::string body;
    while (i_ < p_.size()) body += atom();
    std::string rule = "root ::= \"\\\"\" ";
    if (!start) rule += std::string(kPlain) + "* ";
    rule += "(" + body + ")";
    if (!end) rule += " " + std::string(kPlain) + "*";
    return rule + " \"\\\"\"\n";
  }

 private:
  [[noreturn]] void unsupported(const std::string& what) const {
    fail("pattern '{}': {} is not supported", std::string(p_), what);
  }

  std::string escape_class(char e) {
    switch (e) {
      case 'd':
        return "0-9";
      case 'w':
        return "0-9A-Za-z_";
      case '.':
      case '-':
      case '[':
      case ']':
      case '^':
      case '(':
      case ')':
      case '{':
      case '}':
      case '*':
      case '+':
      case '?':
      case '|':
      case '/':
      case '$':
        return fmt::format("\\x{:02X}", uint8_t(e));
      default:
        unsupported(std::string("the escape \\") + e);
    }
  }

  std::string atom() {
    const char c = p_[i_++];
    switch (c) {
      case '(':
        if (i_ < p_.size() && p_[i_] == '?') {
          if (p_.substr(i_, 2) != "?:") unsupported("a (? group other than (?:");
          i_ += 2;
        }
        return "(";
      case ')':
      case '|':
      case '*':
      case '+':
      case '?':
        return std::string(" ") + c + " ";
      case '{': {
        const size_t close = p_.find('}', i_);
        if (close == std::string_view::npos) unsupported("an unclosed {");
        std::string inner(p_.substr(i_, close - i_));
        i_ = close + 1;
        return "{" + inner + "} ";
      }
      case '.':
        return std::string(kPlain) + " ";
      case '^':
      case '$':
        unsupported("an anchor inside the pattern");
      case '[':
        return cls();
      case '\\': {
        if (i_ >= p_.size()) unsupported("a trailing backslash");
        const char e = p_[i_++];
        if (e == 'd' || e == 'w') return "[" + escape_class(e) + "] ";
        if (e == 's') return "\" \" ";  // Only the space: other spaces need JSON escapes.
        return gbnf_literal(uint8_t(escape_class(e).size() == 4 ? e : e)) + " ";
      }
      default:
        if (uint8_t(c) < 0x20) unsupported("a control character");
        if (uint8_t(c) >= 0x80) {  // A UTF-8 character, copied whole.
          std::string s(1, c);
          while (i_ < p_.size() && (uint8_t(p_[i_]) & 0xC0) == 0x80) s += p_[i_++];
          return "\"" + s + "\" ";
        }
        return gbnf_literal(uint8_t(c)) + " ";
    }
  }

  // One class member as a code point (an escape, or a whole UTF-8 character).
  uint32_t member() {
    const uint8_t c = uint8_t(p_[i_++]);
    if (c == '\\') {
      if (i_ >= p_.size()) unsupported("a trailing backslash");
      const char e = p_[i_++];
      if (e == 'd' || e == 'w') unsupported("\\d or \\w in a range");
      escape_class(e);  // Refuses unknown escapes.
      return uint8_t(e);
    }
    if (c < 0x80) return c;
    const int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || i_ + len - 1 > p_.size()) unsupported("invalid UTF-8");
    uint32_t v = c & (0x3F >> (len - 1));
    for (int k = 1; k < len; ++k) v = v << 6 | (uint8_t(p_[i_++]) & 0x3F);
    return v;
  }

  // A class, narrowed to characters that need no JSON escape.
  std::string cls() {
    const bool negate = i_ < p_.size() && p_[i_] == '^';
    if (negate) ++i_;
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    for (bool first = true; i_ < p_.size() && (first || p_[i_] != ']'); first = false) {
      if (p_[i_] == '\\' && i_ + 1 < p_.size() && (p_[i_ + 1] == 'd' || p_[i_ + 1] == 'w')) {
        const bool digit = p_[i_ + 1] == 'd';
        i_ += 2;
        ranges.push_back({'0', '9'});
        if (!digit) ranges.insert(ranges.end(), {{'A', 'Z'}, {'a', 'z'}, {'_', '_'}});
        continue;
      }
      const uint32_t lo = member();
      uint32_t hi = lo;
      if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']') {
        ++i_;
        hi = member();
      }
      ranges.push_back({lo, hi});
    }
    if (i_ >= p_.size()) unsupported("an unclosed [");
    ++i_;
    auto hex = [](uint32_t c) { return fmt::format("\\U{:08X}", c); };
    std::string out = negate ? "[^\"\\\\\\x00-\\x1F" : "[";
    for (auto [lo, hi] : ranges) {
      if (negate) {
        out += hex(lo) + "-" + hex(hi);
        continue;
      }
      // Positive: drop controls, the quote and the backslash from the range.
      for (auto [a, b] :
           {std::pair<uint32_t, uint32_t>{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}}) {
        const uint32_t x = std::max(lo, a), y = std::min(hi, b);
        if (x <= y) out += hex(x) + "-" + hex(y);
      }
    }
    if (out == "[") unsupported("a class of only quotes, backslashes or controls");
    return out + "] ";
  }

  std::string_view p_;
  size_t i_ = 0;
};

}  // namespace

int add_pattern_string(Grammar& g, std::string_view pattern) {
  std::shared_ptr<const Grammar> sub;
  try {
    sub = parse_gbnf(Translator(pattern).gbnf());
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind("pattern '", 0) == 0) throw;
    fail("pattern '{}' is not supported: {}", std::string(pattern), what);
  }
  return g.import(*sub);
}

}  // namespace sllm
