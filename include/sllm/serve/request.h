// Parsing and validation of OpenAI-style request bodies. Every error names the field at
// fault ("messages[1].content: expected a string"), because that is what the 400 says.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sllm/serve/backend.h"

namespace sllm::serve {

// A client error: HTTP status, OpenAI error type and the offending parameter.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string type, std::string param, const std::string& message,
           std::string code = "")
      : std::runtime_error(message),
        status(status),
        type(std::move(type)),
        param(std::move(param)),
        code(std::move(code)) {}
  int status;
  std::string type;   // "invalid_request_error", "authentication_error", ...
  std::string param;  // Empty when no single field is at fault.
  std::string code;
};
[[noreturn]] void bad_field(const std::string& field, const std::string& message);

struct RequestLimits {
  int max_tokens_cap = 1024;  // Largest max_tokens a request may ask for.
  int default_max_tokens = 128;
  size_t max_stop_strings = 16;
  int max_choices = 16;          // n times the number of prompts.
  size_t max_input_items = 256;  // Embedding inputs / chat messages.
};

// A completions prompt: text, or token ids when `tokens` is non-empty.
struct Prompt {
  std::string text;
  std::vector<int32_t> tokens;
};

// A function the model may call (tools[i].function).
struct ToolDef {
  std::string name;
  nlohmann::ordered_json parameters;  // A JSON schema ({"type":"object"} when not given).
};

struct GenerationRequest {
  bool chat = false;
  std::string model;
  std::vector<Prompt> prompts;        // Completions: one or more prompts.
  std::vector<ChatMessage> messages;  // Chat.
  SamplingParams sampling;            // Its seed counts only when `seeded`.
  bool seeded = false;
  bool json_mode = false;        // response_format json_object.
  std::string json_schema;       // response_format json_schema: the schema as JSON text.
  std::string grammar;           // llama.cpp's extension: a GBNF grammar.
  int n = 1;                     // Choices per prompt.
  int logprobs = -1;             // >= 0: report logprobs with this many alternatives per token.
  nlohmann::ordered_json tools;  // The request's tools (null when none), for the template.
  std::vector<ToolDef> tool_defs;
  std::string tool_choice = "auto";  // none, auto, required, or "function" (named below).
  std::string tool_name;             // tool_choice {"type":"function","function":{"name"}}.
  bool parallel_tool_calls = true;
  int max_tokens = 0;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;
  bool echo = false;
};

GenerationRequest parse_generation_request(std::string_view body, bool chat,
                                           const RequestLimits& limits);

struct EmbeddingRequest {
  std::string model;
  std::vector<std::string> texts;                  // Inputs given as strings...
  std::vector<std::vector<int32_t>> token_inputs;  // ...or as token-id arrays.
  bool base64 = false;
};
EmbeddingRequest parse_embedding_request(std::string_view body, const RequestLimits& limits);

struct TokenizeRequest {
  std::string model;
  std::string text;  // /tokenize: "prompt" (or "messages" rendered by the template).
  std::vector<ChatMessage> messages;
  std::vector<int32_t> tokens;  // /detokenize.
};
TokenizeRequest parse_tokenize_request(std::string_view body);
TokenizeRequest parse_detokenize_request(std::string_view body);

}  // namespace sllm::serve
