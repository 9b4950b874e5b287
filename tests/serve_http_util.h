// Helpers of the HTTP server tests: an in-process server on loopback over a scripted backend,
// JSON posts, server-sent events and raw sockets for clients that misbehave on purpose.
#pragma once
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "serve_script_backend.h"
#include "sllm/serve/server.h"
#include "test_util.h"

namespace sllm::test {

using nlohmann::json;

constexpr const char* kScript = "Hello, world! The end.";
inline const int kScriptTokens =
    int(std::strlen(kScript)) + 1;  // The end-of-text token counts too.

struct ServerFixture {
  explicit ServerFixture(sllm::serve::ServerOptions o = {}, sllm::serve::KeyStore* keys = nullptr,
                         std::chrono::milliseconds delay = std::chrono::milliseconds(0),
                         const std::string& script = kScript) {
    auto b = std::make_unique<ScriptBackend>(script);
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

inline httplib::Result post(httplib::Client& c, const std::string& path, const json& body,
                            const std::string& key = "") {
  httplib::Headers h;
  if (!key.empty()) h.emplace("Authorization", "Bearer " + key);
  return c.Post(path.c_str(), h, body.dump(), "application/json");
}

// The data payloads of a server-sent event stream.
inline std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    size_t end = body.find("\n\n", pos);
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

inline bool wait_for(const std::function<bool()>& cond) {
  for (int i = 0; i < 500 && !cond(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return cond();
}

// A raw loopback connection, for clients that misbehave on purpose.
struct RawConnection {
  explicit RawConnection(int port, int timeout_s = 20) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{timeout_s,
               0};  // Bounds every read, so a broken server fails the test, not hangs it.
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

}  // namespace sllm::test
