// sllm's own tokenizer file (.sllmtok): parse, then use what loaded.
#include "sllm/common/error.h"
#include "tokenizer/sllmtok_format.h"  // src/: the in-memory parser

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto tok = sllm::load_tokenizer_from_memory(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    std::string text = "Hello, 세계! <|endoftext|> \xff";
    auto ids = tok->encode(text);
    if (tok->kind() != "char" && tok->decode(ids) != text) __builtin_trap();
  } catch (const sllm::Error&) {
  }
  return 0;
}
