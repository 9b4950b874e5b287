// Jinja chat templates: the input is the template; it renders a fixed conversation (with tools
// and a list-of-parts message). Parse and render errors are sllm::Error; nothing else may escape.
#include "sllm/common/error.h"
#include "sllm/jinja/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view src(reinterpret_cast<const char*>(data), size);
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image"}]},
      {"role": "assistant", "content": "<think>\nx\n</think>\n\nHello", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"a": 1, "b": [true, null, 2.5]}}}]},
      {"role": "tool", "content": "42"},
      {"role": "user", "content": "Bye"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "add_generation_prompt": true, "enable_thinking": false,
    "bos_token": "<s>", "eos_token": "</s>"})");
  try {
    sllm::jinja::Template t(src);
    t.render(ctx);
  } catch (const sllm::Error&) {
  }
  return 0;
}
