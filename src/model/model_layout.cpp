#include <algorithm>

#include "model_impl.h"

namespace sllm::model_detail {

namespace {

// Grows v to at least n elements, freeing the old buffer first: the arenas are rewritten by
// every forward, so their contents are dead, and a plain resize would copy them while both
// buffers are alive (a higher peak).
template <class T>
void grow_discarding(std::vector<T>& v, size_t n) {
  if (v.size() >= n) return;
  v = std::vector<T>();
  v.resize(n);
}

}  // namespace

RowDims row_dims(const ModelConfig& c, int T) {
  const size_t hd = c.head_dim(), F = c.ffn_dim(), C = c.n_embd, V = c.vocab_size;
  const size_t S = (c.n_head + 2 * c.n_kv_head) * hd, Fx = c.gated_mlp ? 2 * F : F;
  return {C,
          S,
          c.n_head * hd,
          F,
          Fx,
          V,
          static_cast<size_t>(c.n_head) * T * T,
          std::max({V, Fx, S, C}),
          c.qk_norm ? static_cast<size_t>(c.n_head + c.n_kv_head) : 0,
          c.qk_norm ? static_cast<size_t>(c.n_head + c.n_kv_head) * hd : 0,
          c.post_norms ? C : 0,
          c.final_logit_softcap > 0.0f ? V : 0};
}

// The bf16 buffers of bf16 compute for [B, T]; grow when needed, never shrink.
void layout_bf16(Model::Impl& m, const ModelConfig& c, int B, int T) {
  const RowDims d = row_dims(c, T);
  const size_t N = static_cast<size_t>(B) * T, C = d.C, F = d.F, Q = d.Q;
  size_t w_end = 0;
  for (const Model::Impl::Slice& w : m.gemm_weights) w_end = std::max(w_end, w.end);
  if (m.w16.size() < w_end) m.w16.resize(w_end);
  const size_t acts = N * (2 * C + Q + F) * c.n_layer + N * C;
  grow_discarding(m.acts16, acts);
  const size_t dout = N * d.dout;
  grow_discarding(m.dout16, dout);
  bf16* p = m.acts16.data();
  auto take = [&](size_t n) {
    bf16* r = p;
    p += n;
    return r;
  };
  m.layer16.resize(c.n_layer);
  for (auto& a : m.layer16) {
    a.norm1 = take(N * C);
    a.atty = take(N * Q);
    a.norm2 = take(N * C);
    a.hact = take(N * F);
  }
  m.normf16 = take(N * C);
}

// Lays out the activation arena for [B, T]; grows it when needed, never shrinks.
void layout_activations(Model::Impl& m, const ModelConfig& c, int B, int T) {
  const size_t N = static_cast<size_t>(B) * T, C = c.n_embd, F = c.ffn_dim(), V = c.vocab_size;
  const size_t H = c.n_head, hd = c.head_dim(), Q = H * hd, S = (H + 2 * c.n_kv_head) * hd;
  const size_t Fx = c.gated_mlp ? 2 * F : F;
  const RowDims d = row_dims(c, T);
  const size_t qk = d.qk_heads, post = d.post;
  const size_t per_layer = N * (C + 2 + S + Q + C + C + 2 + Fx + F + C) +
                           static_cast<size_t>(B) * H * T * T + N * qk * (hd + 1) +
                           2 * N * (post + (post ? 1 : 0));
  const size_t total = N * C + per_layer * c.n_layer + N * (C + 2) + N * V + N + N * d.capV;
  const size_t scratch = N * (2 * C + S + Q + F + (c.gated_mlp ? Fx : 0) + post);
  grow_discarding(m.acts, total);
  grow_discarding(m.scratch, scratch);
  float* p = m.acts.data();
  auto take = [&](size_t n) {
    float* r = p;
    p += n;
    return r;
  };
  m.resid0 = take(N * C);
  m.layer.resize(c.n_layer);
  for (auto& a : m.layer) {
    a.norm1 = take(N * C);
    a.mean1 = take(N);
    a.rstd1 = take(N);
    a.qkv = take(N * S);
    a.probs = take(static_cast<size_t>(B) * H * T * T);
    a.atty = take(N * Q);
    a.res1 = take(N * C);
    a.norm2 = take(N * C);
    a.mean2 = take(N);
    a.rstd2 = take(N);
    a.hpre = take(N * Fx);
    a.hact = take(N * F);
    a.out = take(N * C);
    a.qk_pre = take(N * qk * hd);
    a.qk_rstd = take(N * qk);
    a.attn_o = take(N * post);
    a.attn_o_rstd = take(post ? N : 0);
    a.mlp_o = take(N * post);
    a.mlp_o_rstd = take(post ? N : 0);
  }
  m.normf = take(N * C);
  m.meanf = take(N);
  m.rstdf = take(N);
  m.logits = take(N * V);
  m.lse = take(N);
  m.logit_tanh = take(N * d.capV);
  float* s = m.scratch.data();
  auto take_s = [&](size_t n) {
    float* r = s;
    s += n;
    return r;
  };
  m.dres = take_s(N * C);
  m.dnorm = take_s(N * C);
  m.dqkv = take_s(N * S);
  m.datty = take_s(N * Q);
  m.dhact = take_s(N * F);
  m.dhpre = c.gated_mlp ? take_s(N * Fx) : m.dhact;  // GELU's backward runs in place.
  m.dpost = take_s(N * post);
  m.B = B;
  m.T = T;
}

// The rows of sequences b0.. (token row r0 = b0 * T) of one layer's activations.
LayerActs rows_of(const LayerActs& a, size_t r0, size_t b0, const RowDims& d) {
  return {a.norm1 + r0 * d.C,
          a.mean1 + r0,
          a.rstd1 + r0,
          a.qkv + r0 * d.S,
          a.probs + b0 * d.probs,
          a.atty + r0 * d.Q,
          a.res1 + r0 * d.C,
          a.norm2 + r0 * d.C,
          a.mean2 + r0,
          a.rstd2 + r0,
          a.hpre + r0 * d.Fx,
          a.hact + r0 * d.F,
          a.out + r0 * d.C,
          a.qk_pre + r0 * d.qk_width,
          a.qk_rstd + r0 * d.qk_heads,
          a.attn_o + r0 * d.post,
          a.attn_o_rstd + (d.post ? r0 : 0),
          a.mlp_o + r0 * d.post,
          a.mlp_o_rstd + (d.post ? r0 : 0)};
}

LayerActs16 rows_of(const LayerActs16& a, size_t r0, const RowDims& d) {
  if (!a.norm1) return a;
  return {a.norm1 + r0 * d.C, a.atty + r0 * d.Q, a.norm2 + r0 * d.C, a.hact + r0 * d.F};
}

}  // namespace sllm::model_detail
