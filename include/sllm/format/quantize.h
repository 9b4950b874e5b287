// `sllm quantize`: rewrite any model sllm loads as an sllm model directory whose weights are
// quantized: DIR/config.json, DIR/model.gguf (sllm parameter names, matrices in the chosen
// ggml type, norms and biases in F32) and DIR/tokenizer.sllmtok. The GGUF tensors use ggml's
// block layouts, so loading maps them in place.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sllm/format/model_files.h"
#include "sllm/io/gguf.h"

namespace sllm {

struct QuantizeReport {
  size_t params = 0, bytes_in = 0, bytes_out = 0;
};

// The type a parameter is stored in when a model's matrices go to `type`: 2-D weights whose
// rows are whole blocks take it; norms, biases and GPT-2's position table stay F32.
GGMLType stored_type(const std::string& name, const WeightTensor& t, GGMLType type);
// The tensor's bytes converted to `to`, row by row. `name` labels errors.
std::vector<uint8_t> convert_tensor(const WeightTensor& t, GGMLType to, const std::string& name);

QuantizeReport quantize_model(const std::string& model_path, const std::string& out_dir,
                              GGMLType type, const std::string& tokenizer = "");

}  // namespace sllm
