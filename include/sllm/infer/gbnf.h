// GBNF, llama.cpp's grammar format (its `grammar` request field):
//   root ::= "a" item ("," item)* | [0-9]+ x?     # comments run to the end of the line
// Rules `name ::= alternatives`; elements are "literals" (escapes \n \r \t \\ \" \xHH \uHHHH
// \UHHHHHHHH), [character classes] with ranges and ^ negation, `.` (any character), rule
// names and (groups), each optionally followed by *, +, ?, {m}, {m,} or {m,n}. Classes and
// `.` match whole UTF-8 characters. The start rule is `root`. Errors name the line and column.
#pragma once
#include <memory>
#include <string_view>

#include "sllm/infer/grammar.h"

namespace sllm {

std::shared_ptr<const Grammar> parse_gbnf(std::string_view text);
std::shared_ptr<const Constraint> gbnf_constraint(std::string_view text);

}  // namespace sllm
