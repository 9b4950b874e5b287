// Weight tensors as inference sees them: any supported ggml type, pointing into a memory-mapped
// file (zero copy) or into a buffer the model owns (after conversion or quantization).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sllm/io/gguf.h"
#include "sllm/model/config.h"

namespace sllm {

// A tensor under sllm's parameter name, shape in sllm order ([out, in] for matrices).
struct WeightTensor {
  GGMLType type = GGMLType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  int64_t numel() const;
};

// The vocabulary a model file carries (llama2.c tokenizer.bin, GGUF tokenizer.ggml.*), for
// building a tokenizer; empty when the model comes with its own tokenizer file.
struct VocabInfo {
  std::string model;  // "llama" (SentencePiece scores), "gpt2" (byte-level BPE merges), or "".
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> token_types;
  std::vector<std::string> merges;
  int32_t bos_id = -1, eos_id = -1;
  bool add_bos = false;
};

// What every loader produces: the config, every parameter by sllm name in the file's own type,
// and whatever keeps the bytes alive (mapped files, converted buffers).
// A fused q/k/v tensor's three consecutive row ranges (GPT-2's c_attn, GGUF's attn_qkv), as
// views of its bytes; the caller checks that it has 3 x n_embd rows.
std::array<WeightTensor, 3> split_rows_in_thirds(const WeightTensor& fused);

struct ModelFiles {
  ModelConfig config;
  std::map<std::string, WeightTensor> tensors;
  std::vector<std::shared_ptr<const void>> keep_alive;
  std::deque<std::vector<uint8_t>> owned;
  std::string source;          // The path loaded, for error messages.
  std::string format;          // "sllm", "gguf", "safetensors", "llama2c".
  std::string tokenizer_path;  // sllm's own tokenizer file, when there is one.
  VocabInfo vocab;
  std::string chat_template;  // tokenizer.chat_template, when the file has one.

  // Checks that every parameter of param_specs(config) is present with the right shape and a
  // supported type, and that nothing unexpected is there. Throws naming the tensor.
  void validate() const;
  // Owns a copy of `bytes` and returns a pointer to it.
  const uint8_t* own(std::vector<uint8_t> bytes);
};

// Loads any model path: an sllm model directory, a .gguf file, a Hugging Face directory
// (config.json + *.safetensors) or a llama2.c checkpoint (.bin, with tokenizer.bin next to it
// or given as tokenizer_hint).
ModelFiles load_model_files(const std::string& path, const std::string& tokenizer_hint = "");

ModelFiles load_sllm_dir(const std::string& dir);
ModelFiles load_gguf_model(const std::string& path);
ModelFiles load_hf_dir(const std::string& dir);
ModelFiles load_llama2c(const std::string& path, const std::string& tokenizer_path);
// Reads a llama2.c tokenizer.bin (int32 max_token_length, then per token: f32 score,
// int32 length, bytes). Ids 1 and 2 are <s> and </s>.
VocabInfo read_llama2c_tokenizer(const std::string& path, int vocab_size);

}  // namespace sllm
