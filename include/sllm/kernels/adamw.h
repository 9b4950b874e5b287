// AdamW (Loshchilov & Hutter) with decoupled weight decay, as torch.optim.AdamW:
//   p -= lr * wd * p  (only where decay is on);  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "sllm/kernels/bf16.h"

namespace sllm {

struct AdamWParams {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  // Multiplies every gradient before the update: gradient clipping without a separate pass.
  float grad_scale = 1.0f;
};

// One update of n parameters at step t (t >= 1 counts updates, for bias correction).
// `decay` turns weight decay on for this tensor (matrices yes; norms, biases, embeddings no).
void adamw_update(float* params, const float* grads, float* m, float* v, size_t n,
                  const AdamWParams& h, int64_t t, bool decay);

// A tensor of a flat parameter arena (params, grads, m and v share the layout).
struct AdamWTensor {
  size_t offset = 0, numel = 0;
  bool decay = false;
  bf16* bf16_copy = nullptr;  // When set, also receives bf16(updated params), in the same pass.
};

// adamw_update() of every listed tensor in one parallel pass over the arenas: one thread team
// for the whole model instead of one per tensor. Elementwise, so the result does not depend on
// the schedule or the thread count.
void adamw_update_tensors(float* params, const float* grads, float* m, float* v,
                          std::span<const AdamWTensor> tensors, const AdamWParams& h, int64_t t);

}  // namespace sllm
