// Fuzzes the JSON schema -> grammar compiler (response_format json_schema, tool parameters):
// any text must give a grammar or an sllm::Error that names the keyword, never a crash or a
// runaway grammar; a grammar that compiles must accept its own shortest completion.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sllm/common/error.h"
#include "sllm/infer/json_grammar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto c = sllm::json_schema_constraint(text)->clone();
    const std::string done = c->completion();
    if (!c->accepts(done)) __builtin_trap();
    c->advance(done);
    if (!c->complete()) __builtin_trap();
  } catch (const sllm::Error&) {
  }
  return 0;
}
