// `sllm quantize`: rewrite any model sllm loads as an sllm model directory whose weights are
// quantized: DIR/config.json, DIR/model.gguf (sllm parameter names, matrices in the chosen
// ggml type, norms and biases in F32) and DIR/tokenizer.sllmtok. The GGUF tensors use ggml's
// block layouts, so loading maps them in place.
#pragma once
#include <string>

#include "sllm/io/gguf.h"

namespace sllm {

struct QuantizeReport {
  size_t params = 0, bytes_in = 0, bytes_out = 0;
};

QuantizeReport quantize_model(const std::string& model_path, const std::string& out_dir,
                              GGMLType type, const std::string& tokenizer = "");

}  // namespace sllm
