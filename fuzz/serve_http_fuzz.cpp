// Fuzzes the whole HTTP path of `sllm serve`: raw bytes go to a live server on loopback (request
// line, headers, chunked bodies, JSON), over a scripted backend. The server must answer or
// close the connection, never crash; a /health check after each input proves it still serves.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

#include "serve_script_backend.h"
#include "sllm/serve/server.h"

namespace {

sllm::serve::Server* server() {
  static std::unique_ptr<sllm::serve::Server> s = [] {
    std::vector<sllm::serve::ServedModel> models;
    models.push_back({"tiny", std::make_unique<sllm::test::ScriptBackend>("Hi!")});
    sllm::serve::ServerOptions o;
    o.port = 0;
    o.read_timeout_s = 1;
    o.write_timeout_s = 1;
    o.header_timeout_s = 1;
    o.max_body_bytes = 1 << 16;
    auto srv = std::make_unique<sllm::serve::Server>(std::move(models), o, nullptr);
    srv->start();
    return srv;
  }();
  return s.get();
}

// Sends `data`, then reads until the server closes. `half_close` also ends the client's side, so
// a truncated request ends at once instead of at the read timeout (the server may then answer
// nothing, which is fine for fuzz input but not for the health check).
std::string exchange(int port, const void* data, size_t n, bool half_close) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) __builtin_trap();
  timeval tv{10, 0};  // Generous: the sanitized server on a busy machine can be slow.
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)!send(fd, data, n, MSG_NOSIGNAL);
  if (half_close) shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  ssize_t k;
  while ((k = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, size_t(k));
  close(fd);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int port = server()->port();
  exchange(port, data, size, true);
  static const char health[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string reply = exchange(port, health, sizeof health - 1, false);
  if (reply.rfind("HTTP/1.1 200", 0) != 0) {
    std::fprintf(stderr, "/health answered: %s\n", reply.substr(0, 200).c_str());
    __builtin_trap();
  }
  return 0;
}
