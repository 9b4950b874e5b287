// cpp-httplib's Server with sllm's own connection loop. cpp-httplib 0.11.4
// (Debian's) answers only the first of pipelined requests (its keep-alive wait
// polls the socket, not the bytes it already buffered), reads a POST without
// Content-Length until the timeout, has no deadline for a request's head, and
// reads a request before it can answer 503. This loop owns the socket and its
// buffer: it reads each request head under a deadline, frames it, and hands it
// to httplib's routing and response writing, which are kept.
#pragma once
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sllm::serve {

struct ConnectionLimits {
  int head_timeout_s = 10;   // From a request's first byte to the end of its head.
  int idle_timeout_s = 5;    // A kept-alive connection's wait for the next request.
  int read_timeout_s = 30;   // Each read of a request body.
  int write_timeout_s = 30;  // Each write of a response.
  int max_requests = 100;    // Per connection.
  size_t max_head_bytes = 1 << 17;
  int max_connections = 64;  // Served at once; beyond, 503 without reading the request.
};

class HttpServer : public httplib::Server {
 public:
  explicit HttpServer(const ConnectionLimits& limits);
  ~HttpServer() override;
  // The 503 answer (status line, headers and body) for connections beyond the
  // limit.
  void set_overload_response(std::string raw) { overload_response_ = std::move(raw); }

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Answers a connection beyond the limit and closes it once the client has
  // read the answer.
  void refuse(socket_t sock);
  void linger_loop();

  ConnectionLimits limits_;
  std::string overload_response_;
  // Refused sockets: written and shut down for writing, drained until the
  // client closes (or a second passes), so that closing them does not reset the
  // 503 away.
  std::mutex linger_mu_;
  std::condition_variable linger_cv_;
  std::vector<std::pair<socket_t, std::chrono::steady_clock::time_point>> lingering_;
  bool stopping_ = false;
  std::thread linger_thread_;
};

// httplib's task queue, bounded: `workers` threads serve connections; a
// connection that finds them all busy goes to a single overflow thread, where
// HttpServer answers 503 at once, so an overload never queues unbounded work or
// leaks sockets.
class BoundedTaskQueue : public httplib::TaskQueue {
 public:
  explicit BoundedTaskQueue(int workers);
  void enqueue(std::function<void()> fn) override;
  void shutdown() override;
  // True on the overflow thread.
  static bool over_limit();

 private:
  void work(bool overflow);
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_, overflow_;
  std::vector<std::thread> threads_;
  int workers_ = 0, busy_ = 0;
  bool stop_ = false;
};

}  // namespace sllm::serve
