// The two families most tests run on, as a test parameter: each picks its preset from the
// table (sllm/model/presets.h). Setting one keeps the fields the old `arch` field left alone
// (tying, eps, theta), so a test may set them before or after.
#pragma once
#include "sllm/model/config.h"
#include "sllm/model/presets.h"

namespace sllm {

enum class Arch { GPT2, Llama };

inline const char* arch_name(Arch a) {
  return a == Arch::GPT2 ? "gpt2" : "llama";
}

inline void set_arch(ModelConfig& c, Arch a) {
  const bool tie = c.tie_word_embeddings;
  const float eps = c.norm_eps, theta = c.rope_theta;
  apply_preset(c, preset(arch_name(a)));
  c.tie_word_embeddings = tie;
  c.norm_eps = eps;
  c.rope_theta = theta;
}

}  // namespace sllm
