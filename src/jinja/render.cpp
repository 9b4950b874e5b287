// Evaluation: scopes, statements, operators, attribute lookup (jinja2's getattr-then-getitem).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "ast.h"
#include "builtins.h"
#include "sllm/common/error.h"
#include "sllm/jinja/template.h"

namespace sllm::jinja {

namespace {

enum class Flow { Normal, Break, Continue };
constexpr size_t kMaxOutput = size_t(1) << 28;

class Renderer {
 public:
  Renderer(std::vector<std::pair<size_t, size_t>>* spans) : spans_(spans) {}

  std::vector<std::unordered_map<std::string, Value>> frames;

  Value lookup(const std::string& name) const {
    for (size_t k = frames.size(); k-- > 0;) {
      auto it = frames[k].find(name);
      if (it != frames[k].end()) return it->second;
    }
    return Value::undefined(name);
  }
  void assign(const std::string& name, Value v) { frames.back()[name] = std::move(v); }

  Flow exec(const Node& n, std::string& out) {
    switch (n.k) {
      case Node::K::Block:
        for (const auto& s : n.c)
          if (Flow f = exec(*s, out); f != Flow::Normal) return f;
        return Flow::Normal;
      case Node::K::Text:
        out += n.s;
        return Flow::Normal;
      case Node::K::Output:
        out += to_str(eval(*n.c[0]));
        if (out.size() > kMaxOutput) fail("chat template line {}: output over 256 MB", n.line);
        return Flow::Normal;
      case Node::K::If:
        if (eval(*n.c[0]).truthy()) return exec(*n.c[1], out);
        if (n.c[2]) return exec(*n.c[2], out);
        return Flow::Normal;
      case Node::K::For:
        return exec_for(n, out);
      case Node::K::Set:
        exec_set(n);
        return Flow::Normal;
      case Node::K::Macro:
        define_macro(n);
        return Flow::Normal;
      case Node::K::Break:
        return Flow::Break;
      case Node::K::Continue:
        return Flow::Continue;
      case Node::K::Generation: {
        size_t begin = out.size();
        Flow f = exec(*n.c[0], out);
        if (spans_) spans_->push_back({begin, out.size()});
        return f;
      }
      default:
        fail("chat template line {}: an expression where a statement was expected", n.line);
    }
  }

  Flow exec_for(const Node& n, std::string& out) {
    Value seq = eval(*n.c[0]);
    List items = iterate(seq, n.line);
    if (n.c[3]) {  // {% for x in xs if cond %}: filter before the loop variables count
      List kept;
      frames.emplace_back();
      for (auto& it : items) {
        bind_targets(n.names, it, n.line);
        if (eval(*n.c[3]).truthy()) kept.push_back(it);
      }
      frames.pop_back();
      items = std::move(kept);
    }
    if (items.empty()) {
      if (n.c[2]) return exec(*n.c[2], out);
      return Flow::Normal;
    }
    frames.emplace_back();
    Value loop = Value::make_dict();
    const int64_t len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      bind_targets(n.names, items[i], n.line);
      Dict& d = *loop.dict;
      d.items.clear();
      d.set("index", Value::integer(i + 1));
      d.set("index0", Value::integer(i));
      d.set("revindex", Value::integer(len - i));
      d.set("revindex0", Value::integer(len - i - 1));
      d.set("first", Value::boolean(i == 0));
      d.set("last", Value::boolean(i == len - 1));
      d.set("length", Value::integer(len));
      d.set("depth", Value::integer(1));
      d.set("depth0", Value::integer(0));
      d.set("previtem", i > 0 ? items[i - 1] : Value::undefined("previtem"));
      d.set("nextitem", i + 1 < len ? items[i + 1] : Value::undefined("nextitem"));
      d.set("cycle", Value::func([i](Args& a) {
              if (a.pos.empty()) fail("template error: loop.cycle needs arguments");
              return a.pos[static_cast<size_t>(i) % a.pos.size()];
            }));
      frames.back()["loop"] = loop;
      Flow f = exec(*n.c[1], out);
      if (f == Flow::Break) break;
    }
    frames.pop_back();
    return Flow::Normal;
  }

  void bind_targets(const std::vector<std::string>& names, const Value& v, int line) {
    if (names.size() == 1) {
      assign(names[0], v);
      return;
    }
    List parts = iterate(v, line);
    if (parts.size() != names.size())
      fail("chat template line {}: cannot unpack {} values into {} names", line, parts.size(),
           names.size());
    for (size_t k = 0; k < names.size(); ++k) assign(names[k], parts[k]);
  }

  void exec_set(const Node& n) {
    Value v;
    if (n.block_set) {
      std::string s;
      exec(*n.c[0], s);
      v = Value::str(s);
    } else {
      v = eval(*n.c[0]);
    }
    if (!n.s.empty()) {  // ns.attr = value
      Value target = lookup(n.names[0]);
      if (!target.ns)
        fail("chat template line {}: cannot set an attribute of '{}' (not a namespace)", n.line,
             n.names[0]);
      target.dict->set(n.s, std::move(v));
      return;
    }
    bind_targets(n.names, v, n.line);
  }

  void define_macro(const Node& n) {
    const Node* node = &n;
    // Defaults are evaluated at call time, in the scope of the call (as jinja2 does for
    // constants, the only defaults templates use).
    assign(n.s, Value::func([this, node](Args& a) {
             std::unordered_map<std::string, Value> frame;
             for (size_t k = 0; k < node->names.size(); ++k) {
               const Value* v = a.get(k, node->names[k]);
               if (v)
                 frame[node->names[k]] = *v;
               else if (node->c[k + 1])
                 frame[node->names[k]] = eval(*node->c[k + 1]);
               else
                 frame[node->names[k]] = Value::undefined(node->names[k]);
             }
             if (depth_ >= 64) fail("chat template line {}: macro calls nest too deep", node->line);
             if (a.pos.size() > node->names.size())
               fail("chat template line {}: macro '{}' takes {} arguments, got {}", node->line,
                    node->s, node->names.size(), a.pos.size());
             frames.push_back(std::move(frame));
             std::string s;
             ++depth_;
             try {
               exec(*node->c[0], s);
             } catch (...) {
               --depth_;
               frames.pop_back();
               throw;
             }
             --depth_;
             frames.pop_back();
             return Value::str(s);
           }));
  }

  Args eval_args(const Node& n, size_t first) {
    Args a;
    for (size_t k = first; k < n.c.size(); ++k) {
      Value v = eval(*n.c[k]);
      if (n.names[k].empty())
        a.pos.push_back(std::move(v));
      else
        a.kw.emplace_back(n.names[k], std::move(v));
    }
    return a;
  }

  Value eval(const Node& n) {
    switch (n.k) {
      case Node::K::Literal:
        return n.v;
      case Node::K::Name:
        return lookup(n.s);
      case Node::K::Attr:
        return get_attr(eval(*n.c[0]), n.s, n.line);
      case Node::K::Item:
        return get_item(eval(*n.c[0]), eval(*n.c[1]), n.line);
      case Node::K::Slice: {
        Value base = eval(*n.c[0]);
        Value a = n.c[1] ? eval(*n.c[1]) : Value::none();
        Value b = n.c[2] ? eval(*n.c[2]) : Value::none();
        Value c = n.c[3] ? eval(*n.c[3]) : Value::none();
        return slice(base, a, b, c, n.line);
      }
      case Node::K::Call: {
        Value f = eval(*n.c[0]);
        if (f.t != Value::T::Func) {
          std::string what = n.c[0]->k == Node::K::Name   ? n.c[0]->s
                             : n.c[0]->k == Node::K::Attr ? n.c[0]->s
                                                          : "value";
          fail("chat template line {}: '{}' is {}, not callable", n.line, what,
               f.is_undefined() ? "undefined" : f.type_name());
        }
        Args a = eval_args(n, 1);
        return (*f.fn)(a);
      }
      case Node::K::Filter: {
        Value in = eval(*n.c[0]);
        Args a = eval_args(n, 1);
        return apply_filter(n.s, in, a, n.line);
      }
      case Node::K::Test: {
        Value in = eval(*n.c[0]);
        Args a = eval_args(n, 1);
        bool r = apply_test(n.s, in, a, n.line);
        return Value::boolean(n.negate ? !r : r);
      }
      case Node::K::Unary: {
        Value v = eval(*n.c[0]);
        if (n.s == "not") return Value::boolean(!v.truthy());
        if (v.t == Value::T::Int) return Value::integer(n.s == "-" ? -v.i : v.i);
        if (v.t == Value::T::Float) return Value::real(n.s == "-" ? -v.f : v.f);
        if (v.t == Value::T::Bool) return Value::integer(n.s == "-" ? -int(v.b) : int(v.b));
        fail("chat template line {}: bad operand type for unary {}: '{}'", n.line, n.s,
             v.type_name());
      }
      case Node::K::Binary:
        return binary(n);
      case Node::K::Cond:
        if (eval(*n.c[0]).truthy()) return eval(*n.c[1]);
        return n.c[2] ? eval(*n.c[2]) : Value::undefined();
      case Node::K::ListLit: {
        List l;
        for (const auto& e : n.c) l.push_back(eval(*e));
        return Value::make_list(std::move(l));
      }
      case Node::K::DictLit: {
        Value d = Value::make_dict();
        for (size_t k = 0; k + 1 < n.c.size(); k += 2) {
          Value key = eval(*n.c[k]);
          if (!key.is_str())
            fail("chat template line {}: dict keys must be strings, not {}", n.line,
                 key.type_name());
          d.dict->set(key.s, eval(*n.c[k + 1]));
        }
        return d;
      }
      default:
        fail("chat template line {}: a statement where an expression was expected", n.line);
    }
  }

  Value binary(const Node& n) {
    const std::string& op = n.s;
    if (op == "and") {
      Value a = eval(*n.c[0]);
      return a.truthy() ? eval(*n.c[1]) : a;
    }
    if (op == "or") {
      Value a = eval(*n.c[0]);
      return a.truthy() ? a : eval(*n.c[1]);
    }
    Value a = eval(*n.c[0]), b = eval(*n.c[1]);
    if (op == "~") return Value::str(to_str(a) + to_str(b));
    if (op == "==") return Value::boolean(equal(a, b));
    if (op == "!=") return Value::boolean(!equal(a, b));
    if (op == "<") return Value::boolean(compare(a, b) < 0);
    if (op == "<=") return Value::boolean(compare(a, b) <= 0);
    if (op == ">") return Value::boolean(compare(a, b) > 0);
    if (op == ">=") return Value::boolean(compare(a, b) >= 0);
    if (op == "in" || op == "not in") {
      bool r = contains(b, a, n.line);
      return Value::boolean(op == "in" ? r : !r);
    }
    if (a.is_undefined() || b.is_undefined())
      fail("chat template line {}: '{}' is undefined", n.line, a.is_undefined() ? a.s : b.s);
    if (op == "+") {
      if (a.is_str() && b.is_str()) return Value::str(a.s + b.s);
      if (a.is_list() && b.is_list()) {
        List l = *a.list;
        l.insert(l.end(), b.list->begin(), b.list->end());
        return Value::make_list(std::move(l));
      }
    }
    if (op == "*") {
      if ((a.is_str() || a.is_list()) && b.t == Value::T::Int &&
          b.i * static_cast<int64_t>(a.is_str() ? a.s.size() : a.list->size()) > (1 << 24))
        fail("chat template line {}: repetition result too large", n.line);
      if (a.is_str() && b.t == Value::T::Int) {
        std::string s;
        for (int64_t k = 0; k < b.i; ++k) s += a.s;
        return Value::str(s);
      }
      if (a.is_list() && b.t == Value::T::Int) {
        List l;
        for (int64_t k = 0; k < b.i; ++k) l.insert(l.end(), a.list->begin(), a.list->end());
        return Value::make_list(std::move(l));
      }
    }
    if (!a.is_number() || !b.is_number())
      fail("chat template line {}: unsupported operand types for {}: '{}' and '{}'", n.line, op,
           a.type_name(), b.type_name());
    const bool ints = a.t != Value::T::Float && b.t != Value::T::Float;
    const int64_t x = a.t == Value::T::Bool ? a.b : a.i, y = b.t == Value::T::Bool ? b.b : b.i;
    if (op == "+") return ints ? Value::integer(x + y) : Value::real(a.number() + b.number());
    if (op == "-") return ints ? Value::integer(x - y) : Value::real(a.number() - b.number());
    if (op == "*") return ints ? Value::integer(x * y) : Value::real(a.number() * b.number());
    if (op == "/") {
      if (b.number() == 0) fail("chat template line {}: division by zero", n.line);
      return Value::real(a.number() / b.number());
    }
    if (op == "//" || op == "%") {
      if (b.number() == 0) fail("chat template line {}: division by zero", n.line);
      if (ints) {
        int64_t q = x / y, r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) {  // Python floors
          --q;
          r += y;
        }
        return Value::integer(op == "//" ? q : r);
      }
      double q = std::floor(a.number() / b.number());
      return Value::real(op == "//" ? q : a.number() - q * b.number());
    }
    if (op == "**") {
      if (ints && y >= 0) {
        int64_t r = 1;
        for (int64_t k = 0; k < y; ++k) r *= x;
        return Value::integer(r);
      }
      return Value::real(std::pow(a.number(), b.number()));
    }
    fail("chat template line {}: unknown operator {}", n.line, op);
  }

 private:
  std::vector<std::pair<size_t, size_t>>* spans_;
  int depth_ = 0;
};

}  // namespace

List iterate(const Value& v, int line) {
  switch (v.t) {
    case Value::T::Undefined:
      return {};
    case Value::T::List:
      return *v.list;
    case Value::T::Dict: {
      List keys;
      for (auto& [k, x] : v.dict->items) keys.push_back(Value::str(k));
      return keys;
    }
    case Value::T::Str: {
      List out;
      for (auto c : chars_of(v.s)) out.push_back(Value::str(std::string(c)));
      return out;
    }
    default:
      fail("chat template line {}: '{}' is not iterable", line, v.type_name());
  }
}

bool contains(const Value& container, const Value& x, int line) {
  if (container.is_str()) {
    if (!x.is_str())
      fail("chat template line {}: 'in <string>' needs a string on the left, not {}", line,
           x.type_name());
    return container.s.find(x.s) != std::string::npos;
  }
  if (container.is_list()) {
    for (auto& e : *container.list)
      if (equal(e, x)) return true;
    return false;
  }
  if (container.is_dict()) return x.is_str() && container.dict->find(x.s) != nullptr;
  if (container.is_undefined()) fail("chat template line {}: '{}' is undefined", line, container.s);
  fail("chat template line {}: argument of type '{}' is not iterable", line, container.type_name());
}

Value get_item(const Value& base, const Value& key, int line) {
  if (base.is_undefined())
    fail("chat template line {}: '{}' is undefined", line, base.s.empty() ? "value" : base.s);
  if (base.is_dict()) {
    if (key.is_str()) {
      if (const Value* v = base.dict->find(key.s)) return *v;
      return method(base, key.s, line);
    }
    return Value::undefined(to_str(key));
  }
  if ((base.is_list() || base.is_str()) && (key.t == Value::T::Int || key.t == Value::T::Bool)) {
    int64_t i = key.t == Value::T::Bool ? key.b : key.i;
    if (base.is_list()) {
      int64_t n = static_cast<int64_t>(base.list->size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::undefined(fmt::format("[{}]", key.i));
      return (*base.list)[static_cast<size_t>(i)];
    }
    auto cs = chars_of(base.s);
    int64_t n = static_cast<int64_t>(cs.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined(fmt::format("[{}]", key.i));
    return Value::str(std::string(cs[static_cast<size_t>(i)]));
  }
  if (key.is_str()) return method(base, key.s, line);
  return Value::undefined(to_str(key));
}

Value get_attr(const Value& base, const std::string& name, int line) {
  if (base.is_undefined())
    fail("chat template line {}: '{}' is undefined (reading .{})", line,
         base.s.empty() ? "value" : base.s, name);
  // jinja2 tries the Python attribute first: a dict's methods win over its keys.
  if (base.is_dict() && !base.ns) {
    Value m = method(base, name, line);
    if (!m.is_undefined()) return m;
    if (const Value* v = base.dict->find(name)) return *v;
    return Value::undefined(name);
  }
  if (base.is_dict()) {
    if (const Value* v = base.dict->find(name)) return *v;
    return Value::undefined(name);
  }
  return method(base, name, line);
}

Value slice(const Value& base, const Value& a, const Value& b, const Value& c, int line) {
  auto get = [&](const Value& v, int64_t dflt) {
    if (v.is_none() || v.is_undefined()) return dflt;
    if (v.t != Value::T::Int) fail("chat template line {}: slice indices must be integers", line);
    return v.i;
  };
  int64_t step = get(c, 1);
  if (step == 0) fail("chat template line {}: slice step cannot be zero", line);
  std::vector<std::string_view> cs;
  int64_t n;
  if (base.is_str()) {
    cs = chars_of(base.s);
    n = static_cast<int64_t>(cs.size());
  } else if (base.is_list()) {
    n = static_cast<int64_t>(base.list->size());
  } else {
    fail("chat template line {}: cannot slice '{}'", line, base.type_name());
  }
  // Python's slice.indices().
  auto clamp = [&](int64_t x, bool is_start) {
    if (x < 0) x += n;
    if (step > 0) return std::clamp<int64_t>(x, 0, n);
    return std::clamp<int64_t>(x, -1, n - 1);
    (void)is_start;
  };
  int64_t start = a.is_none() || a.is_undefined() ? (step > 0 ? 0 : n - 1) : clamp(get(a, 0), true);
  int64_t stop = b.is_none() || b.is_undefined() ? (step > 0 ? n : -1) : clamp(get(b, 0), false);
  if (base.is_str()) {
    std::string out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
      out += cs[static_cast<size_t>(i)];
    return Value::str(out);
  }
  List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
    out.push_back((*base.list)[static_cast<size_t>(i)]);
  return Value::make_list(std::move(out));
}

Template::Template(std::string_view source) : root_(parse_template(source)) {}
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const nlohmann::ordered_json& context,
                             std::vector<std::pair<size_t, size_t>>* spans) const {
  Renderer r(spans);
  r.frames.emplace_back();
  install_globals(r.frames.back());
  r.frames.emplace_back();
  if (!context.is_object()) fail("chat template: the context must be a JSON object");
  for (auto it = context.begin(); it != context.end(); ++it)
    r.frames.back()[it.key()] = from_json(it.value());
  std::string out;
  r.exec(*root_, out);
  return out;
}

}  // namespace sllm::jinja
