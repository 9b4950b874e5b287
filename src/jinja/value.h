// Jinja values with Python's semantics (what jinja2 evaluates templates with): truthiness,
// equality, ordering, str() and repr(), and transformers' tojson.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sllm::jinja {

struct Value;
using List = std::vector<Value>;
struct Dict;
struct Args;
using Function = std::function<Value(Args&)>;

struct Value {
  enum class T : uint8_t { Undefined, None, Bool, Int, Float, Str, List, Dict, Func };
  T t = T::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  // Str; for Undefined, the name that was missing (for error messages)
  std::shared_ptr<jinja::List> list;
  std::shared_ptr<jinja::Dict> dict;  // also namespace() objects
  std::shared_ptr<Function> fn;
  bool ns = false;  // a namespace(): attributes can be assigned

  static Value undefined(std::string name = {}) {
    Value v;
    v.s = std::move(name);
    return v;
  }
  static Value none() {
    Value v;
    v.t = T::None;
    return v;
  }
  static Value boolean(bool x) {
    Value v;
    v.t = T::Bool;
    v.b = x;
    return v;
  }
  static Value integer(int64_t x) {
    Value v;
    v.t = T::Int;
    v.i = x;
    return v;
  }
  static Value real(double x) {
    Value v;
    v.t = T::Float;
    v.f = x;
    return v;
  }
  static Value str(std::string x) {
    Value v;
    v.t = T::Str;
    v.s = std::move(x);
    return v;
  }
  static Value make_list(jinja::List items = {});
  static Value make_dict();
  static Value func(Function f);

  bool is_undefined() const { return t == T::Undefined; }
  bool is_none() const { return t == T::None; }
  bool is_str() const { return t == T::Str; }
  bool is_list() const { return t == T::List; }
  bool is_dict() const { return t == T::Dict; }
  bool is_number() const { return t == T::Int || t == T::Float || t == T::Bool; }
  double number() const { return t == T::Float ? f : t == T::Int ? static_cast<double>(i) : b; }

  bool truthy() const;
  std::string type_name() const;
};

struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  const Value* find(std::string_view key) const {
    for (auto& [k, v] : items)
      if (k == key) return &v;
    return nullptr;
  }
  void set(const std::string& key, Value v) {
    for (auto& [k, x] : items)
      if (k == key) {
        x = std::move(v);
        return;
      }
    items.emplace_back(key, std::move(v));
  }
};

struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  const Value* kwarg(std::string_view name) const {
    for (auto& [k, v] : kw)
      if (k == name) return &v;
    return nullptr;
  }
  // Positional argument i, else keyword `name`, else nullptr.
  const Value* get(size_t i, std::string_view name) const {
    if (i < pos.size()) return &pos[i];
    return kwarg(name);
  }
};

bool equal(const Value& a, const Value& b);
// Python's ordering; throws for types that do not order (like dict < dict).
int compare(const Value& a, const Value& b);
std::string to_str(const Value& v);   // str()
std::string to_repr(const Value& v);  // repr()
std::string to_json(const Value& v, int indent = -1, int depth = 0);
Value from_json(const nlohmann::ordered_json& j);

// Characters (code points) of UTF-8 text, as Python indexes strings.
std::vector<std::string_view> chars_of(std::string_view s);

}  // namespace sllm::jinja
