// The model endpoints besides generation (generation.cpp): embeddings, tokenize and
// detokenize.
#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "server_impl.h"

namespace sllm::serve {

namespace {

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

}  // namespace

std::vector<int32_t> check_ids(std::vector<int32_t> ids, int vocab, const std::string& field) {
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      bad_field(fmt::format("{}[{}]", field, i),
                fmt::format("token id {} is outside the vocabulary (0..{})", ids[i], vocab - 1));
  return ids;
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
  std::vector<int32_t> ids =
      be.encode(r.messages.empty() ? r.text : be.render_chat(r.messages, nullptr));
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
