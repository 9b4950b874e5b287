// The HTTP API of `sllm serve`, in process on loopback, over a scripted backend.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <future>
#include <nlohmann/json.hpp>

#include "serve_script_backend.h"
#include "sllm/serve/server.h"
#include "test_util.h"

using nlohmann::json;
using sllm::test::ScriptBackend;

namespace {

const char* kScript = "Hello, world! The end.";
const int kScriptTokens = int(std::strlen(kScript)) + 1;  // The end-of-text token counts too.

struct ServerFixture {
  explicit ServerFixture(sllm::serve::ServerOptions o = {}, sllm::serve::KeyStore* keys = nullptr,
                         std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
    auto b = std::make_unique<ScriptBackend>(kScript);
    b->step_delay = delay;
    backend = b.get();
    std::vector<sllm::serve::ServedModel> models;
    models.push_back({"tiny", std::move(b)});
    o.port = 0;
    o.keepalive_interval_ms = 50;
    server = std::make_unique<sllm::serve::Server>(std::move(models), o, keys);
    server->start();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server->port());
    c.set_read_timeout(10, 0);
    return c;
  }
  ScriptBackend* backend;
  std::unique_ptr<sllm::serve::Server> server;
};

httplib::Result post(httplib::Client& c, const std::string& path, const json& body,
                     const std::string& key = "") {
  httplib::Headers h;
  if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
  return c.Post(path.c_str(), h, body.dump(), "application/json");
}

// The data payloads of a server-sent event stream.
std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

bool wait_for(const std::function<bool()>& cond) {
  for (int i = 0; i < 500 && !cond(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return cond();
}

}  // namespace

TEST(ServeHttp, ModelsHealthAndUi) {
  ServerFixture f;
  auto c = f.client();
  auto r = c.Get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "tiny");
  EXPECT_EQ(j["data"][0]["object"], "model");
  EXPECT_EQ(c.Get("/health")->status, 200);
  auto ui = c.Get("/");
  EXPECT_EQ(ui->status, 200);
  EXPECT_NE(ui->body.find("<title>sllm</title>"), std::string::npos);
  auto missing = c.Get("/nope");
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(json::parse(missing->body)["error"].contains("message"));
}

TEST(ServeHttp, CompletionHasTextAndUsage) {
  ServerFixture f;
  auto c = f.client();
  auto r = post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "abc"}, {"max_tokens", 100}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], kScript);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 4);  // BOS + 3 bytes
  EXPECT_EQ(j["usage"]["completion_tokens"], kScriptTokens);
  EXPECT_EQ(j["usage"]["total_tokens"], 4 + kScriptTokens);
}

TEST(ServeHttp, MaxTokensAndStopStrings) {
  ServerFixture f;
  auto c = f.client();
  json j = json::parse(
      post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "x"}, {"max_tokens", 5}})->body);
  EXPECT_EQ(j["choices"][0]["text"], "Hello");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  j = json::parse(
      post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "x"}, {"stop", {"world", "zzz"}}})
          ->body);
  EXPECT_EQ(j["choices"][0]["text"], "Hello, ");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST(ServeHttp, ChatStreamsServerSentEventsWithUsage) {
  ServerFixture f;
  auto c = f.client();
  json req = {{"model", "tiny"},
              {"messages", {{{"role", "user"}, {"content", "hi"}}}},
              {"stream", true},
              {"stream_options", {{"include_usage", true}}}};
  auto r = post(c, "/v1/chat/completions", req);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  auto events = sse_events(r->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::string finish;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    json e = json::parse(events[i]);
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    const json& ch = e["choices"][0];
    if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
    if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
  }
  EXPECT_EQ(text, kScript);
  EXPECT_EQ(finish, "stop");
  json usage = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], kScriptTokens);
}

TEST(ServeHttp, BadRequestsNameTheField) {
  ServerFixture f;
  auto c = f.client();
  auto r = c.Post("/v1/chat/completions", "{not json", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "invalid_request_error");
  r = post(c, "/v1/chat/completions",
           {{"model", "tiny"},
            {"messages", {{{"role", "user"}, {"content", "x"}}}},
            {"temperature", "hot"}});
  EXPECT_EQ(r->status, 400);
  json e = json::parse(r->body)["error"];
  EXPECT_EQ(e["param"], "temperature");
  EXPECT_NE(e["message"].get<std::string>().find("temperature"), std::string::npos);
  r = post(c, "/v1/chat/completions",
           {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", 3}}}}});
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "messages[0].content");
  r = post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "x"}, {"max_tokens", 1 << 30}});
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "max_tokens");
  r = post(c, "/v1/completions", {{"model", "nope"}, {"prompt", "x"}});
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "model_not_found");
  r = post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", {1, 2, 999}}});
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "prompt[2]");
}

TEST(ServeHttp, BodyLimitAnswers413) {
  sllm::serve::ServerOptions o;
  o.max_body_bytes = 1000;
  ServerFixture f(o);
  auto c = f.client();
  auto r = c.Post("/v1/completions", std::string(5000, ' '), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST(ServeHttp, TokenizeDetokenizeEmbeddings) {
  ServerFixture f;
  auto c = f.client();
  json t = json::parse(post(c, "/tokenize", {{"model", "tiny"}, {"prompt", "AB"}})->body);
  EXPECT_EQ(t["tokens"], json({256, 65, 66}));
  json d = json::parse(post(c, "/detokenize", {{"model", "tiny"}, {"tokens", {72, 105}}})->body);
  EXPECT_EQ(d["prompt"], "Hi");
  auto r = post(c, "/v1/embeddings", {{"model", "tiny"}, {"input", {"a", "bb"}}});
  ASSERT_EQ(r->status, 200) << r->body;
  json e = json::parse(r->body);
  ASSERT_EQ(e["data"].size(), 2u);
  EXPECT_EQ(e["data"][1]["index"], 1);
  EXPECT_EQ(e["data"][0]["embedding"].size(), 4u);
  EXPECT_EQ(e["usage"]["prompt_tokens"], 5);
}

TEST(ServeHttp, ConcurrentRequestsShareTheBatch) {
  sllm::serve::ServerOptions o;
  o.scheduler.max_batch = 8;
  ServerFixture f(o, nullptr, std::chrono::milliseconds(2));
  std::vector<std::future<std::string>> outs;
  for (int i = 0; i < 6; ++i)
    outs.push_back(std::async(std::launch::async, [&] {
      auto c = f.client();
      return json::parse(post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "p"}})
                             ->body)["choices"][0]["text"]
          .get<std::string>();
    }));
  for (auto& o : outs) EXPECT_EQ(o.get(), kScript);
  EXPECT_GT(f.backend->max_rows.load(), 1);
  EXPECT_TRUE(wait_for([&] { return f.backend->live == 0; }));
}

TEST(ServeHttp, FullQueueAnswers429) {
  sllm::serve::ServerOptions o;
  o.scheduler.max_batch = 1;
  o.scheduler.max_queue = 0;
  o.scheduler.step_token_budget = 16;
  ServerFixture f(o, nullptr, std::chrono::milliseconds(20));
  auto first = std::async(std::launch::async, [&] {
    auto c = f.client();
    return post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "p"}})->status;
  });
  ASSERT_TRUE(wait_for([&] { return f.server->scheduler("tiny").running() == 1; }));
  auto c = f.client();
  auto r = post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "p"}});
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(first.get(), 200);
}

TEST(ServeHttp, ClientDisconnectCancelsAndFreesTheCache) {
  ServerFixture f({}, nullptr, std::chrono::milliseconds(30));
  {
    auto c = f.client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body =
        json{{"model", "tiny"}, {"prompt", "p"}, {"stream", true}, {"max_tokens", 500}}.dump();
    req.set_header("Content-Type", "application/json");
    int chunks = 0;
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
    httplib::Response res;
    httplib::Error err;
    c.send(req, res, err);  // Aborts after a few chunks: the client hangs up.
  }
  ASSERT_TRUE(wait_for([&] { return f.backend->live == 0; }));
  EXPECT_NE(f.server->metrics().render().find("reason=\"cancelled\"} 1"), std::string::npos);
}

TEST(ServeHttp, MetricsArePrometheusText) {
  ServerFixture f;
  auto c = f.client();
  post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "abc"}});
  post(c, "/v1/completions", {{"model", "tiny"}});
  // Requests are counted when their response has gone out, which may be just after the client saw
  // it.
  std::string m;
  wait_for([&] {
    m = c.Get("/metrics")->body;
    return m.find("status=\"200\"} 1") != std::string::npos &&
           m.find("status=\"400\"} 1") != std::string::npos;
  });
  for (const char* s :
       {"sllm_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1",
        "sllm_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1",
        "sllm_prompt_tokens_total{model=\"tiny\"} 4",
        "sllm_completion_tokens_total{model=\"tiny\"} 23", "sllm_queue_depth{model=\"tiny\"} 0",
        "# TYPE sllm_time_to_first_token_seconds histogram",
        "sllm_time_to_first_token_seconds_count{model=\"tiny\"} 1",
        "sllm_time_per_output_token_seconds_count{model=\"tiny\"} 22", "sllm_batch_size_bucket"})
    EXPECT_NE(m.find(s), std::string::npos) << s << "\n" << m;
}

TEST(ServeHttp, KeysAuthenticateAndTheLedgerRecordsUsage) {
  sllm::test::TempDir dir;
  sllm::serve::KeyStore keys(dir.file("keys.db"));
  std::string key = keys.create("alice", 0, 0);
  ServerFixture f({}, &keys);
  auto c = f.client();
  auto r = post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "abc"}});
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "invalid_api_key");
  EXPECT_EQ(post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "abc"}}, key + "x")->status,
            401);
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  r = post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "abc"}, {"stream", true}}, key);
  ASSERT_EQ(r->status, 200);
  // The usage row is committed before the response ends: no waiting needed.
  auto id = keys.verify(key)->id;
  auto u = keys.usage_since(id, 0);
  EXPECT_EQ(u.requests, 1);
  EXPECT_EQ(u.prompt_tokens, 4);
  EXPECT_EQ(u.completion_tokens, kScriptTokens);
  httplib::Headers h{{"Authorization", "Bearer " + key}};
  json usage = json::parse(c.Get("/v1/usage", h)->body);
  EXPECT_EQ(usage["key"]["name"], "alice");
  EXPECT_EQ(usage["today"]["total_tokens"], 4 + kScriptTokens);
  keys.revoke("alice");
  keys.create("bob", 0, 0);
  EXPECT_EQ(post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "abc"}}, key)->status, 401);
}

TEST(ServeHttp, QuotasAnswer429WithAClearMessage) {
  sllm::test::TempDir dir;
  sllm::serve::KeyStore keys(dir.file("keys.db"));
  std::string daily = keys.create("daily", 20, 0);
  std::string rpm = keys.create("rpm", 0, 2);
  ServerFixture f({}, &keys);
  auto c = f.client();
  json req = {{"model", "tiny"}, {"prompt", "abc"}};
  EXPECT_EQ(post(c, "/v1/completions", req, daily)->status, 200);  // Admitted at 0 of 20; uses 27.
  auto r = post(c, "/v1/completions", req, daily);
  EXPECT_EQ(r->status, 429);
  json e = json::parse(r->body)["error"];
  EXPECT_EQ(e["code"], "insufficient_quota");
  EXPECT_NE(e["message"].get<std::string>().find("27 of 20 tokens"), std::string::npos)
      << e["message"];
  EXPECT_EQ(post(c, "/v1/completions", req, rpm)->status, 200);
  EXPECT_EQ(post(c, "/v1/completions", req, rpm)->status, 200);
  r = post(c, "/v1/completions", req, rpm);
  EXPECT_EQ(r->status, 429);
  EXPECT_NE(
      json::parse(r->body)["error"]["message"].get<std::string>().find("2 requests per minute"),
      std::string::npos);
}

// ---- Hardening: header size, connection limit, read timeout, slow clients. ----

namespace {

// A raw loopback connection, for clients that misbehave on purpose.
struct RawConnection {
  explicit RawConnection(int port) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{20, 0};  // Bounds every read, so a broken server fails the test, not hangs it.
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ADD_FAILURE() << "connect";
  }
  ~RawConnection() { close(fd); }
  void send_all(const std::string& s) const {
    for (size_t at = 0; at < s.size();) {
      ssize_t n = ::send(fd, s.data() + at, s.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return;  // The server may close early on purpose.
      at += size_t(n);
    }
  }
  // Everything until the server closes the connection (or the read times out).
  std::string read_to_close() const {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, size_t(n));
    closed = n == 0 || (n < 0 && errno == ECONNRESET);
    return out;
  }
  int fd = -1;
  mutable bool closed = false;
};

}  // namespace

TEST(ServeHttp, OversizedHeadersAreRefused) {
  sllm::serve::ServerOptions o;
  o.read_timeout_s = 1;  // Also the keep-alive wait before the server closes.
  ServerFixture f(o);
  RawConnection raw(f.server->port());
  raw.send_all("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " +
               std::string(64 * 1024, 'a') + "\r\n\r\n");
  std::string reply = raw.read_to_close();
  EXPECT_TRUE(raw.closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400 ", 0), 0u) << reply.substr(0, 200);
  RawConnection many(f.server->port());
  std::string headers;
  for (int i = 0; i < 2000; ++i) headers += "X-H" + std::to_string(i) + ": v\r\n";
  many.send_all("GET /health HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n");
  reply = many.read_to_close();
  EXPECT_TRUE(many.closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 431 ", 0), 0u) << reply.substr(0, 200);
  EXPECT_NE(reply.find("header fields; the limit is 100"), std::string::npos) << reply;
  auto c = f.client();
  EXPECT_EQ(c.Get("/health")->status, 200);
}

TEST(ServeHttp, ConnectionsBeyondTheLimitGet503) {
  sllm::serve::ServerOptions o;
  o.max_connections = 2;
  ServerFixture f(o);
  // Two kept-alive connections hold both workers.
  std::vector<std::unique_ptr<httplib::Client>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<httplib::Client>("127.0.0.1", f.server->port()));
    held.back()->set_keep_alive(true);
    ASSERT_EQ(held.back()->Get("/health")->status, 200);
  }
  auto c = f.client();
  auto r = c.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  held.clear();  // Their workers free up: the next client is served.
  EXPECT_TRUE(wait_for([&] {
    auto again = f.client().Get("/health");
    return again && again->status == 200;
  }));
}

TEST(ServeHttp, ReadTimeoutDropsAStalledClient) {
  sllm::serve::ServerOptions o;
  o.read_timeout_s = 1;
  ServerFixture f(o);
  RawConnection raw(f.server->port());
  raw.send_all("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mo");
  raw.read_to_close();  // Returns once the server gives up on the rest of the body.
  EXPECT_TRUE(raw.closed);
}

TEST(ServeHttp, SlowClientsDoNotStopOthers) {
  sllm::serve::ServerOptions o;
  o.max_connections = 8;
  ServerFixture f(o, nullptr, std::chrono::milliseconds(2));
  std::vector<std::unique_ptr<RawConnection>> slow;
  const std::string partial = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n";
  for (int i = 0; i < 3; ++i) {  // Trickle a request, a byte at a time.
    slow.push_back(std::make_unique<RawConnection>(f.server->port()));
    slow.back()->send_all(partial.substr(0, 5));
  }
  std::string body = json{{"model", "tiny"}, {"prompt", "x"}, {"stream", true}}.dump();
  slow.push_back(std::make_unique<RawConnection>(f.server->port()));  // A stream never read.
  slow.back()->send_all(
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  for (size_t k = 5; k < 10; ++k)
    for (int i = 0; i < 3; ++i) slow[i]->send_all(partial.substr(k, 1));
  auto c = f.client();
  EXPECT_EQ(c.Get("/health")->status, 200);
  auto r = post(c, "/v1/completions", {{"model", "tiny"}, {"prompt", "p"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["choices"][0]["text"], kScript);
}
