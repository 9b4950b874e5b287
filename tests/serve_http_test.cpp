// The HTTP API of `sllm serve`, in process on loopback, over a scripted backend.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <future>
#include <nlohmann/json.hpp>

#include "serve_http_util.h"

using namespace sllm::test;

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

// Issue 27: revoking every key turned authentication off. A server given a key database keeps
// requiring a key; with none active it refuses with 401 and says why.
TEST(ServeHttp, RevokingEveryKeyKeepsAuthenticationOn) {
  sllm::test::TempDir dir;
  sllm::serve::KeyStore keys(dir.file("keys.db"));
  ServerFixture f({}, &keys);  // Started with no key at all.
  auto c = f.client();
  json req = {{"model", "tiny"}, {"prompt", "abc"}};
  auto r = post(c, "/v1/completions", req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(json::parse(r->body)["error"]["message"].get<std::string>().find("none is active"),
            std::string::npos)
      << r->body;
  std::string key = keys.create("alice", 0, 0);
  EXPECT_EQ(post(c, "/v1/completions", req, key)->status, 200);
  EXPECT_EQ(post(c, "/v1/completions", req)->status, 401);
  keys.revoke("alice");
  for (const std::string& k : {std::string(), key}) {
    r = post(c, "/v1/completions", req, k);
    EXPECT_EQ(r->status, 401) << k;
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "invalid_api_key");
  }
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  EXPECT_EQ(c.Get("/health")->status, 200);  // Liveness stays open.
}

TEST(ServeHttp, QuotasAnswer429WithAClearMessage) {
  sllm::test::TempDir dir;
  sllm::serve::KeyStore keys(dir.file("keys.db"));
  std::string daily = keys.create("daily", 60, 0);
  std::string rpm = keys.create("rpm", 0, 2);
  ServerFixture f({}, &keys);
  auto c = f.client();
  json req = {{"model", "tiny"}, {"prompt", "abc"}, {"max_tokens", 30}};
  // Reserves 4 + 30 of 60, uses 4 + 23 = 27.
  EXPECT_EQ(post(c, "/v1/completions", req, daily)->status, 200);
  auto r = post(c, "/v1/completions", req, daily);  // 27 + 34 > 60.
  EXPECT_EQ(r->status, 429);
  json e = json::parse(r->body)["error"];
  EXPECT_EQ(e["code"], "insufficient_quota");
  EXPECT_NE(e["message"].get<std::string>().find("27 of 60 tokens"), std::string::npos)
      << e["message"];
  EXPECT_NE(e["message"].get<std::string>().find("may use 34"), std::string::npos) << e["message"];
  req["max_tokens"] = 29;  // 27 + 33 = 60 fits exactly.
  EXPECT_EQ(post(c, "/v1/completions", req, daily)->status, 200);
  EXPECT_EQ(post(c, "/v1/completions", req, rpm)->status, 200);
  EXPECT_EQ(post(c, "/v1/completions", req, rpm)->status, 200);
  r = post(c, "/v1/completions", req, rpm);
  EXPECT_EQ(r->status, 429);
  EXPECT_NE(
      json::parse(r->body)["error"]["message"].get<std::string>().find("2 requests per minute"),
      std::string::npos);
}

// Issue 27: 16 parallel requests of max_tokens 100 on a 300-token key all got in, and the
// ledger ended at 1,792. Admission now reserves prompt + max_tokens.
TEST(ServeHttp, ConcurrentRequestsCannotOverrunTheDailyQuota) {
  sllm::test::TempDir dir;
  sllm::serve::KeyStore keys(dir.file("keys.db"));
  std::string key = keys.create("q", 300, 0);
  sllm::serve::ServerOptions o;
  o.scheduler.max_batch = 16;
  ServerFixture f(o, &keys, std::chrono::milliseconds(1), std::string(200, 'x'));
  std::vector<std::future<int>> statuses;
  for (int i = 0; i < 16; ++i)
    statuses.push_back(std::async(std::launch::async, [&] {
      auto c = f.client();
      auto r = post(c, "/v1/completions",
                    {{"model", "tiny"}, {"prompt", "abc"}, {"max_tokens", 100}}, key);
      return r ? r->status : -1;
    }));
  int ok = 0, refused = 0;
  for (auto& s : statuses) {
    int st = s.get();
    ok += st == 200;
    refused += st == 429;
  }
  EXPECT_EQ(ok + refused, 16);
  EXPECT_GE(ok, 1);
  auto used = keys.usage_since(keys.verify(key)->id, 0);
  EXPECT_EQ(used.requests, ok);
  EXPECT_LE(used.total(), 300);
  // Settlement: a request that stops early gives back what it reserved but did not use, so a
  // second one fits only if the first's reservation was settled to its real count.
  auto c = f.client();
  int64_t room = 300 - used.total();
  ASSERT_GT(room, 20);
  json req = {{"model", "tiny"}, {"prompt", "abc"}, {"max_tokens", room - 4}, {"stop", {"xx"}}};
  EXPECT_EQ(post(c, "/v1/completions", req, key)->status, 200);  // Uses 4 + 2.
  req["max_tokens"] = room - 4 - 10;
  EXPECT_EQ(post(c, "/v1/completions", req, key)->status, 200);
}

// Issue 27: of 10 streams closed mid-way, 8 never reached the ledger. A request that ends
// because its client hung up is billed its prompt and the tokens it was sent, as "cancelled".
TEST(ServeHttp, ClientsThatHangUpAreBilledWhatTheyWereSent) {
  sllm::test::TempDir dir;
  sllm::serve::KeyStore keys(dir.file("keys.db"));
  std::string key = keys.create("k", 0, 0);
  ServerFixture f({}, &keys, std::chrono::milliseconds(5), std::string(400, 'x'));
  std::vector<std::future<int>> sent;
  for (int hang_up_after : {3, 8, 15})
    sent.push_back(std::async(std::launch::async, [&, hang_up_after] {
      auto c = f.client();
      httplib::Request req;
      req.method = "POST";
      req.path = "/v1/completions";
      req.body =
          json{{"model", "tiny"}, {"prompt", "abc"}, {"stream", true}, {"max_tokens", 300}}.dump();
      req.set_header("Content-Type", "application/json");
      req.set_header("Authorization", "Bearer " + key);
      std::string body;
      req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        body.append(data, n);
        return sse_events(body).size() < size_t(hang_up_after);
      };
      httplib::Response res;
      httplib::Error err;
      c.send(req, res, err);
      int tokens = 0;
      for (const auto& e : sse_events(body))
        tokens += int(json::parse(e)["choices"][0]["text"].get<std::string>().size());
      return tokens;
    }));
  int received = 0;
  for (auto& s : sent) received += s.get();
  const int64_t id = keys.verify(key)->id;
  ASSERT_TRUE(wait_for([&] { return keys.usage_since(id, 0).requests == 3; }));
  auto by_status = keys.usage_by_status(id, 0);
  ASSERT_EQ(by_status.size(), 1u);
  EXPECT_EQ(by_status[0].status, "cancelled");
  EXPECT_EQ(by_status[0].totals.prompt_tokens, 3 * 4);
  // Billed: what arrived, plus at most the chunks in flight when the client closed.
  EXPECT_GE(by_status[0].totals.completion_tokens, received);
  EXPECT_LE(by_status[0].totals.completion_tokens, received + 3 * 3);
  EXPECT_TRUE(wait_for([&] { return f.backend->live == 0; }));

  // A plain (not streamed) completion whose client gives up waiting is billed too: it hangs up
  // at the first whitespace the server writes to check that it is still there.
  auto c = f.client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = json{{"model", "tiny"}, {"prompt", "abc"}, {"max_tokens", 300}}.dump();
  req.set_header("Content-Type", "application/json");
  req.set_header("Authorization", "Bearer " + key);
  req.content_receiver = [](const char*, size_t, uint64_t, uint64_t) { return false; };
  httplib::Response res;
  httplib::Error err;
  EXPECT_FALSE(c.send(req, res, err));
  ASSERT_TRUE(wait_for([&] { return keys.usage_since(id, 0).requests == 4; }));
  auto u = keys.usage_by_status(id, 0)[0].totals;
  EXPECT_EQ(u.prompt_tokens, 4 * 4);
  EXPECT_GT(u.completion_tokens, by_status[0].totals.completion_tokens);
  EXPECT_LT(u.completion_tokens, by_status[0].totals.completion_tokens + 300);
}

// ---- Hardening: header size, connection limit, read timeout, slow clients. ----

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
