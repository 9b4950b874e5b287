// Internals of sllm::serve::Server shared by its source files.
#pragma once
#include <httplib.h>

#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "http_server.h"
#include "sllm/serve/server.h"

namespace sllm::serve {

using nlohmann::json;

struct GenState;

struct ModelSlot {
  std::string name;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Scheduler> scheduler;
  int64_t created = 0;
};

// Tokens that a request in progress holds against its key's daily quota: taken at admission
// (prompt + max_tokens), given back when the request's real usage is in the ledger, so
// concurrent requests can never overrun the quota together.
class QuotaReservation {
 public:
  QuotaReservation(Server::Impl& impl, int64_t key_id, int64_t tokens)
      : impl_(impl), key_id_(key_id), tokens_(tokens) {}
  ~QuotaReservation();
  QuotaReservation(const QuotaReservation&) = delete;
  QuotaReservation& operator=(const QuotaReservation&) = delete;

 private:
  Server::Impl& impl_;
  int64_t key_id_, tokens_;
};

struct Server::Impl {
  ServerOptions opt;
  KeyStore* keys = nullptr;
  Metrics metrics;
  std::map<std::string, ModelSlot> models;
  std::unique_ptr<HttpServer> http;
  std::thread thread;
  int port = -1;
  int listen_fd = -1;  // The bound socket, to raise httplib's listen backlog (see bind()).

  std::mutex rate_mu;
  std::map<int64_t, std::deque<Clock::time_point>>
      recent_requests;  // key id -> admissions in the last minute
  std::mutex quota_mu;
  std::map<int64_t, int64_t> reserved_tokens;  // key id -> tokens held by requests in progress

  void install_routes();
  // Authentication: the key, or nullopt when the server has no keys. Throws ApiError 401.
  std::optional<ApiKey> authenticate(const httplib::Request& req);
  // Requests per minute; throws ApiError 429.
  void check_rate(const ApiKey& key);
  // Reserves `tokens` (the most the request can use) against the key's tokens per day, counting
  // the ledger and every other reservation; throws ApiError 429 when they would not fit. Null
  // without a key or a daily quota.
  std::unique_ptr<QuotaReservation> reserve_tokens(const std::optional<ApiKey>& key,
                                                   int64_t tokens);
  ModelSlot& model(const std::string& name);
  void record_usage(const std::optional<ApiKey>& key, const UsageRecord& r);

  void handle_generation(const httplib::Request& req, httplib::Response& res, bool chat);
  // Sends a generation's choices as they arrive (generation_response.cpp).
  void respond(const httplib::Request& req, httplib::Response& res, std::shared_ptr<GenState> g,
               bool stream);
  // The logprobs of every prompt token (the first a NaN: it has none), for echo.
  std::vector<TokenLogprob> prompt_logprobs(ModelSlot& slot, const std::vector<int32_t>& ids,
                                            int top);
  void handle_embeddings(const httplib::Request& req, httplib::Response& res);
  void handle_tokenize(const httplib::Request& req, httplib::Response& res);
  void handle_detokenize(const httplib::Request& req, httplib::Response& res);
  void handle_models(const httplib::Request& req, httplib::Response& res);
  void handle_usage(const httplib::Request& req, httplib::Response& res);
};

json error_body(const ApiError& e);
void send_json(httplib::Response& res, int status, const json& body);
void send_error(httplib::Response& res, const ApiError& e);
std::string random_id(const char* prefix);
// ids, after checking each is inside the vocabulary (a 400 naming field[i] otherwise).
std::vector<int32_t> check_ids(std::vector<int32_t> ids, int vocab, const std::string& field);
const std::string& web_ui_html();

}  // namespace sllm::serve
