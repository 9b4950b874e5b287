// LoRA (Hu et al. 2021) on one linear layer with a frozen weight W [out, in]:
//   y = x W^T + s * (x A^T) B^T,   A [r, in], B [out, r], s = alpha / r.
// Two ways to get the adapter gradients, both exact:
//  - lora_forward/lora_backward run the low-rank path beside the frozen GEMM (a LoRA layer);
//  - lora_grads_from_weight_grad projects dL/dW_eff of the merged weight W + s B A onto the
//    adapters (dB = s dW A^T, dA = s B^T dW), which lets a model that only knows dense
//    linears train adapters without any hook in its layers.
// All matrices are row-major; gradients accumulate (+=) like the model's.
#pragma once
#include <cstdint>

namespace sllm {

struct LoraDims {
  int out = 0, in = 0, r = 0;
  float scale = 0.0f;  // alpha / r
};

// y [N, out] = x W^T + s (x A^T) B^T. xa [N, r] receives x A^T, kept for the backward pass.
void lora_forward(const LoraDims& d, const float* x, int N, const float* W, const float* A,
                  const float* B, float* y, float* xa);

// Given dy [N, out]: dA [r, in] += s (dy B)^T x, dB [out, r] += s dy^T xa, and, when dx is not
// null, dx [N, in] = dy W + s (dy B) A. scratch holds N * r floats.
void lora_backward(const LoraDims& d, const float* x, const float* xa, const float* dy, int N,
                   const float* W, const float* A, const float* B, float* dA, float* dB, float* dx,
                   float* scratch);

// dA += s B^T dW, dB += s dW A^T for dW = dL/d(W + s B A) [out, in].
void lora_grads_from_weight_grad(const LoraDims& d, const float* dW, const float* A, const float* B,
                                 float* dA, float* dB);

// W_out = W + sign * s * B A (W_out may alias W; sign -1 undoes a merge).
void lora_merge(const LoraDims& d, const float* W, const float* A, const float* B, float* W_out,
                float sign = 1.0f);

// PEFT's default init: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5)),
// B = 0, so the adapted model starts equal to its base.
void lora_init(const LoraDims& d, float* A, float* B, uint64_t seed);

}  // namespace sllm
