// `sllm serve` on the real inference engine, with a tiny random-weight model: continuous
// batching gives each request the tokens it gets alone, the HTTP API end to end, the CLI
// (keys, serve, kill -9 keeps the ledger), and the OpenAI SDK / web UI clients.
#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "serve_test_model.h"
#include "sllm/common/error.h"
#include "sllm/model/lora_adapter.h"
#include "sllm/serve/server.h"
#include "test_util.h"

using nlohmann::json;

namespace {

// One random model for the whole suite (written once, loaded per test).
constexpr uint64_t kModelSeed = 1234;

const std::string& model_dir() {
  static sllm::test::TempDir dir;
  static std::string path = [] {
    std::string p = dir.file("tiny");
    sllm::ByteTokenizer tok({"<s>", "</s>"});
    sllm::test::write_random_model(p, sllm::test::tiny_llama_config(), tok, kModelSeed);
    return p;
  }();
  return path;
}

std::vector<sllm::serve::ServedModel> tiny_models() {
  std::vector<sllm::serve::ServedModel> m;
  m.push_back({"tiny", sllm::serve::load_backend(model_dir(), "", 0)});
  return m;
}

std::string run_job(sllm::serve::Scheduler& s, const std::string& prompt, int max_tokens) {
  sllm::serve::GenerationSpec spec;
  spec.prompt = s.backend().encode(prompt);
  spec.max_tokens = max_tokens;
  spec.sampling.temperature = 0.0f;
  spec.sampling.logit_bias = {{257, -100.0f}};  // No EOS: every job runs to max_tokens.
  auto job = std::make_shared<sllm::serve::Job>(spec);
  EXPECT_TRUE(s.submit(job));
  std::string all, piece;
  while (!job->wait(piece, std::chrono::milliseconds(1000))) all += piece;
  all += piece;
  EXPECT_EQ(job->completion_tokens(), max_tokens);
  return all;
}

// Runs `argv` with stderr to a pipe; returns the pid and the read end.
std::pair<pid_t, int> spawn(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

std::string run_cli(const std::vector<std::string>& args) {
  std::string cmd;
  for (const auto& a : args) cmd += "'" + a + "' ";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// Reads the server's stderr until it says where it listens; returns the port.
int wait_for_port(int fd) {
  std::string err;
  char c;
  while (read(fd, &c, 1) == 1) {
    err += c;
    auto at = err.find("listening on http://127.0.0.1:");
    if (at != std::string::npos && c == '/') return std::stoi(err.substr(at + 30));
  }
  ADD_FAILURE() << "server did not start: " << err;
  return -1;
}

}  // namespace

TEST(ServeEngine, BatchedRequestsGetTheTokensTheyGetAlone) {
  for (sllm::KVType kv : {sllm::KVType::F32, sllm::KVType::F16}) {
    SCOPED_TRACE(sllm::kv_type_name(kv));
    auto b = sllm::serve::load_backend(model_dir(), "", 0, kv);
    const std::vector<std::string> prompts = {"a", "hello there", "xyz xyz xyz xyz xyz", "The"};
    std::vector<std::string> alone;
    {
      sllm::serve::SchedulerOptions o;
      o.max_batch = 1;
      sllm::serve::Scheduler s("tiny", *b, o, nullptr);
      for (const auto& p : prompts) alone.push_back(run_job(s, p, 12));
    }
    sllm::serve::SchedulerOptions o;
    o.max_batch = 4;
    o.prefill_chunk = 3;  // Prompts are fed in several chunks, beside decoding sequences.
    sllm::serve::Scheduler s("tiny", *b, o, nullptr);
    std::vector<std::future<std::string>> together;
    for (const auto& p : prompts)
      together.push_back(std::async(std::launch::async, [&, p] { return run_job(s, p, 12); }));
    for (size_t i = 0; i < prompts.size(); ++i)
      EXPECT_EQ(together[i].get(), alone[i]) << prompts[i];
    EXPECT_GT(s.max_batch_seen(), 1);
  }
}

TEST(ServeEngine, HttpApiOnTheRealModel) {
  sllm::serve::ServerOptions o;
  o.port = 0;
  sllm::serve::Server server(tiny_models(), o, nullptr);
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  auto post = [&](const char* path, const json& body) {
    auto r = c.Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  };
  json req = {{"model", "tiny"},
              {"messages", {{{"role", "user"}, {"content", "hi"}}}},
              {"max_tokens", 16},
              {"temperature", 0.9},
              {"top_k", 20},
              {"top_p", 0.9},
              {"min_p", 0.01},
              {"repetition_penalty", 1.1},
              {"presence_penalty", 0.2},
              {"frequency_penalty", 0.2},
              {"logit_bias", {{"65", 3}}},
              {"seed", 99}};
  json a = post("/v1/chat/completions", req), b = post("/v1/chat/completions", req);
  EXPECT_EQ(a["choices"][0]["message"]["content"],
            b["choices"][0]["message"]["content"]);  // Same seed.
  EXPECT_GT(a["usage"]["completion_tokens"].get<int>(), 0);

  json j = post("/v1/chat/completions", {{"model", "tiny"},
                                         {"messages", {{{"role", "user"}, {"content", "json"}}}},
                                         {"max_tokens", 30},
                                         {"response_format", {{"type", "json_object"}}}});
  std::string content = j["choices"][0]["message"]["content"];
  EXPECT_NO_THROW(json::parse(content)) << content;

  json e = post("/v1/embeddings", {{"model", "tiny"}, {"input", {"abc", "abd"}}});
  ASSERT_EQ(e["data"].size(), 2u);
  auto v = e["data"][0]["embedding"].get<std::vector<float>>();
  ASSERT_EQ(v.size(), 32u);
  double norm = 0;
  for (float x : v) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-4);
  EXPECT_NE(e["data"][0]["embedding"], e["data"][1]["embedding"]);

  json t = post("/tokenize", {{"model", "tiny"}, {"prompt", "hi"}});
  EXPECT_EQ(t["tokens"].size(), 2u);
  json d = post("/detokenize", {{"model", "tiny"}, {"tokens", t["tokens"]}});
  EXPECT_EQ(d["prompt"], "hi");
  auto r =
      c.Post("/v1/completions", json{{"model", "tiny"}, {"prompt", std::string(200, 'x')}}.dump(),
             "application/json");
  EXPECT_EQ(r->status, 400);  // Longer than the 128-token context.
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "prompt");
}

TEST(ServeEngine, ATemplateThatRaisesAnswers400WithItsMessage) {
  // The model directory's own Jinja template (chat_template.jinja) renders every chat; one that
  // calls raise_exception refuses the request with the template's words.
  sllm::test::TempDir dir;
  const std::string p = dir.file("strict");
  sllm::ByteTokenizer tok({"<s>", "</s>"});
  sllm::test::write_random_model(p, sllm::test::tiny_llama_config(), tok, kModelSeed);
  sllm::write_file_atomic(p + "/chat_template.jinja",
                          "{% for m in messages %}{% if m.role == 'system' %}"
                          "{{ raise_exception('System role not supported') }}{% endif %}"
                          "[{{ m.role }}] {{ m.content }}\n{% endfor %}");
  std::vector<sllm::serve::ServedModel> models;
  models.push_back({"strict", sllm::serve::load_backend(p, "", 0)});
  sllm::serve::ServerOptions o;
  o.port = 0;
  sllm::serve::Server server(std::move(models), o, nullptr);
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  auto chat = [&](const char* role) {
    return c.Post("/v1/chat/completions",
                  json{{"model", "strict"},
                       {"messages", {{{"role", role}, {"content", "hi"}}}},
                       {"max_tokens", 2}}
                      .dump(),
                  "application/json");
  };
  auto ok = chat("user");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  auto r = chat("system");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(
      json::parse(r->body)["error"]["message"].get<std::string>().find("System role not supported"),
      std::string::npos)
      << r->body;
}

TEST(ServeEngine, CliKeysServeAndKill9KeepsTheLedger) {
  sllm::test::TempDir dir;
  const std::string bin = sllm::test::sllm_binary(), db = dir.file("keys.db");
  std::string key =
      run_cli({bin, "keys", "--db", db, "create", "alice", "--tokens-per-day", "100000"});
  while (!key.empty() && std::isspace(uint8_t(key.back()))) key.pop_back();
  ASSERT_EQ(key.rfind("sk-sllm-", 0), 0u) << key;
  auto [pid, err] = spawn({bin, "serve", "--model", "tiny=" + model_dir(), "--port", "0", "--keys",
                           db, "--threads", "1"});
  int port = wait_for_port(err);
  ASSERT_GT(port, 0);
  httplib::Client c("127.0.0.1", port);
  json body = {{"model", "tiny"},
               {"prompt", "abc"},
               {"max_tokens", 7},
               {"temperature", 0},
               {"logit_bias", {{"257", -100}}}};
  EXPECT_EQ(c.Post("/v1/completions", body.dump(), "application/json")->status, 401);
  httplib::Headers h{{"Authorization", "Bearer " + key}};
  auto r = c.Post("/v1/completions", h, body.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  kill(pid, SIGKILL);  // Right after the response: its usage must already be on disk.
  waitpid(pid, nullptr, 0);
  close(err);
  json u = json::parse(r->body)["usage"];
  EXPECT_EQ(u["completion_tokens"], 7);
  std::string usage = run_cli({bin, "keys", "--db", db, "usage", "alice"});
  std::string expect = fmt::format("today {} tokens ({} prompt + 7 completion) in 1 requests",
                                   u["total_tokens"].get<int>(), u["prompt_tokens"].get<int>());
  EXPECT_NE(usage.find(expect), std::string::npos) << usage;
  EXPECT_NE(run_cli({bin, "keys", "--db", db, "list"}).find("alice"), std::string::npos);
  EXPECT_NE(run_cli({bin, "keys", "--db", db, "revoke", "alice"}).find("revoked 1"),
            std::string::npos);
}

// `sllm serve --lora NAME=PATH`: a PEFT-format adapter from the adapt library, served beside its
// base and picked by the request's model field, answers like the base with the adapter merged in
// (and unlike the base).
TEST(ServeEngine, LoraAdapterIsRoutedByTheModelField) {
  sllm::test::TempDir dir;
  const sllm::ModelConfig cfg = sllm::test::tiny_llama_config();
  sllm::LoraConfig lc;
  lc.r = 4;
  lc.alpha = 8;
  lc.targets = {"q", "v", "down"};
  sllm::LoraAdapters adapters(cfg, lc);
  adapters.init(7);
  std::mt19937 rng(3);  // PEFT starts B at zero (a no-op); a trained adapter's B is not.
  std::normal_distribution<float> normal(0.0f, 0.5f);
  for (const auto& t : adapters.targets())
    std::generate_n(adapters.B(t), size_t(t.dims.out) * t.dims.r, [&] { return normal(rng); });
  adapters.save(dir.file("adapter"), "tiny");
  sllm::Model merged(cfg);
  merged.init_weights(kModelSeed);
  adapters.merge_into(merged.specs(), merged.params().data());
  sllm::test::write_model(dir.file("merged"), merged, sllm::ByteTokenizer({"<s>", "</s>"}));

  auto [pid, err] =
      spawn({sllm::test::sllm_binary(), "serve", "--model", "tiny=" + model_dir(), "--model",
             "merged=" + dir.file("merged"), "--lora", "tuned=" + dir.file("adapter"), "--port",
             "0", "--threads", "1", "--open"});
  int port = wait_for_port(err);
  ASSERT_GT(port, 0);
  httplib::Client c("127.0.0.1", port);
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  std::set<std::string> ids;
  const json listed = json::parse(models->body);
  for (const auto& m : listed["data"]) ids.insert(m["id"].get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{"tiny", "merged", "tuned"}));
  auto post = [&](const char* path, const json& body) {
    auto r = c.Post(path, body.dump(), "application/json");
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    json j = r ? json::parse(r->body) : json();
    EXPECT_EQ(j["model"], body["model"]);
    return j;
  };
  // Sampled with one seed (a random tiny model's greedy text is one repeated byte), and the
  // pooled hidden states: both follow every change to the weights.
  auto complete = [&](const std::string& model) {
    return post("/v1/completions", {{"model", model},
                                    {"prompt", "hello"},
                                    {"max_tokens", 24},
                                    {"temperature", 1.0},
                                    {"seed", 5},
                                    {"logit_bias", {{"257", -100}}}})["choices"][0]["text"]
        .get<std::string>();
  };
  auto embed = [&](const std::string& model) {
    return post("/v1/embeddings", {{"model", model}, {"input", "hello"}})["data"][0]["embedding"];
  };
  const std::string tuned = complete("tuned");
  EXPECT_NE(tuned, complete("tiny"));
  EXPECT_EQ(tuned, complete("merged"));
  EXPECT_NE(embed("tuned"), embed("tiny"));
  EXPECT_EQ(embed("tuned"), embed("merged"));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  close(err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

namespace {

// Runs a node client script from tests/node against a live server; skips when node or the
// npm packages (npm install in tests/node) are missing.
void run_node_client(const std::string& script, const std::string& package, bool with_key) {
  const std::string node_dir = sllm::test::source_dir() + "/tests/node";
  if (system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
  if (!std::filesystem::exists(node_dir + "/node_modules/" + package))
    GTEST_SKIP() << package << " is not installed (cd tests/node && npm install)";
  sllm::test::TempDir dir;
  sllm::serve::KeyStore keys(dir.file("keys.db"));
  std::string key = with_key ? keys.create("webui-user", 0, 0) : "";
  sllm::serve::ServerOptions o;
  o.port = 0;
  sllm::serve::Server server(tiny_models(), o, with_key ? &keys : nullptr);
  server.start();
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  std::string cmd = "cd '" + node_dir + "' && SLLM_BASE_URL=" + base + "/v1 SLLM_URL=" + base +
                    "/ SLLM_MODEL=tiny SLLM_API_KEY=" + key +
                    " SLLM_KEY_NAME=webui-user timeout 120 node " + script + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  EXPECT_EQ(status, 0) << out;
}

}  // namespace

TEST(ServeClients, OfficialOpenAiSdk) {
  run_node_client("openai_sdk.mjs", "openai", false);
}

// Issue 24's acceptance: tools, json_schema, logprobs, n (SLLM_AGENT_RUNS sets the
// repetitions, 100 by default).
TEST(ServeClients, AgentsAndEvaluatorsWithTheOfficialSdk) {
  run_node_client("openai_agents.mjs", "ajv", false);
}

// A real browser is slow to start (seconds): opt in with SLLM_BROWSER_TESTS=1.
TEST(ServeClients, WebUiInHeadlessChromium) {
  if (!getenv("SLLM_BROWSER_TESTS"))
    GTEST_SKIP() << "set SLLM_BROWSER_TESTS=1 to run the headless Chromium test";
  if (!std::filesystem::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "/usr/bin/chromium is not installed";
  run_node_client("webui.mjs", "playwright-core", true);
}

// Issue 27: httplib's SO_REUSEPORT let a second `sllm serve` bind a port in use, and the
// kernel split the connections between the two servers. The second must exit 1, saying why.
TEST(ServeEngine, ASecondServerOnTheSamePortExits1) {
  sllm::serve::ServerOptions o;
  o.port = 0;
  sllm::serve::Server first(tiny_models(), o, nullptr);
  first.start();
  const std::string port = std::to_string(first.port());
  o.port = first.port();
  sllm::serve::Server second(tiny_models(), o, nullptr);
  try {
    second.bind();
    ADD_FAILURE() << "a second server bound port " << port;
  } catch (const sllm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("address already in use"), std::string::npos) << e.what();
  }
  auto run = sllm::test::run_sllm("serve --open --threads 1 --model tiny=" + model_dir() +
                                  " --port " + port);
  EXPECT_EQ(run.rc, 1) << run.out;
  EXPECT_NE(run.out.find("cannot listen on 127.0.0.1:" + port + ": address already in use"),
            std::string::npos)
      << run.out;
  httplib::Client c("127.0.0.1", first.port());
  EXPECT_EQ(c.Get("/health")->status, 200);
}
