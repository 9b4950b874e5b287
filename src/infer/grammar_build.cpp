#include "grammar_build.h"

#include <algorithm>
#include <vector>

#include "sllm/common/error.h"

namespace sllm::grammar_build {

using G = Grammar;

int repeat(Grammar& g, const std::string& name, const GrammarAlt& item, int min, int max,
           const GrammarAlt& sep, const GrammarAlt& end) {
  if (min < 0 || (max >= 0 && max < min)) fail("{}: bad repetition {{{},{}}}", name, min, max);
  // States k = copies so far; without a limit the last state loops (k >= 1 so a separator
  // comes first).
  const int last = max >= 0 ? max : std::max(min, 1);
  std::vector<int> rules(size_t(last) + 1);
  for (int k = 0; k <= last; ++k) rules[k] = g.add_rule(name + "#" + std::to_string(k));
  for (int k = 0; k <= last; ++k) {
    if (k >= min) g.add_alt(rules[k], end);
    if (max >= 0 && k == max) continue;
    GrammarAlt a = k > 0 ? sep : GrammarAlt{};
    a.insert(a.end(), item.begin(), item.end());
    a.push_back(G::ref(rules[std::min(k + 1, last)]));
    g.add_alt(rules[k], a);
  }
  return rules[0];
}

namespace {

constexpr int kMaxDigits = 16;

// Digit-class sequences covering the numbers of equal length from lo to hi (as strings).
void same_length(const std::string& lo, const std::string& hi, GrammarAlt prefix,
                 std::vector<GrammarAlt>& out) {
  if (lo.find_first_not_of('0') == std::string::npos &&
      hi.find_first_not_of('9') == std::string::npos) {  // Every digit free (or none left).
    for (size_t i = 0; i < lo.size(); ++i) prefix.push_back(G::range('0', '9'));
    out.push_back(prefix);
    return;
  }
  const std::string rest_lo = lo.substr(1), rest_hi = hi.substr(1);
  auto with = [&](uint8_t a, uint8_t b) {
    GrammarAlt p = prefix;
    p.push_back(G::range(a, b));
    return p;
  };
  if (lo[0] == hi[0]) return same_length(rest_lo, rest_hi, with(lo[0], lo[0]), out);
  same_length(rest_lo, std::string(rest_lo.size(), '9'), with(lo[0], lo[0]), out);
  if (lo[0] + 1 <= hi[0] - 1)
    same_length(std::string(rest_lo.size(), '0'), std::string(rest_lo.size(), '9'),
                with(lo[0] + 1, hi[0] - 1), out);
  same_length(std::string(rest_hi.size(), '0'), rest_hi, with(hi[0], hi[0]), out);
}

// Non-negative integers from lo to hi (no hi: up to 16 digits), after `prefix`.
void non_negative(uint64_t lo, std::optional<uint64_t> hi, const GrammarAlt& prefix,
                  std::vector<GrammarAlt>& out) {
  const std::string slo = std::to_string(lo);
  const size_t top = hi ? std::to_string(*hi).size() : kMaxDigits;
  for (size_t len = slo.size(); len <= top; ++len) {
    const std::string first = len == slo.size() ? slo : "1" + std::string(len - 1, '0');
    const std::string last = hi && len == top ? std::to_string(*hi) : std::string(len, '9');
    same_length(first, last, prefix, out);
  }
}

}  // namespace

int integer_range(Grammar& g, const std::string& name, std::optional<int64_t> lo,
                  std::optional<int64_t> hi) {
  const int64_t cap = 999999999999999;  // 15 nines: what the JSON rules' integers reach.
  if (lo && hi && *lo > *hi) fail("{}: the range [{}, {}] is empty", name, *lo, *hi);
  if ((lo && (*lo > cap || *lo < -cap)) || (hi && (*hi > cap || *hi < -cap)))
    fail("{}: integer bounds beyond +-{} are not supported", name, cap);
  std::vector<GrammarAlt> alts;
  // Negative part: "-" then |x| from max(1, -hi) to -lo.
  if (!lo || *lo < 0) {
    const uint64_t from = hi && *hi < 0 ? uint64_t(-*hi) : 1;
    non_negative(from, lo ? std::optional<uint64_t>(uint64_t(-*lo)) : std::nullopt, {G::lit('-')},
                 alts);
  }
  if (!hi || *hi >= 0)
    non_negative(lo && *lo > 0 ? uint64_t(*lo) : 0,
                 hi ? std::optional<uint64_t>(uint64_t(*hi)) : std::nullopt, {}, alts);
  const int r = g.add_rule(name);
  for (auto& a : alts) g.add_alt(r, a);
  return r;
}

}  // namespace sllm::grammar_build
