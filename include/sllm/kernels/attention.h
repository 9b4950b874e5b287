// Causal multi-head self-attention with grouped-query attention (GQA) over a fused qkv
// buffer: each of the N = B*T rows holds [q (H*hd) | k (KV*hd) | v (KV*hd)], and query head
// h reads key/value head h / (H / KV). Scores use a max-subtracted (stable) softmax with
// scale 1/sqrt(hd) unless the shape names another (Gemma's query_pre_attn_scalar), an optional
// tanh cap (Gemma 2) and an optional sliding window. Parallel over (b, head); deterministic.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sllm {

struct AttentionShape {
  int B, T, H, KV, hd;
  float scale = 0.0f;    // Of the scores q.k; 0: 1/sqrt(hd).
  int window = 0;        // > 0: query t sees only keys j with t - window < j <= t.
  float softcap = 0.0f;  // > 0: scores become softcap * tanh(score / softcap) before the softmax.
  int qkv_stride() const { return (H + 2 * KV) * hd; }
  float score_scale() const;
};

// out [N, H*hd]; probs [B, H, T, T] keeps the softmax rows (lower triangle) for backward.
void attention_forward(float* out, float* probs, const float* qkv, const AttentionShape& s);

// dqkv [N, (H+2KV)*hd] is overwritten with the gradient of the fused qkv buffer.
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* probs,
                        const AttentionShape& s);

// Decode-time attention of `queries` query heads that share one KV head (grouped-query
// attention; 1 without it) over n cached positions: key j at k + j * stride, value j at
// v + j * stride (hd floats each); query g at q + g * hd, its output out [g * hd, (g + 1) * hd) =
// softmax(scale * q_g . k_j) . v_j. One pass over the keys and values for the whole group;
// scores holds queries * n floats of scratch. A head's output has the same bits in a group of
// any size. softcap > 0: scores become softcap * tanh(score / softcap) before the softmax
// (Gemma 2); a sliding window is the caller's: it passes only the keys in the window.
void attention_group_query(float* out, float* scores, const float* q, int queries, const float* k,
                           const float* v, size_t stride, int n, int hd, float scale,
                           float softcap = 0.0f);
// The same over an F16 cache: keys and values as IEEE half bits, widened as they are read.
void attention_group_query_f16(float* out, float* scores, const float* q, int queries,
                               const uint16_t* k, const uint16_t* v, size_t stride, int n, int hd,
                               float scale, float softcap = 0.0f);

// Prefill-time attention of n consecutive queries of one head: query i sits at position
// first + i and sees keys 0..first + i (rows `kv_stride` floats apart in k and v, hd floats
// each); query i is at q + i * q_stride, its output at out + i * out_stride. Two GEMMs (scores
// and the weighted sum of values) instead of n separate passes over the keys. scores holds
// n * (first + n) floats of scratch. Single-threaded: call it from the caller's threads.
// window > 0: query i sees only the keys j with first + i - window < j (a sliding window);
// softcap as attention_group_query's.
void attention_query_block(float* out, size_t out_stride, float* scores, const float* q,
                           size_t q_stride, const float* k, const float* v, size_t kv_stride, int n,
                           int first, int hd, float scale, int window = 0, float softcap = 0.0f);

}  // namespace sllm
