// The parsed form of a template: one node type for statements and expressions.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "value.h"

namespace sllm::jinja {

struct Node {
  enum class K {
    // statements
    Block,   // c: statements
    Text,    // s: the text
    Output,  // c[0]: expression
    If,      // c: cond, then-block, else (block, If for elif, or null)
    For,     // names: targets; c: iterable, body, else-block|null, filter|null
    Set,     // names: targets (or {namespace} with s = attribute); c[0]: value or block
    Macro,   // s: name; names: parameters; c[0]: body, c[1..]: defaults (null: none)
    Break,
    Continue,
    Generation,  // c[0]: body
    // expressions
    Literal,  // v
    Name,     // s
    Attr,     // c[0].s
    Item,     // c[0][c[1]]
    Slice,    // c[0][c[1]:c[2]:c[3]] (null parts absent)
    Call,     // c[0](c[1..]); names: keyword of each argument ("" positional)
    Filter,   // s: filter; c[0]: input, c[1..]: arguments; names as Call
    Test,     // s: test; c[0]: input, c[1..]: arguments; negate
    Unary,    // s: "-", "+" or "not"; c[0]
    Binary,   // s: operator; c[0], c[1]
    Cond,     // c[1] if c[0] else c[2] (c[2] null: undefined)
    ListLit,  // c
    DictLit,  // c: key, value, key, value, ...
  };
  K k;
  int line = 0;
  std::string s;
  Value v;
  bool negate = false;
  bool block_set = false;  // Set: c[0] is a block whose output is the value
  std::vector<std::string> names;
  std::vector<std::unique_ptr<Node>> c;

  Node(K kind, int ln) : k(kind), line(ln) {}
};

// Parses a whole template (after the trailing-newline and whitespace-control rules).
std::unique_ptr<Node> parse_template(std::string_view source);

// Whether a filter / test name is known (the parser refuses unknown names up front).
bool has_filter(std::string_view name);
bool has_test(std::string_view name);

}  // namespace sllm::jinja
