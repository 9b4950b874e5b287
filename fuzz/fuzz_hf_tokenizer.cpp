// Hugging Face tokenizer.json: parse, then encode and decode a text that touches every stage
// (added tokens, normalizers, pre-tokenizers, byte fallback, post-processor, decoders).
#include "sllm/common/error.h"
#include "sllm/tokenizer/hf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    auto tok = sllm::parse_hf_tokenizer(in, "fuzz");
    const std::string text =
        "Hello world, it's 2024!\n  <s> \xe2\x96\x81x \xf0\x9f\x98\x80\xe2\x82";
    std::vector<int32_t> ids = tok->encode_with_specials(text);
    tok->decode(ids);
    for (int32_t id : ids) tok->token_bytes(id);
  } catch (const sllm::Error&) {
  }
  return 0;
}
