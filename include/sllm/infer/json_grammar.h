// Grammars for JSON output.
//   JSON mode: any single JSON value (object, array, string, number, true/false/null), with
//   at most 16 bytes of whitespace between tokens (so a model cannot stall in whitespace)
//   and only valid UTF-8 inside strings (so the result always parses).
//   JSON schema subset: "type" (object, array, string, number, integer, boolean, null, or a
//   list of them), "properties" (emitted in the schema's order; those not in "required" may
//   be left out; no others, so any additionalProperties holds), "items" with "minItems" /
//   "maxItems", "enum", "const", "anyOf"/"oneOf", string "minLength"/"maxLength" or
//   "pattern" (the regex subset in json_pattern.h, src/infer), integer
//   and number "minimum"/"maximum"/"exclusiveMinimum"/"exclusiveMaximum" (a bounded number
//   is written as an integer or with a fraction where any fraction stays in range).
//   Annotation keywords (title, description, default, examples, $schema) are ignored;
//   anything else ($ref, format, ...) is refused with an error naming it.
#pragma once
#include <memory>
#include <string_view>

#include "sllm/infer/grammar.h"

namespace sllm {

std::shared_ptr<const Grammar> json_grammar();
// The schema as JSON text (parsed keeping key order: properties come out in that order).
// `before` and `after` are literal text around the value (a tool call's markers).
std::shared_ptr<const Grammar> json_schema_grammar(std::string_view schema_text,
                                                   std::string_view before = {},
                                                   std::string_view after = {});

std::shared_ptr<const Constraint> json_constraint();
std::shared_ptr<const Constraint> json_schema_constraint(std::string_view schema_text);

}  // namespace sllm
