// Filters, tests, methods of str/list/dict, and the global functions, each a table entry.
#pragma once
#include <string>
#include <unordered_map>

#include "value.h"

namespace sllm::jinja {

Value apply_filter(const std::string& name, const Value& in, Args& args, int line);
bool apply_test(const std::string& name, const Value& in, Args& args, int line);
// The method `name` of a str, list or dict bound to `self` (undefined when it has none).
Value method(const Value& self, const std::string& name, int line);
// range, namespace, dict, raise_exception, strftime_now.
void install_globals(std::unordered_map<std::string, Value>& frame);

// Shared with the evaluator.
List iterate(const Value& v, int line);
bool contains(const Value& container, const Value& x, int line);
Value get_item(const Value& base, const Value& key, int line);
Value get_attr(const Value& base, const std::string& name, int line);
Value slice(const Value& base, const Value& a, const Value& b, const Value& c, int line);

}  // namespace sllm::jinja
