#include "builtins.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>

#include "ast.h"
#include "sllm/common/error.h"

namespace sllm::jinja {

namespace {

[[noreturn]] void bad(int line, const std::string& what) {
  fail("chat template line {}: {}", line, what);
}

// Python's str.isspace() characters.
bool py_space(std::string_view ch) {
  static const char* kSpaces[] = {" ",
                                  "\t",
                                  "\n",
                                  "\v",
                                  "\f",
                                  "\r",
                                  "\x1c",
                                  "\x1d",
                                  "\x1e",
                                  "\x1f",
                                  "\xc2\x85",
                                  "\xc2\xa0",
                                  "\xe1\x9a\x80",
                                  "\xe2\x80\xa8",
                                  "\xe2\x80\xa9",
                                  "\xe2\x80\xaf",
                                  "\xe2\x81\x9f",
                                  "\xe3\x80\x80"};
  for (const char* s : kSpaces)
    if (ch == s) return true;
  // U+2000..U+200A
  return ch.size() == 3 && static_cast<uint8_t>(ch[0]) == 0xE2 &&
         static_cast<uint8_t>(ch[1]) == 0x80 && static_cast<uint8_t>(ch[2]) >= 0x80 &&
         static_cast<uint8_t>(ch[2]) <= 0x8A;
}

std::string strip(const std::string& s, const Value* chars, bool left, bool right) {
  auto cs = chars_of(s);
  std::vector<std::string_view> set;
  const bool ws = !chars || chars->is_none() || chars->is_undefined();
  if (!ws) set = chars_of(chars->s);
  auto strip_it = [&](std::string_view c) {
    if (ws) return py_space(c);
    return std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t a = 0, b = cs.size();
  while (left && a < b && strip_it(cs[a])) ++a;
  while (right && b > a && strip_it(cs[b - 1])) --b;
  std::string out;
  for (size_t k = a; k < b; ++k) out += cs[k];
  return out;
}

std::string ascii_map(std::string s, int (*fn)(int)) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x80) c = static_cast<char>(fn(c));
  return s;
}

std::string need_str(const Value& v, const char* what, int line) {
  if (v.is_str()) return v.s;
  bad(line, fmt::format("{} needs a string, not {}", what, v.type_name()));
}

Value split(const std::string& s, const Value* sep, int64_t maxsplit, int line) {
  List out;
  if (!sep || sep->is_none()) {  // runs of whitespace, no empty pieces
    auto cs = chars_of(s);
    size_t k = 0;
    while (k < cs.size()) {
      while (k < cs.size() && py_space(cs[k])) ++k;
      if (k == cs.size()) break;
      std::string piece;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        for (; k < cs.size(); ++k) piece += cs[k];
        // Python keeps the rest as is but strips trailing whitespace
        out.push_back(Value::str(strip(piece, nullptr, false, true)));
        break;
      }
      while (k < cs.size() && !py_space(cs[k])) piece += cs[k++];
      out.push_back(Value::str(piece));
    }
    return Value::make_list(std::move(out));
  }
  std::string d = need_str(*sep, "split()", line);
  if (d.empty()) bad(line, "split(): empty separator");
  size_t pos = 0;
  for (size_t q; (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) &&
                 (q = s.find(d, pos)) != std::string::npos;
       pos = q + d.size())
    out.push_back(Value::str(s.substr(pos, q - pos)));
  out.push_back(Value::str(s.substr(pos)));
  return Value::make_list(std::move(out));
}

std::string replace(const std::string& s, const std::string& from, const std::string& to,
                    int64_t count) {
  std::string out;
  if (from.empty()) {  // Python inserts `to` between characters
    auto cs = chars_of(s);
    int64_t n = 0;
    for (auto c : cs) {
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
      out += c;
    }
    if (count < 0 || n < count) out += to;
    return out;
  }
  size_t pos = 0;
  int64_t n = 0;
  for (size_t q; (count < 0 || n < count) && (q = s.find(from, pos)) != std::string::npos;
       pos = q + from.size(), ++n) {
    out.append(s, pos, q - pos);
    out += to;
  }
  out.append(s, pos);
  return out;
}

int64_t int_arg(const Value* v, int64_t dflt, const char* what, int line) {
  if (!v || v->is_none()) return dflt;
  if (v->t == Value::T::Int) return v->i;
  if (v->t == Value::T::Bool) return v->b;
  bad(line, fmt::format("{} must be an integer", what));
}

// Resolves "a.b.0" against a value, as jinja2's attribute lookups for filters do.
Value attribute_path(const Value& v, const std::string& path, int line) {
  Value cur = v;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (cur.is_undefined()) return cur;
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = digits ? get_item(cur, Value::integer(std::stoll(part)), line)
                 : get_item(cur, Value::str(part), line);
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return cur;
}

// select/reject/selectattr/rejectattr: args[start] is the test name (none: truthiness).
List select_items(const Value& in, Args& a, bool by_attr, bool keep, int line) {
  std::string attr;
  size_t k = 0;
  if (by_attr) {
    if (a.pos.empty() || !a.pos[0].is_str()) bad(line, "selectattr/rejectattr need an attribute");
    attr = a.pos[0].s;
    k = 1;
  }
  std::string test;
  Args targs;
  if (k < a.pos.size()) {
    if (!a.pos[k].is_str()) bad(line, "select: the test name must be a string");
    test = a.pos[k].s;
    if (!has_test(test)) bad(line, fmt::format("unknown test '{}'", test));
    targs.pos.assign(a.pos.begin() + static_cast<long>(k) + 1, a.pos.end());
  }
  List out;
  for (const auto& item : iterate(in, line)) {
    Value v = by_attr ? attribute_path(item, attr, line) : item;
    bool r = test.empty() ? v.truthy() : apply_test(test, v, targs, line);
    if (r == keep) out.push_back(item);
  }
  return out;
}

std::string sort_key_str(const Value& v, bool case_sensitive) {
  return case_sensitive ? v.s : ascii_map(v.s, ::tolower);
}

int sort_compare(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_str() && b.is_str() && !case_sensitive) {
    std::string x = sort_key_str(a, false), y = sort_key_str(b, false);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return compare(a, b);
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

using FilterFn = Value (*)(const Value&, Args&, int);

Value f_length(const Value& in, Args&, int line) {
  if (in.is_str()) return Value::integer(static_cast<int64_t>(chars_of(in.s).size()));
  if (in.is_list()) return Value::integer(static_cast<int64_t>(in.list->size()));
  if (in.is_dict()) return Value::integer(static_cast<int64_t>(in.dict->items.size()));
  if (in.is_undefined()) return Value::integer(0);
  bad(line, fmt::format("object of type '{}' has no len()", in.type_name()));
}

Value f_tojson(const Value& in, Args& a, int line) {
  int indent = static_cast<int>(int_arg(a.get(0, "indent"), -1, "tojson indent", line));
  if (const Value* e = a.kwarg("ensure_ascii"); e && e->truthy())
    bad(line, "tojson(ensure_ascii=true) is not supported");
  if (a.kwarg("separators")) bad(line, "tojson(separators=...) is not supported");
  Value v = in;
  if (const Value* s = a.kwarg("sort_keys"); s && s->truthy()) {
    // Sorts the keys of every dict, recursively.
    std::function<Value(const Value&)> sorted = [&](const Value& x) -> Value {
      if (x.is_list()) {
        List l;
        for (auto& e : *x.list) l.push_back(sorted(e));
        return Value::make_list(std::move(l));
      }
      if (x.is_dict()) {
        Value d = Value::make_dict();
        for (auto& [k, e] : x.dict->items) d.dict->items.emplace_back(k, sorted(e));
        std::stable_sort(d.dict->items.begin(), d.dict->items.end(),
                         [](auto& p, auto& q) { return p.first < q.first; });
        return d;
      }
      return x;
    };
    v = sorted(in);
  }
  return Value::str(to_json(v, indent));
}

Value f_map(const Value& in, Args& a, int line) {
  List out;
  if (const Value* attr = a.kwarg("attribute")) {
    const Value* dflt = a.kwarg("default");
    for (const auto& item : iterate(in, line)) {
      Value v = attribute_path(item, need_str(*attr, "map(attribute=)", line), line);
      out.push_back(v.is_undefined() && dflt ? *dflt : v);
    }
    return Value::make_list(std::move(out));
  }
  if (a.pos.empty() || !a.pos[0].is_str()) bad(line, "map needs a filter name or attribute=");
  std::string name = a.pos[0].s;
  if (!has_filter(name)) bad(line, fmt::format("unknown filter '{}'", name));
  Args fargs;
  fargs.pos.assign(a.pos.begin() + 1, a.pos.end());
  fargs.kw = a.kw;
  for (const auto& item : iterate(in, line)) out.push_back(apply_filter(name, item, fargs, line));
  return Value::make_list(std::move(out));
}

Value f_join(const Value& in, Args& a, int line) {
  const Value* sep = a.get(0, "d");
  const Value* attr = a.get(1, "attribute");
  std::string s, d = sep ? to_str(*sep) : "";
  bool first = true;
  for (const auto& item : iterate(in, line)) {
    s += (first ? "" : d) + to_str(attr ? attribute_path(item, to_str(*attr), line) : item);
    first = false;
  }
  return Value::str(s);
}

Value f_sort(const Value& in, Args& a, int line) {
  bool reverse = a.get(0, "reverse") && a.get(0, "reverse")->truthy();
  bool cs = a.get(1, "case_sensitive") && a.get(1, "case_sensitive")->truthy();
  const Value* attr = a.get(2, "attribute");
  List l = iterate(in, line);
  auto key = [&](const Value& v) { return attr ? attribute_path(v, to_str(*attr), line) : v; };
  std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
    int c = sort_compare(key(x), key(y), cs);
    return reverse ? c > 0 : c < 0;
  });
  return Value::make_list(std::move(l));
}

Value f_dictsort(const Value& in, Args& a, int line) {
  if (!in.is_dict()) bad(line, "dictsort needs a dict");
  bool cs = a.get(0, "case_sensitive") && a.get(0, "case_sensitive")->truthy();
  std::string by = a.get(1, "by") ? to_str(*a.get(1, "by")) : "key";
  bool reverse = a.get(2, "reverse") && a.get(2, "reverse")->truthy();
  List l;
  for (auto& [k, v] : in.dict->items) l.push_back(Value::make_list({Value::str(k), v}));
  size_t idx = by == "value" ? 1 : 0;
  std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
    int c = sort_compare((*x.list)[idx], (*y.list)[idx], cs);
    return reverse ? c > 0 : c < 0;
  });
  return Value::make_list(std::move(l));
}

Value f_unique(const Value& in, Args& a, int line) {
  bool cs = a.get(0, "case_sensitive") && a.get(0, "case_sensitive")->truthy();
  const Value* attr = a.get(1, "attribute");
  List out;
  std::vector<Value> seen;
  for (const auto& item : iterate(in, line)) {
    Value k = attr ? attribute_path(item, to_str(*attr), line) : item;
    if (k.is_str() && !cs) k = Value::str(ascii_map(k.s, ::tolower));
    bool dup = false;
    for (auto& s : seen) dup = dup || equal(s, k);
    if (!dup) {
      seen.push_back(k);
      out.push_back(item);
    }
  }
  return Value::make_list(std::move(out));
}

Value f_items(const Value& in, Args&, int line) {
  List out;
  if (in.is_undefined()) return Value::make_list();
  if (!in.is_dict()) bad(line, fmt::format("items needs a mapping, not {}", in.type_name()));
  for (auto& [k, v] : in.dict->items) out.push_back(Value::make_list({Value::str(k), v}));
  return Value::make_list(std::move(out));
}

Value f_first(const Value& in, Args&, int line) {
  List l = iterate(in, line);
  return l.empty() ? Value::undefined("first") : l.front();
}

Value f_last(const Value& in, Args&, int line) {
  List l = iterate(in, line);
  return l.empty() ? Value::undefined("last") : l.back();
}

Value f_default(const Value& in, Args& a, int) {
  const Value* d = a.get(0, "default_value");
  bool boolean = a.get(1, "boolean") && a.get(1, "boolean")->truthy();
  if (in.is_undefined() || (boolean && !in.truthy())) return d ? *d : Value::str("");
  return in;
}

Value f_reverse(const Value& in, Args&, int line) {
  if (in.is_str()) {
    auto cs = chars_of(in.s);
    std::string out;
    for (size_t k = cs.size(); k-- > 0;) out += cs[k];
    return Value::str(out);
  }
  List l = iterate(in, line);
  std::reverse(l.begin(), l.end());
  return Value::make_list(std::move(l));
}

Value f_int(const Value& in, Args& a, int line) {
  int64_t dflt = int_arg(a.get(0, "default"), 0, "int default", line);
  if (in.t == Value::T::Int) return in;
  if (in.t == Value::T::Bool) return Value::integer(in.b);
  if (in.t == Value::T::Float) return Value::integer(static_cast<int64_t>(in.f));
  if (in.is_str()) {
    try {
      size_t used = 0;
      std::string t = strip(in.s, nullptr, true, true);
      int64_t v = std::stoll(t, &used);
      if (used == t.size()) return Value::integer(v);
      double d = std::stod(t, &used);
      if (used == t.size()) return Value::integer(static_cast<int64_t>(d));
    } catch (...) {
    }
  }
  return Value::integer(dflt);
}

Value f_float(const Value& in, Args& a, int) {
  double dflt = a.get(0, "default") ? a.get(0, "default")->number() : 0.0;
  if (in.is_number()) return Value::real(in.number());
  if (in.is_str()) {
    try {
      size_t used = 0;
      std::string t = strip(in.s, nullptr, true, true);
      double d = std::stod(t, &used);
      if (used == t.size()) return Value::real(d);
    } catch (...) {
    }
  }
  return Value::real(dflt);
}

Value f_round(const Value& in, Args& a, int line) {
  int64_t prec = int_arg(a.get(0, "precision"), 0, "round precision", line);
  std::string method = a.get(1, "method") ? to_str(*a.get(1, "method")) : "common";
  double m = std::pow(10.0, static_cast<double>(prec)), x = in.number() * m;
  double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
  return Value::real(r / m);
}

Value f_indent(const Value& in, Args& a, int line) {
  const Value* w = a.get(0, "width");
  std::string pad = w && w->is_str() ? w->s : std::string(int_arg(w, 4, "indent width", line), ' ');
  bool first = a.get(1, "first") && a.get(1, "first")->truthy();
  bool blank = a.get(2, "blank") && a.get(2, "blank")->truthy();
  std::string s = to_str(in), out;
  size_t pos = 0, n = 0;
  while (true) {
    size_t nl = s.find('\n', pos);
    std::string ln = s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    bool add = (n > 0 || first) && (blank || !strip(ln, nullptr, true, true).empty());
    out += (add ? pad : "") + ln;
    if (nl == std::string::npos) break;
    out += '\n';
    pos = nl + 1;
    ++n;
  }
  return Value::str(out);
}

Value f_minmax(const Value& in, Args& a, int line, bool want_max) {
  List l = iterate(in, line);
  if (l.empty()) return Value::undefined("min/max");
  bool cs = a.get(0, "case_sensitive") && a.get(0, "case_sensitive")->truthy();
  const Value* attr = a.get(1, "attribute");
  auto key = [&](const Value& v) { return attr ? attribute_path(v, to_str(*attr), line) : v; };
  Value best = l[0];
  for (auto& v : l) {
    int c = sort_compare(key(v), key(best), cs);
    if (want_max ? c > 0 : c < 0) best = v;
  }
  return best;
}

const struct {
  const char* name;
  FilterFn fn;
} kFilters[] = {
    {"length", f_length},
    {"count", f_length},
    {"tojson", f_tojson},
    {"trim", [](const Value& in, Args& a,
                int) { return Value::str(strip(to_str(in), a.get(0, "chars"), true, true)); }},
    {"upper",
     [](const Value& in, Args&, int) { return Value::str(ascii_map(to_str(in), ::toupper)); }},
    {"lower",
     [](const Value& in, Args&, int) { return Value::str(ascii_map(to_str(in), ::tolower)); }},
    {"capitalize",
     [](const Value& in, Args&, int) {
       std::string s = ascii_map(to_str(in), ::tolower);
       if (!s.empty() && static_cast<unsigned char>(s[0]) < 0x80)
         s[0] = static_cast<char>(::toupper(s[0]));
       return Value::str(s);
     }},
    {"title",
     [](const Value& in, Args&, int) {
       std::string s = to_str(in);
       bool start = true;
       for (char& c : s) {
         auto u = static_cast<unsigned char>(c);
         if (std::isalnum(u) || u >= 0x80) {
           c = static_cast<char>(start ? ::toupper(c) : ::tolower(c));
           start = false;
         } else {
           start = !(c == '\'');
         }
       }
       return Value::str(s);
     }},
    {"string", [](const Value& in, Args&, int) { return Value::str(to_str(in)); }},
    {"safe", [](const Value& in, Args&, int) { return in; }},
    {"escape", [](const Value& in, Args&, int) { return Value::str(html_escape(to_str(in))); }},
    {"e", [](const Value& in, Args&, int) { return Value::str(html_escape(to_str(in))); }},
    {"items", f_items},
    {"selectattr",
     [](const Value& in, Args& a, int line) {
       return Value::make_list(select_items(in, a, true, true, line));
     }},
    {"rejectattr",
     [](const Value& in, Args& a, int line) {
       return Value::make_list(select_items(in, a, true, false, line));
     }},
    {"select", [](const Value& in, Args& a,
                  int line) { return Value::make_list(select_items(in, a, false, true, line)); }},
    {"reject", [](const Value& in, Args& a,
                  int line) { return Value::make_list(select_items(in, a, false, false, line)); }},
    {"map", f_map},
    {"join", f_join},
    {"first", f_first},
    {"last", f_last},
    {"default", f_default},
    {"d", f_default},
    {"list", [](const Value& in, Args&, int line) { return Value::make_list(iterate(in, line)); }},
    {"reverse", f_reverse},
    {"sort", f_sort},
    {"dictsort", f_dictsort},
    {"unique", f_unique},
    {"replace",
     [](const Value& in, Args& a, int line) {
       const Value* from = a.get(0, "old");
       const Value* to = a.get(1, "new");
       if (!from || !to) bad(line, "replace needs two arguments");
       return Value::str(replace(to_str(in), to_str(*from), to_str(*to),
                                 int_arg(a.get(2, "count"), -1, "replace count", line)));
     }},
    {"int", f_int},
    {"float", f_float},
    {"abs",
     [](const Value& in, Args&, int line) {
       if (in.t == Value::T::Int) return Value::integer(in.i < 0 ? -in.i : in.i);
       if (in.t == Value::T::Float) return Value::real(std::fabs(in.f));
       bad(line, "abs needs a number");
     }},
    {"round", f_round},
    {"indent", f_indent},
    {"max", [](const Value& in, Args& a, int line) { return f_minmax(in, a, line, true); }},
    {"min", [](const Value& in, Args& a, int line) { return f_minmax(in, a, line, false); }},
    {"sum",
     [](const Value& in, Args& a, int line) {
       const Value* attr = a.get(0, "attribute");
       Value total = a.get(1, "start") ? *a.get(1, "start") : Value::integer(0);
       for (auto& v : iterate(in, line)) {
         Value x = attr ? attribute_path(v, to_str(*attr), line) : v;
         if (!x.is_number() || !total.is_number()) bad(line, "sum needs numbers");
         total = total.t == Value::T::Float || x.t == Value::T::Float
                     ? Value::real(total.number() + x.number())
                     : Value::integer(static_cast<int64_t>(total.number()) +
                                      static_cast<int64_t>(x.number()));
       }
       return total;
     }},
    {"wordcount",
     [](const Value& in, Args&, int line) {
       Value parts = split(to_str(in), nullptr, -1, line);
       return Value::integer(static_cast<int64_t>(parts.list->size()));
     }},
};

using TestFn = bool (*)(const Value&, Args&, int);

const Value& arg0(Args& a, int line, const char* test) {
  if (a.pos.empty()) bad(line, fmt::format("test '{}' needs an argument", test));
  return a.pos[0];
}

const struct {
  const char* name;
  TestFn fn;
} kTests[] = {
    {"defined", [](const Value& v, Args&, int) { return !v.is_undefined(); }},
    {"undefined", [](const Value& v, Args&, int) { return v.is_undefined(); }},
    {"none", [](const Value& v, Args&, int) { return v.is_none(); }},
    {"string", [](const Value& v, Args&, int) { return v.is_str(); }},
    {"number",
     [](const Value& v, Args&, int) { return v.t == Value::T::Int || v.t == Value::T::Float; }},
    {"integer", [](const Value& v, Args&, int) { return v.t == Value::T::Int; }},
    {"float", [](const Value& v, Args&, int) { return v.t == Value::T::Float; }},
    {"boolean", [](const Value& v, Args&, int) { return v.t == Value::T::Bool; }},
    {"true", [](const Value& v, Args&, int) { return v.t == Value::T::Bool && v.b; }},
    {"false", [](const Value& v, Args&, int) { return v.t == Value::T::Bool && !v.b; }},
    {"iterable",
     [](const Value& v, Args&, int) { return v.is_str() || v.is_list() || v.is_dict(); }},
    {"mapping", [](const Value& v, Args&, int) { return v.is_dict(); }},
    {"sequence",
     [](const Value& v, Args&, int) { return v.is_str() || v.is_list() || v.is_dict(); }},
    {"callable", [](const Value& v, Args&, int) { return v.t == Value::T::Func; }},
    {"odd", [](const Value& v, Args&, int line) { return int_arg(&v, 0, "odd", line) % 2 != 0; }},
    {"even", [](const Value& v, Args&, int line) { return int_arg(&v, 0, "even", line) % 2 == 0; }},
    {"divisibleby",
     [](const Value& v, Args& a, int line) {
       int64_t d = int_arg(&arg0(a, line, "divisibleby"), 1, "divisibleby", line);
       return d != 0 && int_arg(&v, 0, "divisibleby", line) % d == 0;
     }},
    {"eq", [](const Value& v, Args& a, int line) { return equal(v, arg0(a, line, "eq")); }},
    {"equalto",
     [](const Value& v, Args& a, int line) { return equal(v, arg0(a, line, "equalto")); }},
    {"ne", [](const Value& v, Args& a, int line) { return !equal(v, arg0(a, line, "ne")); }},
    {"lt", [](const Value& v, Args& a, int line) { return compare(v, arg0(a, line, "lt")) < 0; }},
    {"le", [](const Value& v, Args& a, int line) { return compare(v, arg0(a, line, "le")) <= 0; }},
    {"gt", [](const Value& v, Args& a, int line) { return compare(v, arg0(a, line, "gt")) > 0; }},
    {"ge", [](const Value& v, Args& a, int line) { return compare(v, arg0(a, line, "ge")) >= 0; }},
    {"in",
     [](const Value& v, Args& a, int line) { return contains(arg0(a, line, "in"), v, line); }},
    {"sameas",
     [](const Value& v, Args& a, int line) {
       const Value& o = arg0(a, line, "sameas");
       if (v.t != o.t) return false;
       if (v.is_list()) return v.list == o.list;
       if (v.is_dict()) return v.dict == o.dict;
       return equal(v, o);
     }},
    {"lower",
     [](const Value& v, Args&, int) { return v.is_str() && ascii_map(v.s, ::tolower) == v.s; }},
    {"upper",
     [](const Value& v, Args&, int) { return v.is_str() && ascii_map(v.s, ::toupper) == v.s; }},
};

// ---- methods ----

Value str_method(const Value& self, const std::string& name, int line) {
  const std::string s = self.s;
  auto bind = [&](auto fn) {
    return Value::func([s, fn, line](Args& a) { return fn(s, a, line); });
  };
  if (name == "startswith" || name == "endswith") {
    bool starts = name == "startswith";
    return bind([starts](const std::string& s, Args& a, int line) {
      if (a.pos.empty()) bad(line, "startswith/endswith need an argument");
      List options = a.pos[0].is_list() ? *a.pos[0].list : List{a.pos[0]};
      for (auto& o : options) {
        std::string p = need_str(o, "startswith/endswith", line);
        if (starts ? s.starts_with(p) : s.ends_with(p)) return Value::boolean(true);
      }
      return Value::boolean(false);
    });
  }
  if (name == "split")
    return bind([](const std::string& s, Args& a, int line) {
      return split(s, a.get(0, "sep"), int_arg(a.get(1, "maxsplit"), -1, "maxsplit", line), line);
    });
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    bool l = name != "rstrip", r = name != "lstrip";
    return bind([l, r](const std::string& s, Args& a, int) {
      return Value::str(strip(s, a.get(0, "chars"), l, r));
    });
  }
  if (name == "replace")
    return bind([](const std::string& s, Args& a, int line) {
      if (a.pos.size() < 2) bad(line, "replace needs two arguments");
      return Value::str(replace(s, need_str(a.pos[0], "replace", line),
                                need_str(a.pos[1], "replace", line),
                                int_arg(a.get(2, "count"), -1, "count", line)));
    });
  if (name == "upper" || name == "lower") {
    bool up = name == "upper";
    return bind([up](const std::string& s, Args&, int) {
      return Value::str(ascii_map(s, up ? ::toupper : ::tolower));
    });
  }
  if (name == "title" || name == "capitalize") {
    std::string filter = name;
    return bind([filter](const std::string& s, Args& a, int line) {
      return apply_filter(filter, Value::str(s), a, line);
    });
  }
  if (name == "find" || name == "count" || name == "index")
    return bind([name](const std::string& s, Args& a, int line) {
      if (a.pos.empty()) bad(line, fmt::format("{} needs an argument", name));
      std::string sub = need_str(a.pos[0], name.c_str(), line);
      if (name == "count") {
        if (sub.empty()) return Value::integer(static_cast<int64_t>(chars_of(s).size()) + 1);
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value::integer(n);
      }
      size_t p = s.find(sub);
      if (p == std::string::npos) {
        if (name == "index") bad(line, "substring not found");
        return Value::integer(-1);
      }
      return Value::integer(static_cast<int64_t>(chars_of(s.substr(0, p)).size()));
    });
  if (name == "join")
    return bind([](const std::string& s, Args& a, int line) {
      if (a.pos.empty()) bad(line, "join needs an argument");
      std::string out;
      bool first = true;
      for (auto& v : iterate(a.pos[0], line)) {
        out += (first ? "" : s) + need_str(v, "join", line);
        first = false;
      }
      return Value::str(out);
    });
  if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum" ||
      name == "islower" || name == "isupper")
    return bind([name](const std::string& s, Args&, int) {
      if (s.empty()) return Value::boolean(false);
      bool ok = true, cased = false;
      for (unsigned char c : s) {
        if (name == "isdigit") ok = ok && std::isdigit(c);
        if (name == "isalpha") ok = ok && std::isalpha(c);
        if (name == "isalnum") ok = ok && std::isalnum(c);
        if (name == "isspace") ok = ok && std::isspace(c);
        if (name == "islower") ok = ok && !std::isupper(c), cased = cased || std::islower(c);
        if (name == "isupper") ok = ok && !std::islower(c), cased = cased || std::isupper(c);
      }
      if (name == "islower" || name == "isupper") ok = ok && cased;
      return Value::boolean(ok);
    });
  return Value::undefined(name);
}

}  // namespace

bool has_filter(std::string_view name) {
  for (const auto& f : kFilters)
    if (name == f.name) return true;
  return false;
}

bool has_test(std::string_view name) {
  for (const auto& t : kTests)
    if (name == t.name) return true;
  return false;
}

Value apply_filter(const std::string& name, const Value& in, Args& args, int line) {
  for (const auto& f : kFilters)
    if (name == f.name) return f.fn(in, args, line);
  bad(line, fmt::format("unknown filter '{}'", name));
}

bool apply_test(const std::string& name, const Value& in, Args& args, int line) {
  for (const auto& t : kTests)
    if (name == t.name) return t.fn(in, args, line);
  bad(line, fmt::format("unknown test '{}'", name));
}

Value method(const Value& self, const std::string& name, int line) {
  if (self.is_str()) return str_method(self, name, line);
  if (self.is_dict() && !self.ns) {
    auto d = self.dict;
    if (name == "items")
      return Value::func([self, line](Args& a) { return f_items(self, a, line); });
    if (name == "keys" || name == "values") {
      bool keys = name == "keys";
      return Value::func([d, keys](Args&) {
        List out;
        for (auto& [k, v] : d->items) out.push_back(keys ? Value::str(k) : v);
        return Value::make_list(std::move(out));
      });
    }
    if (name == "get")
      return Value::func([d, line](Args& a) {
        if (a.pos.empty() || !a.pos[0].is_str()) bad(line, "get needs a string key");
        if (const Value* v = d->find(a.pos[0].s)) return *v;
        return a.pos.size() > 1 ? a.pos[1] : Value::none();
      });
    return Value::undefined(name);
  }
  if (self.is_list()) {
    auto l = self.list;
    if (name == "append")
      return Value::func([l, line](Args& a) {
        if (a.pos.size() != 1) bad(line, "append takes one argument");
        l->push_back(a.pos[0]);
        return Value::none();
      });
    if (name == "index" || name == "count")
      return Value::func([l, name, line](Args& a) {
        if (a.pos.empty()) bad(line, fmt::format("{} needs an argument", name));
        int64_t n = 0;
        for (size_t k = 0; k < l->size(); ++k)
          if (equal((*l)[k], a.pos[0])) {
            if (name == "index") return Value::integer(static_cast<int64_t>(k));
            ++n;
          }
        if (name == "index") bad(line, "value is not in list");
        return Value::integer(n);
      });
    return Value::undefined(name);
  }
  if (self.is_undefined()) bad(line, fmt::format("'{}' is undefined", self.s));
  return Value::undefined(name);
}

void install_globals(std::unordered_map<std::string, Value>& g) {
  g["range"] = Value::func([](Args& a) {
    int64_t start = 0, stop = 0, step = 1;
    auto num = [](const Value& v) {
      if (v.t != Value::T::Int) fail("template error: range() needs integers");
      return v.i;
    };
    if (a.pos.size() == 1) {
      stop = num(a.pos[0]);
    } else if (a.pos.size() >= 2) {
      start = num(a.pos[0]);
      stop = num(a.pos[1]);
      if (a.pos.size() > 2) step = num(a.pos[2]);
    } else {
      fail("template error: range() needs arguments");
    }
    if (step == 0) fail("template error: range() step must not be zero");
    List out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      out.push_back(Value::integer(i));
      if (out.size() > 1000000) fail("template error: range() is too long");
    }
    return Value::make_list(std::move(out));
  });
  auto make_dict = [](Args& a, bool ns) {
    Value d = Value::make_dict();
    d.ns = ns;
    for (auto& p : a.pos) {
      if (!p.is_dict()) fail("template error: namespace()/dict() take a mapping or keywords");
      for (auto& [k, v] : p.dict->items) d.dict->set(k, v);
    }
    for (auto& [k, v] : a.kw) d.dict->set(k, v);
    return d;
  };
  g["namespace"] = Value::func([make_dict](Args& a) { return make_dict(a, true); });
  g["dict"] = Value::func([make_dict](Args& a) { return make_dict(a, false); });
  g["raise_exception"] = Value::func([](Args& a) -> Value {
    fail("chat template error: {}",
         a.pos.empty() ? std::string("raise_exception()") : to_str(a.pos[0]));
  });
  g["strftime_now"] = Value::func([](Args& a) {
    if (a.pos.empty() || !a.pos[0].is_str()) fail("template error: strftime_now needs a format");
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[512];
    size_t n = std::strftime(buf, sizeof buf, a.pos[0].s.c_str(), &tm);
    return Value::str(std::string(buf, n));
  });
}

}  // namespace sllm::jinja
