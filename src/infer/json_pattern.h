// JSON schema "pattern": a regular expression (the common subset: literals, classes with
// ranges and \d \w, `.`, groups, (?:, |, * + ? {m,n}, ^ and $ at the ends) becomes a grammar
// for the JSON strings whose value matches it. Classes and `.` are narrowed to characters that
// need no JSON escape, and \s to the space, so the output is always a plain JSON string.
#pragma once
#include <string_view>

#include "sllm/infer/grammar.h"

namespace sllm {

// Adds the rules to g; returns the rule for the whole string (with its quotes).
int add_pattern_string(Grammar& g, std::string_view pattern);

}  // namespace sllm
