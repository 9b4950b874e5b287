#include "http_server.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace sllm::serve {

namespace {

using Clock = std::chrono::steady_clock;

thread_local bool t_over_limit = false;

// A complete response for a connection that is closed right after it, with the
// OpenAI error body the routes use.
std::string raw_error(int status, const char* phrase, const std::string& message, const char* code,
                      const char* extra_headers = "") {
  nlohmann::json body = {{"error",
                          {{"message", message},
                           {"type", status >= 500 ? "server_error" : "invalid_request_error"},
                           {"param", nullptr},
                           {"code", code ? nlohmann::json(code) : nlohmann::json(nullptr)}}}};
  std::string b = body.dump();
  return "HTTP/1.1 " + std::to_string(status) + " " + phrase +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(b.size()) +
         "\r\nConnection: close\r\n" + extra_headers + "\r\n" + b;
}

bool equals_nocase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(uint8_t(x)) == std::tolower(uint8_t(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// What the connection loop needs to know of a request head, and what it adds to
// it.
struct Head {
  bool http10 = false;
  bool chunked = false;
  bool bad_length = false;  // Unreadable or repeated Content-Length: the connection ends after.
  std::optional<size_t> content_length;
  std::string inserted;  // Header lines to add before the blank line.
};

Head frame(std::string_view head) {
  Head h;
  size_t eol = head.find('\n');
  std::string_view line = trim(head.substr(0, eol));
  std::string_view method = line.substr(0, line.find(' '));
  h.http10 = line.size() >= 8 && line.substr(line.size() - 8) == "HTTP/1.0";
  bool has_type = false;
  while (eol != std::string_view::npos && eol + 1 < head.size()) {
    size_t next = head.find('\n', eol + 1);
    line = head.substr(eol + 1, next == std::string_view::npos ? next : next - eol - 1);
    eol = next;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (equals_nocase(name, "Content-Length")) {
      size_t n = 0;
      bool ok = !value.empty() && value.size() < 19 && !h.content_length && !h.bad_length;
      for (char c : value) ok = ok && c >= '0' && c <= '9', n = n * 10 + size_t(c - '0');
      if (ok)
        h.content_length = n;
      else
        h.bad_length = true;
    } else if (equals_nocase(name, "Transfer-Encoding")) {
      h.chunked = true;
    } else if (equals_nocase(name, "Content-Type")) {
      has_type = true;
    }
  }
  bool has_body_method = method == "POST" || method == "PUT" || method == "PATCH";
  // A request without Content-Length or Transfer-Encoding has no body (RFC
  // 9112 6.3); httplib would read a POST's until the connection closes.
  if (has_body_method && !h.content_length && !h.bad_length && !h.chunked) {
    h.content_length = 0;
    h.inserted += "Content-Length: 0\r\n";
  }
  // Every body this server takes is JSON; httplib would take an untyped one as
  // a form (and refuse it over 8 KiB).
  if (has_body_method && !has_type) h.inserted += "Content-Type: application/json\r\n";
  return h;
}

// The connection's socket and its read buffer, which outlives each request:
// bytes of the next pipelined request stay here.
class ConnectionStream : public httplib::Stream {
 public:
  ConnectionStream(socket_t fd, const ConnectionLimits& l) : fd_(fd), l_(l) {}

  enum class HeadResult { Ok, Closed, Timeout, TooLarge };

  // Waits for the next request head (idle up to idle_timeout_s, then
  // head_timeout_s from its first byte); `stopping` ends an idle wait early.
  HeadResult read_head(const std::function<bool()>& stopping, Head& head) {
    buf_.erase(0, pos_);
    pos_ = 0;
    std::optional<Clock::time_point> deadline;
    auto idle_end = Clock::now() + std::chrono::seconds(l_.idle_timeout_s);
    for (;;) {
      // Blank lines before a request line are allowed (RFC 9112 2.2).
      while (pos_ < buf_.size() && (buf_[pos_] == '\r' || buf_[pos_] == '\n')) pos_++;
      if (pos_ < buf_.size()) {
        if (!deadline) deadline = Clock::now() + std::chrono::seconds(l_.head_timeout_s);
        size_t end = head_end();
        if (end != std::string::npos) {
          head = frame(std::string_view(buf_).substr(pos_, end - pos_));
          size_t blank = buf_[end - 2] == '\r' ? end - 2 : end - 1;
          buf_.insert(blank, head.inserted);
          body_start_ = end + head.inserted.size();
          return HeadResult::Ok;
        }
        if (buf_.size() - pos_ > l_.max_head_bytes) return HeadResult::TooLarge;
      } else if (stopping()) {
        return HeadResult::Closed;
      }
      auto left = (deadline ? *deadline : idle_end) - Clock::now();
      int ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
      // A thread that ran late (a loaded or paused machine) finds the bytes already waiting:
      // they are read before the connection is given up.
      if (ms <= 0 && (wait(POLLIN, 0) <= 0 || fill() <= 0))
        return deadline ? HeadResult::Timeout : HeadResult::Closed;
      if (ms <= 0) continue;
      int r = wait(POLLIN, std::min(ms, 100));  // Slices, to notice a stopping server.
      if (r < 0) return HeadResult::Closed;
      if (r == 0) continue;
      if (fill() <= 0) return HeadResult::Closed;
    }
  }
  // Bytes of the current request's body that httplib has read.
  size_t body_read() const { return pos_ > body_start_ ? pos_ - body_start_ + dropped_ : dropped_; }

  bool is_readable() const override {
    return pos_ < buf_.size() || wait(POLLIN, l_.read_timeout_s * 1000) > 0;
  }
  bool is_writable() const override { return wait(POLLOUT, l_.write_timeout_s * 1000) > 0; }
  ssize_t read(char* ptr, size_t size) override {
    if (pos_ == buf_.size()) {
      if (wait(POLLIN, l_.read_timeout_s * 1000) <= 0) return -1;
      size_t had = buf_.size() > body_start_ ? buf_.size() - body_start_ : 0;
      dropped_ += had;  // The buffer restarts: keep counting the body read so far.
      buf_.clear();
      pos_ = body_start_ = 0;
      ssize_t n = fill();
      if (n <= 0) return n;
    }
    size_t n = std::min(size, buf_.size() - pos_);
    std::memcpy(ptr, buf_.data() + pos_, n);
    pos_ += n;
    return ssize_t(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    for (;;) {
      if (!is_writable()) return -1;
      ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return n;
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    }
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address(getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address(getsockname, ip, port);
  }
  socket_t socket() const override { return fd_; }
  void start_request() { dropped_ = 0; }

 private:
  size_t head_end() const {
    for (size_t i = buf_.find('\n', pos_); i != std::string::npos; i = buf_.find('\n', i + 1)) {
      if (i + 1 < buf_.size() && buf_[i + 1] == '\n') return i + 2;
      if (i + 2 < buf_.size() && buf_[i + 1] == '\r' && buf_[i + 2] == '\n') return i + 3;
    }
    return std::string::npos;
  }
  int wait(short events, int ms) const {
    pollfd p{fd_, events, 0};
    int r;
    while ((r = ::poll(&p, 1, ms)) < 0 && errno == EINTR) {
    }
    return r;
  }
  ssize_t fill() {
    char tmp[16384];
    ssize_t n;
    while ((n = ::recv(fd_, tmp, sizeof tmp, 0)) < 0 && errno == EINTR) {
    }
    if (n > 0) buf_.append(tmp, size_t(n));
    return n;
  }
  template <typename F>
  void address(F getname, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    ip.clear();
    port = 0;
    if (getname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) return;
    char s[INET6_ADDRSTRLEN] = "";
    if (a.ss_family == AF_INET) {
      auto* v4 = reinterpret_cast<sockaddr_in*>(&a);
      inet_ntop(AF_INET, &v4->sin_addr, s, sizeof s);
      port = ntohs(v4->sin_port);
    } else if (a.ss_family == AF_INET6) {
      auto* v6 = reinterpret_cast<sockaddr_in6*>(&a);
      inet_ntop(AF_INET6, &v6->sin6_addr, s, sizeof s);
      port = ntohs(v6->sin6_port);
    }
    ip = s;
  }

  socket_t fd_;
  const ConnectionLimits& l_;
  std::string buf_;
  size_t pos_ = 0, body_start_ = 0, dropped_ = 0;
};

void send_raw(socket_t fd, const std::string& s) {
  (void)!::send(fd, s.data(), s.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

HttpServer::HttpServer(const ConnectionLimits& limits) : limits_(limits) {
  new_task_queue = [this] { return new BoundedTaskQueue(limits_.max_connections); };
  linger_thread_ = std::thread([this] { linger_loop(); });
}

HttpServer::~HttpServer() {
  {
    std::lock_guard lock(linger_mu_);
    stopping_ = true;
  }
  linger_cv_.notify_all();
  linger_thread_.join();
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  if (BoundedTaskQueue::over_limit()) {
    refuse(sock);
    return true;
  }
  ConnectionStream strm(sock, limits_);
  auto stopping = [this] { return svr_sock_ == INVALID_SOCKET; };
  for (int n = 0; n < limits_.max_requests; ++n) {
    Head head;
    auto got = strm.read_head(stopping, head);
    if (got == ConnectionStream::HeadResult::Timeout) {
      send_raw(sock, raw_error(408, "Request Timeout",
                               "the request head did not arrive within " +
                                   std::to_string(limits_.head_timeout_s) + " s",
                               nullptr));
      break;
    }
    if (got == ConnectionStream::HeadResult::TooLarge) {
      send_raw(sock, raw_error(431, "Request Header Fields Too Large",
                               "the request head is over " +
                                   std::to_string(limits_.max_head_bytes) + " bytes",
                               nullptr));
      break;
    }
    if (got != ConnectionStream::HeadResult::Ok) break;
    // HTTP/1.0 gets one response per connection, its body ended by the close
    // (the handlers write no chunked encoding to it).
    bool close = head.http10 || n + 1 == limits_.max_requests || stopping();
    bool closed = false;
    strm.start_request();
    bool ok = process_request(strm, close, closed, nullptr);
    // A body that httplib left unread (a refused request) would be taken for
    // the next request.
    bool body_unread =
        head.chunked || head.bad_length || strm.body_read() < head.content_length.value_or(0);
    if (!ok || close || closed || body_unread) break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return true;
}

void HttpServer::refuse(socket_t sock) {
  send_raw(sock, raw_error(503, "Service Unavailable",
                           "too many connections (the limit is " +
                               std::to_string(limits_.max_connections) + "); try again shortly",
                           "overloaded", "Retry-After: 1\r\n"));
  ::shutdown(sock, SHUT_WR);
  {
    std::lock_guard lock(linger_mu_);
    lingering_.emplace_back(sock, Clock::now() + std::chrono::seconds(1));
  }
  linger_cv_.notify_all();
}

void HttpServer::linger_loop() {
  std::unique_lock lock(linger_mu_);
  for (;;) {
    linger_cv_.wait_for(lock, std::chrono::milliseconds(20),
                        [&] { return stopping_ || !lingering_.empty(); });
    auto now = Clock::now();
    std::erase_if(lingering_, [&](const auto& l) {
      char scratch[4096];
      ssize_t n;
      while ((n = ::recv(l.first, scratch, sizeof scratch, MSG_DONTWAIT)) > 0) {
      }
      bool done =
          stopping_ || n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) || now >= l.second;
      if (done) ::close(l.first);
      return done;
    });
    if (stopping_) return;
    if (!lingering_.empty()) {  // Poll again shortly, without spinning.
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      lock.lock();
    }
  }
}

BoundedTaskQueue::BoundedTaskQueue(int workers) : workers_(workers) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(false); });
  threads_.emplace_back([this] { work(true); });
}

bool BoundedTaskQueue::over_limit() {
  return t_over_limit;
}

void BoundedTaskQueue::enqueue(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (busy_ + int(jobs_.size()) < workers_)
      jobs_.push_back(std::move(fn));
    else
      overflow_.push_back(std::move(fn));
  }
  cv_.notify_all();
}

void BoundedTaskQueue::shutdown() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void BoundedTaskQueue::work(bool overflow) {
  t_over_limit = overflow;
  auto& q = overflow ? overflow_ : jobs_;
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !q.empty(); });
      if (q.empty()) return;
      fn = std::move(q.front());
      q.pop_front();
      if (!overflow) busy_++;
    }
    fn();
    if (!overflow) {
      std::lock_guard lock(mu_);
      busy_--;
    }
  }
}

}  // namespace sllm::serve
