// `sllm imatrix`: the importance matrix of a model on calibration text, as llama.cpp's imatrix
// tool computes it: the text's tokens are cut into chunks of `chunk_size` (each begins with the
// BOS token when the tokenizer adds one, as llama.cpp replaces the chunk's first token), every
// chunk runs through the model from an empty cache, and for each layer matrix the squares of
// its inputs are summed per column over all the chunk's tokens. The output matrix is left out,
// as llama.cpp leaves it out by default.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "sllm/format/imatrix_file.h"
#include "sllm/infer/model.h"

namespace sllm {

struct ImatrixOptions {
  int chunk_size = 512;
  int64_t max_chunks = 0;      // 0: every whole chunk of the text.
  std::optional<int32_t> bos;  // The first token of every chunk, when set.
  std::string dataset;         // Recorded in the file (llama.cpp records the text's path).
  // After each chunk: (chunks done, chunks in all).
  std::function<void(int64_t, int64_t)> progress;
};

// Throws sllm::Error when the text holds less than one chunk.
Imatrix compute_imatrix(InferenceModel& model, std::span<const int32_t> tokens,
                        const ImatrixOptions& opt);

}  // namespace sllm
