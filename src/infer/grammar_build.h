// Grammar building blocks shared by the JSON schema compiler and the GBNF parser.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "sllm/infer/grammar.h"

namespace sllm::grammar_build {

// A rule matching `item` min to max times (max < 0: no limit), with `sep` between copies and
// `end` after the last: the shape of arrays (sep ",", end "]") and of strings (end "\"").
int repeat(Grammar& g, const std::string& name, const GrammarAlt& item, int min, int max,
           const GrammarAlt& sep = {}, const GrammarAlt& end = {});

// A rule matching the JSON integers in [lo, hi] (either bound may be absent), written without
// leading zeros, at most 16 digits.
int integer_range(Grammar& g, const std::string& name, std::optional<int64_t> lo,
                  std::optional<int64_t> hi);

}  // namespace sllm::grammar_build
