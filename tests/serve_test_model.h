// Writes a real sllm model directory (config.json, model.safetensors, tokenizer.sllmtok) with
// random weights: what the server tests and bench/serve load through the real engine.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"
#include "sllm/model/config.h"
#include "sllm/model/model.h"
#include "sllm/tokenizer/tokenizer.h"
#include "test_arch.h"

namespace sllm::test {

inline void write_model(const std::string& dir, const Model& m, const Tokenizer& tok) {
  make_dirs(dir);
  write_file_atomic(dir + "/config.json", m.config().to_json().dump(2));
  std::vector<TensorToWrite> tensors;
  for (const auto& s : m.specs())
    tensors.push_back(
        {s.name, DType::F32, s.shape, m.params().data() + s.offset, s.numel * sizeof(float)});
  write_safetensors(dir + "/model.safetensors", tensors, {{"format", "sllm"}});
  tok.save(dir + "/tokenizer.sllmtok");
}

inline void write_random_model(const std::string& dir, const ModelConfig& cfg, const Tokenizer& tok,
                               uint64_t seed) {
  Model m(cfg);
  m.init_weights(seed);
  write_model(dir, m, tok);
}

// A tiny Llama over bytes (vocab 256 + <s>, </s>): loads and runs in milliseconds.
inline ModelConfig tiny_llama_config() {
  ModelConfig c;
  set_arch(c, Arch::Llama);
  c.vocab_size = 258;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.n_embd = 32;
  c.intermediate_size = 64;
  c.block_size = 128;
  c.tie_word_embeddings = true;
  return c;
}

}  // namespace sllm::test
