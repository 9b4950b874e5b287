// The training model's steps that have no kernel of their own in sllm/kernels: per-head RMSNorm
// (qk-norm), tanh softcaps, and RoPE tables with a divisor per rotated pair (rope scaling).
#pragma once
#include <cstddef>
#include <vector>

namespace sllm {

// Per-head RMSNorm of the q and k heads in each of N rows of the fused qkv buffer (row stride
// S floats): the H query heads with wq [hd], then the KV key heads with wk [hd], each
// x * rstd * (w + w_offset). pre [N, (H+KV)*hd] receives the inputs and rstd [N, H+KV] the
// reciprocal RMS, for backward.
void head_norm_forward(float* qkv, float* pre, float* rstd, const float* wq, const float* wk, int N,
                       int S, int H, int KV, int hd, float eps, float w_offset);
// In place: the q and k parts of dqkv (the gradient of the normalised heads) become the gradient
// of their inputs; dwq and dwk accumulate. Deterministic (fixed summation order).
void head_norm_backward(float* dqkv, float* dwq, float* dwk, const float* pre, const float* rstd,
                        const float* wq, const float* wk, int N, int S, int H, int KV, int hd,
                        float w_offset);

// x = cap * tanh(x / cap) over n floats; t [n] keeps tanh(x / cap) for backward.
void softcap_forward(float* x, float* t, size_t n, float cap);
// dx *= 1 - t^2.
void softcap_backward(float* dx, const float* t, size_t n);

// cos/sin [T, hd/2] of the angle t * theta^(-2i/hd) / div[i], in double and rounded once (the
// bits of rope_tables where every divisor is 1).
void rope_tables_scaled(float* cos_t, float* sin_t, int T, int hd, double theta,
                        const std::vector<double>& div);

}  // namespace sllm
