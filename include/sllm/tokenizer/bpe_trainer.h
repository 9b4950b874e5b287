// Byte-level BPE training (GPT-2 style).
//
// The text is split at special tokens (which never take part in merges), pre-tokenized with a
// regex, and the distinct pieces are counted on several threads. Training then repeatedly
// merges the most frequent adjacent pair of symbols (ties: the lexicographically greater pair
// of byte strings), updating pair counts incrementally in the words that hold the pair and
// picking the next pair from a priority queue, until the vocabulary is full or the best pair
// is rarer than min_frequency.
//
// Vocabulary layout: ids 0..255 are the bytes, then one id per merge in merge order, then the
// special tokens.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/tokenizer/bpe.h"

namespace sllm {

struct BpeTrainOptions {
  int32_t vocab_size = 32000;  // bytes + merges + specials
  std::vector<std::string> specials = {"<|endoftext|>"};
  std::string pattern = "gpt2";  // a built-in name (gpt2, cl100k, o200k) or a PCRE2 regex
  int64_t min_frequency = 2;     // stop when the best pair occurs fewer times than this
  int threads = 0;               // pre-token counting threads; <= 0: all cores
  std::string name = "bpe";
  // Called now and then with (merges done, merges wanted).
  std::function<void(int32_t, int32_t)> progress;
};

struct BpeTrainStats {
  size_t bytes = 0;
  size_t pretokens = 0;
  size_t unique_pretokens = 0;
  int32_t merges = 0;
  double count_seconds = 0;
  double merge_seconds = 0;
};

std::unique_ptr<BpeTokenizer> train_bpe(std::span<const std::string_view> texts,
                                        const BpeTrainOptions& options,
                                        BpeTrainStats* stats = nullptr);

// Trains on a file or on every file of a folder (list_text_files()).
std::unique_ptr<BpeTokenizer> train_bpe_on_files(const std::string& input,
                                                 const BpeTrainOptions& options,
                                                 BpeTrainStats* stats = nullptr);

}  // namespace sllm
