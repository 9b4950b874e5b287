// GBNF grammars, the JSON schema keywords of issue 24 (bounds, lengths, item counts), and the
// tool-call parser: what each accepts and refuses, and errors that name the problem.
#include <gtest/gtest.h>

#include "sllm/common/error.h"
#include "sllm/infer/gbnf.h"
#include "sllm/infer/json_grammar.h"
#include "sllm/serve/tool_calls.h"

using namespace sllm;

namespace {

// Is `text` a complete sentence of the grammar?
bool matches(const std::shared_ptr<const Grammar>& g, const std::string& text) {
  GrammarConstraint c(g);
  for (char ch : text) {
    if (!c.accepts(std::string_view(&ch, 1))) return false;
    c.advance(std::string_view(&ch, 1));
  }
  return c.complete();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Gbnf, LiteralsClassesGroupsAndRepetition) {
  auto g = parse_gbnf(R"(# a comment
root ::= greeting " " name{1,2} "!"?
greeting ::= "hi" | "hello"   # alternatives
name ::= [A-Z] [a-z]* ( "-" [a-z]+ )?
)");
  EXPECT_TRUE(matches(g, "hi Ann"));
  EXPECT_TRUE(matches(g, "hello Ann-marie!"));
  EXPECT_TRUE(matches(g, "hi AnnBo"));
  EXPECT_FALSE(matches(g, "hi AnnBoCy"));  // {1,2}
  EXPECT_FALSE(matches(g, "hey Ann"));
  EXPECT_FALSE(matches(g, "hi ann"));
  auto n = parse_gbnf("root ::= [^\"\\n]+ \"\\x41\" [\\u00e9-\\u00ea] .");
  EXPECT_TRUE(matches(n, "xyA\xc3\xa9\xe2\x82\xac"));  // é then €, . is any UTF-8 character
  EXPECT_FALSE(matches(n, "x\"A\xc3\xa9z"));
  EXPECT_FALSE(matches(n, "xA\xc3\xabz"));  // ë is outside the class
  auto e = parse_gbnf("root ::= \"a\"{3} | (\"b\" \"c\")+\n");
  EXPECT_TRUE(matches(e, "aaa"));
  EXPECT_TRUE(matches(e, "bcbc"));
  EXPECT_FALSE(matches(e, "aa"));
}

TEST(Gbnf, ErrorsNameTheProblem) {
  EXPECT_NE(error_of([] { parse_gbnf("root ::= x"); }).find("rule 'x' is used but not defined"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_gbnf("a ::= \"x\""); }).find("no 'root' rule"), std::string::npos);
  EXPECT_NE(error_of([] { parse_gbnf("root ::= root \"a\" | \"b\""); }).find("left-recursive"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_gbnf("root ::= (\"a\"?)*"); }).find("left-recursive"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_gbnf("root ::= \"a"); }).find("line 1 column"), std::string::npos);
  EXPECT_NE(error_of([] { parse_gbnf("root ::= \"a\"{5,2}"); }).find("m <= n"), std::string::npos);
  EXPECT_NE(error_of([] { parse_gbnf("root ::= [z-a]"); }).find("reversed"), std::string::npos);
}

TEST(JsonSchemaKeywords, IntegerRangesAreExact) {
  for (auto [lo, hi] : std::vector<std::pair<int, int>>{{-12, 107}, {0, 9}, {5, 1000}, {-50, -3}}) {
    const std::string schema = "{\"type\":\"integer\",\"minimum\":" + std::to_string(lo) +
                               ",\"maximum\":" + std::to_string(hi) + "}";
    auto g = json_schema_grammar(schema);
    for (int x = -1200; x <= 1200; ++x)
      EXPECT_EQ(matches(g, std::to_string(x)), x >= lo && x <= hi) << schema << " " << x;
    EXPECT_FALSE(matches(g, "007"));
  }
  auto ex = json_schema_grammar(R"({"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":3})");
  EXPECT_FALSE(matches(ex, "0"));
  EXPECT_TRUE(matches(ex, "1"));
  EXPECT_TRUE(matches(ex, "2"));
  EXPECT_FALSE(matches(ex, "3"));
  auto open = json_schema_grammar(R"({"type":"integer","minimum":10})");
  EXPECT_TRUE(matches(open, "123456"));
  EXPECT_FALSE(matches(open, "9"));
  EXPECT_FALSE(matches(open, "-10"));
}

TEST(JsonSchemaKeywords, NumberRangesOnlyWriteNumbersInRange) {
  auto g = json_schema_grammar(R"({"type":"number","minimum":-2.5,"maximum":3})");
  for (const char* ok : {"-2", "0", "3", "2.999", "-1.5", "0.25", "-0.5"})
    EXPECT_TRUE(matches(g, ok)) << ok;
  for (const char* bad : {"-3", "3.5", "4", "-2.7"}) EXPECT_FALSE(matches(g, bad)) << bad;
}

TEST(JsonSchemaKeywords, LengthsAndItemCounts) {
  auto s = json_schema_grammar(R"({"type":"string","minLength":2,"maxLength":3})");
  EXPECT_FALSE(matches(s, "\"a\""));
  EXPECT_TRUE(matches(s, "\"ab\""));
  EXPECT_TRUE(matches(s, "\"a\\nb\""));
  EXPECT_FALSE(matches(s, "\"abcd\""));
  auto a = json_schema_grammar(
      R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2})");
  EXPECT_FALSE(matches(a, "[]"));
  EXPECT_TRUE(matches(a, "[1]"));
  EXPECT_TRUE(matches(a, "[1, 2]"));
  EXPECT_FALSE(matches(a, "[1,2,3]"));
  auto o = json_schema_grammar(
      R"({"type":"object","properties":{"a":{"const":1}},"required":["a"],"additionalProperties":false})");
  EXPECT_TRUE(matches(o, "{\"a\": 1}"));
  EXPECT_FALSE(matches(o, "{\"a\": 1, \"b\": 2}"));
  EXPECT_NE(error_of([] {
              json_schema_grammar(R"({"type":"string","format":"email"})");
            }).find("keyword 'format' is not supported"),
            std::string::npos);
}

TEST(JsonSchemaKeywords, PatternsBecomeJsonStrings) {
  auto g = json_schema_grammar(R"j({"type":"string","pattern":"^[a-z]{2,3}-\\d+(?:\\.x|_y)?$"})j");
  for (const char* ok : {"\"ab-1\"", "\"abc-42.x\"", "\"ab-7_y\""})
    EXPECT_TRUE(matches(g, ok)) << ok;
  for (const char* bad : {"\"a-1\"", "\"abcd-1\"", "\"ab-\"", "\"ab-1.y\"", "\"1ab-1\""})
    EXPECT_FALSE(matches(g, bad)) << bad;
  auto open = json_schema_grammar(R"({"type":"string","pattern":"q\"[^x]"})");
  EXPECT_TRUE(matches(open, "\"..q\\\"y..\""));  // Unanchored; the quote JSON-escaped.
  EXPECT_FALSE(matches(open, "\"q\\\"x\""));
  EXPECT_NE(error_of([] {
              json_schema_grammar(R"j({"type":"string","pattern":"(?=a)"})j");
            }).find("pattern '(?=a)'"),
            std::string::npos);
}

TEST(ToolCallParser, EveryFamilysFormat) {
  const std::vector<std::string> names = {"get_weather", "search"};
  using serve::parse_tool_calls;
  auto hermes = parse_tool_calls(
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Oslo\"}}\n</tool_call>\n<tool_call>{\"name\":\"search\",\"arguments\":{}}</tool_call>",
      names);
  ASSERT_EQ(hermes.calls.size(), 2u);
  EXPECT_EQ(hermes.calls[0].name, "get_weather");
  EXPECT_EQ(hermes.calls[0].arguments, "{\"city\":\"Oslo\"}");
  EXPECT_EQ(hermes.content, "Let me check.");
  auto mistral = parse_tool_calls(
      "[TOOL_CALLS][{\"name\": \"search\", \"arguments\": {\"q\": \"x\"}}]", names);
  ASSERT_EQ(mistral.calls.size(), 1u);
  EXPECT_EQ(mistral.calls[0].arguments, "{\"q\":\"x\"}");
  auto llama = parse_tool_calls(
      "<|python_tag|>{\"name\": \"search\", \"parameters\": {\"q\": 1}}; {\"name\": "
      "\"get_weather\", \"parameters\": {}}",
      names);
  ASSERT_EQ(llama.calls.size(), 2u);
  EXPECT_EQ(llama.calls[1].name, "get_weather");
  auto bare =
      parse_tool_calls(" {\"name\": \"search\", \"arguments\": \"{\\\"q\\\": 2}\"} ", names);
  ASSERT_EQ(bare.calls.size(), 1u);
  EXPECT_EQ(bare.calls[0].arguments, "{\"q\":2}");
  // Prose, unknown tools and broken JSON stay text.
  EXPECT_TRUE(parse_tool_calls("It is sunny.", names).calls.empty());
  EXPECT_TRUE(parse_tool_calls("{\"name\": \"rm\", \"arguments\": {}}", names).calls.empty());
  auto broken = parse_tool_calls("<tool_call>{\"name\": \"search\"", names);
  EXPECT_TRUE(broken.calls.empty());
  EXPECT_EQ(broken.content, "<tool_call>{\"name\": \"search\"");
}
