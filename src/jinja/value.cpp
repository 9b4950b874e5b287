#include "value.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "sllm/common/error.h"

namespace sllm::jinja {

Value Value::make_list(jinja::List items) {
  Value v;
  v.t = T::List;
  v.list = std::make_shared<jinja::List>(std::move(items));
  return v;
}

Value Value::make_dict() {
  Value v;
  v.t = T::Dict;
  v.dict = std::make_shared<jinja::Dict>();
  return v;
}

Value Value::func(Function f) {
  Value v;
  v.t = T::Func;
  v.fn = std::make_shared<Function>(std::move(f));
  return v;
}

bool Value::truthy() const {
  switch (t) {
    case T::Undefined:
    case T::None:
      return false;
    case T::Bool:
      return b;
    case T::Int:
      return i != 0;
    case T::Float:
      return f != 0;
    case T::Str:
      return !s.empty();
    case T::List:
      return !list->empty();
    case T::Dict:
      return ns || !dict->items.empty();
    case T::Func:
      return true;
  }
  return false;
}

std::string Value::type_name() const {
  static const char* kNames[] = {"undefined", "NoneType", "bool", "int",     "float",
                                 "str",       "list",     "dict", "function"};
  if (ns) return "Namespace";
  return kNames[static_cast<int>(t)];
}

bool equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.number() == b.number();
  if (a.t != b.t) return false;
  switch (a.t) {
    case Value::T::Undefined:
    case Value::T::None:
      return true;
    case Value::T::Str:
      return a.s == b.s;
    case Value::T::List:
      if (a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!equal((*a.list)[k], (*b.list)[k])) return false;
      return true;
    case Value::T::Dict:
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (auto& [k, v] : a.dict->items) {
        const Value* o = b.dict->find(k);
        if (!o || !equal(v, *o)) return false;
      }
      return true;
    case Value::T::Func:
      return a.fn == b.fn;
    default:
      return false;
  }
}

int compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    double x = a.number(), y = b.number();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_str() && b.is_str()) return a.s < b.s ? -1 : a.s > b.s ? 1 : 0;
  if (a.is_list() && b.is_list()) {
    for (size_t k = 0; k < a.list->size() && k < b.list->size(); ++k)
      if (int c = compare((*a.list)[k], (*b.list)[k])) return c;
    return a.list->size() < b.list->size() ? -1 : a.list->size() > b.list->size() ? 1 : 0;
  }
  fail("template error: '<' is not supported between '{}' and '{}'", a.type_name(), b.type_name());
}

namespace {

std::string float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  // Python's repr: the shortest round-trip digits, in exponent form outside [1e-4, 1e16).
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string sci(buf, r.ptr);  // "-d.ddde+XX"
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  int exp = std::stoi(sci.substr(e + 1));
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out;
  if (exp < -4 || exp >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', std::abs(exp));
  } else if (exp < 0) {
    out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  } else {
    if (digits.size() <= static_cast<size_t>(exp) + 1) {
      out = digits + std::string(exp + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
    }
  }
  return neg ? "-" + out : out;
}

std::string repr_str(const std::string& s) {
  // Python's repr of str: single quotes unless the text has ' and no ".
  char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == static_cast<unsigned char>(q) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += q;
  return out;
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

std::string to_str(const Value& v) {
  switch (v.t) {
    case Value::T::Undefined:
      return "";
    case Value::T::None:
      return "None";
    case Value::T::Bool:
      return v.b ? "True" : "False";
    case Value::T::Int:
      return std::to_string(v.i);
    case Value::T::Float:
      return float_repr(v.f);
    case Value::T::Str:
      return v.s;
    default:
      return to_repr(v);
  }
}

std::string to_repr(const Value& v) {
  switch (v.t) {
    case Value::T::Str:
      return repr_str(v.s);
    case Value::T::List: {
      std::string out = "[";
      for (size_t k = 0; k < v.list->size(); ++k) out += (k ? ", " : "") + to_repr((*v.list)[k]);
      return out + "]";
    }
    case Value::T::Dict: {
      std::string out = v.ns ? "<Namespace {" : "{";
      bool first = true;
      for (auto& [key, x] : v.dict->items) {
        out += (first ? "" : ", ") + repr_str(key) + ": " + to_repr(x);
        first = false;
      }
      return out + (v.ns ? "}>" : "}");
    }
    case Value::T::Func:
      return "<function>";
    default:
      return to_str(v);
  }
}

std::string to_json(const Value& v, int indent, int depth) {
  const std::string pad =
      indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent) * (depth + 1), ' ') : "";
  const std::string end_pad =
      indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent) * depth, ' ') : "";
  const char* sep = indent >= 0 ? "," : ", ";
  switch (v.t) {
    case Value::T::Undefined:
    case Value::T::None:
      return "null";
    case Value::T::Bool:
      return v.b ? "true" : "false";
    case Value::T::Int:
      return std::to_string(v.i);
    case Value::T::Float: {
      if (std::isnan(v.f) || std::isinf(v.f))
        return std::isnan(v.f) ? "NaN" : v.f > 0 ? "Infinity" : "-Infinity";
      return float_repr(v.f);
    }
    case Value::T::Str:
      return json_str(v.s);
    case Value::T::List: {
      if (v.list->empty()) return "[]";
      std::string out = "[";
      for (size_t k = 0; k < v.list->size(); ++k)
        out += (k ? sep : "") + pad + to_json((*v.list)[k], indent, depth + 1);
      return out + end_pad + "]";
    }
    case Value::T::Dict: {
      if (v.dict->items.empty()) return "{}";
      std::string out = "{";
      bool first = true;
      for (auto& [key, x] : v.dict->items) {
        out += (first ? "" : sep) + pad + json_str(key) + ": " + to_json(x, indent, depth + 1);
        first = false;
      }
      return out + end_pad + "}";
    }
    case Value::T::Func:
      fail("template error: a function is not JSON serializable");
  }
  return "null";
}

Value from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
    case nlohmann::ordered_json::value_t::number_unsigned:
      return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_float:
      return Value::real(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::str(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Value v = Value::make_list();
      for (const auto& e : j) v.list->push_back(from_json(e));
      return v;
    }
    case nlohmann::ordered_json::value_t::object: {
      Value v = Value::make_dict();
      for (auto it = j.begin(); it != j.end(); ++it)
        v.dict->items.emplace_back(it.key(), from_json(it.value()));
      return v;
    }
    default:
      return Value::undefined();
  }
}

std::vector<std::string_view> chars_of(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (c >= 0x80 && c < 0xC0) len = 1;  // a stray continuation byte stands alone
    len = std::min(len, s.size() - i);
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace sllm::jinja
