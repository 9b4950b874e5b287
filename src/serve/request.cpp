#include "sllm/serve/request.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace sllm::serve {

using nlohmann::json;

void bad_field(const std::string& field, const std::string& message) {
  throw ApiError(400, "invalid_request_error", field, fmt::format("{}: {}", field, message));
}

namespace {

json parse_object(std::string_view body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // Syntax errors, and numbers too large for a double.
    throw ApiError(400, "invalid_request_error", "body",
                   fmt::format("request body is not valid JSON: {}", e.what()));
  }
  if (!j.is_object())
    throw ApiError(400, "invalid_request_error", "body", "request body must be a JSON object");
  return j;
}

const char* type_name(const json& v) {
  return v.type_name();
}

// Present and not null: OpenAI clients send explicit nulls for unset optional fields.
const json* field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string get_string(const json& obj, const char* name, bool required) {
  const json* v = field(obj, name);
  if (!v) {
    if (required) bad_field(name, "is required");
    return {};
  }
  if (!v->is_string()) bad_field(name, fmt::format("expected a string, got {}", type_name(*v)));
  return v->get<std::string>();
}

bool get_bool(const json& obj, const char* name, bool dflt) {
  const json* v = field(obj, name);
  if (!v) return dflt;
  if (!v->is_boolean()) bad_field(name, fmt::format("expected a boolean, got {}", type_name(*v)));
  return v->get<bool>();
}

double get_number(const json& obj, const char* name, double dflt, double lo, double hi) {
  const json* v = field(obj, name);
  if (!v) return dflt;
  if (!v->is_number()) bad_field(name, fmt::format("expected a number, got {}", type_name(*v)));
  double x = v->get<double>();
  if (!(x >= lo && x <= hi))
    bad_field(name, fmt::format("must be between {} and {}, got {}", lo, hi, x));
  return x;
}

int64_t as_integer(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  int64_t x = 0;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
      bad_field(name, fmt::format("must be between {} and {}", lo, hi));
    x = v.get<int64_t>();
  } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
             std::fabs(v.get<double>()) < 9e15) {
    x = int64_t(v.get<double>());
  } else {
    bad_field(name, fmt::format("expected an integer, got {}",
                                v.is_number() ? "a fraction" : type_name(v)));
  }
  if (x < lo || x > hi)
    bad_field(name, fmt::format("must be between {} and {}, got {}", lo, hi, x));
  return x;
}

int64_t get_integer(const json& obj, const char* name, int64_t dflt, int64_t lo, int64_t hi) {
  const json* v = field(obj, name);
  return v ? as_integer(*v, name, lo, hi) : dflt;
}

std::vector<int32_t> token_array(const json& v, const std::string& name) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    ids.push_back(int32_t(as_integer(v[i], fmt::format("{}[{}]", name, i), 0, INT32_MAX)));
  return ids;
}

std::string message_content(const json& content, const std::string& name) {
  if (content.is_string()) return content.get<std::string>();
  // The array form: [{"type":"text","text":"..."}, ...]; only text parts are understood.
  if (!content.is_array())
    bad_field(name,
              fmt::format("expected a string or an array of parts, got {}", type_name(content)));
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    std::string part = fmt::format("{}[{}]", name, i);
    const json& p = content[i];
    if (!p.is_object()) bad_field(part, "expected an object");
    const json* type = field(p, "type");
    if (!type || !type->is_string() || type->get<std::string>() != "text")
      bad_field(part + ".type", "only \"text\" content parts are supported");
    const json* t = field(p, "text");
    if (!t || !t->is_string()) bad_field(part + ".text", "expected a string");
    text += t->get<std::string>();
  }
  return text;
}

std::vector<ChatMessage> parse_messages(const json& obj, const RequestLimits& limits,
                                        bool required) {
  const json* v = field(obj, "messages");
  if (!v) {
    if (required) bad_field("messages", "is required");
    return {};
  }
  if (!v->is_array())
    bad_field("messages", fmt::format("expected an array, got {}", type_name(*v)));
  if (v->empty() && required) bad_field("messages", "must not be empty");
  if (v->size() > limits.max_input_items)
    bad_field("messages", fmt::format("at most {} messages are accepted", limits.max_input_items));
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < v->size(); ++i) {
    std::string name = fmt::format("messages[{}]", i);
    const json& m = (*v)[i];
    if (!m.is_object()) bad_field(name, fmt::format("expected an object, got {}", type_name(m)));
    ChatMessage msg;
    const json* role = field(m, "role");
    if (!role || !role->is_string()) bad_field(name + ".role", "expected a string");
    msg.role = role->get<std::string>();
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" &&
        msg.role != "developer")
      bad_field(name + ".role",
                fmt::format("unknown role '{}' (system, developer, user or assistant)", msg.role));
    if (msg.role == "developer") msg.role = "system";
    const json* content = field(m, "content");
    if (!content) bad_field(name + ".content", "is required");
    msg.content = message_content(*content, name + ".content");
    out.push_back(std::move(msg));
  }
  return out;
}

void parse_sampling(const json& j, GenerationRequest& r, const RequestLimits& limits) {
  SamplingParams& s = r.sampling;
  s.temperature = float(get_number(j, "temperature", 1.0, 0.0, 2.0));
  s.top_p = float(get_number(j, "top_p", 1.0, 0.0, 1.0));
  if (s.top_p == 0.0f) bad_field("top_p", "must be greater than 0");
  s.top_k = int(get_integer(j, "top_k", 0, -1, 1 << 20));
  if (s.top_k < 0) s.top_k = 0;  // -1 means off, as in vLLM.
  s.min_p = float(get_number(j, "min_p", 0.0, 0.0, 1.0));
  s.repetition_penalty = float(get_number(j, "repetition_penalty", 1.0, 0.01, 10.0));
  s.presence_penalty = float(get_number(j, "presence_penalty", 0.0, -2.0, 2.0));
  s.frequency_penalty = float(get_number(j, "frequency_penalty", 0.0, -2.0, 2.0));
  if (const json* seed = field(j, "seed")) {
    s.seed = uint64_t(as_integer(*seed, "seed", INT64_MIN, INT64_MAX));
    r.seeded = true;
  }
  if (const json* bias = field(j, "logit_bias")) {
    if (!bias->is_object())
      bad_field("logit_bias",
                fmt::format("expected an object of token id to bias, got {}", type_name(*bias)));
    if (bias->size() > 1024) bad_field("logit_bias", "at most 1024 entries are accepted");
    for (const auto& [key, value] : bias->items()) {
      std::string name = fmt::format("logit_bias.{}", key);
      char* end = nullptr;
      long id = std::strtol(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || id < 0 || id > INT32_MAX)
        bad_field(name, "keys must be token ids");
      if (!value.is_number())
        bad_field(name, fmt::format("expected a number, got {}", type_name(value)));
      double b = value.get<double>();
      if (!(b >= -100.0 && b <= 100.0)) bad_field(name, "must be between -100 and 100");
      s.logit_bias[int32_t(id)] = float(b);
    }
  }
  if (const json* rf = field(j, "response_format")) {
    if (!rf->is_object())
      bad_field("response_format", fmt::format("expected an object, got {}", type_name(*rf)));
    std::string type = get_string(*rf, "type", true);
    if (type == "json_object")
      r.json_mode = true;
    else if (type != "text")
      bad_field("response_format.type",
                fmt::format("'{}' is not supported (text or json_object)", type));
  }
  (void)limits;
}

void parse_stop(const json& j, std::vector<std::string>& stop, const RequestLimits& limits) {
  const json* v = field(j, "stop");
  if (!v) return;
  if (v->is_string()) {
    stop.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > limits.max_stop_strings)
      bad_field("stop",
                fmt::format("at most {} stop strings are accepted", limits.max_stop_strings));
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) bad_field(fmt::format("stop[{}]", i), "expected a string");
      stop.push_back((*v)[i].get<std::string>());
    }
  } else {
    bad_field("stop",
              fmt::format("expected a string or an array of strings, got {}", type_name(*v)));
  }
  for (size_t i = 0; i < stop.size(); ++i) {
    if (stop[i].empty()) bad_field(fmt::format("stop[{}]", i), "must not be empty");
    if (stop[i].size() > 256) bad_field(fmt::format("stop[{}]", i), "must be at most 256 bytes");
  }
}

}  // namespace

GenerationRequest parse_generation_request(std::string_view body, bool chat,
                                           const RequestLimits& limits) {
  json j = parse_object(body);
  GenerationRequest r;
  r.chat = chat;
  r.model = get_string(j, "model", true);
  if (chat) {
    r.messages = parse_messages(j, limits, true);
  } else {
    const json* p = field(j, "prompt");
    if (!p) bad_field("prompt", "is required");
    if (p->is_string()) {
      r.prompt = p->get<std::string>();
    } else if (p->is_array() && !p->empty() && (*p)[0].is_number()) {
      r.prompt_tokens = token_array(*p, "prompt");
    } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
      r.prompt = (*p)[0].get<std::string>();
    } else if (p->is_array() && p->size() > 1) {
      bad_field("prompt", "only one prompt per request is supported");
    } else {
      bad_field("prompt",
                fmt::format("expected a string or an array of token ids, got {}", type_name(*p)));
    }
    r.echo = get_bool(j, "echo", false);
  }
  // Chat clients send max_completion_tokens nowadays; both are accepted.
  const char* max_name = field(j, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  r.max_tokens = int(get_integer(j, max_name, limits.default_max_tokens, 1, INT32_MAX));
  if (r.max_tokens > limits.max_tokens_cap)
    bad_field(max_name, fmt::format("must be at most {} on this server, got {}",
                                    limits.max_tokens_cap, r.max_tokens));
  if (get_integer(j, "n", 1, 1, 128) != 1) bad_field("n", "only n=1 is supported");
  if (get_integer(j, "best_of", 1, 1, 128) != 1)
    bad_field("best_of", "only best_of=1 is supported");
  parse_sampling(j, r, limits);
  parse_stop(j, r.stop, limits);
  r.stream = get_bool(j, "stream", false);
  if (const json* so = field(j, "stream_options")) {
    if (!so->is_object())
      bad_field("stream_options", fmt::format("expected an object, got {}", type_name(*so)));
    if (!r.stream) bad_field("stream_options", "is only allowed when stream is true");
    r.include_usage = get_bool(*so, "include_usage", false);
  }
  return r;
}

EmbeddingRequest parse_embedding_request(std::string_view body, const RequestLimits& limits) {
  json j = parse_object(body);
  EmbeddingRequest r;
  r.model = get_string(j, "model", true);
  const json* in = field(j, "input");
  if (!in) bad_field("input", "is required");
  if (in->is_string()) {
    r.texts.push_back(in->get<std::string>());
  } else if (in->is_array()) {
    if (in->empty()) bad_field("input", "must not be empty");
    if (in->size() > limits.max_input_items)
      bad_field("input", fmt::format("at most {} inputs are accepted", limits.max_input_items));
    if ((*in)[0].is_number()) {
      r.token_inputs.push_back(token_array(*in, "input"));
    } else {
      for (size_t i = 0; i < in->size(); ++i) {
        const json& e = (*in)[i];
        std::string name = fmt::format("input[{}]", i);
        if (e.is_string())
          r.texts.push_back(e.get<std::string>());
        else if (e.is_array())
          r.token_inputs.push_back(token_array(e, name));
        else
          bad_field(name, fmt::format("expected a string or an array of token ids, got {}",
                                      type_name(e)));
      }
      if (!r.texts.empty() && !r.token_inputs.empty())
        bad_field("input", "mixes strings and token arrays");
    }
  } else {
    bad_field("input", fmt::format("expected a string or an array, got {}", type_name(*in)));
  }
  std::string fmt_name = get_string(j, "encoding_format", false);
  if (fmt_name == "base64")
    r.base64 = true;
  else if (!fmt_name.empty() && fmt_name != "float")
    bad_field("encoding_format", "must be float or base64");
  return r;
}

TokenizeRequest parse_tokenize_request(std::string_view body) {
  json j = parse_object(body);
  TokenizeRequest r;
  r.model = get_string(j, "model", true);
  RequestLimits limits;
  r.messages = parse_messages(j, limits, false);
  r.text = get_string(j, "prompt", r.messages.empty());
  return r;
}

TokenizeRequest parse_detokenize_request(std::string_view body) {
  json j = parse_object(body);
  TokenizeRequest r;
  r.model = get_string(j, "model", true);
  const json* t = field(j, "tokens");
  if (!t) bad_field("tokens", "is required");
  if (!t->is_array())
    bad_field("tokens", fmt::format("expected an array of token ids, got {}", type_name(*t)));
  r.tokens = token_array(*t, "tokens");
  return r;
}

}  // namespace sllm::serve
