#include "sllm/tokenizer/fingerprint.h"

#include <fmt/format.h>

#include "sllm/common/error.h"

namespace sllm {

std::string tokenizer_fingerprint(const Tokenizer& tok) {
  std::string all = tok.kind() + "\n";
  for (int32_t i = 0; i < tok.vocab_size(); ++i) {
    const std::string_view b = tok.token_bytes(i);
    all += std::to_string(b.size()) + ":";
    all += b;
    all += tok.is_special(i) ? "S" : ".";
  }
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : all) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

void check_same_tokenizer(const Tokenizer& a, const std::string& a_name, const Tokenizer& b,
                          const std::string& b_name) {
  if (a.vocab_size() != b.vocab_size())
    fail("{} and {} have different tokenizers ({} vs {} tokens): they must share one", a_name,
         b_name, a.vocab_size(), b.vocab_size());
  for (int32_t i = 0; i < a.vocab_size(); ++i)
    if (a.token_bytes(i) != b.token_bytes(i) || a.is_special(i) != b.is_special(i))
      fail("{} and {} have different tokenizers (token {} is '{}' vs '{}'): they must share one",
           a_name, b_name, i, std::string(a.token_bytes(i)), std::string(b.token_bytes(i)));
}

}  // namespace sllm
