// Causal multi-head self-attention with grouped-query attention (GQA) over a fused qkv
// buffer: each of the N = B*T rows holds [q (H*hd) | k (KV*hd) | v (KV*hd)], and query head
// h reads key/value head h / (H / KV). Scores use a max-subtracted (stable) softmax with
// scale 1/sqrt(hd). Parallel over (b, head); deterministic.
#pragma once

namespace sllm {

struct AttentionShape {
  int B, T, H, KV, hd;
  int qkv_stride() const { return (H + 2 * KV) * hd; }
};

// out [N, H*hd]; probs [B, H, T, T] keeps the softmax rows (lower triangle) for backward.
void attention_forward(float* out, float* probs, const float* qkv, const AttentionShape& s);

// dqkv [N, (H+2KV)*hd] is overwritten with the gradient of the fused qkv buffer.
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* probs,
                        const AttentionShape& s);

}  // namespace sllm
