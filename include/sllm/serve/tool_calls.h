// Tool calls in a model's output, in the formats model families are trained on:
//   Qwen / Hermes:  <tool_call>{"name": ..., "arguments": {...}}</tool_call> (one block per call)
//   Mistral:        [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]
//   Llama 3.1:      <|python_tag|>{"name": ..., "parameters": {...}} (calls separated by ';')
//   generic JSON:   the whole reply is {"name", "arguments"|"parameters"} or a list of them.
// Only calls that name one of the request's tools count; anything else stays text.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace sllm::serve {

struct ToolCall {
  std::string name;
  std::string arguments;  // A JSON object, as text (OpenAI's "arguments").
};

struct ParsedReply {
  std::string content;  // The text outside the calls (trimmed when there are calls).
  std::vector<ToolCall> calls;
};

ParsedReply parse_tool_calls(std::string_view text, const std::vector<std::string>& tool_names);

// How the model's chat template writes a call, chosen from its source: the text around one
// call's JSON object {"name": ..., "arguments": ...} (constrained decoding emits this).
struct ToolCallFormat {
  std::string before, after;
};
ToolCallFormat tool_call_format(std::string_view chat_template_source);

}  // namespace sllm::serve
