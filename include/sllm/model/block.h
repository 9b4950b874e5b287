// One decoder block's math, written once: the order of its steps, with the optional ones
// switched by the config's features. The CPU training model runs these steps forward (and in
// reverse for its backward), the inference engine runs them forward, each with its own
// kernels; the CUDA backend (src/cuda/cuda_model.cpp) mirrors the same order by hand. A
// feature that adds a step (qk-norm, sandwich norms, softcaps) adds it here, and each consumer
// either implements it or refuses the feature (require_supported).
#pragma once
#include <iterator>

#include "sllm/model/config.h"

namespace sllm {

enum class BlockStep {
  AttnNorm,      // h = norm(x)
  Qkv,           // q, k, v = h W_qkv (+ b)
  QkNorm,        // q, k = rmsnorm(q), rmsnorm(k) per head (qk_norm)
  Rope,          // rotate q and k (RoPE positions only)
  Attention,     // y = causal softmax(cap(scale q k^T)) v, over the layer's window
  AttnOut,       // a = y W_o (+ b)
  AttnPostNorm,  // a = norm(a) (post_norms)
  AttnResidual,  // x = x + a
  MlpNorm,       // h = norm(x)
  MlpUp,         // u = h W_up (+ b), or [gate, up] = h [W_gate; W_up] when gated
  Activation,    // m = act(u), or act(gate) * up when gated
  MlpDown,       // d = m W_down (+ b)
  MlpPostNorm,   // d = norm(d) (post_norms)
  MlpResidual,   // x = x + d
};

// The steps of a block, in forward order (iterable both ways).
class BlockSteps {
 public:
  explicit BlockSteps(const ModelConfig& c) {
    using S = BlockStep;
    const bool rope = c.positions == Positions::Rope;
    for (S s : {S::AttnNorm, S::Qkv, S::QkNorm, S::Rope, S::Attention, S::AttnOut, S::AttnPostNorm,
                S::AttnResidual, S::MlpNorm, S::MlpUp, S::Activation, S::MlpDown, S::MlpPostNorm,
                S::MlpResidual}) {
      if ((s == S::Rope && !rope) || (s == S::QkNorm && !c.qk_norm) ||
          ((s == S::AttnPostNorm || s == S::MlpPostNorm) && !c.post_norms))
        continue;
      steps_[n_++] = s;
    }
  }
  const BlockStep* begin() const { return steps_; }
  const BlockStep* end() const { return steps_ + n_; }
  std::reverse_iterator<const BlockStep*> rbegin() const {
    return std::make_reverse_iterator(end());
  }
  std::reverse_iterator<const BlockStep*> rend() const {
    return std::make_reverse_iterator(begin());
  }

 private:
  BlockStep steps_[14] = {};
  int n_ = 0;
};

inline BlockSteps block_steps(const ModelConfig& c) {
  return BlockSteps(c);
}

}  // namespace sllm
