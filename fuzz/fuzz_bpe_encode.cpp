// Encoding arbitrary bytes with byte-level BPE (GPT-2 and o200k patterns, trained on the fly)
// must round-trip, whatever the bytes (invalid UTF-8 included).
#include "sllm/common/error.h"
#include "sllm/tokenizer/bpe_trainer.h"

namespace {
const sllm::Tokenizer& tokenizer(const char* pattern) {
  static std::string corpus = [] {
    std::string s;
    for (int i = 0; i < 50; ++i)
      s += "Hello world! It's a test, 12345 cats\n안녕하세요 세계 😀  \t\r\n";
    return s;
  }();
  sllm::BpeTrainOptions o;
  o.vocab_size = 400;
  o.min_frequency = 1;
  o.pattern = pattern;
  std::vector<std::string_view> texts{corpus};
  static auto gpt2 = sllm::train_bpe(texts, o);
  o.pattern = "o200k";
  static auto o200k = sllm::train_bpe(texts, o);
  return std::string_view(pattern) == "gpt2" ? *gpt2 : *o200k;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const char* p : {"gpt2", "o200k"}) {
    const auto& tok = tokenizer(p);
    if (tok.decode(tok.encode(text)) != text) __builtin_trap();
    if (tok.decode(tok.encode(text, false)) != text) __builtin_trap();
  }
  return 0;
}
