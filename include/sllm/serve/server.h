// The OpenAI-compatible HTTP server: routes, authentication, quotas, the usage ledger,
// metrics and the web UI, on top of one continuous-batching Scheduler per model.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "sllm/serve/backend.h"
#include "sllm/serve/keys.h"
#include "sllm/serve/metrics.h"
#include "sllm/serve/request.h"
#include "sllm/serve/scheduler.h"

namespace sllm::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 picks a free port (see Server::port()).
  RequestLimits limits;
  SchedulerOptions scheduler;
  size_t max_body_bytes = 1 << 20;
  int max_connections = 64;   // Connections served at once; more get 503 at once.
  int max_headers = 100;      // Header fields per request; more get 431. (cpp-httplib refuses a
                              // header line over 8 KiB with 400 on its own.)
  int header_timeout_s = 10;  // From a request's first byte to the end of its head (slowloris).
  int read_timeout_s = 30;
  int write_timeout_s = 30;
  int keepalive_interval_ms =
      1000;  // Idle streams send a comment this often, to notice gone clients.
};

struct ServedModel {
  std::string name;  // What requests put in "model".
  std::unique_ptr<Backend> backend;
};

class Server {
 public:
  // With `keys`, every API request needs one of its active keys (none active: every request
  // gets 401). Null `keys` is an open server: no authentication, no ledger. Models are routed
  // by name.
  Server(std::vector<ServedModel> models, ServerOptions options, KeyStore* keys);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; throws sllm::Error naming host:port on failure.
  void bind();
  int port() const;
  void run();    // Serves until stop(); call bind() first.
  void start();  // bind() + run() on a background thread.
  void stop();

  Metrics& metrics();
  Scheduler& scheduler(const std::string& model);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sllm::serve
