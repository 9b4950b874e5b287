// The training model's forward and backward passes: the block's steps (sllm/model/block.h)
// over the activation arena, per batch shard.
#include <omp.h>

#include <cstring>
#include <exception>
#include <functional>
#include <limits>

#include "block_ops.h"
#include "model_impl.h"
#include "sllm/common/error.h"
#include "sllm/kernels/activation.h"
#include "sllm/kernels/attention.h"
#include "sllm/kernels/blas_threads.h"
#include "sllm/kernels/cross_entropy.h"
#include "sllm/kernels/embedding.h"
#include "sllm/kernels/linear.h"
#include "sllm/kernels/norm.h"
#include "sllm/kernels/residual.h"
#include "sllm/kernels/rope.h"
#include "sllm/model/block.h"

namespace sllm {

using namespace model_detail;

namespace {

// Gemma's x * (1 + w) stores w around 0.
float norm_offset(const ModelConfig& c) {
  return c.norm_unit_offset ? 1.0f : 0.0f;
}

// mean is unused by RMSNorm (the post norms have none; the constructor refuses LayerNorm there).
void norm_forward(const ModelConfig& c, float* out, float* mean, float* rstd, const float* x,
                  const float* w, const float* b, int N) {
  if (c.norm == NormKind::LayerNorm)
    layernorm_forward(out, mean, rstd, x, w, b, N, c.n_embd, c.norm_eps);
  else
    rmsnorm_forward(out, rstd, x, w, N, c.n_embd, c.norm_eps, norm_offset(c));
}

void norm_backward(const ModelConfig& c, float* dx, float* dw, float* db, const float* dout,
                   const float* x, const float* w, const float* mean, const float* rstd, int N) {
  if (c.norm == NormKind::LayerNorm)
    layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, N, c.n_embd);
  else
    rmsnorm_backward(dx, dw, dout, x, w, rstd, N, c.n_embd, norm_offset(c));
}

// The attention of layer l: its scale, window and softcap.
AttentionShape attention_shape(const ModelConfig& c, int B, int T, int l) {
  AttentionShape s{B, T, c.n_head, c.n_kv_head, c.head_dim()};
  s.scale = c.attn_scale();
  s.window = c.window_at(l);
  s.softcap = c.attn_softcap;
  return s;
}

// Runs fn(shard, b0, nb) for each shard of the B sequences, one thread each; OpenBLAS stays
// single-threaded meanwhile (set here once: the kernels' own guards would race on it).
template <class Fn>
void run_shards(int shards, int B, Fn&& fn) {
  if (shards <= 1) return fn(0, 0, B);
  detail::BlasSingleThreaded blas_single;
  std::exception_ptr error;
#pragma omp parallel num_threads(shards)
  for (int s = omp_get_thread_num(); s < shards; s += omp_get_num_threads()) {
    try {
      const int b0 = B * s / shards, b1 = B * (s + 1) / shards;
      fn(s, b0, b1 - b0);
    } catch (...) {
#pragma omp critical(sllm_shard_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// The forward pass of sequences [b0, b0 + nb) up to the logits.
void forward_rows(Model::Impl& m, const ModelConfig& c, bool bf, int b0, int nb) {
  const int T = m.T, N = nb * T;
  const size_t r0 = static_cast<size_t>(b0) * T;
  const RowDims d = row_dims(c, T);
  // out [N, OUT] = in [N, IN] W^T + b; in bf16 through in16, which backward reads again.
  const auto linear = [&](float* out, const float* in, bf16* in16, const float* w, const float* b,
                          int IN, int OUT) {
    if (!bf) return linear_forward(out, in, w, b, N, IN, OUT);
    to_bf16(in16, in, static_cast<size_t>(N) * IN);
    linear_forward_bf16(out, in16, m.w16_of(w), b, N, IN, OUT);
  };

  const int C = c.n_embd, F = c.ffn_dim(), H = c.n_head, KV = c.n_kv_head, hd = c.head_dim();
  const int Q = H * hd, S = (H + 2 * KV) * hd;
  const bool gated = c.gated_mlp, post = c.post_norms;
  const int Fx = gated ? 2 * F : F;
  const size_t NC = static_cast<size_t>(N) * C;

  float* resid0 = m.resid0 + r0 * C;
  embedding_forward(resid0, m.tokens.data() + r0, m.p.wte, m.p.wpe, nb, T, C);
  if (c.embedding_scale != 1.0f)  // Token embeddings only: learned positions are refused.
    for (size_t i = 0; i < NC; ++i) resid0[i] *= c.embedding_scale;
  const float* x = resid0;
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerTensors& w = m.p.layers[l];
    const LayerActs a = rows_of(m.layer[l], r0, b0, d);
    const LayerActs16 a16 = bf ? rows_of(m.layer16[l], r0, d) : LayerActs16{};
    // Under post norms the branch outputs land in attn_o / mlp_o, and their norms write the
    // stream (res1 / out); otherwise the projections write the stream directly.
    for (const BlockStep step : block_steps(c)) switch (step) {
        case BlockStep::AttnNorm:
          norm_forward(c, a.norm1, a.mean1, a.rstd1, x, w.norm1_w, w.norm1_b, N);
          break;
        case BlockStep::Qkv:
          linear(a.qkv, a.norm1, a16.norm1, w.qkv_w, w.qkv_b, C, S);
          break;
        case BlockStep::QkNorm:
          head_norm_forward(a.qkv, a.qk_pre, a.qk_rstd, w.q_norm_w, w.k_norm_w, N, S, H, KV, hd,
                            c.norm_eps, norm_offset(c));
          break;
        case BlockStep::Rope: {
          const int t = m.rope_table[l];
          rope_forward(a.qkv, m.rope_cos[t].data(), m.rope_sin[t].data(), nb, T, H + KV, hd, S);
          break;
        }
        case BlockStep::Attention:
          attention_forward(a.atty, a.probs, a.qkv, attention_shape(c, nb, T, l));
          break;
        case BlockStep::AttnOut:
          linear(post ? a.attn_o : a.res1, a.atty, a16.atty, w.o_w, w.o_b, Q, C);
          break;
        case BlockStep::AttnPostNorm:
          norm_forward(c, a.res1, nullptr, a.attn_o_rstd, a.attn_o, w.attn_post_w, nullptr, N);
          break;
        case BlockStep::AttnResidual:
          residual_forward(a.res1, a.res1, x, NC);
          break;
        case BlockStep::MlpNorm:
          norm_forward(c, a.norm2, a.mean2, a.rstd2, a.res1, w.norm2_w, w.norm2_b, N);
          break;
        case BlockStep::MlpUp:
          linear(a.hpre, a.norm2, a16.norm2, w.up_w, w.up_b, C, Fx);
          break;
        case BlockStep::Activation:
          if (gated && c.activation == Activation::Silu)
            swiglu_forward(a.hact, a.hpre, N, F);
          else if (gated)  // gelu_tanh (the constructor refuses exact GELU)
            geglu_forward(a.hact, a.hpre, N, F);
          else
            gelu_forward(a.hact, a.hpre, static_cast<size_t>(N) * F);
          break;
        case BlockStep::MlpDown:
          linear(post ? a.mlp_o : a.out, a.hact, a16.hact, w.down_w, w.down_b, F, C);
          break;
        case BlockStep::MlpPostNorm:
          norm_forward(c, a.out, nullptr, a.mlp_o_rstd, a.mlp_o, w.mlp_post_w, nullptr, N);
          break;
        case BlockStep::MlpResidual:
          residual_forward(a.out, a.out, a.res1, NC);
          break;
      }
    x = a.out;
  }
  float* normf = m.normf + r0 * C;
  norm_forward(c, normf, m.meanf + r0, m.rstdf + r0, x, m.p.normf_w, m.p.normf_b, N);
  float* logits = m.logits + r0 * d.V;
  linear(logits, normf, bf ? m.normf16 + r0 * C : nullptr, m.p.lm_w, nullptr, C, c.vocab_size);
  if (c.final_logit_softcap > 0.0f)
    softcap_forward(logits, m.logit_tanh + r0 * d.V, static_cast<size_t>(N) * d.V,
                    c.final_logit_softcap);
}

}  // namespace

void Model::set_batch_shards(int shards) {
  if (shards < 0 || shards > 1024)
    fail("Model::set_batch_shards: {} shards: use 0 (automatic) or 1..1024", shards);
  batch_shards_ = shards;
}

int Model::batch_shards(int B) const {
  if (batch_shards_ > 0) return std::max(1, std::min(batch_shards_, B));
  if (omp_in_parallel()) return 1;
  const int shards = std::max(1, std::min(omp_get_max_threads(), B));
  const size_t extra = static_cast<size_t>(shards - 1) * grads_.size() * sizeof(float);
  return extra <= kShardGradBytes ? shards : 1;
}

float Model::forward(const int32_t* tokens, const int32_t* targets, int B, int T) {
  Impl& m = *impl_;
  const ModelConfig& c = cfg_;
  if (!tokens) fail("Model::forward: tokens is null");
  if (B < 1) fail("Model::forward: batch size {} must be >= 1", B);
  if (T < 1 || T > c.block_size)
    fail("Model::forward: sequence length {} must be in [1, block_size = {}]", T, c.block_size);
  const int N = B * T;
  for (int i = 0; i < N; ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
      fail("Model::forward: token {} at position {} is outside the vocabulary [0, {})", tokens[i],
           i, c.vocab_size);
    if (targets && targets[i] >= c.vocab_size)
      fail("Model::forward: target {} at position {} is outside the vocabulary [0, {})", targets[i],
           i, c.vocab_size);
  }
  m.have_logits = m.backward_ready = false;
  layout_activations(m, c, B, T);
  if (T > m.rope_T) {
    const size_t half = static_cast<size_t>(c.head_dim()) / 2;
    for (size_t t = 0; t < m.rope_base.size(); ++t) {
      m.rope_cos[t].assign(static_cast<size_t>(T) * half, 0.0f);
      m.rope_sin[t].assign(static_cast<size_t>(T) * half, 0.0f);
      rope_tables_scaled(m.rope_cos[t].data(), m.rope_sin[t].data(), T, c.head_dim(),
                         m.rope_base[t], m.rope_div[t]);
    }
    m.rope_T = T;
  }
  m.tokens.assign(tokens, tokens + N);
  const bool bf = dtype_ == ComputeDtype::BFloat16;
  m.forward_bf16 = bf;
  if (bf) {
    layout_bf16(m, c, B, T);
    if (bf16_weights_version_ != params_version_) {
      for (const Impl::Slice& w : m.gemm_weights)
        to_bf16(m.w16.data() + w.begin, params_.data() + w.begin, w.end - w.begin);
      bf16_weights_version_ = params_version_;
    }
  }
  m.shards = batch_shards(B);
  if (m.shards > 1 && m.shard_g.size() != static_cast<size_t>(m.shards - 1)) {
    const size_t n = grads_.size();
    m.shard_g.clear();
    m.shard_grads = std::vector<float>();
    m.shard_grads.resize(static_cast<size_t>(m.shards - 1) * n);
    for (int s = 1; s < m.shards; ++s)
      m.shard_g.push_back(
          map_tensors(c, specs_, m.index, m.shard_grads.data() + static_cast<size_t>(s - 1) * n));
  }
  run_shards(m.shards, B, [&](int, int b0, int nb) { forward_rows(m, c, bf, b0, nb); });
  m.have_logits = true;
  if (!targets) return std::numeric_limits<float>::quiet_NaN();
  m.targets.assign(targets, targets + N);
  m.backward_ready = true;
  return cross_entropy_forward(m.lse, m.logits, targets, N, c.vocab_size, &m.n_valid);
}

namespace {

// The backward pass of sequences [b0, b0 + nb) below the loss, into the gradients G: m.logits
// holds d(loss)/d(logits). With acc false (the first backward after zero_grad()) the
// weight-matrix GEMMs overwrite their gradients, which saves a zeroing pass over them; the
// caller has zeroed every other gradient. slice_done (may be empty) runs as each of
// m.ready_order's slices is final.
void backward_rows(Model::Impl& m, const ModelConfig& c, bool acc, const ModelTensors& G, int b0,
                   int nb, const std::function<void()>& slice_done) {
  const int T = m.T, N = nb * T;
  const size_t r0 = static_cast<size_t>(b0) * T;
  const RowDims d = row_dims(c, T);
  const int C = c.n_embd, F = c.ffn_dim(), H = c.n_head, KV = c.n_kv_head, hd = c.head_dim();
  const int Q = H * hd, S = (H + 2 * KV) * hd;
  const bool gated = c.gated_mlp;
  const int Fx = gated ? 2 * F : F;
  const bool bf = m.forward_bf16;
  // dinp = dout W, dW (+)= dout^T in, db += column sums of dout; in bf16 from in16.
  const auto linear_back = [&](float* dinp, float* dw, float* db, const float* dout,
                               const float* in, const bf16* in16, const float* w, int IN, int OUT) {
    if (!bf) return linear_backward(dinp, dw, db, dout, in, w, N, IN, OUT, false, acc);
    // Rows of the widest output: the shards move through the layers at their own pace.
    bf16* dout16 = m.dout16.data() + r0 * d.dout;
    to_bf16(dout16, dout, static_cast<size_t>(N) * OUT);
    linear_backward_bf16(dinp, dw, db, dout, dout16, in16, m.w16_of(w), N, IN, OUT, false, acc);
  };
  const auto done = [&] {
    if (slice_done) slice_done();
  };
  float *dres = m.dres + r0 * C, *dnorm = m.dnorm + r0 * C, *dhact = m.dhact + r0 * F,
        *dhpre = m.dhpre + r0 * Fx, *datty = m.datty + r0 * Q, *dqkv = m.dqkv + r0 * S,
        *dpost = m.dpost + r0 * d.post;
  const float* resid0 = m.resid0 + r0 * C;

  if (c.final_logit_softcap > 0.0f)
    softcap_backward(m.logits + r0 * d.V, m.logit_tanh + r0 * d.V, static_cast<size_t>(N) * d.V);
  linear_back(dnorm, G.lm_w, nullptr, m.logits + r0 * d.V, m.normf + r0 * C,
              bf ? m.normf16 + r0 * C : nullptr, m.p.lm_w, C, c.vocab_size);
  std::memset(dres, 0, sizeof(float) * N * C);
  const float* x_last = c.n_layer ? m.layer.back().out + r0 * C : resid0;
  norm_backward(c, dres, G.normf_w, G.normf_b, dnorm, x_last, m.p.normf_w, m.meanf + r0,
                m.rstdf + r0, N);
  done();
  for (int l = c.n_layer - 1; l >= 0; --l) {
    const LayerTensors& w = m.p.layers[l];
    const LayerTensors& gw = G.layers[l];
    const LayerActs a = rows_of(m.layer[l], r0, b0, d);
    const LayerActs16 a16 = bf ? rows_of(m.layer16[l], r0, d) : LayerActs16{};
    const float* x = l ? m.layer[l - 1].out + r0 * C : resid0;
    // The block's steps in reverse. dres holds d(loss)/d(residual stream): the residual steps
    // pass it straight through, and each norm's backward adds its input gradient to it. dbranch
    // is the gradient of the branch output being differentiated: dres, or under a post norm
    // that norm's input gradient (dpost).
    const float* dbranch = dres;
    const auto post_norm_back = [&](float* gw_post, const float* w_post, const float* in,
                                    const float* rstd) {
      std::memset(dpost, 0, sizeof(float) * N * C);
      norm_backward(c, dpost, gw_post, nullptr, dres, in, w_post, nullptr, rstd, N);
      dbranch = dpost;
    };
    const auto steps = block_steps(c);
    for (auto it = steps.rbegin(); it != steps.rend(); ++it) switch (*it) {
        case BlockStep::MlpResidual:
        case BlockStep::AttnResidual:
          break;
        case BlockStep::MlpPostNorm:
          post_norm_back(gw.mlp_post_w, w.mlp_post_w, a.mlp_o, a.mlp_o_rstd);
          break;
        case BlockStep::MlpDown:
          linear_back(dhact, gw.down_w, gw.down_b, dbranch, a.hact, a16.hact, w.down_w, F, C);
          dbranch = dres;
          break;
        case BlockStep::Activation:
          if (gated && c.activation == Activation::Silu)
            swiglu_backward(dhpre, a.hpre, dhact, N, F);
          else if (gated)
            geglu_backward(dhpre, a.hpre, dhact, N, F);
          else
            gelu_backward(dhpre, a.hpre, dhact, static_cast<size_t>(N) * F);
          break;
        case BlockStep::MlpUp:
          linear_back(dnorm, gw.up_w, gw.up_b, dhpre, a.norm2, a16.norm2, w.up_w, C, Fx);
          break;
        case BlockStep::MlpNorm:
          norm_backward(c, dres, gw.norm2_w, gw.norm2_b, dnorm, a.res1, w.norm2_w, a.mean2, a.rstd2,
                        N);
          break;
        case BlockStep::AttnPostNorm:
          post_norm_back(gw.attn_post_w, w.attn_post_w, a.attn_o, a.attn_o_rstd);
          break;
        case BlockStep::AttnOut:
          linear_back(datty, gw.o_w, gw.o_b, dbranch, a.atty, a16.atty, w.o_w, Q, C);
          dbranch = dres;
          break;
        case BlockStep::Attention:
          attention_backward(dqkv, datty, a.qkv, a.probs, attention_shape(c, nb, T, l));
          break;
        case BlockStep::Rope: {
          const int t = m.rope_table[l];
          rope_backward(dqkv, m.rope_cos[t].data(), m.rope_sin[t].data(), nb, T, H + KV, hd, S);
          break;
        }
        case BlockStep::QkNorm:
          head_norm_backward(dqkv, gw.q_norm_w, gw.k_norm_w, a.qk_pre, a.qk_rstd, w.q_norm_w,
                             w.k_norm_w, N, S, H, KV, hd, norm_offset(c));
          break;
        case BlockStep::Qkv:
          linear_back(dnorm, gw.qkv_w, gw.qkv_b, dqkv, a.norm1, a16.norm1, w.qkv_w, C, S);
          break;
        case BlockStep::AttnNorm:
          norm_backward(c, dres, gw.norm1_w, gw.norm1_b, dnorm, x, w.norm1_w, a.mean1, a.rstd1, N);
          break;
      }
    done();
  }
  if (c.embedding_scale != 1.0f)
    for (size_t i = 0; i < static_cast<size_t>(N) * C; ++i) dres[i] *= c.embedding_scale;
  embedding_backward(G.wte, G.wpe, dres, m.tokens.data() + r0, nb, T, C);
  done();
}

// The backward pass below the loss into grads (m.g), over the forward's batch shards: shard 0
// writes m.g as backward_rows says, the others their own arenas (overwritten as on a first
// backward), which are then added to grads, in shard order. With shards the slices are
// reported at the end, when the sum is done.
void backward_from_dlogits(Model::Impl& m, const ModelConfig& c, bool acc, float* grads,
                           size_t n_grads, const Model::GradsReadyFn& ready) {
  size_t next_slice = 0;
  const auto slice_done = [&] {
    const Model::Impl::Slice s = m.ready_order[next_slice++];
    if (ready) ready(std::span<float>(grads + s.begin, s.end - s.begin));
  };
  if (m.shards <= 1) return backward_rows(m, c, acc, m.g, 0, m.B, slice_done);
  run_shards(m.shards, m.B, [&](int s, int b0, int nb) {
    if (s == 0) return backward_rows(m, c, acc, m.g, b0, nb, nullptr);
    float* own = m.shard_grads.data() + static_cast<size_t>(s - 1) * n_grads;
    for (const Model::Impl::Slice& z : m.accumulated)
      std::memset(own + z.begin, 0, (z.end - z.begin) * sizeof(float));
    backward_rows(m, c, false, m.shard_g[s - 1], b0, nb, nullptr);
  });
  const float* own = m.shard_grads.data();
  const int extra = m.shards - 1;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n_grads; ++i) {
    float g = grads[i];
    for (int s = 0; s < extra; ++s) g += own[static_cast<size_t>(s) * n_grads + i];
    grads[i] = g;
  }
  while (next_slice < m.ready_order.size()) slice_done();
}

}  // namespace

bool Model::prepare_grads_for_backward() {
  if (!grads_zero_pending_) return true;
  for (const Impl::Slice& z : impl_->accumulated)
    std::memset(grads_.data() + z.begin, 0, (z.end - z.begin) * sizeof(float));
  grads_zero_pending_ = false;
  return false;
}

void Model::backward(float loss_scale) {
  Impl& m = *impl_;
  if (!m.backward_ready)
    fail(
        "Model::backward: needs a forward pass with targets first (and only one backward per "
        "forward)");
  m.backward_ready = false;
  cross_entropy_backward(m.logits, m.lse, m.targets.data(), m.B * m.T, cfg_.vocab_size, m.n_valid,
                         loss_scale);
  const bool acc = prepare_grads_for_backward();
  backward_from_dlogits(m, cfg_, acc, grads_.data(), grads_.size(), grads_ready_);
}

void Model::backward_from_logits_grad(const float* dlogits) {
  Impl& m = *impl_;
  if (!m.backward_ready)
    fail(
        "Model::backward_from_logits_grad: needs a forward pass with targets first (and only one "
        "backward per forward)");
  m.backward_ready = false;
  std::memcpy(m.logits, dlogits, sizeof(float) * m.B * m.T * cfg_.vocab_size);
  const bool acc = prepare_grads_for_backward();
  backward_from_dlogits(m, cfg_, acc, grads_.data(), grads_.size(), grads_ready_);
}

}  // namespace sllm
