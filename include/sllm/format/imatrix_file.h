// Importance matrices in llama.cpp's files, so they move between llama.cpp and sllm.
// For each weight matrix (by llama.cpp's tensor name, "blk.3.attn_q.weight") an importance
// matrix holds, per input column, the sum over the calibration tokens of that input's square,
// and the number of tokens summed: their ratio (the column's mean x^2) weights the quantization
// error of that column (ggml's quant_weights).
//   legacy imatrix.dat: int32 n_entries; per entry int32 name length, the name, int32 ncall,
//     int32 nval, nval float32 (the mean times ncall); then, optionally, int32 chunk count,
//     int32 length and the dataset's name.
//   GGUF (general.type "imatrix"): per matrix "<name>.in_sum2" F32 [nval, 1] (the sums) and
//     "<name>.counts" F32 [1, 1] (the tokens); imatrix.chunk_count, imatrix.chunk_size,
//     imatrix.datasets.
// Expert matrices (several sums per name) are refused by name: sllm runs no mixture of experts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sllm/model/config.h"

namespace sllm {

struct ImatrixEntry {
  std::vector<float> sums;  // Per input column: the sum of x^2 over `count` tokens.
  double count = 0;
};

struct Imatrix {
  std::map<std::string, ImatrixEntry> entries;  // By llama.cpp tensor name.
  int64_t chunk_count = 0, chunk_size = 0;
  std::vector<std::string> datasets;
  std::string source;  // The file it was read from (for the quantized model's metadata).
  // The quantizer's weights for a matrix: sums / count per column; empty if `name` is absent.
  std::vector<float> weights(const std::string& name) const;
};

// The imatrix entry of each of a model's layer matrices: sllm parameter name -> llama.cpp
// tensor name (q, k and v of a fused-qkv family share attn_qkv, which reads the same input).
std::map<std::string, std::string> imatrix_entry_names(const ModelConfig& c);

// Either format (GGUF by its magic). Throws sllm::Error naming the file and what is wrong.
Imatrix read_imatrix(const std::string& path);
Imatrix parse_imatrix(const uint8_t* data, size_t size, const std::string& name);
// GGUF when the path ends in ".gguf", else the legacy format; atomically.
void write_imatrix(const Imatrix& m, const std::string& path);

}  // namespace sllm
