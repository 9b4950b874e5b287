// The tokenizer of a GGUF file (tokenizer.ggml.*), gpt2 and llama models.
#include "sllm/common/error.h"
#include "sllm/io/gguf.h"
#include "sllm/tokenizer/loaders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    sllm::GGUFReader g(data, size, "fuzz");
    auto tok = sllm::tokenizer_from_gguf(g);
    std::string text = " Hello world \xe2\x96\x81 \xff";
    // No round-trip check: a vocabulary without byte tokens maps unknown text to <unk>.
    (void)tok->decode(tok->encode(text, false));
  } catch (const sllm::Error&) {
  }
  return 0;
}
