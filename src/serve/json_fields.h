// Typed access to the fields of a parsed OpenAI request body; every error names the field.
#pragma once
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/serve/request.h"

namespace sllm::serve::fields {

// Ordered: JSON schemas and tool definitions keep their key order (the grammar emits properties
// in schema order, the chat template prints the tools as given).
using json = nlohmann::ordered_json;

inline json parse_object(std::string_view body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // Syntax errors, and numbers too large for a double.
    throw ApiError(400, "invalid_request_error", "body",
                   fmt::format("request body is not valid JSON: {}", e.what()));
  }
  if (!j.is_object())
    throw ApiError(400, "invalid_request_error", "body", "request body must be a JSON object");
  return j;
}

inline const char* type_name(const json& v) {
  return v.type_name();
}

// Present and not null: OpenAI clients send explicit nulls for unset optional fields.
inline const json* field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

inline std::string get_string(const json& obj, const char* name, bool required) {
  const json* v = field(obj, name);
  if (!v) {
    if (required) bad_field(name, "is required");
    return {};
  }
  if (!v->is_string()) bad_field(name, fmt::format("expected a string, got {}", type_name(*v)));
  return v->get<std::string>();
}

inline bool get_bool(const json& obj, const char* name, bool dflt) {
  const json* v = field(obj, name);
  if (!v) return dflt;
  if (!v->is_boolean()) bad_field(name, fmt::format("expected a boolean, got {}", type_name(*v)));
  return v->get<bool>();
}

inline double get_number(const json& obj, const char* name, double dflt, double lo, double hi) {
  const json* v = field(obj, name);
  if (!v) return dflt;
  if (!v->is_number()) bad_field(name, fmt::format("expected a number, got {}", type_name(*v)));
  double x = v->get<double>();
  if (!(x >= lo && x <= hi))
    bad_field(name, fmt::format("must be between {} and {}, got {}", lo, hi, x));
  return x;
}

inline int64_t as_integer(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  int64_t x = 0;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
      bad_field(name, fmt::format("must be between {} and {}", lo, hi));
    x = v.get<int64_t>();
  } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
             std::fabs(v.get<double>()) < 9e15) {
    x = int64_t(v.get<double>());
  } else {
    bad_field(name, fmt::format("expected an integer, got {}",
                                v.is_number() ? "a fraction" : type_name(v)));
  }
  if (x < lo || x > hi)
    bad_field(name, fmt::format("must be between {} and {}, got {}", lo, hi, x));
  return x;
}

inline int64_t get_integer(const json& obj, const char* name, int64_t dflt, int64_t lo,
                           int64_t hi) {
  const json* v = field(obj, name);
  return v ? as_integer(*v, name, lo, hi) : dflt;
}

inline std::vector<int32_t> token_array(const json& v, const std::string& name) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    ids.push_back(int32_t(as_integer(v[i], fmt::format("{}[{}]", name, i), 0, INT32_MAX)));
  return ids;
}

// Chat bodies (request_chat.cpp): the messages, with tool calls and tool results, and the
// tools / tool_choice / parallel_tool_calls fields.
std::vector<ChatMessage> parse_messages(const json& obj, const RequestLimits& limits,
                                        bool required);
void parse_tools(const json& obj, GenerationRequest& r);

}  // namespace sllm::serve::fields
