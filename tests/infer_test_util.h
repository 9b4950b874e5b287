// A tiny random model written as an sllm model directory, for inference tests.
#pragma once
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"
#include "sllm/model/config.h"
#include "sllm/tokenizer/tokenizer.h"
#include "test_arch.h"

namespace sllm::test {

inline ModelConfig tiny_config(Arch arch) {
  ModelConfig c;
  set_arch(c, arch);
  c.vocab_size = 257;  // Bytes + <|endoftext|>.
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = arch == Arch::Llama ? 2 : 4;
  c.n_embd = 64;
  c.intermediate_size = 96;
  c.block_size = 64;
  c.tie_word_embeddings = arch == Arch::GPT2;
  return c;
}

// Writes DIR/config.json, DIR/model.safetensors (N(0, 0.15) weights, norms near 1) and
// DIR/tokenizer.sllmtok (a byte tokenizer with <|endoftext|>).
// stddev: of the weights but the norms'. The default's gain of several per matrix makes
// the logits sensitive; quantization tests that compare logits want a tamer model.
inline void write_tiny_model(const std::string& dir, const ModelConfig& c, uint64_t seed = 1,
                             float stddev = 0.15f) {
  make_dirs(dir);
  write_file_atomic(dir + "/config.json", c.to_json().dump(2));
  auto specs = param_specs(c);
  std::vector<float> params(num_params(c));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.15f);
  const float scale = stddev / 0.15f;
  for (const auto& s : specs) {
    const bool norm = s.name.find("norm.weight") != std::string::npos;
    for (size_t i = 0; i < s.numel; ++i)
      params[s.offset + i] =
          norm ? 1.0f + 0.1f * nd(rng) : (scale == 1.0f ? nd(rng) : scale * nd(rng));
  }
  std::vector<TensorToWrite> ts;
  for (const auto& s : specs)
    ts.push_back({s.name, DType::F32, s.shape, params.data() + s.offset, s.numel * 4});
  write_safetensors(dir + "/model.safetensors", ts, {{"format", "sllm"}});
  ByteTokenizer({"<|endoftext|>"}).save(dir + "/tokenizer.sllmtok");
}

}  // namespace sllm::test
