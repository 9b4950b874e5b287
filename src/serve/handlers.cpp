// The model endpoints: completions, chat completions (plain and streamed), embeddings,
// tokenize and detokenize.
#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "server_impl.h"

namespace sllm::serve {

namespace {

std::vector<int32_t> check_ids(std::vector<int32_t> ids, int vocab, const std::string& field) {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      bad_field(fmt::format("{}[{}]", field, i),
                fmt::format("token id {} is outside the vocabulary (0..{})", ids[i], vocab - 1));
  return ids;
}

json usage_json(int prompt, int completion) {
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion}};
}

std::string base64(const void* data, size_t n) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const uint8_t*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t(p[i]) << 16 | (i + 1 < n ? uint32_t(p[i + 1]) << 8 : 0) |
                 (i + 2 < n ? p[i + 2] : 0);
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += i + 1 < n ? tbl[v >> 6 & 63] : '=';
    out += i + 2 < n ? tbl[v & 63] : '=';
  }
  return out;
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The state of one generation response, shared by the HTTP handler and its content provider.
struct Generation {
  std::shared_ptr<Job> job;
  std::optional<ApiKey> key;
  std::string id, model, endpoint;
  int64_t created = 0;
  bool chat = false, include_usage = false;
  std::string echo_prefix;  // Completions with echo: the prompt text comes first.
  std::unique_ptr<QuotaReservation> reservation;  // Released once the usage is recorded.
  bool settled = false;  // The ledger has its row. (The content provider and the releaser run
                         // on the connection's thread, one after the other.)
};

}  // namespace

void Server::Impl::handle_generation(const httplib::Request& req, httplib::Response& res,
                                     bool chat) {
  auto key = authenticate(req);
  GenerationRequest r = parse_generation_request(req.body, chat, opt.limits);
  ModelSlot& slot = model(r.model);
  Backend& be = *slot.backend;
  if (key) check_rate(*key);

  std::vector<int32_t> prompt;
  const char* prompt_field = chat ? "messages" : "prompt";
  if (chat)
    prompt = be.encode(be.render_chat(r.messages));
  else if (!r.prompt_tokens.empty())
    prompt = check_ids(r.prompt_tokens, be.vocab_size(), "prompt");
  else
    prompt = be.encode(r.prompt);
  if (prompt.empty()) bad_field(prompt_field, "must not be empty");
  int ctx = be.context_length();
  if (int(prompt.size()) >= ctx)
    bad_field(prompt_field,
              fmt::format("the prompt is {} tokens, and model '{}' has a context of {} tokens",
                          prompt.size(), r.model, ctx));
  for (const auto& [id, bias] : r.sampling.logit_bias)
    if (id >= be.vocab_size())
      bad_field(fmt::format("logit_bias.{}", id), "token id is outside the vocabulary");
  int max_tokens = std::min<int>(r.max_tokens, ctx - int(prompt.size()));

  auto g = std::make_shared<Generation>();
  g->reservation = reserve_tokens(key, int64_t(prompt.size()) + max_tokens);
  g->job = std::make_shared<Job>(
      GenerationSpec{prompt, r.sampling, max_tokens, r.stop, chat, r.seeded, r.json_mode});
  g->key = key;
  g->id = random_id(chat ? "chatcmpl-" : "cmpl-");
  g->model = r.model;
  g->endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
  g->created = unix_now();
  g->chat = chat;
  g->include_usage = r.include_usage;
  if (r.echo) g->echo_prefix = r.prompt_tokens.empty() ? r.prompt : be.decode(prompt);
  if (!slot.scheduler->submit(g->job))
    throw ApiError(
        429, "requests", "",
        fmt::format("model '{}' is at capacity (its queue is full); retry shortly", r.model),
        "rate_limit_exceeded");

  // Every admitted request gets exactly one ledger row, however it ends, before its quota
  // reservation is given back.
  auto settle = [this, g](const std::string& reason, int completion_tokens) {
    if (g->settled) return;
    g->settled = true;
    record_usage(g->key,
                 {0, g->model, g->endpoint, g->job->prompt_tokens(), completion_tokens, reason});
    g->reservation.reset();
  };
  auto record = [g, settle] { settle(g->job->finish_reason(), g->job->completion_tokens()); };
  // The client hung up (a failed write) or the connection died before the response began:
  // the job stops at the next step, and the bill is the prompt plus what was sent.
  auto hang_up = [g, settle] {
    g->job->cancel();
    settle("cancelled", g->job->taken_tokens());
  };
  auto keepalive = std::chrono::milliseconds(opt.keepalive_interval_ms);
  // Called when the response is destroyed, after a normal end too (then it changes nothing).
  auto release = [hang_up](bool) { hang_up(); };

  // HTTP/1.0 has no chunked encoding: its response body ends when the connection closes.
  auto provide = [&](const char* type, httplib::ContentProviderWithoutLength provider) {
    if (req.version == "HTTP/1.0")
      res.set_content_provider(type, std::move(provider), release);
    else
      res.set_chunked_content_provider(type, std::move(provider), release);
  };

  if (r.stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    provide("text/event-stream", [g, record, hang_up, keepalive](size_t, httplib::DataSink& sink) {
      auto chunk = [&](const json& choice_delta, const json& finish) {
        json choice = g->chat ? json{{"index", 0},
                                     {"delta", choice_delta},
                                     {"logprobs", nullptr},
                                     {"finish_reason", finish}}
                              : json{{"index", 0},
                                     {"text", choice_delta},
                                     {"logprobs", nullptr},
                                     {"finish_reason", finish}};
        json c = {{"id", g->id},
                  {"object", g->chat ? "chat.completion.chunk" : "text_completion"},
                  {"created", g->created},
                  {"model", g->model},
                  {"choices", json::array({choice})}};
        std::string line = "data: " + dump(c) + "\n\n";
        return sink.write(line.data(), line.size());
      };
      bool ok = g->chat ? chunk({{"role", "assistant"}, {"content", ""}}, nullptr)
                        : (g->echo_prefix.empty() || chunk(g->echo_prefix, nullptr));
      std::string text;
      bool finished = false;
      while (ok && !finished) {
        finished = g->job->wait(text, keepalive);
        if (!text.empty())
          ok = chunk(g->chat ? json{{"content", text}} : json(text), nullptr);
        else if (!finished)
          ok = sink.write(": keepalive\n\n", 13);
      }
      if (!ok) {
        hang_up();
        return false;
      }
      if (g->job->finish_reason() == "error") {
        record();
        std::string line =
            "data: " + dump(error_body(ApiError(500, "server_error", "", g->job->error()))) +
            "\n\n";
        sink.write(line.data(), line.size());
        sink.done();
        return true;
      }
      // The ledger row is durable before the last bytes of the response leave.
      record();
      ok = chunk(g->chat ? json::object() : json(""), g->job->finish_reason());
      if (ok && g->include_usage) {
        json u = {{"id", g->id},
                  {"object", g->chat ? "chat.completion.chunk" : "text_completion"},
                  {"created", g->created},
                  {"model", g->model},
                  {"choices", json::array()},
                  {"usage", usage_json(g->job->prompt_tokens(), g->job->completion_tokens())}};
        std::string line = "data: " + dump(u) + "\n\n";
        ok = sink.write(line.data(), line.size());
      }
      if (ok) ok = sink.write("data: [DONE]\n\n", 14);
      if (ok) sink.done();
      return ok;
    });
    return;
  }

  provide("application/json", [g, record, hang_up, keepalive](size_t, httplib::DataSink& sink) {
    std::string text, all = g->echo_prefix;
    bool finished = false;
    auto started = Clock::now();
    while (!finished) {
      finished = g->job->wait(text, keepalive);
      all += text;
      // A long generation writes JSON-insignificant whitespace now and then: the only way
      // to learn that the client went away is a failed write.
      if (!finished && Clock::now() - started > 2 * keepalive && !sink.write(" ", 1)) {
        hang_up();
        return false;
      }
    }
    record();
    json body;
    if (g->job->finish_reason() == "error") {
      body = error_body(ApiError(500, "server_error", "", g->job->error()));
    } else {
      json choice = g->chat ? json{{"index", 0},
                                   {"message", {{"role", "assistant"}, {"content", all}}},
                                   {"logprobs", nullptr},
                                   {"finish_reason", g->job->finish_reason()}}
                            : json{{"index", 0},
                                   {"text", all},
                                   {"logprobs", nullptr},
                                   {"finish_reason", g->job->finish_reason()}};
      body = {{"id", g->id},
              {"object", g->chat ? "chat.completion" : "text_completion"},
              {"created", g->created},
              {"model", g->model},
              {"choices", json::array({choice})},
              {"usage", usage_json(g->job->prompt_tokens(), g->job->completion_tokens())}};
    }
    std::string s = dump(body);
    if (!sink.write(s.data(), s.size())) return false;
    sink.done();
    return true;
  });
}

void Server::Impl::handle_embeddings(const httplib::Request& req, httplib::Response& res) {
  auto key = authenticate(req);
  EmbeddingRequest r = parse_embedding_request(req.body, opt.limits);
  ModelSlot& slot = model(r.model);
  Backend& be = *slot.backend;
  if (key) check_rate(*key);
  std::vector<std::vector<int32_t>> inputs;
  for (size_t i = 0; i < r.texts.size(); ++i) inputs.push_back(be.encode(r.texts[i]));
  for (size_t i = 0; i < r.token_inputs.size(); ++i)
    inputs.push_back(check_ids(r.token_inputs[i], be.vocab_size(),
                               r.token_inputs.size() == 1 ? "input" : fmt::format("input[{}]", i)));
  int64_t prompt_tokens = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string name = inputs.size() == 1 ? "input" : fmt::format("input[{}]", i);
    if (inputs[i].empty()) bad_field(name, "must not be empty");
    if (int(inputs[i].size()) > be.context_length())
      bad_field(name, fmt::format("is {} tokens, more than the context of {}", inputs[i].size(),
                                  be.context_length()));
    prompt_tokens += int64_t(inputs[i].size());
  }
  auto reservation = reserve_tokens(key, prompt_tokens);
  json data = json::array();
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<float> e;
    slot.scheduler->run_exclusive([&](Backend& b) { e = b.embed(inputs[i]); });
    json item = {{"object", "embedding"}, {"index", i}};
    if (r.base64)
      item["embedding"] = base64(e.data(), e.size() * sizeof(float));
    else
      item["embedding"] = e;
    data.push_back(std::move(item));
  }
  record_usage(key, {0, r.model, "/v1/embeddings", prompt_tokens, 0, "stop"});
  reservation.reset();
  metrics.add_tokens(r.model, prompt_tokens, 0);
  send_json(res, 200,
            {{"object", "list"},
             {"data", data},
             {"model", r.model},
             {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}});
}

void Server::Impl::handle_tokenize(const httplib::Request& req, httplib::Response& res) {
  authenticate(req);
  TokenizeRequest r = parse_tokenize_request(req.body);
  Backend& be = *model(r.model).backend;
  std::vector<int32_t> ids = be.encode(r.messages.empty() ? r.text : be.render_chat(r.messages));
  send_json(res, 200,
            {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", be.context_length()}});
}

void Server::Impl::handle_detokenize(const httplib::Request& req, httplib::Response& res) {
  authenticate(req);
  TokenizeRequest r = parse_detokenize_request(req.body);
  Backend& be = *model(r.model).backend;
  std::vector<int32_t> ids = check_ids(r.tokens, be.vocab_size(), "tokens");
  send_json(res, 200, {{"prompt", be.decode(ids)}});
}

}  // namespace sllm::serve
