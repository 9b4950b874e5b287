// `sllm quantize`: rewrite any model sllm loads as an sllm model directory whose weights are
// quantized: DIR/config.json, DIR/model.gguf (sllm parameter names, matrices in the chosen
// ggml type, norms and biases in F32) and DIR/tokenizer.sllmtok. The GGUF tensors use ggml's
// block layouts, so loading maps them in place.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sllm/format/imatrix_file.h"
#include "sllm/format/model_files.h"
#include "sllm/format/quant_mix.h"
#include "sllm/io/gguf.h"

namespace sllm {

struct QuantizeReport {
  size_t params = 0, bytes_in = 0, bytes_out = 0;
  std::map<std::string, int> tensors_by_type;  // Lower-case type name -> tensors written in it.
  // With an importance matrix: the matrices quantized with their entry, those whose type uses
  // one but which had none (quantized without, as llama.cpp does), and those whose type takes
  // none (Q8_0, F32, ...).
  int imatrix_used = 0, imatrix_type_takes_none = 0;
  std::vector<std::string> imatrix_missing;
};

// The type a parameter is stored in when a model's matrices go to `type`: 2-D weights whose
// rows are whole blocks take it; norms, biases and GPT-2's position table stay F32.
GGMLType stored_type(const std::string& name, const WeightTensor& t, GGMLType type);
// The tensor's bytes converted to `to`, row by row. `name` labels errors.
// imatrix: one weight per column (quantize_row's), or null.
std::vector<uint8_t> convert_tensor(const WeightTensor& t, GGMLType to, const std::string& name,
                                    const float* imatrix = nullptr);

// Every matrix in `type` (f32, q8_0, q4_0, q4_1).
QuantizeReport quantize_model(const std::string& model_path, const std::string& out_dir,
                              GGMLType type, const std::string& tokenizer = "");
// The mix's type per tensor (sllm/format/quant_mix.h): "q4_k_m", "q6_k", "q8_0", ...
// imatrix: llama.cpp's importance matrix for this model (sllm/format/imatrix_file.h), or null.
// An imatrix that matches none of the model's matrices, or whose entry for a matrix has the
// wrong column count, is refused by name.
QuantizeReport quantize_model(const std::string& model_path, const std::string& out_dir,
                              const QuantMix& mix, const std::string& tokenizer = "",
                              const Imatrix* imatrix = nullptr);

}  // namespace sllm
