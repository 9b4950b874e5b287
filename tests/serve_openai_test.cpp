// Issue 24: what agents and evaluators use, on the real engine with a tiny random model:
// echo + logprobs against `sllm eval` and a softmax of the engine's own logits, n choices with
// a seed (one prefill, reproducible, all billed), constrained output (GBNF, json_schema,
// forced tool calls) and unknown parameters refused by name.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "serve_test_model.h"
#include "sllm/infer/model.h"
#include "sllm/io/file.h"
#include "sllm/serve/keys.h"
#include "sllm/serve/server.h"
#include "test_util.h"

using nlohmann::json;

namespace {

const std::string& model_dir() {
  static sllm::test::TempDir dir;
  static std::string path = [] {
    std::string p = dir.file("tiny");
    sllm::test::write_random_model(p, sllm::test::tiny_llama_config(),
                                   sllm::ByteTokenizer({"<s>", "</s>"}), 4321);
    return p;
  }();
  return path;
}

struct Live {
  explicit Live(sllm::serve::KeyStore* keys = nullptr) {
    std::vector<sllm::serve::ServedModel> m;
    m.push_back({"tiny", sllm::serve::load_backend(model_dir(), "", 0)});
    sllm::serve::ServerOptions o;
    o.port = 0;
    server = std::make_unique<sllm::serve::Server>(std::move(m), o, keys);
    server->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
    client->set_read_timeout(60);
  }
  std::pair<int, json> post(const char* path, json body, const std::string& key = "") {
    body["model"] = "tiny";
    httplib::Headers h;
    if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
    auto r = client->Post(path, h, body.dump(), "application/json");
    if (!r) return {0, json()};
    return {r->status, json::parse(r->body)};
  }
  std::unique_ptr<sllm::serve::Server> server;
  std::unique_ptr<httplib::Client> client;
};

}  // namespace

TEST(ServeOpenAi, EchoedPromptLogprobsSumToSllmEvalsLogLikelihood) {
  sllm::test::TempDir dir;
  const std::string text = "And God said, Let there be light: and there was light.";
  sllm::write_file_atomic(dir.file("t.txt"), text);
  auto run = sllm::test::run_sllm(
      "eval --model " + model_dir() + " --perplexity " + dir.file("t.txt") + " --json --threads 1",
      false);
  ASSERT_EQ(run.rc, 0) << run.out;
  const json ev = json::parse(run.out);
  const double eval_ll = -ev["nll"].get<double>() * ev["tokens"].get<double>();

  Live live;
  std::vector<int> ids(text.begin(), text.end());  // Byte tokens, as `sllm eval` encodes them.
  auto [status, body] = live.post(
      "/v1/completions", {{"prompt", ids}, {"echo", true}, {"max_tokens", 0}, {"logprobs", 1}});
  ASSERT_EQ(status, 200) << body.dump();
  const json& c = body["choices"][0];
  EXPECT_EQ(c["text"], text);
  const json& lp = c["logprobs"];
  ASSERT_EQ(lp["token_logprobs"].size(), ids.size());
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  double sum = 0;
  for (size_t i = 1; i < ids.size(); ++i) sum += lp["token_logprobs"][i].get<double>();
  EXPECT_NEAR(sum, eval_ll, 1e-3);
  std::printf("echoed logprob sum %.6f, sllm eval %.6f (%zu tokens)\n", sum, eval_ll,
              ids.size() - 1);
  EXPECT_EQ(body["usage"]["completion_tokens"], 0);
  EXPECT_EQ(lp["text_offset"][5], 5);
}

TEST(ServeOpenAi, TopLogprobsAreSortedAndASoftmaxOfTheEnginesLogits) {
  const std::vector<int32_t> ids = {256, 'H', 'e', 'l', 'l', 'o', ' ', 'w'};
  auto model = sllm::InferenceModel::load(model_dir());
  sllm::KVCache cache = model->new_cache(int(ids.size()));
  sllm::InferenceModel::Seq s{&cache, ids};
  std::vector<float> logits;
  model->forward_batch({&s, 1}, logits, true);
  const int V = model->config().vocab_size;

  Live live;
  auto [status, body] = live.post(
      "/v1/completions", {{"prompt", ids}, {"echo", true}, {"max_tokens", 0}, {"logprobs", 5}});
  ASSERT_EQ(status, 200) << body.dump();
  const json& tops = body["choices"][0]["logprobs"]["top_logprobs"];
  const json& toks = body["choices"][0]["logprobs"]["token_logprobs"];
  for (size_t t = 0; t + 1 < ids.size(); ++t) {
    const float* row = logits.data() + t * V;
    double mx = row[0], sum = 0;
    for (int i = 0; i < V; ++i) mx = std::max<double>(mx, row[i]);
    for (int i = 0; i < V; ++i) sum += std::exp(row[i] - mx);
    auto lsm = [&](int i) { return row[i] - mx - std::log(sum); };
    EXPECT_NEAR(toks[t + 1].get<double>(), lsm(ids[t + 1]), 1e-4);
    const json& top = tops[t + 1];
    ASSERT_EQ(top.size(), 5u);
    std::vector<double> got;
    for (const auto& [tok, v] : top.items()) {
      // Byte tokens; those that are not UTF-8 by themselves are written "bytes:\xHH".
      const int id = tok == "<s>"      ? 256
                     : tok == "</s>"   ? 257
                     : tok.size() == 1 ? uint8_t(tok[0])
                     : tok.size() == 10 && tok.rfind("bytes:\\x", 0) == 0
                         ? std::stoi(tok.substr(8), nullptr, 16)
                         : -1;
      ASSERT_GE(id, 0) << tok;
      EXPECT_NEAR(v.get<double>(), lsm(id), 1e-4) << tok;
      got.push_back(v.get<double>());
    }
    std::sort(got.rbegin(), got.rend());
    std::vector<double> want;
    for (int i = 0; i < V; ++i) want.push_back(lsm(i));
    std::sort(want.rbegin(), want.rend());
    for (size_t k = 0; k < 5; ++k) EXPECT_NEAR(got[k], want[k], 1e-4);
  }

  // Chat: content[] entries, each top list sorted, one per generated token.
  auto [cs, chat] =
      live.post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}},
                                         {"logprobs", true},
                                         {"top_logprobs", 3},
                                         {"max_tokens", 6},
                                         {"logit_bias", {{"257", -100}}},
                                         {"seed", 1}});
  ASSERT_EQ(cs, 200) << chat.dump();
  const json& content = chat["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 6u);
  for (const auto& e : content) {
    ASSERT_EQ(e["top_logprobs"].size(), 3u);
    EXPECT_GE(e["top_logprobs"][0]["logprob"], e["top_logprobs"][1]["logprob"]);
    EXPECT_GE(e["top_logprobs"][1]["logprob"], e["top_logprobs"][2]["logprob"]);
    EXPECT_LE(e["logprob"].get<double>(), 0.0);
    EXPECT_EQ(e["bytes"].size(), 1u);
  }
}

TEST(ServeOpenAi, NChoicesWithASeedAreReproducibleAndAllBilled) {
  sllm::test::TempDir dir;
  sllm::serve::KeyStore keys(dir.file("keys.db"));
  const std::string key = keys.create("alice", 0, 0);
  Live live(&keys);
  const json req = {{"prompt", "Once upon"},
                    {"n", 4},
                    {"seed", 11},
                    {"max_tokens", 10},
                    {"temperature", 1.0},
                    {"logit_bias", {{"257", -100}}}};
  auto [s1, a] = live.post("/v1/completions", req, key);
  auto [s2, b] = live.post("/v1/completions", req, key);
  ASSERT_EQ(s1, 200) << a.dump();
  ASSERT_EQ(a["choices"].size(), 4u);
  std::set<std::string> texts;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a["choices"][i]["index"], i);
    EXPECT_EQ(a["choices"][i]["text"], b["choices"][i]["text"]);
    texts.insert(a["choices"][i]["text"].get<std::string>());
  }
  EXPECT_GT(texts.size(), 1u);  // Each choice draws its own stream.
  EXPECT_EQ(a["usage"]["completion_tokens"], 40);
  EXPECT_EQ(a["usage"]["prompt_tokens"], 9);  // The prompt once.
  // Choice 0 is what n=1 gives with the same seed: the forked cache holds the same prompt.
  json one = req;
  one["n"] = 1;
  auto [s3, c] = live.post("/v1/completions", one, key);
  EXPECT_EQ(c["choices"][0]["text"], a["choices"][0]["text"]);
  // Streamed, the choices arrive interleaved and reassemble to the same texts.
  json st = req;
  st["stream"] = true;
  st["model"] = "tiny";
  auto r = live.client->Post("/v1/completions", {{"Authorization", "Bearer " + key}}, st.dump(),
                             "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::vector<std::string> streamed(4);
  for (size_t at = 0; (at = r->body.find("data: {", at)) != std::string::npos;) {
    const size_t end = r->body.find("\n\n", at);
    json ch = json::parse(r->body.substr(at + 6, end - at - 6));
    for (const auto& x : ch["choices"]) streamed[x["index"].get<int>()] += x["text"];
    at = end;
  }
  for (int i = 0; i < 4; ++i) EXPECT_EQ(streamed[i], a["choices"][i]["text"]);
  const auto u = keys.usage_since(keys.find("alice")->id, 0);
  EXPECT_EQ(u.completion_tokens, 40 * 3 + 10);
  EXPECT_EQ(u.prompt_tokens, 9 * 4);
}

TEST(ServeOpenAi, SeveralPromptsInOneCompletionsRequest) {
  Live live;
  auto [s, b] = live.post("/v1/completions", {{"prompt", {"ab", "cd", "ef"}},
                                              {"n", 2},
                                              {"max_tokens", 3},
                                              {"logit_bias", {{"257", -100}}},
                                              {"echo", true},
                                              {"temperature", 0}});
  ASSERT_EQ(s, 200) << b.dump();
  ASSERT_EQ(b["choices"].size(), 6u);
  EXPECT_EQ(b["choices"][2]["text"].get<std::string>().substr(0, 2), "cd");
  EXPECT_EQ(b["choices"][2]["text"], b["choices"][3]["text"]);  // Greedy: the same twice.
  EXPECT_EQ(b["usage"]["completion_tokens"], 18);
}

TEST(ServeOpenAi, ConstrainedOutputFollowsTheGrammarSchemaOrTool) {
  Live live;
  for (int seed = 0; seed < 10; ++seed) {
    auto [s, g] =
        live.post("/v1/completions", {{"prompt", "Answer:"},
                                      {"grammar", "root ::= (\"yes\" | \"no\") \"!\"{1,3}"},
                                      {"seed", seed},
                                      {"max_tokens", 10}});
    ASSERT_EQ(s, 200) << g.dump();
    const std::string t = g["choices"][0]["text"];
    EXPECT_TRUE(t.rfind("yes!", 0) == 0 || t.rfind("no!", 0) == 0) << t;
  }
  const json schema = {{"type", "object"},
                       {"properties",
                        {{"age", {{"type", "integer"}, {"minimum", 0}, {"maximum", 120}}},
                         {"tags",
                          {{"type", "array"},
                           {"items", {{"type", "string"}, {"maxLength", 4}}},
                           {"minItems", 1},
                           {"maxItems", 2}}}}},
                       {"required", {"age", "tags"}},
                       {"additionalProperties", false}};
  for (int seed = 0; seed < 10; ++seed) {
    auto [s, r] = live.post(
        "/v1/chat/completions",
        {{"messages", {{{"role", "user"}, {"content", "json"}}}},
         {"response_format",
          {{"type", "json_schema"}, {"json_schema", {{"name", "p"}, {"schema", schema}}}}},
         {"seed", seed},
         {"max_tokens", 60}});
    ASSERT_EQ(s, 200) << r.dump();
    const json v = json::parse(r["choices"][0]["message"]["content"].get<std::string>());
    EXPECT_GE(v["age"].get<int>(), 0);
    EXPECT_LE(v["age"].get<int>(), 120);
    EXPECT_GE(v["tags"].size(), 1u);
    EXPECT_LE(v["tags"].size(), 2u);
  }
  const json tools = {{{"type", "function"},
                       {"function",
                        {{"name", "get_weather"},
                         {"parameters",
                          {{"type", "object"},
                           {"properties", {{"city", {{"type", "string"}, {"maxLength", 8}}}}},
                           {"required", {"city"}}}}}}}};
  json messages = {{{"role", "user"}, {"content", "weather?"}}};
  auto [s, t] = live.post("/v1/chat/completions", {{"messages", messages},
                                                   {"tools", tools},
                                                   {"tool_choice", "required"},
                                                   {"seed", 2},
                                                   {"max_tokens", 40}});
  ASSERT_EQ(s, 200) << t.dump();
  const json& choice = t["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  const json& call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_TRUE(json::parse(call["function"]["arguments"].get<std::string>())["city"].is_string());
  // The follow-up turn, carrying the call and its result, renders through the template.
  messages.push_back(choice["message"]);
  messages.push_back({{"role", "tool"}, {"tool_call_id", call["id"]}, {"content", "sunny"}});
  auto [s2, next] = live.post("/v1/chat/completions",
                              {{"messages", messages}, {"tools", tools}, {"max_tokens", 4}});
  EXPECT_EQ(s2, 200) << next.dump();
  EXPECT_GT(next["usage"]["prompt_tokens"].get<int>(), t["usage"]["prompt_tokens"].get<int>());
}

TEST(ServeOpenAi, UnsupportedParametersAnswer400NamingThem) {
  Live live;
  auto check = [&](const char* path, json body, const std::string& param) {
    auto [s, b] = live.post(path, body);
    EXPECT_EQ(s, 400) << body.dump();
    EXPECT_EQ(b["error"]["param"], param) << b.dump();
    EXPECT_NE(b["error"]["message"].get<std::string>().find(param), std::string::npos);
  };
  const json msgs = {{{"role", "user"}, {"content", "x"}}};
  check("/v1/chat/completions", {{"messages", msgs}, {"functions", json::array()}}, "functions");
  check("/v1/chat/completions", {{"messages", msgs}, {"echo", true}}, "echo");
  check("/v1/completions", {{"prompt", "x"}, {"suffix", "y"}}, "suffix");
  check(
      "/v1/chat/completions",
      {{"messages", msgs},
       {"response_format",
        {{"type", "json_schema"},
         {"json_schema", {{"name", "x"}, {"schema", {{"type", "string"}, {"format", "email"}}}}}}}},
      "response_format.json_schema.schema");
  check("/v1/completions", {{"prompt", "x"}, {"grammar", "root ::= undefined-rule"}}, "grammar");
}
