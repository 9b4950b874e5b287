// Hugging Face vocab.json + merges.txt: the input is both files, split at the first NUL byte.
#include <cstring>

#include "sllm/common/error.h"
#include "sllm/tokenizer/loaders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string_view vocab = in.substr(0, nul),
                   merges = nul == std::string_view::npos ? "" : in.substr(nul + 1);
  try {
    auto tok = sllm::parse_hf_bpe(vocab, merges, "fuzz");
    std::string text = "Hello world, it's 2024!\n\xe2\x82";
    if (tok->decode(tok->encode(text)) != text) __builtin_trap();
  } catch (const sllm::Error&) {
  }
  return 0;
}
