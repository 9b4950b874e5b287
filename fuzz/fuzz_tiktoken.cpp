// tiktoken rank files (base64 token, space, rank per line), under each encoding's rules.
#include "sllm/common/error.h"
#include "sllm/tokenizer/loaders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kEncodings[] = {"r50k_base", "cl100k_base", "o200k_base"};
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    auto tok = sllm::parse_tiktoken(in, kEncodings[data[0] % 3], "fuzz");
    std::string text = "Hello world<|endoftext|> 123 \xf0\x9f\x98\x80";
    if (tok->decode(tok->encode(text)) != text) __builtin_trap();
  } catch (const sllm::Error&) {
  }
  return 0;
}
