// Fuzzes the tool-call parser (Hermes/Qwen tags, Mistral [TOOL_CALLS], Llama python_tag,
// bare JSON) on arbitrary model output: it must never crash, and every call it returns must
// name a known tool and carry arguments that parse as a JSON object.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "sllm/serve/tool_calls.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> names = {"get_weather", "search", "a"};
  const auto r = sllm::serve::parse_tool_calls(text, names);
  for (const auto& c : r.calls) {
    if (c.name != "get_weather" && c.name != "search" && c.name != "a") __builtin_trap();
    if (!nlohmann::json::parse(c.arguments, nullptr, false).is_object()) __builtin_trap();
  }
  return 0;
}
