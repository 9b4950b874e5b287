// Grammars for JSON output.
//   JSON mode: any single JSON value (object, array, string, number, true/false/null), with
//   at most 16 bytes of whitespace between tokens (so a model cannot stall in whitespace)
//   and only valid UTF-8 inside strings (so the result always parses).
//   JSON schema subset: "type" (object, array, string, number, integer, boolean, null, or a
//   list of them), "properties" (emitted in the schema's order; those not in "required" may
//   be left out), "items", "enum", "const", "anyOf"/"oneOf". Annotation keywords (title,
//   description, default, examples, $schema, additionalProperties) are ignored; anything
//   else (pattern, $ref, minLength, ...) is refused with an error naming it.
#pragma once
#include <memory>
#include <string_view>

#include "sllm/infer/grammar.h"

namespace sllm {

std::shared_ptr<const Grammar> json_grammar();
// The schema as JSON text (parsed keeping key order: properties come out in that order).
std::shared_ptr<const Grammar> json_schema_grammar(std::string_view schema_text);

std::shared_ptr<const Constraint> json_constraint();
std::shared_ptr<const Constraint> json_schema_constraint(std::string_view schema_text);

}  // namespace sllm
