// Whether two models can exchange token ids: the same tokens with the same bytes and the same
// special flags.
#pragma once
#include <string>

#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

// A short hash of the vocabulary (every token's bytes and the special tokens): two models can
// exchange token ids exactly when their fingerprints match.
std::string tokenizer_fingerprint(const Tokenizer& tok);
// Throws sllm::Error naming both models when their tokenizers differ.
void check_same_tokenizer(const Tokenizer& a, const std::string& a_name, const Tokenizer& b,
                          const std::string& b_name);

}  // namespace sllm
