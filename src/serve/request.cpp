#include "sllm/serve/request.h"

#include <fmt/format.h>

#include <set>

#include "json_fields.h"

namespace sllm::serve {

void bad_field(const std::string& field, const std::string& message) {
  throw ApiError(400, "invalid_request_error", field, fmt::format("{}: {}", field, message));
}

using namespace fields;

namespace {

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
    for (auto it = rf->begin(); it != rf->end(); ++it)
      if (it.key() != "type" && it.key() != "json_schema")
        bad_field("response_format." + it.key(), "is not a supported field");
    std::string type = get_string(*rf, "type", true);
    if (type == "json_object") {
      r.json_mode = true;
    } else if (type == "json_schema") {
      const json* js = field(*rf, "json_schema");
      if (!js || !js->is_object()) bad_field("response_format.json_schema", "expected an object");
      for (auto it = js->begin(); it != js->end(); ++it)
        if (it.key() != "name" && it.key() != "description" && it.key() != "schema" &&
            it.key() != "strict")
          bad_field("response_format.json_schema." + it.key(), "is not a supported field");
      get_string(*js, "name", false);
      get_string(*js, "description", false);
      get_bool(*js, "strict", false);  // The grammar always holds the output to the schema.
      const json* schema = field(*js, "schema");
      if (!schema) bad_field("response_format.json_schema.schema", "is required");
      r.json_schema = schema->dump();
    } else if (type != "text") {
      bad_field("response_format.type",
                fmt::format("'{}' is not supported (text, json_object or json_schema)", type));
    }
  }
}

// The fields each endpoint understands. Anything else is refused by name: a client must never
// believe a parameter took effect when it did not. `user` is accepted and has no effect
// (README: "Accepted no-op fields").
const std::set<std::string> kCommonFields = {"model",
                                             "max_tokens",
                                             "max_completion_tokens",
                                             "temperature",
                                             "top_p",
                                             "top_k",
                                             "min_p",
                                             "repetition_penalty",
                                             "presence_penalty",
                                             "frequency_penalty",
                                             "seed",
                                             "logit_bias",
                                             "stop",
                                             "stream",
                                             "stream_options",
                                             "n",
                                             "user",
                                             "logprobs",
                                             "response_format",
                                             "grammar"};
const std::set<std::string> kChatFields = {"messages", "top_logprobs", "tools", "tool_choice",
                                           "parallel_tool_calls"};
const std::set<std::string> kCompletionFields = {"prompt", "echo", "best_of"};

void check_known_fields(const json& j, bool chat) {
  const auto& own = chat ? kChatFields : kCompletionFields;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!kCommonFields.count(it.key()) && !own.count(it.key()))
      throw ApiError(400, "invalid_request_error", it.key(),
                     fmt::format("Unrecognized request argument supplied: {} (not supported by "
                                 "this server's {} endpoint)",
                                 it.key(), chat ? "chat completions" : "completions"));
}

Prompt one_prompt(const json& p, const std::string& name) {
  if (p.is_string()) return {p.get<std::string>(), {}};
  if (p.is_array() && !p.empty() && p[0].is_number()) return {"", token_array(p, name)};
  bad_field(name, fmt::format("expected a string or an array of token ids, got {}",
                              p.is_array() ? "an empty or mixed array" : type_name(p)));
}

std::vector<Prompt> parse_prompts(const json& j, const RequestLimits& limits) {
  const json* p = field(j, "prompt");
  if (!p) bad_field("prompt", "is required");
  // A string, token ids, or a list of either (several prompts in one request).
  if (!p->is_array() || (!p->empty() && (*p)[0].is_number())) return {one_prompt(*p, "prompt")};
  if (p->empty()) bad_field("prompt", "must not be empty");
  if (int(p->size()) > limits.max_choices)
    bad_field("prompt", fmt::format("at most {} prompts are accepted", limits.max_choices));
  std::vector<Prompt> out;
  for (size_t i = 0; i < p->size(); ++i)
    out.push_back(one_prompt((*p)[i], fmt::format("prompt[{}]", i)));
  return out;
}

void parse_logprobs(const json& j, GenerationRequest& r) {
  const json* lp = field(j, "logprobs");
  if (r.chat) {
    // Chat: logprobs is a boolean, top_logprobs (0-20) the alternatives.
    const bool on = get_bool(j, "logprobs", false);
    const int top = int(get_integer(j, "top_logprobs", 0, 0, 20));
    if (field(j, "top_logprobs") && !on) bad_field("top_logprobs", "needs logprobs: true");
    r.logprobs = on ? top : -1;
  } else if (lp) {
    // Completions: logprobs is the number of alternatives (OpenAI allows 5; vLLM 20).
    r.logprobs = int(as_integer(*lp, "logprobs", 0, 20));
  }
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
  check_known_fields(j, chat);
  GenerationRequest r;
  r.chat = chat;
  r.model = get_string(j, "model", true);
  if (chat) {
    r.messages = parse_messages(j, limits, true);
    parse_tools(j, r);
  } else {
    r.prompts = parse_prompts(j, limits);
    r.echo = get_bool(j, "echo", false);
  }
  get_string(j, "user", false);  // An end-user id for abuse tracking: accepted, unused.
  // Chat clients send max_completion_tokens nowadays; both are accepted. max_tokens 0 is
  // lm-eval's loglikelihood request: the echoed prompt's logprobs, nothing generated.
  const char* max_name = field(j, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  r.max_tokens = int(get_integer(j, max_name, limits.default_max_tokens, 0, INT32_MAX));
  if (r.max_tokens == 0 && !r.echo) bad_field(max_name, "must be at least 1 (0 only with echo)");
  if (r.max_tokens > limits.max_tokens_cap)
    bad_field(max_name, fmt::format("must be at most {} on this server, got {}",
                                    limits.max_tokens_cap, r.max_tokens));
  r.n = int(get_integer(j, "n", 1, 1, limits.max_choices));
  const size_t prompts = chat ? 1 : r.prompts.size();
  if (int(prompts) * r.n > limits.max_choices)
    bad_field("n", fmt::format("{} prompts with n={} make more than {} choices", prompts, r.n,
                               limits.max_choices));
  if (get_integer(j, "best_of", r.n, 1, 128) != r.n)
    bad_field("best_of", "only best_of equal to n is supported");
  parse_sampling(j, r, limits);
  parse_logprobs(j, r);
  r.grammar = get_string(j, "grammar", false);
  if (field(j, "grammar") && r.grammar.empty()) bad_field("grammar", "must not be empty");
  const int constraints = !r.grammar.empty() + r.json_mode + !r.json_schema.empty() +
                          (r.tool_choice == "required" || r.tool_choice == "function");
  if (constraints > 1)
    bad_field(field(j, "grammar") ? "grammar" : "response_format",
              "grammar, response_format json and a forced tool_choice exclude each other");
  parse_stop(j, r.stop, limits);
  r.stream = get_bool(j, "stream", false);
  if (const json* so = field(j, "stream_options")) {
    if (!so->is_object())
      bad_field("stream_options", fmt::format("expected an object, got {}", type_name(*so)));
    if (!r.stream) bad_field("stream_options", "is only allowed when stream is true");
    for (auto it = so->begin(); it != so->end(); ++it)
      if (it.key() != "include_usage")
        bad_field("stream_options." + it.key(), "is not a supported stream option");
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
