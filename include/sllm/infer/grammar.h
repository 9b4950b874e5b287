// A byte-level context-free grammar and an incremental recognizer for constrained decoding.
// Rules are alternatives of sequences of byte ranges and rule references (no left recursion).
// The recognizer keeps the set of pushdown stacks consistent with the bytes seen so far (the
// scheme llama.cpp's GBNF grammars use), so it can answer "may these bytes come next?",
// "is the text complete?" and "what is the shortest completion?".
#pragma once
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sllm/infer/generate.h"

namespace sllm {

struct GrammarElem {
  int rule = -1;                                   // >= 0: a reference to this rule.
  std::vector<std::pair<uint8_t, uint8_t>> bytes;  // Otherwise: one byte in these ranges.
};
using GrammarAlt = std::vector<GrammarElem>;

class Grammar {
 public:
  int add_rule(std::string name);  // Returns its id; alternatives are added with add_alt.
  void add_alt(int rule, GrammarAlt alt);
  void set_root(int rule) { root_ = rule; }
  // Copies another grammar's rules in; returns the id its root has here.
  int import(const Grammar& other);
  int root() const { return root_; }
  int size() const { return static_cast<int>(rules_.size()); }
  const std::vector<GrammarAlt>& alts(int rule) const { return rules_[rule].alts; }
  const std::string& name(int rule) const { return rules_[rule].name; }
  // Checks references and computes the shortest expansion of every rule; throws if a rule
  // derives no finite string or nothing is defined.
  void finalize();
  const std::string& shortest(int rule) const { return rules_[rule].shortest; }

  // Element builders.
  static GrammarElem lit(uint8_t c) { return {-1, {{c, c}}}; }
  static GrammarElem range(uint8_t lo, uint8_t hi) { return {-1, {{lo, hi}}}; }
  static GrammarElem ref(int rule) { return {rule, {}}; }
  static GrammarAlt text(std::string_view s);  // One element per byte.

 private:
  struct Rule {
    std::string name;
    std::vector<GrammarAlt> alts;
    std::string shortest;
    bool finite = false;
  };
  void check_left_recursion() const;
  std::vector<Rule> rules_;
  int root_ = 0;
};

class GrammarConstraint final : public Constraint {
 public:
  explicit GrammarConstraint(std::shared_ptr<const Grammar> g);
  bool accepts(std::string_view bytes) const override;
  void advance(std::string_view bytes) override;
  bool complete() const override;
  bool can_continue() const override;
  std::string completion() const override;
  std::unique_ptr<Constraint> clone() const override {
    return std::make_unique<GrammarConstraint>(*this);
  }

  struct Pos {
    int rule, alt, idx;
    auto operator<=>(const Pos&) const = default;
  };
  using Stack = std::vector<Pos>;

 private:
  void expand(Stack s, std::set<Stack>& out) const;
  std::set<Stack> step(const std::set<Stack>& from, uint8_t c) const;
  std::shared_ptr<const Grammar> g_;
  std::set<Stack> stacks_;
};

}  // namespace sllm
