// Many independent generations decoded together: up to `batch` sequences at a time, one
// forward_batch() per token over their KV caches, so each new token costs one matrix-vector pass
// per sequence instead of recomputing the prefix. A finished sequence's slot takes the next job.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sllm/infer/generate.h"
#include "sllm/infer/model.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

struct BatchedJob {
  std::vector<int32_t> prompt;  // Non-empty; shorter than the model's context.
  GenerateOptions gen;
};

struct BatchedText {
  std::string text;   // The continuation, without the prompt.
  size_t tokens = 0;  // Tokens generated.
};

// Results in job order; the grouping into batches does not change them.
std::vector<BatchedText> generate_batched(InferenceModel& model, const Tokenizer& tok,
                                          const std::vector<BatchedJob>& jobs, int batch);

}  // namespace sllm
