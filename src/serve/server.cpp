#include "sllm/serve/server.h"

#include <netdb.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>

#include "server_impl.h"
#include "sllm/common/error.h"

namespace sllm::serve {

namespace {

// Metrics label for a path: the known routes, everything else as "other" (bounded cardinality).
std::string endpoint_label(const std::string& path) {
  static const char* known[] = {"/v1/models",
                                "/v1/completions",
                                "/v1/chat/completions",
                                "/v1/embeddings",
                                "/tokenize",
                                "/detokenize",
                                "/health",
                                "/metrics",
                                "/v1/usage",
                                "/"};
  for (const char* k : known)
    if (path == k) return path;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return "other";
}

// Why binding host:port fails (httplib only says that it did): bind a probe socket the same way.
std::string bind_error(const ServerOptions& o) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int rc = getaddrinfo(o.host.c_str(), std::to_string(o.port).c_str(), &hints, &res);
  if (rc != 0) return fmt::format("bad address ({})", gai_strerror(rc));
  std::string why = "unknown error";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    bool ok = ::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1) == 0;
    why = ok ? "unknown error" : std::strerror(errno);
    close(fd);
    if (!ok) break;
  }
  freeaddrinfo(res);
  for (auto& c : why) c = char(std::tolower(uint8_t(c)));
  return why;
}

}  // namespace

json error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.what()},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  send_json(res, e.status, error_body(e));
}

std::string random_id(const char* prefix) {
  unsigned char b[12];
  RAND_bytes(b, sizeof b);
  static const char* digits = "0123456789abcdef";
  std::string s = prefix;
  for (unsigned char c : b) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

Server::Server(std::vector<ServedModel> models, ServerOptions options, KeyStore* keys)
    : impl_(std::make_unique<Impl>()) {
  // A client that hangs up mid-response must not kill the server with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  impl_->opt = std::move(options);
  impl_->keys = keys;
  if (models.empty()) fail("serve: no models given");
  for (auto& m : models) {
    if (impl_->models.count(m.name)) fail("serve: two models are named '{}'", m.name);
    ModelSlot slot;
    slot.name = m.name;
    slot.backend = std::move(m.backend);
    slot.created = unix_now();
    slot.scheduler =
        std::make_unique<Scheduler>(m.name, *slot.backend, impl_->opt.scheduler, &impl_->metrics);
    impl_->models.emplace(m.name, std::move(slot));
  }
  impl_->install_routes();
}

Server::~Server() {
  stop();
  // Schedulers stop (and wake their waiters) before the HTTP threads are joined by
  // ~httplib::Server.
  for (auto& [name, slot] : impl_->models) slot.scheduler.reset();
}

void Server::bind() {
  auto& o = impl_->opt;
  if (o.port == 0)
    impl_->port = impl_->http->bind_to_any_port(o.host);
  else
    impl_->port = impl_->http->bind_to_port(o.host, o.port) ? o.port : -1;
  if (impl_->port < 0) fail("serve: cannot listen on {}:{}: {}", o.host, o.port, bind_error(o));
  // Debian's libcpp-httplib listens with a backlog of 5: a burst of clients connecting at once
  // overflows it, the kernel drops their SYNs and they retry only after 1 s (a 1 s TTFT). A
  // second listen() on the bound socket raises the backlog.
  if (impl_->listen_fd >= 0 && ::listen(impl_->listen_fd, SOMAXCONN) != 0)
    fail("serve: cannot raise the listen backlog on {}:{}", o.host, o.port);
}

int Server::port() const {
  return impl_->port;
}

void Server::run() {
  impl_->http->listen_after_bind();
}

void Server::start() {
  bind();
  impl_->thread = std::thread([this] { run(); });
}

void Server::stop() {
  impl_->http->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Metrics& Server::metrics() {
  return impl_->metrics;
}

Scheduler& Server::scheduler(const std::string& model) {
  return *impl_->model(model).scheduler;
}

ModelSlot& Server::Impl::model(const std::string& name) {
  auto it = models.find(name);
  if (it == models.end())
    throw ApiError(
        404, "invalid_request_error", "model",
        fmt::format("model '{}' does not exist; GET /v1/models lists the models served here", name),
        "model_not_found");
  return it->second;
}

std::optional<ApiKey> Server::Impl::authenticate(const httplib::Request& req) {
  // A server given a key database requires a key for as long as it runs, even when none is
  // active (all revoked): an open server is only ever the operator's explicit choice.
  if (!keys) return std::nullopt;
  if (!keys->has_active_keys())
    throw ApiError(401, "invalid_request_error", "",
                   "this server requires an API key, and none is active (all were revoked); the "
                   "operator can create one with `sllm keys create`",
                   "invalid_api_key");
  std::string auth = req.get_header_value("Authorization");
  const std::string bearer = "Bearer ";
  if (auth.rfind(bearer, 0) != 0)
    throw ApiError(401, "invalid_request_error", "",
                   "missing API key: send it as 'Authorization: Bearer sk-sllm-...'",
                   "invalid_api_key");
  auto key = keys->verify(auth.substr(bearer.size()));
  if (!key)
    throw ApiError(401, "invalid_request_error", "", "invalid or revoked API key",
                   "invalid_api_key");
  return key;
}

void Server::Impl::check_rate(const ApiKey& key) {
  if (key.requests_per_minute <= 0) return;
  std::lock_guard lock(rate_mu);
  auto& q = recent_requests[key.id];
  auto now = Clock::now();
  while (!q.empty() && now - q.front() >= std::chrono::minutes(1)) q.pop_front();
  if (int64_t(q.size()) >= key.requests_per_minute)
    throw ApiError(
        429, "requests", "",
        fmt::format(
            "rate limit reached for key '{}': {} requests per minute; try again in a few seconds",
            key.name, key.requests_per_minute),
        "rate_limit_exceeded");
  q.push_back(now);
}

std::unique_ptr<QuotaReservation> Server::Impl::reserve_tokens(const std::optional<ApiKey>& key,
                                                               int64_t tokens) {
  if (!key || key->tokens_per_day <= 0) return nullptr;
  // One lock over reading the ledger and reserving: two admissions cannot both see the same
  // room. A request's reservation is released only after its ledger row is committed, so
  // every token is counted once, in one or the other.
  std::lock_guard lock(quota_mu);
  int64_t used = keys->usage_since(key->id, start_of_utc_day(unix_now())).total();
  int64_t& held = reserved_tokens[key->id];
  if (used + held + tokens > key->tokens_per_day)
    throw ApiError(
        429, "insufficient_quota", "",
        fmt::format("token quota exceeded for key '{}': {} of {} tokens used today and {} "
                    "reserved by requests in progress, and this request may use {} (prompt + "
                    "max_tokens); lower max_tokens or wait (the quota resets at 00:00 UTC)",
                    key->name, used, key->tokens_per_day, held, tokens),
        "insufficient_quota");
  held += tokens;
  return std::make_unique<QuotaReservation>(*this, key->id, tokens);
}

QuotaReservation::~QuotaReservation() {
  std::lock_guard lock(impl_.quota_mu);
  auto it = impl_.reserved_tokens.find(key_id_);
  if ((it->second -= tokens_) == 0) impl_.reserved_tokens.erase(it);
}

void Server::Impl::record_usage(const std::optional<ApiKey>& key, const UsageRecord& r) {
  if (!key || !keys) return;
  UsageRecord rec = r;
  rec.key_id = key->id;
  keys->record(rec);
}

void Server::Impl::install_routes() {
  ConnectionLimits limits;
  limits.head_timeout_s = opt.header_timeout_s;
  limits.idle_timeout_s = std::min(5, opt.read_timeout_s);
  limits.read_timeout_s = opt.read_timeout_s;
  limits.write_timeout_s = opt.write_timeout_s;
  limits.max_connections = opt.max_connections;
  http = std::make_unique<HttpServer>(limits);
  http->set_payload_max_length(opt.max_body_bytes);
  http->set_tcp_nodelay(true);
  http->set_socket_options([this](socket_t sock) {
    // SO_REUSEADDR only: httplib's default SO_REUSEPORT lets a second server bind the same
    // port, and the kernel then splits the connections between the two.
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = static_cast<int>(sock);
  });

  http->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (int(req.headers.size()) <= opt.max_headers)
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError(431, "invalid_request_error", "",
                             fmt::format("the request has {} header fields; the limit is {}",
                                         req.headers.size(), opt.max_headers)));
    res.set_header("Connection", "close");
    return httplib::Server::HandlerResponse::Handled;
  });
  http->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // A handler already wrote an error body.
    int status = res.status;
    std::string msg = status == 404   ? fmt::format("no route for {} {}", req.method, req.path)
                      : status == 413 ? "request body too large"
                      : status == 400 ? "malformed HTTP request (or a header line over 8 KiB)"
                      : status == 405
                          ? fmt::format("method {} not allowed on {}", req.method, req.path)
                          : fmt::format("HTTP error {}", status);
    send_error(res, ApiError(status, "invalid_request_error", "", msg));
  });
  http->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const ApiError& e) {
          send_error(res, e);
        } catch (const std::exception& e) {
          send_error(res, ApiError(500, "server_error", "", e.what()));
        }
      });
  http->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_request(endpoint_label(req.path), res.status);
  });

  auto guarded = [](auto fn) {
    return [fn](const httplib::Request& req, httplib::Response& res) {
      try {
        fn(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const sllm::Error& e) {
        send_error(res, ApiError(400, "invalid_request_error", "", e.what()));
      }
    };
  };
  http->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(web_ui_html(), "text/html; charset=utf-8");
  });
  http->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    json names = json::array();
    for (const auto& [name, slot] : models) names.push_back(name);
    send_json(res, 200, {{"status", "ok"}, {"models", names}});
  });
  http->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    for (auto& [name, slot] : models)
      metrics.set_queue(name, slot.scheduler->waiting(), slot.scheduler->running());
    res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http->Get("/v1/models", guarded([this](const auto& req, auto& res) { handle_models(req, res); }));
  http->Get(R"(/v1/models/(.+))", guarded([this](const auto& req, auto& res) {
              authenticate(req);
              auto& m = model(req.matches[1]);
              send_json(res, 200,
                        {{"id", m.name},
                         {"object", "model"},
                         {"created", m.created},
                         {"owned_by", "sllm"},
                         {"context_length", m.backend->context_length()}});
            }));
  http->Post("/v1/completions",
             guarded([this](const auto& req, auto& res) { handle_generation(req, res, false); }));
  http->Post("/v1/chat/completions",
             guarded([this](const auto& req, auto& res) { handle_generation(req, res, true); }));
  http->Post("/v1/embeddings",
             guarded([this](const auto& req, auto& res) { handle_embeddings(req, res); }));
  http->Post("/tokenize",
             guarded([this](const auto& req, auto& res) { handle_tokenize(req, res); }));
  http->Post("/detokenize",
             guarded([this](const auto& req, auto& res) { handle_detokenize(req, res); }));
  http->Get("/v1/usage", guarded([this](const auto& req, auto& res) { handle_usage(req, res); }));
}

void Server::Impl::handle_models(const httplib::Request& req, httplib::Response& res) {
  authenticate(req);
  json data = json::array();
  for (const auto& [name, slot] : models)
    data.push_back({{"id", name},
                    {"object", "model"},
                    {"created", slot.created},
                    {"owned_by", "sllm"},
                    {"context_length", slot.backend->context_length()}});
  send_json(res, 200, {{"object", "list"}, {"data", data}});
}

void Server::Impl::handle_usage(const httplib::Request& req, httplib::Response& res) {
  auto key = authenticate(req);
  if (!key)
    throw ApiError(404, "invalid_request_error", "",
                   "usage is recorded per API key, and this server has none (create one with `sllm "
                   "keys create`)");
  int64_t day_start = start_of_utc_day(unix_now());
  UsageTotals today = keys->usage_since(key->id, day_start);
  UsageTotals all = keys->usage_since(key->id, 0);
  json days = json::array();
  for (const auto& d : keys->daily_usage(key->id, 30))
    days.push_back({{"day", d.day},
                    {"requests", d.totals.requests},
                    {"prompt_tokens", d.totals.prompt_tokens},
                    {"completion_tokens", d.totals.completion_tokens}});
  auto totals = [](const UsageTotals& t) {
    return json{{"requests", t.requests},
                {"prompt_tokens", t.prompt_tokens},
                {"completion_tokens", t.completion_tokens},
                {"total_tokens", t.total()}};
  };
  json by_status = json::object();  // stop, length, cancelled, error
  for (const auto& u : keys->usage_by_status(key->id, day_start))
    by_status[u.status] = totals(u.totals);
  send_json(
      res, 200,
      {{"key", {{"name", key->name}, {"prefix", key->prefix}, {"created_at", key->created_at}}},
       {"quota",
        {{"tokens_per_day", key->tokens_per_day},
         {"requests_per_minute", key->requests_per_minute}}},
       {"today", totals(today)},
       {"today_by_status", by_status},
       {"all_time", totals(all)},
       {"daily", days}});
}

}  // namespace sllm::serve
