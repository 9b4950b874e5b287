#include <nlohmann/json.hpp>

#include "infer_test_util.h"
#include "sllm/common/error.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/infer/generate.h"
#include "sllm/infer/json_grammar.h"
#include "sllm/model/sampler.h"
#include "sllm/tokenizer/chat.h"
#include "test_arch.h"
#include "test_util.h"

namespace sllm {
namespace {

TEST(Sampler, GreedyTopKAndBias) {
  std::vector<float> base = {0.1f, 2.0f, -1.0f, 1.5f, 0.0f};
  SamplingParams g;
  g.temperature = 0;
  std::vector<float> l = base;
  EXPECT_EQ(Sampler(g).sample(l, {}), 1);
  g.logit_bias[1] = -INFINITY;
  l = base;
  EXPECT_EQ(Sampler(g).sample(l, {}), 3);
  SamplingParams k;
  k.top_k = 1;
  k.seed = 7;
  Sampler s(k);
  for (int i = 0; i < 20; ++i) {
    l = base;
    EXPECT_EQ(s.sample(l, {}), 1);
  }
  // Repetition penalty pushes a seen token below the next one.
  SamplingParams r;
  r.temperature = 0;
  r.repetition_penalty = 2.0f;
  l = base;
  std::vector<int32_t> hist = {1};
  EXPECT_EQ(Sampler(r).sample(l, hist), 3);
  SamplingParams f;
  f.temperature = 0;
  f.frequency_penalty = 0.3f;
  l = base;
  std::vector<int32_t> hist2 = {1, 1};
  EXPECT_EQ(Sampler(f).sample(l, hist2), 3);  // 2.0 - 0.6 < 1.5
  // A constraint that refuses the best tokens.
  l = base;
  EXPECT_EQ(Sampler(g).sample(l, {}, [](int32_t id) { return id == 4; }), 4);
  l = base;
  EXPECT_EQ(Sampler(g).sample(l, {}, [](int32_t) { return false; }), -1);
}

TEST(Sampler, SameSeedSameDrawsAndTheDistributionIsRight) {
  SamplingParams p;
  p.seed = 42;
  std::vector<float> base = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler a(p), b(p);
  int counts[3] = {};
  for (int i = 0; i < 4000; ++i) {
    std::vector<float> l1 = base, l2 = base;
    const int32_t x = a.sample(l1, {});
    ASSERT_EQ(x, b.sample(l2, {}));
    ++counts[x];
  }
  EXPECT_NEAR(counts[0] / 4000.0, 0.5, 0.03);
  EXPECT_NEAR(counts[2] / 4000.0, 0.2, 0.03);
  // top-p 0.6 keeps {0, 1}; min-p 0.5 keeps {0, 1} too (0.2 < 0.25).
  for (int mode = 0; mode < 2; ++mode) {
    SamplingParams q;
    q.seed = 1;
    (mode ? q.min_p : q.top_p) = mode ? 0.5f : 0.6f;
    Sampler s(q);
    for (int i = 0; i < 300; ++i) {
      std::vector<float> l = base;
      EXPECT_NE(s.sample(l, {}), 2);
    }
  }
  SamplingParams bad;
  bad.top_p = 0;
  EXPECT_THROW(bad.validate(10), Error);
  bad = {};
  bad.logit_bias[10] = 1;
  EXPECT_THROW(bad.validate(10), Error);
}

TEST(Chat, TemplatesRenderTheKnownFormats) {
  std::vector<ChatMessage> m = {
      {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};
  EXPECT_EQ(ChatTemplate::named("chatml").apply(m),
            "<|im_start|>system\nBe "
            "brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
            "Hello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(
      ChatTemplate::named("llama2").apply(m),
      "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]");
  EXPECT_EQ(ChatTemplate::named("llama3").apply({{"user", "Hi"}}),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(ChatTemplate::named("zephyr").apply({{"user", "Hi"}}),
            "<|user|>\nHi</s>\n<|assistant|>\n");
  // A model's own template renders through the Jinja engine, with its bos/eos text.
  auto own = ChatTemplate::jinja(
      "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}"
      "{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}",
      "<s>", "</s>");
  EXPECT_EQ(own.apply({{"user", "Hi"}}), "<s>[user]Hi</s>[assistant]");
  EXPECT_EQ(own.stop_strings(), std::vector<std::string>{"</s>"});
  EXPECT_THROW(ChatTemplate::named("chatml").apply({{"robot", "x"}}), Error);
  EXPECT_THROW(ChatTemplate::named("vicuna"), Error);
  std::string e;
  try {
    ChatTemplate::jinja("{{ raise_exception('no system role') }}", "", "").apply({{"user", "x"}});
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("no system role"), std::string::npos) << e;
}

TEST(JsonGrammar, AcceptsJsonAndRefusesTheRest) {
  auto g = json_grammar();
  auto ok = [&](std::string_view s) {
    GrammarConstraint c(g);
    if (!c.accepts(s)) return false;
    c.advance(s);
    return c.complete();
  };
  EXPECT_TRUE(ok(R"({"a": [1, -2.5e3, true, null], "b": {"c": "d\n\u00e9"}})"));
  EXPECT_TRUE(ok("\"h\xc3\xa9llo\""));
  EXPECT_TRUE(ok("0"));
  EXPECT_FALSE(ok("{\"a\" 1}"));
  EXPECT_FALSE(ok("01"));
  EXPECT_FALSE(ok("\"\xff\""));  // Invalid UTF-8.
  EXPECT_FALSE(ok("[1,]"));
  GrammarConstraint c(g);
  c.advance(R"({"a": [1, {"b": "x)");
  EXPECT_FALSE(c.complete());
  const std::string done = std::string(R"({"a": [1, {"b": "x)") + c.completion();
  EXPECT_TRUE(nlohmann::json::accept(done)) << done;
}

TEST(JsonGrammar, SchemaForcesKeysTypesAndEnums) {
  const std::string schema = (R"({"type": "object", "properties": {
      "name": {"type": "string"}, "age": {"type": "integer"},
      "tags": {"type": "array", "items": {"enum": ["a", "b"]}}, "ok": {"type": "boolean"}},
      "required": ["name", "age"]})");
  auto g = json_schema_grammar(schema);
  auto ok = [&](std::string_view s) {
    GrammarConstraint c(g);
    return c.accepts(s) && (c.advance(s), c.complete());
  };
  EXPECT_TRUE(ok(R"({"name": "x", "age": 3, "tags": ["a", "b"], "ok": false})"));
  EXPECT_TRUE(ok(R"({"name":"x","age":-3})"));
  EXPECT_FALSE(ok(R"({"age": 3, "name": "x"})"));  // Order is the schema's.
  EXPECT_FALSE(ok(R"({"name": "x"})"));            // age is required.
  EXPECT_FALSE(ok(R"({"name": "x", "age": 3.5})"));
  EXPECT_FALSE(ok(R"({"name": "x", "age": 3, "tags": ["c"]})"));
  EXPECT_THROW(json_schema_grammar(R"j({"type": "string", "pattern": "(?=a)"})j"), Error);
  EXPECT_THROW(json_schema_grammar(R"({"$ref": "#/x"})"), Error);
}

class Generate : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_tiny_model(dir_.path(), test::tiny_config(Arch::Llama));
    model_ = InferenceModel::load(dir_.path());
    tok_ = model_tokenizer(model_->files());
  }
  std::string run(const GenerateOptions& o, std::string* reason = nullptr, int ctx = 64) {
    KVCache cache = model_->new_cache(ctx);
    std::string streamed;
    std::string text = generate(
        *model_, *tok_, tok_->encode("Hi"), o, cache, [&](std::string_view s) { streamed += s; },
        nullptr, reason);
    EXPECT_EQ(streamed, text);
    return text;
  }
  test::TempDir dir_;
  std::unique_ptr<InferenceModel> model_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(Generate, SameSeedSameTextAndStopStringsCut) {
  GenerateOptions o;
  o.max_tokens = 40;
  o.sampling.seed = 3;
  o.stop_at_eos = false;
  const std::string a = run(o), b = run(o);
  EXPECT_EQ(a, b);
  o.sampling.seed = 4;
  EXPECT_NE(run(o), a);
  o.sampling.seed = 3;
  ASSERT_GE(a.size(), 12u);
  o.stop = {a.substr(8, 3)};
  std::string reason;
  const std::string cut = run(o, &reason);
  EXPECT_EQ(reason, "stop");
  EXPECT_EQ(cut, a.substr(0, a.find(o.stop[0])));
}

TEST_F(Generate, MaxTokensBeyondTheContextShiftsTheCache) {
  GenerateOptions o;
  o.max_tokens = 50;
  o.stop_at_eos = false;
  std::string reason;
  KVCache cache = model_->new_cache(16);
  GenerateStats st;
  generate(*model_, *tok_, tok_->encode("Hi"), o, cache, {}, &st, &reason);
  EXPECT_EQ(st.generated_tokens, 50);
  EXPECT_EQ(reason, "length");
  std::vector<int32_t> long_prompt(17, 65);
  EXPECT_THROW(generate(*model_, *tok_, long_prompt, o, cache), Error);
}

TEST_F(Generate, JsonModeAlwaysParsesEvenFromARandomModel) {
  for (int seed = 0; seed < 4; ++seed) {
    GenerateOptions o;
    o.max_tokens = seed == 0 ? 5 : 60;  // 5 cuts the value short: completion closes it.
    o.sampling.seed = static_cast<uint64_t>(seed);
    o.constraint = json_constraint();
    const std::string text = run(o);
    EXPECT_TRUE(nlohmann::json::accept(text)) << text;
  }
  GenerateOptions o;
  o.max_tokens = 200;
  o.sampling.temperature = 0.5f;
  o.constraint = json_schema_constraint(
      R"({"type": "object", "properties": {"n": {"type": "integer"}, "s": {"enum": ["x", "y"]}}, "required": ["n", "s"]})");
  const std::string text = run(o);
  auto j = nlohmann::json::parse(text);
  EXPECT_TRUE(j["n"].is_number_integer()) << text;
  EXPECT_TRUE(j["s"] == "x" || j["s"] == "y") << text;
}

}  // namespace
}  // namespace sllm
