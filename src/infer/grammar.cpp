#include "sllm/infer/grammar.h"

#include "sllm/common/error.h"

namespace sllm {

namespace {
// Bounds the recognizer's work on pathological grammars; JSON keeps a handful of stacks.
constexpr size_t kMaxStacks = 4096;
}  // namespace

int Grammar::add_rule(std::string name) {
  rules_.push_back({std::move(name), {}, {}, false});
  return static_cast<int>(rules_.size()) - 1;
}

void Grammar::add_alt(int rule, GrammarAlt alt) {
  rules_.at(static_cast<size_t>(rule)).alts.push_back(std::move(alt));
}

int Grammar::import(const Grammar& other) {
  const int base = size();
  for (const auto& r : other.rules_) rules_.push_back({r.name, r.alts, {}, false});
  for (size_t i = size_t(base); i < rules_.size(); ++i)
    for (auto& a : rules_[i].alts)
      for (auto& e : a)
        if (e.rule >= 0) e.rule += base;
  return base + other.root_;
}

GrammarAlt Grammar::text(std::string_view s) {
  GrammarAlt a;
  for (char c : s) a.push_back(lit(static_cast<uint8_t>(c)));
  return a;
}

void Grammar::finalize() {
  if (rules_.empty()) fail("grammar has no rules");
  for (const auto& r : rules_) {
    if (r.alts.empty()) fail("grammar rule '{}' has no alternatives", r.name);
    for (const auto& a : r.alts)
      for (const auto& e : a) {
        if (e.rule >= static_cast<int>(rules_.size()))
          fail("grammar rule '{}' refers to rule {}", r.name, e.rule);
        if (e.rule < 0 && e.bytes.empty()) fail("grammar rule '{}' has an empty byte set", r.name);
      }
  }
  // Shortest expansions by fixed point: a rule's is its cheapest alternative's.
  for (bool changed = true; changed;) {
    changed = false;
    for (auto& r : rules_) {
      for (const auto& a : r.alts) {
        std::string s;
        bool ok = true;
        for (const auto& e : a) {
          if (e.rule >= 0) {
            if (!rules_[e.rule].finite) {
              ok = false;
              break;
            }
            s += rules_[e.rule].shortest;
          } else {
            s += static_cast<char>(e.bytes.front().first);
          }
        }
        if (ok && (!r.finite || s.size() < r.shortest.size())) {
          r.shortest = s;
          r.finite = true;
          changed = true;
        }
      }
    }
  }
  for (const auto& r : rules_)
    if (!r.finite) fail("grammar rule '{}' never derives a finite string", r.name);
  check_left_recursion();
}

// The recognizer expands the leftmost reference until a byte range is on top, so a rule that
// can reach itself without consuming a byte would expand forever: refuse it by name.
void Grammar::check_left_recursion() const {
  const size_t n = rules_.size();
  std::vector<char> nullable(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < n; ++i) {
      if (nullable[i]) continue;
      for (const auto& a : rules_[i].alts) {
        bool all = true;
        for (const auto& e : a) all = all && e.rule >= 0 && nullable[e.rule];
        if (all) {
          nullable[i] = changed = true;
          break;
        }
      }
    }
  }
  std::vector<std::vector<int>> left(n);  // Rules each rule may start with.
  for (size_t i = 0; i < n; ++i)
    for (const auto& a : rules_[i].alts)
      for (const auto& e : a) {
        if (e.rule < 0) break;
        left[i].push_back(e.rule);
        if (!nullable[e.rule]) break;
      }
  std::vector<char> state(n, 0);  // 0 new, 1 on the path, 2 done
  std::vector<std::pair<int, size_t>> path;
  for (size_t s = 0; s < n; ++s) {
    if (state[s]) continue;
    path.push_back({int(s), 0});
    state[s] = 1;
    while (!path.empty()) {
      auto& [r, k] = path.back();
      if (k == left[r].size()) {
        state[r] = 2;
        path.pop_back();
        continue;
      }
      const int next = left[r][k++];
      if (state[next] == 1) fail("grammar rule '{}' is left-recursive", rules_[next].name);
      if (state[next] == 0) {
        state[next] = 1;
        path.push_back({next, 0});
      }
    }
  }
}

GrammarConstraint::GrammarConstraint(std::shared_ptr<const Grammar> g) : g_(std::move(g)) {
  Stack s{{g_->root(), 0, 0}};
  for (int a = 0; a < static_cast<int>(g_->alts(g_->root()).size()); ++a)
    expand({{g_->root(), a, 0}}, stacks_);
}

// Expands references at the top of s until every resulting stack has a byte range on top
// (or is empty: the root is complete).
void GrammarConstraint::expand(Stack s, std::set<Stack>& out) const {
  while (!s.empty()) {
    const Pos p = s.back();
    const GrammarAlt& alt = g_->alts(p.rule)[p.alt];
    if (p.idx == static_cast<int>(alt.size())) {
      s.pop_back();
      continue;
    }
    const GrammarElem& e = alt[p.idx];
    if (e.rule < 0) break;
    s.back().idx++;  // Where to resume once the referenced rule is done.
    for (int a = 1; a < static_cast<int>(g_->alts(e.rule).size()); ++a) {
      Stack t = s;
      t.push_back({e.rule, a, 0});
      expand(std::move(t), out);
    }
    s.push_back({e.rule, 0, 0});
  }
  if (out.size() >= kMaxStacks)
    fail("constrained decoding: the grammar is too ambiguous ({} parses)", out.size());
  out.insert(std::move(s));
}

std::set<GrammarConstraint::Stack> GrammarConstraint::step(const std::set<Stack>& from,
                                                           uint8_t c) const {
  std::set<Stack> out;
  for (const Stack& s : from) {
    if (s.empty()) continue;
    const Pos& p = s.back();
    const GrammarElem& e = g_->alts(p.rule)[p.alt][p.idx];
    bool match = false;
    for (const auto& [lo, hi] : e.bytes) match |= c >= lo && c <= hi;
    if (!match) continue;
    Stack t = s;
    t.back().idx++;
    expand(std::move(t), out);
  }
  return out;
}

bool GrammarConstraint::accepts(std::string_view bytes) const {
  std::set<Stack> cur = stacks_;
  for (char c : bytes) {
    cur = step(cur, static_cast<uint8_t>(c));
    if (cur.empty()) return false;
  }
  return true;
}

void GrammarConstraint::advance(std::string_view bytes) {
  std::set<Stack> cur = stacks_;
  for (char c : bytes) {
    cur = step(cur, static_cast<uint8_t>(c));
    if (cur.empty()) fail("constrained decoding: '{}' does not continue the text", bytes);
  }
  stacks_ = std::move(cur);
}

bool GrammarConstraint::complete() const {
  for (const auto& s : stacks_)
    if (s.empty()) return true;
  return false;
}

bool GrammarConstraint::can_continue() const {
  for (const auto& s : stacks_)
    if (!s.empty()) return true;
  return false;
}

std::string GrammarConstraint::completion() const {
  std::string best;
  bool have = false;
  for (const auto& s : stacks_) {
    std::string c;
    for (auto it = s.rbegin(); it != s.rend(); ++it) {
      const GrammarAlt& alt = g_->alts(it->rule)[it->alt];
      for (size_t i = static_cast<size_t>(it->idx); i < alt.size(); ++i)
        c += alt[i].rule >= 0 ? g_->shortest(alt[i].rule)
                              : std::string(1, static_cast<char>(alt[i].bytes.front().first));
    }
    if (!have || c.size() < best.size()) {
      best = std::move(c);
      have = true;
    }
  }
  return best;
}

}  // namespace sllm
