// One decoder block's math, written once: the order of its steps, with the optional ones
// switched by the config's features. The CPU training model runs these steps forward (and in
// reverse for its backward), the inference engine runs them forward, each with its own
// kernels; the CUDA backend (src/cuda/cuda_model.cpp) mirrors the same order by hand. A
// feature that adds a step (qk-norm, sandwich norms, softcaps) adds it here, and each consumer
// either implements it or refuses the feature (require_supported).
#pragma once
#include <span>

#include "sllm/model/config.h"

namespace sllm {

enum class BlockStep {
  AttnNorm,      // h = norm(x)
  Qkv,           // q, k, v = h W_qkv (+ b)
  Rope,          // rotate q and k (RoPE positions only)
  Attention,     // y = causal softmax(q k^T / sqrt(hd)) v
  AttnOut,       // a = y W_o (+ b)
  AttnResidual,  // x = x + a
  MlpNorm,       // h = norm(x)
  MlpUp,         // u = h W_up (+ b), or [gate, up] = h [W_gate; W_up] when gated
  Activation,    // m = gelu(u), or silu(gate) * up when gated
  MlpDown,       // d = m W_down (+ b)
  MlpResidual,   // x = x + d
};

// The steps of every block of c, in forward order.
inline std::span<const BlockStep> block_steps(const ModelConfig& c) {
  using S = BlockStep;
  static constexpr S kRope[] = {S::AttnNorm,   S::Qkv,          S::Rope,       S::Attention,
                                S::AttnOut,    S::AttnResidual, S::MlpNorm,    S::MlpUp,
                                S::Activation, S::MlpDown,      S::MlpResidual};
  static constexpr S kLearned[] = {S::AttnNorm,     S::Qkv,        S::Attention, S::AttnOut,
                                   S::AttnResidual, S::MlpNorm,    S::MlpUp,     S::Activation,
                                   S::MlpDown,      S::MlpResidual};
  if (c.positions == Positions::Rope) return kRope;
  return kLearned;
}

}  // namespace sllm
