#include "sllm/infer/json_grammar.h"

#include <nlohmann/json.hpp>
#include <set>

#include "sllm/common/error.h"

namespace sllm {

using json = nlohmann::ordered_json;
using G = Grammar;

namespace {

// The building blocks every JSON grammar shares.
struct JsonRules {
  int ws, string, number, integer, value;
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
    static const std::set<std::string> ignored = {
        "title",   "description", "default",  "examples",
        "$schema", "$id",         "$comment", "additionalProperties"};
    static const std::set<std::string> known = {"type", "properties", "required", "items",
                                                "enum", "const",      "anyOf",    "oneOf"};
    for (auto it = s.begin(); it != s.end(); ++it)
      if (!ignored.count(it.key()) && !known.count(it.key()))
        fail(
            "JSON schema at {}: keyword '{}' is not supported (supported: type, properties, "
            "required, items, "
            "enum, const, anyOf, oneOf)",
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
    if (t == "string") return r_.string;
    if (t == "number") return r_.number;
    if (t == "integer") return r_.integer;
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

  int array(const json& s, const std::string& path) {
    const int item = s.contains("items") ? compile(s["items"], path + "/items") : r_.value;
    const int r = g_.add_rule(path + ":array"), rest = g_.add_rule(path + ":elements");
    g_.add_alt(rest, {G::lit(']')});
    g_.add_alt(rest, {G::lit(','), G::ref(r_.ws), G::ref(item), G::ref(r_.ws), G::ref(rest)});
    g_.add_alt(r, {G::lit('['), G::ref(r_.ws), G::lit(']')});
    g_.add_alt(r, {G::lit('['), G::ref(r_.ws), G::ref(item), G::ref(r_.ws), G::ref(rest)});
    return r;
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

std::shared_ptr<const Grammar> json_schema_grammar(std::string_view schema_text) {
  json schema;
  try {
    schema = json::parse(schema_text);
  } catch (const json::exception& e) {
    fail("JSON schema is not valid JSON: {}", e.what());
  }
  auto g = std::make_shared<Grammar>();
  JsonRules r = add_json_rules(*g);
  SchemaCompiler c(*g, r);
  g->set_root(c.compile(schema, "#"));
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
