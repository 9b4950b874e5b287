#include "sllm/infer/json_grammar.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "grammar_build.h"
#include "json_pattern.h"
#include "sllm/common/error.h"

namespace sllm {

using json = nlohmann::ordered_json;
using G = Grammar;

namespace {

// The building blocks every JSON grammar shares.
struct JsonRules {
  int ws, string, number, integer, value, chr, frac;
};

// A rule matching 0 to max copies of e.
int up_to(Grammar& g, const std::string& name, const GrammarElem& e, int max) {
  const int first = g.add_rule(name);
  int prev = first;
  for (int i = 0; i < max; ++i) {
    g.add_alt(prev, {});
    const int next = i + 1 < max ? g.add_rule(name + std::to_string(i + 1)) : -1;
    GrammarAlt a{e};
    if (next >= 0) a.push_back(G::ref(next));
    g.add_alt(prev, a);
    prev = next;
  }
  return first;
}

JsonRules add_json_rules(Grammar& g) {
  JsonRules r;
  // ws: up to 16 bytes of space, tab, newline or carriage return.
  r.ws =
      up_to(g, "ws", GrammarElem{-1, {{' ', ' '}, {'\t', '\t'}, {'\n', '\n'}, {'\r', '\r'}}}, 16);
  // A string character: printable ASCII but " and \, an escape, or a valid UTF-8 sequence.
  const int hex = g.add_rule("hex");
  g.add_alt(hex, {GrammarElem{-1, {{'0', '9'}, {'a', 'f'}, {'A', 'F'}}}});
  const int cont = g.add_rule("utf8cont");
  g.add_alt(cont, {G::range(0x80, 0xbf)});
  const int ch = g.add_rule("char");
  g.add_alt(ch, {GrammarElem{-1, {{0x20, 0x21}, {0x23, 0x5b}, {0x5d, 0x7e}}}});
  g.add_alt(ch, {G::lit('\\'), GrammarElem{-1,
                                           {{'"', '"'},
                                            {'\\', '\\'},
                                            {'/', '/'},
                                            {'b', 'b'},
                                            {'f', 'f'},
                                            {'n', 'n'},
                                            {'r', 'r'},
                                            {'t', 't'}}}});
  g.add_alt(ch, {G::lit('\\'), G::lit('u'), G::ref(hex), G::ref(hex), G::ref(hex), G::ref(hex)});
  g.add_alt(ch, {G::range(0xc2, 0xdf), G::ref(cont)});
  g.add_alt(ch, {G::lit(0xe0), G::range(0xa0, 0xbf), G::ref(cont)});
  g.add_alt(ch, {GrammarElem{-1, {{0xe1, 0xec}, {0xee, 0xef}}}, G::ref(cont), G::ref(cont)});
  g.add_alt(ch, {G::lit(0xed), G::range(0x80, 0x9f), G::ref(cont)});
  g.add_alt(ch, {G::lit(0xf0), G::range(0x90, 0xbf), G::ref(cont), G::ref(cont)});
  g.add_alt(ch, {G::range(0xf1, 0xf3), G::ref(cont), G::ref(cont), G::ref(cont)});
  g.add_alt(ch, {G::lit(0xf4), G::range(0x80, 0x8f), G::ref(cont), G::ref(cont)});
  const int chars = g.add_rule("chars");
  g.add_alt(chars, {});
  g.add_alt(chars, {G::ref(ch), G::ref(chars)});
  r.chr = ch;
  r.string = g.add_rule("string");
  g.add_alt(r.string, {G::lit('"'), G::ref(chars), G::lit('"')});
  // Numbers: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, with at most 16 digits per part
  // and 2 in the exponent, so every number fits a double (and every integer an int64).
  const int digits = up_to(g, "digits", G::range('0', '9'), 15);
  const int exp_digits = up_to(g, "exp-digits", G::range('0', '9'), 1);
  const int intpart = g.add_rule("intpart");
  g.add_alt(intpart, {G::lit('0')});
  g.add_alt(intpart, {G::range('1', '9'), G::ref(digits)});
  r.integer = g.add_rule("integer");
  g.add_alt(r.integer, {G::ref(intpart)});
  g.add_alt(r.integer, {G::lit('-'), G::ref(intpart)});
  const int frac = g.add_rule("frac");
  g.add_alt(frac, {});
  g.add_alt(frac, {G::lit('.'), G::range('0', '9'), G::ref(digits)});
  const int exp = g.add_rule("exp");
  g.add_alt(exp, {});
  g.add_alt(exp,
            {GrammarElem{-1, {{'e', 'e'}, {'E', 'E'}}}, G::range('0', '9'), G::ref(exp_digits)});
  g.add_alt(exp,
            {GrammarElem{-1, {{'e', 'e'}, {'E', 'E'}}}, GrammarElem{-1, {{'+', '+'}, {'-', '-'}}},
             G::range('0', '9'), G::ref(exp_digits)});
  r.frac = frac;
  r.number = g.add_rule("number");
  g.add_alt(r.number, {G::ref(r.integer), G::ref(frac), G::ref(exp)});

  // Any value.
  r.value = g.add_rule("value");
  const int object = g.add_rule("object"), members = g.add_rule("members"),
            member = g.add_rule("member");
  const int array = g.add_rule("array"), elements = g.add_rule("elements");
  g.add_alt(member, {G::ref(r.string), G::ref(r.ws), G::lit(':'), G::ref(r.ws), G::ref(r.value)});
  g.add_alt(members, {G::lit('}')});
  g.add_alt(members, {G::lit(','), G::ref(r.ws), G::ref(member), G::ref(r.ws), G::ref(members)});
  g.add_alt(object, {G::lit('{'), G::ref(r.ws), G::lit('}')});
  g.add_alt(object, {G::lit('{'), G::ref(r.ws), G::ref(member), G::ref(r.ws), G::ref(members)});
  g.add_alt(elements, {G::lit(']')});
  g.add_alt(elements, {G::lit(','), G::ref(r.ws), G::ref(r.value), G::ref(r.ws), G::ref(elements)});
  g.add_alt(array, {G::lit('['), G::ref(r.ws), G::lit(']')});
  g.add_alt(array, {G::lit('['), G::ref(r.ws), G::ref(r.value), G::ref(r.ws), G::ref(elements)});
  g.add_alt(r.value, {G::ref(object)});
  g.add_alt(r.value, {G::ref(array)});
  g.add_alt(r.value, {G::ref(r.string)});
  g.add_alt(r.value, {G::ref(r.number)});
  for (const char* lit : {"true", "false", "null"}) g.add_alt(r.value, G::text(lit));
  return r;
}

class SchemaCompiler {
 public:
  SchemaCompiler(Grammar& g, JsonRules r) : g_(g), r_(r) {}

  int compile(const json& s, const std::string& path) {
    if (s.is_boolean()) {
      if (s.get<bool>()) return r_.value;
      fail("JSON schema at {}: 'false' accepts nothing", path);
    }
    if (!s.is_object()) fail("JSON schema at {} must be an object", path);
    // Annotations change nothing. additionalProperties too: objects only ever get the listed
    // properties, which every value of additionalProperties allows.
    static const std::set<std::string> ignored = {
        "title",   "description", "default",  "examples",
        "$schema", "$id",         "$comment", "additionalProperties"};
    static const std::set<std::string> known = {"type",
                                                "properties",
                                                "required",
                                                "items",
                                                "enum",
                                                "const",
                                                "anyOf",
                                                "oneOf",
                                                "minItems",
                                                "maxItems",
                                                "minLength",
                                                "maxLength",
                                                "minimum",
                                                "maximum",
                                                "exclusiveMinimum",
                                                "exclusiveMaximum",
                                                "pattern"};
    for (auto it = s.begin(); it != s.end(); ++it)
      if (!ignored.count(it.key()) && !known.count(it.key()))
        fail(
            "JSON schema at {}: keyword '{}' is not supported (supported: type, properties, "
            "required, additionalProperties, items, minItems, maxItems, enum, const, anyOf, "
            "oneOf, minLength, maxLength, pattern, minimum, maximum, exclusiveMinimum, "
            "exclusiveMaximum)",
            path, it.key());
    const int rule = g_.add_rule(path);
    if (s.contains("const")) {
      g_.add_alt(rule, G::text(s["const"].dump()));
      return rule;
    }
    if (s.contains("enum")) {
      if (!s["enum"].is_array() || s["enum"].empty())
        fail("JSON schema at {}: enum must be a non-empty array", path);
      for (const auto& v : s["enum"]) g_.add_alt(rule, G::text(v.dump()));
      return rule;
    }
    for (const char* key : {"anyOf", "oneOf"})
      if (s.contains(key)) {
        if (!s[key].is_array() || s[key].empty())
          fail("JSON schema at {}: {} must be a non-empty array", path, key);
        for (size_t i = 0; i < s[key].size(); ++i)
          g_.add_alt(rule,
                     {G::ref(compile(s[key][i], path + "/" + key + "/" + std::to_string(i)))});
        return rule;
      }
    if (!s.contains("type")) {
      g_.add_alt(rule, {G::ref(r_.value)});
      return rule;
    }
    std::vector<std::string> types;
    if (s["type"].is_string()) {
      types.push_back(s["type"].get<std::string>());
    } else if (s["type"].is_array()) {
      for (const auto& t : s["type"]) {
        if (!t.is_string()) fail("JSON schema at {}: type list entries must be strings", path);
        types.push_back(t.get<std::string>());
      }
    } else {
      fail("JSON schema at {}: type must be a string or a list of strings", path);
    }
    for (const auto& t : types) g_.add_alt(rule, {G::ref(typed(s, t, path))});
    return rule;
  }

 private:
  int typed(const json& s, const std::string& t, const std::string& path) {
    if (t == "string") return string(s, path);
    if (t == "number") return number(s, path);
    if (t == "integer") return integer(s, path);
    if (t == "boolean") {
      const int r = g_.add_rule(path + ":boolean");
      g_.add_alt(r, G::text("true"));
      g_.add_alt(r, G::text("false"));
      return r;
    }
    if (t == "null") {
      const int r = g_.add_rule(path + ":null");
      g_.add_alt(r, G::text("null"));
      return r;
    }
    if (t == "array") return array(s, path);
    if (t == "object") return object(s, path);
    fail("JSON schema at {}: unknown type '{}'", path, t);
  }

  // A non-negative integer keyword (minItems, maxLength, ...), or `dflt` when absent.
  static int count(const json& s, const char* key, int dflt, const std::string& path) {
    if (!s.contains(key)) return dflt;
    if (!s[key].is_number_unsigned() || s[key].get<uint64_t>() > 4096)
      fail("JSON schema at {}: {} must be an integer from 0 to 4096", path, key);
    return int(s[key].get<uint64_t>());
  }

  int array(const json& s, const std::string& path) {
    const int item = s.contains("items") ? compile(s["items"], path + "/items") : r_.value;
    const int lo = count(s, "minItems", 0, path), hi = count(s, "maxItems", -1, path);
    const int rest = grammar_build::repeat(g_, path + ":items", {G::ref(item), G::ref(r_.ws)}, lo,
                                           hi, {G::lit(','), G::ref(r_.ws)}, {G::lit(']')});
    const int r = g_.add_rule(path + ":array");
    g_.add_alt(r, {G::lit('['), G::ref(r_.ws), G::ref(rest)});
    return r;
  }

  int string(const json& s, const std::string& path) {
    if (s.contains("pattern")) {
      if (!s["pattern"].is_string()) fail("JSON schema at {}: pattern must be a string", path);
      if (s.contains("minLength") || s.contains("maxLength"))
        fail("JSON schema at {}: pattern together with minLength/maxLength is not supported", path);
      return add_pattern_string(g_, s["pattern"].get<std::string>());
    }
    if (!s.contains("minLength") && !s.contains("maxLength")) return r_.string;
    const int lo = count(s, "minLength", 0, path), hi = count(s, "maxLength", -1, path);
    const int rest =
        grammar_build::repeat(g_, path + ":chars", {G::ref(r_.chr)}, lo, hi, {}, {G::lit('"')});
    const int r = g_.add_rule(path + ":string");
    g_.add_alt(r, {G::lit('"'), G::ref(rest)});
    return r;
  }

  // minimum / maximum / exclusive*, as integer bounds: `up` rounds a bound toward the inside.
  std::optional<int64_t> bound(const json& s, const char* key, const char* exclusive, bool lower,
                               const std::string& path) {
    std::optional<double> b;
    bool excl = false;
    for (const char* k : {key, exclusive}) {
      if (!s.contains(k)) continue;
      if (!s[k].is_number()) fail("JSON schema at {}: {} must be a number", path, k);
      const double v = s[k].get<double>();
      if (!b || (lower ? v >= *b : v <= *b)) {
        excl = k == exclusive && (!b || v != *b || excl);
        b = v;
      }
    }
    if (!b) return std::nullopt;
    if (std::fabs(*b) > 1e15) fail("JSON schema at {}: bounds beyond 1e15 are not supported", path);
    double v = lower ? std::ceil(*b) : std::floor(*b);
    if (excl && v == *b) v += lower ? 1 : -1;
    return int64_t(v);
  }

  int integer(const json& s, const std::string& path) {
    auto lo = bound(s, "minimum", "exclusiveMinimum", true, path);
    auto hi = bound(s, "maximum", "exclusiveMaximum", false, path);
    if (!lo && !hi) return r_.integer;
    return grammar_build::integer_range(g_, path + ":integer", lo, hi);
  }

  // Bounded numbers are written as an integer in range, with a fraction only where every
  // fraction stays in range (x.f for 0 <= x < hi, -x.f for lo < -x <= 0): a subset of the
  // range that always validates.
  int number(const json& s, const std::string& path) {
    auto lo = bound(s, "minimum", "exclusiveMinimum", true, path);
    auto hi = bound(s, "maximum", "exclusiveMaximum", false, path);
    if (!lo && !hi) return r_.number;
    if (lo && hi && *lo > *hi)
      fail("JSON schema at {}: no integer lies in the number range (too narrow to generate)", path);
    const int r = g_.add_rule(path + ":number");
    g_.add_alt(r, {G::ref(grammar_build::integer_range(g_, path + ":whole", lo, hi))});
    // Non-negative with a fraction: integer part in [max(lo,0), hi-1].
    std::optional<int64_t> plo = std::max<int64_t>(lo.value_or(0), 0), phi;
    if (hi) phi = *hi - 1;
    if (!phi || *phi >= *plo)
      g_.add_alt(r, {G::ref(grammar_build::integer_range(g_, path + ":pos", plo, phi)), G::lit('.'),
                     G::range('0', '9'), G::ref(fraction_digits())});
    // Negative with a fraction: -x.f with hi <= -x.f (x >= -hi) and -x.f >= lo (x < -lo).
    if (!lo || *lo < 0) {
      const int64_t xlo = hi ? std::max<int64_t>(0, -*hi) : 0;
      std::optional<int64_t> xhi;
      if (lo) xhi = -*lo - 1;
      if (!xhi || *xhi >= xlo)
        g_.add_alt(r,
                   {G::lit('-'), G::ref(grammar_build::integer_range(g_, path + ":neg", xlo, xhi)),
                    G::lit('.'), G::range('0', '9'), G::ref(fraction_digits())});
    }
    return r;
  }

  int fraction_digits() {
    // The "frac" rule is '.' [0-9] digits; its last element is the digits rule.
    for (const auto& alt : g_.alts(r_.frac))
      if (!alt.empty()) return alt.back().rule;
    fail("internal: the JSON fraction rule has no digits");
  }

  // Properties in schema order. tail(i, comma) emits properties i.. then "}"; `comma` says
  // whether one was already written (so the next needs a leading ",").
  int object(const json& s, const std::string& path) {
    if (!s.contains("properties")) return any_object(path);
    const json& props = s["properties"];
    if (!props.is_object()) fail("JSON schema at {}: properties must be an object", path);
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) fail("JSON schema at {}: required must be an array", path);
      for (const auto& k : s["required"]) {
        if (!k.is_string() || !props.contains(k.get<std::string>()))
          fail("JSON schema at {}: required entry {} is not a listed property", path, k.dump());
        required.insert(k.get<std::string>());
      }
    }
    std::vector<std::pair<std::string, int>> items;
    for (auto it = props.begin(); it != props.end(); ++it)
      items.emplace_back(it.key(), compile(it.value(), path + "/properties/" + it.key()));
    const size_t n = items.size();
    std::vector<int> tail_first(n + 1), tail_more(n + 1);  // comma = false / true
    for (size_t i = 0; i <= n; ++i) {
      tail_first[i] = g_.add_rule(path + ":tail" + std::to_string(i));
      tail_more[i] = g_.add_rule(path + ":tail" + std::to_string(i) + ",");
    }
    for (size_t i = n + 1; i-- > 0;) {
      for (int comma = 0; comma < 2; ++comma) {
        const int r = comma ? tail_more[i] : tail_first[i];
        if (i == n) {
          g_.add_alt(r, {G::lit('}')});
          continue;
        }
        GrammarAlt a;
        if (comma) {
          a.push_back(G::lit(','));
          a.push_back(G::ref(r_.ws));
        }
        for (auto& e : G::text(json(items[i].first).dump())) a.push_back(e);
        a.push_back(G::ref(r_.ws));
        a.push_back(G::lit(':'));
        a.push_back(G::ref(r_.ws));
        a.push_back(G::ref(items[i].second));
        a.push_back(G::ref(r_.ws));
        a.push_back(G::ref(tail_more[i + 1]));
        g_.add_alt(r, a);
        if (!required.count(items[i].first))
          g_.add_alt(r, {G::ref(comma ? tail_more[i + 1] : tail_first[i + 1])});
      }
    }
    const int r = g_.add_rule(path + ":object");
    g_.add_alt(r, {G::lit('{'), G::ref(r_.ws), G::ref(tail_first[0])});
    return r;
  }

  int any_object(const std::string& path) {
    // JSON mode's object rule: the alternative of "value" that refers to "object".
    const int r = g_.add_rule(path + ":any-object");
    for (const auto& alt : g_.alts(r_.value))
      if (alt.size() == 1 && alt[0].rule >= 0 && g_.name(alt[0].rule) == "object")
        g_.add_alt(r, alt);
    return r;
  }

  Grammar& g_;
  JsonRules r_;
};

}  // namespace

std::shared_ptr<const Grammar> json_grammar() {
  auto g = std::make_shared<Grammar>();
  JsonRules r = add_json_rules(*g);
  g->set_root(r.value);
  g->finalize();
  return g;
}

std::shared_ptr<const Grammar> json_schema_grammar(std::string_view schema_text,
                                                   std::string_view before,
                                                   std::string_view after) {
  json schema;
  try {
    schema = json::parse(schema_text);
  } catch (const json::exception& e) {
    fail("JSON schema is not valid JSON: {}", e.what());
  }
  auto g = std::make_shared<Grammar>();
  JsonRules r = add_json_rules(*g);
  SchemaCompiler c(*g, r);
  const int value = c.compile(schema, "#");
  if (before.empty() && after.empty()) {
    g->set_root(value);
  } else {
    GrammarAlt a = G::text(before);
    a.push_back(G::ref(value));
    for (auto& e : G::text(after)) a.push_back(e);
    const int root = g->add_rule("root");
    g->add_alt(root, a);
    g->set_root(root);
  }
  g->finalize();
  return g;
}

std::shared_ptr<const Constraint> json_constraint() {
  return std::make_shared<GrammarConstraint>(json_grammar());
}

std::shared_ptr<const Constraint> json_schema_constraint(std::string_view schema_text) {
  return std::make_shared<GrammarConstraint>(json_schema_grammar(schema_text));
}

}  // namespace sllm
