// Sequence-level distillation data: the teacher continues prompts (sampling settings given) and
// its text becomes the student's corpus. Generation is batched: up to `batch` sequences decode
// together, one forward_batch() per token over their KV caches, so each new token costs one
// matrix-vector pass per sequence instead of recomputing the prefix.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sllm/infer/model.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

struct SyntheticOptions {
  std::string prompts;  // Text file, one prompt per line (blank lines skipped).
  int samples_per_prompt = 1;
  int max_tokens = 256;
  float temperature = 1.0f, top_p = 1.0f;
  int top_k = 0;
  uint64_t seed = 1;
  int batch = 16;  // Sequences decoded together.
  void validate() const;
};

struct Prompt {
  std::string text;
  int line = 0;  // 1-based line in the prompt file, for error messages.
};

// Non-blank lines of a prompt file; throws sllm::Error naming the file when it has none.
std::vector<Prompt> read_prompts(const std::string& path);

struct SyntheticCorpus {
  std::string text;  // Each sample as its prompt + continuation + "\n", by prompt then sample.
  size_t sequences = 0, generated_tokens = 0;
};

// Sample j of prompt i uses sampling seed opt.seed + i * samples_per_prompt + j, so the corpus
// does not depend on the batch size's grouping of the samples. A prompt that does not fit the
// teacher's context is an error naming its line.
SyntheticCorpus synthesize_corpus(InferenceModel& teacher, const Tokenizer& tok,
                                  const std::vector<Prompt>& prompts, const SyntheticOptions& opt);

}  // namespace sllm
