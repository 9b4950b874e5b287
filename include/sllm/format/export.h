// Writing a model for other tools, from anything sllm loads:
//   GGUF as llama.cpp reads it: architecture "llama" or "gpt2", llama.cpp's tensor and
//     metadata names, the vocabulary as tokenizer.ggml.*. Tensors keep their stored type
//     (Q8_0/Q4_0/Q4_1 blocks and F32/F16/BF16 are copied byte for byte) unless a type is asked
//     for. Q/K rows stay in the interleaved RoPE order GGUF uses.
//   Hugging Face: DIR/config.json + DIR/model.safetensors with the Llama, Qwen2 or GPT-2
//     names; Llama q/k rows permuted to HF's rotate-half order, GPT-2 Conv1D weights
//     transposed and q/k/v fused into c_attn. F32/F16/BF16 are copied as stored; quantized
//     blocks are dequantized to F32 (safetensors has no block types). A byte-level tokenizer
//     (byte, char, GPT-2 style BPE) goes along as vocab.json + merges.txt.
// Importing an exported file gives back every tensor bit for bit.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sllm/format/model_files.h"
#include "sllm/format/quant_mix.h"
#include "sllm/io/gguf.h"

namespace sllm {

struct ExportReport {
  size_t tensors = 0, bytes = 0;
  bool tokenizer = false;  // Whether the vocabulary went into the export.
  std::string note;        // Why it did not, when it did not.
};

// `type` converts the matrices (2-D weights whose rows are whole blocks) to F32, Q8_0, Q4_0 or
// Q4_1; norms, biases and GPT-2's position table stay F32.
ExportReport export_gguf(const ModelFiles& files, const std::string& path,
                         std::optional<GGMLType> type = std::nullopt);
// The matrices by a quantization mix (sllm/format/quant_mix.h): llama.cpp's q4_k_m, ... or a
// uniform type.
ExportReport export_gguf(const ModelFiles& files, const std::string& path, const QuantMix& mix);
ExportReport export_hf(const ModelFiles& files, const std::string& dir);

// sllm parameter name -> llama.cpp tensor name ("layers.3.attn.v.weight" ->
// "blk.3.attn_v.weight"), for every tensor but GPT-2's fused q/k/v (attn_qkv in llama.cpp).
std::vector<std::pair<std::string, std::string>> gguf_names(const ModelConfig& c);

}  // namespace sllm
