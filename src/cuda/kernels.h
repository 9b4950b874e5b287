// The CUDA backend's own kernels (kernels.cu), launched on the current stream. Activations and
// the compute copy of the weights are bf16; statistics, losses, gradients of the weights and the
// optimizer state are fp32 (master weights). Every reduction runs in a fixed order, so a step
// is deterministic. Row-major throughout, as the CPU model.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace sllm::cuda {

using bf16 = __nv_bfloat16;

void to_bf16(bf16* out, const float* in, size_t n);
void to_f32(float* out, const bf16* in, size_t n);

// out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]
void embedding_forward(bf16* out, const int32_t* tokens, const bf16* wte, const bf16* wpe, int B,
                       int T, int C);
// (wpe may be null: Llama has no learned positions.)
// dwte[tokens[n],:] += dout[n,:] (one thread per channel walks the rows in order: deterministic);
// dwpe[t,:] += sum_b dout[b,t,:].
void embedding_backward(float* dwte, float* dwpe, const bf16* dout, const int32_t* tokens, int B,
                        int T, int C);

// LayerNorm over rows of C; mean and rstd are kept for backward.
void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* x, const bf16* w,
                       const bf16* b, int N, int C, float eps);
// dx += d(loss)/dx; dw += sum_n dout * xhat; db += sum_n dout.
void layernorm_backward(bf16* dx, float* dw, float* db, const bf16* dout, const bf16* x,
                        const bf16* w, const float* mean, const float* rstd, int N, int C);

// RMSNorm (Llama): out = x * rstd * w; backward as LayerNorm's without mean and bias.
void rmsnorm_forward(bf16* out, float* rstd, const bf16* x, const bf16* w, int N, int C, float eps);
void rmsnorm_backward(bf16* dx, float* dw, const bf16* dout, const bf16* x, const bf16* w,
                      const float* rstd, int N, int C);
// RoPE over interleaved pairs of x [B, heads, T, hd] with tables [T, hd/2] (sllm::rope_tables);
// inverse rotates back (the backward of the rotation).
void rope(bf16* x, const float* cos_t, const float* sin_t, int B, int heads, int T, int hd,
          bool inverse);
// SwiGLU: hpre rows [gate F | up F] -> out [N, F] = silu(gate) * up; backward writes dhpre.
void swiglu_forward(bf16* out, const bf16* hpre, int N, int F);
void swiglu_backward(bf16* dhpre, const bf16* hpre, const bf16* dout, int N, int F);

// out[n,:] += bias; dbias += column sums of dout [N, C].
void add_bias(bf16* out, const bf16* bias, int N, int C);
void bias_backward(float* dbias, const bf16* dout, int N, int C);

void residual_forward(bf16* out, const bf16* a, const bf16* b, size_t n);
void gelu_forward(bf16* out, const bf16* in, size_t n);
// dinp = gelu'(inp) * dout (in place when dinp == dout).
void gelu_backward(bf16* dinp, const bf16* inp, const bf16* dout, size_t n);

// qkv rows [B,T, q H*hd | k KV*hd | v KV*hd] -> q [B,H,T,hd], then k and v [B,KV,T,hd].
void split_heads(bf16* qkvr, const bf16* qkv, int B, int T, int H, int KV, int hd);
// The inverse, for the gradients.
void merge_qkv_grads(bf16* dqkv, const bf16* dqkvr, int B, int T, int H, int KV, int hd);
// y [B,H,T,hd] -> [B,T,H,hd] and back.
void heads_to_rows(bf16* out, const bf16* y, int B, int T, int H, int hd);
void rows_to_heads(bf16* out, const bf16* x, int B, int T, int H, int hd);
// Causal softmax of each row of att [rows, T] (row r is query position r % T), in place.
void causal_softmax_forward(bf16* att, int rows, int T);
// datt = P * (dP - sum_j P_j dP_j), zero above the diagonal; in place over dP.
void causal_softmax_backward(bf16* dp, const bf16* p, int rows, int T);

// Cross-entropy over logits [N,V]: lse[n] and loss[n] (0 where target < 0).
void cross_entropy_forward(float* loss, float* lse, const bf16* logits, const int32_t* targets,
                           int N, int V);
// logits become (softmax - onehot) * scale on rows with a target, zero elsewhere.
void cross_entropy_backward(bf16* logits, const float* lse, const int32_t* targets, int N, int V,
                            float scale);

// Sum of squares of g[0, n) into out[0] (two fixed-shape passes: deterministic).
void sum_squares(float* out, float* partials, const float* g, size_t n);
constexpr int kSumSquaresBlocks = 512;

void scale_inplace(float* x, float s, size_t n);

// AdamW as sllm::adamw_update, on the fp32 master weights, refreshing their bf16 copy.
void adamw(float* p, bf16* p_bf16, const float* g, float* m, float* v, size_t n, float lr,
           float beta1, float beta2, float eps, float weight_decay, float grad_scale,
           float bias_corr1, float bias_corr2, bool decay);

}  // namespace sllm::cuda
