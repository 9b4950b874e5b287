// Fuzzes the OpenAI request parsers: any byte string must give a parsed request or an
// ApiError (a 400 naming a field), never a crash, a hang or another exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sllm/serve/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the endpoint; the rest is the body.
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  sllm::serve::RequestLimits limits;
  try {
    switch (data[0] % 5) {
      case 0:
        sllm::serve::parse_generation_request(body, false, limits);
        break;
      case 1:
        sllm::serve::parse_generation_request(body, true, limits);
        break;
      case 2:
        sllm::serve::parse_embedding_request(body, limits);
        break;
      case 3:
        sllm::serve::parse_tokenize_request(body);
        break;
      default:
        sllm::serve::parse_detokenize_request(body);
        break;
    }
  } catch (const sllm::serve::ApiError& e) {
    if (e.status != 400) __builtin_trap();
  }
  return 0;
}
