// HTTP conformance and connection limits of `sllm serve` (issue 27): pipelined
// requests, HTTP/1.0 clients, slow clients beyond the connection limit, bodies
// without Content-Length or Content-Type. Raw sockets on loopback, in process,
// over the scripted backend.
#include "serve_http_util.h"

using namespace sllm::test;

namespace {

std::string request(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& extra = "", const char* version = "HTTP/1.1") {
  std::string r = method + " " + path + " " + version + "\r\nHost: x\r\n" + extra;
  if (!body.empty())
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

// The status codes of the responses in `raw`, in order.
std::vector<int> statuses(const std::string& raw) {
  std::vector<int> out;
  for (size_t at = raw.find("HTTP/1."); at != std::string::npos; at = raw.find("HTTP/1.", at + 1))
    if (at == 0 || raw.compare(at - 2, 2, "\r\n") == 0 || raw[at - 1] == '}')
      out.push_back(std::atoi(raw.c_str() + at + 9));
  return out;
}

std::string body_of(const std::string& raw) {
  size_t at = raw.find("\r\n\r\n");
  return at == std::string::npos ? "" : raw.substr(at + 4);
}

}  // namespace

// Issue 27: with 2-4 requests in one write, only the first was answered and the
// connection was held for 5 s.
TEST(ServeConformance, PipelinedRequestsAreAnsweredInOrder) {
  ServerFixture f;
  RawConnection raw(f.server->port(), 3);
  std::string tok = json{{"model", "tiny"}, {"prompt", "AB"}}.dump();
  std::string done = json{{"model", "tiny"}, {"prompt", "x"}, {"max_tokens", 5}}.dump();
  raw.send_all(request("GET", "/health", "") + request("POST", "/tokenize", tok) +
               request("POST", "/v1/completions", done) +
               request("GET", "/v1/models", "", "Connection: close\r\n"));
  std::string reply = raw.read_to_close();
  EXPECT_TRUE(raw.closed);
  EXPECT_EQ(statuses(reply), (std::vector<int>{200, 200, 200, 200})) << reply;
  size_t health = reply.find("\"status\":\"ok\""), tokens = reply.find("\"tokens\":[256,65,66]"),
         text = reply.find("\"text\":\"Hello\""), models = reply.find("\"object\":\"list\"");
  EXPECT_LT(health, tokens);
  EXPECT_LT(tokens, text);
  EXPECT_LT(text, models);
  EXPECT_NE(models, std::string::npos) << reply;
}

// Issue 27: an HTTP/1.0 POST got a chunked HTTP/1.1 body, which HTTP/1.0
// clients cannot read.
TEST(ServeConformance, Http10ClientsGetABodyEndedByTheClose) {
  ServerFixture f;
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "stream" : "plain");
    RawConnection raw(f.server->port(), 3);
    raw.send_all(request("POST", "/v1/completions",
                         json{{"model", "tiny"}, {"prompt", "x"}, {"stream", stream}}.dump(), "",
                         "HTTP/1.0"));
    std::string reply = raw.read_to_close();
    EXPECT_TRUE(raw.closed);
    EXPECT_EQ(statuses(reply), std::vector<int>{200}) << reply;
    EXPECT_EQ(reply.find("chunked"), std::string::npos) << reply;
    EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply;
    std::string body = body_of(reply);
    if (!stream) {
      EXPECT_EQ(json::parse(body)["choices"][0]["text"], kScript);
    } else {
      auto events = sse_events(body);
      ASSERT_GE(events.size(), 2u);
      EXPECT_EQ(events.back(), "[DONE]");
      EXPECT_EQ(body.substr(0, 6), "data: ");
    }
  }
  RawConnection get(f.server->port(), 3);
  get.send_all("GET /health HTTP/1.0\r\n\r\n");
  EXPECT_EQ(statuses(get.read_to_close()), std::vector<int>{200});
}

// Issue 27: 80 slowloris connections against a limit of 64 locked everyone out.
// Beyond the limit a connection gets 503 at once; a slow head gets 408 at its
// deadline.
TEST(ServeConformance, SlowClientsBeyondTheLimitGet503AndTimeOut) {
  sllm::serve::ServerOptions o;
  o.max_connections = 4;
  o.header_timeout_s = 1;
  ServerFixture f(o);
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 10; ++i) {  // Heads that never end.
    slow.push_back(std::make_unique<RawConnection>(f.server->port(), 5));
    slow.back()->send_all("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  // A normal client is answered at once (200 if a worker is free, else 503),
  // never left waiting.
  httplib::Client c("127.0.0.1", f.server->port());
  c.set_read_timeout(2, 0);
  auto r = c.Get("/health");
  ASSERT_TRUE(r) << "no answer while slow clients hold every worker";
  EXPECT_TRUE(r->status == 200 || r->status == 503) << r->status;
  int refused = 0, timed_out = 0;
  for (auto& s : slow) {
    std::string reply = s->read_to_close();
    EXPECT_TRUE(s->closed);
    auto st = statuses(reply);
    ASSERT_EQ(st.size(), 1u) << reply;
    refused += st[0] == 503;
    timed_out += st[0] == 408;
    if (st[0] == 503) {
      EXPECT_NE(reply.find("Retry-After: 1"), std::string::npos);
    }
  }
  EXPECT_EQ(timed_out, 4);
  EXPECT_EQ(refused, 6);
  EXPECT_TRUE(wait_for([&] {
    auto again = c.Get("/health");
    return again && again->status == 200;
  }));
}

// Issue 27: a POST with no body and no Content-Length waited 30 s for a body.
TEST(ServeConformance, PostWithoutContentLengthHasAnEmptyBody) {
  ServerFixture f;
  RawConnection raw(f.server->port(), 3);
  raw.send_all("POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string reply = raw.read_to_close();
  EXPECT_EQ(statuses(reply), std::vector<int>{400}) << reply;
  EXPECT_NE(reply.find("not valid JSON"), std::string::npos) << reply;
}

// Issue 27: a JSON body over 8 KiB without a Content-Type was refused as a form
// ("body too large"). Every body here is JSON: it is parsed as such.
TEST(ServeConformance, UntypedJsonBodiesAreParsedAsJson) {
  ServerFixture f;
  std::string body = json{{"model", "tiny"}, {"prompt", std::string(9000, 'a')}}.dump();
  RawConnection raw(f.server->port(), 3);
  raw.send_all(
      "POST /tokenize HTTP/1.1\r\nHost: x\r\nConnection: "
      "close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  std::string reply = raw.read_to_close();
  ASSERT_EQ(statuses(reply), std::vector<int>{200}) << reply.substr(0, 300);
  EXPECT_EQ(json::parse(body_of(reply))["count"], 9001);
}
