// Training data: a corpus (a text file or a folder of them) tokenized once into a
// memory-mapped token file cached in the run folder, split into train and validation ranges,
// and served as deterministic random-window batches.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sllm/model/train_backend.h"
#include "sllm/tokenizer/token_file.h"
#include "sllm/tokenizer/tokenizer.h"
#include "sllm/train/rng.h"

namespace sllm {

// The built-in corpus: the King James Bible as printed by Debian's bible-kjv package
// (`bible -l0 Gen1:1-Rev22:21`), verse numbers stripped. Writes it to path unless it is
// there already. Throws sllm::Error saying what to install when `bible` is missing.
void write_default_corpus(const std::string& path);

// Checks that the corpus (file or folder) exists, can be read and holds some text; throws
// sllm::Error naming the path and the defect otherwise. Returns its files.
std::vector<std::string> check_corpus(const std::string& path);

// Builds the tokenizer `spec` names ("char" learns its vocabulary from the corpus, "byte",
// or a path to a saved tokenizer).
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& spec, const std::string& corpus);

// Tokenizes the corpus into cache_dir/tokens.bin unless a token file made from the same files
// (paths, sizes, modification times) with the same tokenizer is there already.
std::shared_ptr<const TokenFile> cached_token_file(const Tokenizer& tok, const std::string& corpus,
                                                   const std::string& cache_dir, int threads);

struct TokenRange {
  size_t begin = 0, end = 0;
  size_t size() const { return end - begin; }
};

// nanoGPT's split: the first (1 - val_fraction) of the tokens train, the rest validate. Throws
// when either part is too short for one window of block_size + 1 tokens.
struct DataSplit {
  TokenRange train, val;
};
DataSplit split_tokens(size_t n_tokens, double val_fraction, int block_size);

// Batch (B rows of T token ids and their targets) is sllm/model/train_backend.h's.

// Where batches come from. The trainer saves state() in checkpoints and calls restore() on
// resume, so a source must replay exactly the batches an uninterrupted run would have seen.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual void next(Batch& out) = 0;
  virtual nlohmann::json state() const = 0;
  virtual void restore(const nlohmann::json& state) = 0;
};

// B windows of T+1 tokens at uniformly random offsets of a token range; targets are the inputs
// shifted by one. Every window costs exactly one draw of the generator, so the position in the
// stream is the number of windows drawn.
class RandomWindows final : public BatchSource {
 public:
  RandomWindows(std::shared_ptr<const TokenFile> tokens, TokenRange range, int B, int T, Rng rng);
  void next(Batch& out) override;
  nlohmann::json state() const override;  // {"windows": n, "rng": "hex state"}
  void restore(const nlohmann::json& state) override;
  uint64_t windows_drawn() const { return drawn_; }

 private:
  std::shared_ptr<const TokenFile> tokens_;
  TokenRange range_;
  int B_, T_;
  uint64_t start_state_;
  Rng rng_;
  uint64_t drawn_ = 0;
  std::vector<int32_t> window_;
};

// Every window of T+1 tokens at stride T over a token range, in order, B windows per batch
// (the last batch may hold fewer): a validation loss over the whole split, not a sample.
class ConsecutiveWindows {
 public:
  ConsecutiveWindows(std::shared_ptr<const TokenFile> tokens, TokenRange range, int B, int T);
  int num_batches() const;
  size_t num_windows() const { return windows_; }
  void batch(int i, Batch& out) const;  // Batch i of num_batches().

 private:
  std::shared_ptr<const TokenFile> tokens_;
  TokenRange range_;
  int B_, T_;
  size_t windows_;
};

}  // namespace sllm
