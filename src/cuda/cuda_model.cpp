// CudaModel: the forward and backward of src/model/model.cpp on one GPU (see
// sllm/cuda/cuda_model.h). Host code: cuBLAS for the GEMMs, kernels.cu for the rest.
#if SLLM_HAVE_CUDA

#include "sllm/cuda/cuda_model.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cmath>
#include <unordered_map>
#include <utility>

#include "kernels.h"
#include "sllm/common/error.h"
#include "sllm/kernels/rope.h"

namespace sllm::cuda {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA: {} failed: {}", what, cudaGetErrorString(e));
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("cuBLAS: {} failed: {}", what, cublasGetStatusString(s));
}

// A device array that grows on demand and frees itself.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() {
    if (p_) cudaFree(p_);
  }
  void resize(size_t n) {
    if (n <= n_) return;
    if (p_) cudaFree(p_);
    p_ = nullptr;
    check(cudaMalloc(&p_, n * sizeof(T)), "cudaMalloc");
    n_ = n;
  }
  T* get() const { return p_; }
  size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

// Offsets of one layer's tensors in the arena (SIZE_MAX where absent).
struct LayerOffsets {
  size_t ln1w, ln1b, qkvw, qkvb, ow, ob, ln2w, ln2b, upw, upb, downw, downb;
};

// Saved activations of one layer, [N = B*T rows].
struct LayerActs {
  bf16 *ln1, *qkvr, *att, *atty, *res1, *ln2, *hpre, *hact, *out;
  float *mean1, *rstd1, *mean2, *rstd2;
};

}  // namespace

struct CudaModel::Impl {
  ModelConfig cfg;
  std::vector<ParamSpec> specs;
  size_t P = 0;
  cublasHandle_t blas = nullptr;
  DeviceArray<float> params, grads, m, v, scalars, partials;
  DeviceArray<bf16> wbf;                          // bf16 copy of params for compute
  DeviceArray<float> rope_cos, rope_sin;          // [block_size, hd/2], Llama only
  bool rms = false, rope = false, gated = false;  // The config's norm, positions, MLP.
  size_t wte = 0, wpe = 0, lnfw = 0, lnfb = 0, lmw = 0;
  std::vector<LayerOffsets> layer_off;

  int B = 0, T = 0, n_valid = 0;
  bool have_logits = false, backward_ready = false;
  DeviceArray<bf16> acts, scratch;
  DeviceArray<float> stats;
  DeviceArray<int32_t> tokens, targets;
  std::vector<LayerActs> layer;
  bf16 *resid0 = nullptr, *lnf = nullptr, *logits = nullptr;
  float *meanf = nullptr, *rstdf = nullptr, *lse = nullptr, *loss = nullptr;
  bf16 *qkv = nullptr, *dres = nullptr, *dnorm = nullptr, *datty = nullptr, *dhact = nullptr,
       *dhpre = nullptr, *dqkvr = nullptr, *datt = nullptr;
  std::vector<int32_t> host_targets;
  std::vector<float> host_loss;

  ~Impl() {
    if (blas) cublasDestroy(blas);
  }

  bf16* w(size_t off) const { return off == SIZE_MAX ? nullptr : wbf.get() + off; }
  float* g(size_t off) const { return off == SIZE_MAX ? nullptr : grads.get() + off; }

  // Row-major C[M,N] (batched) = alpha op(A)[M,K] op(B)[K,N] + beta C. A and B are bf16; C is
  // bf16 or fp32; accumulation is fp32. cuBLAS is column-major: compute C^T = op(B)^T op(A)^T.
  void gemm(bool ta, bool tb, int M, int N, int K, const bf16* A, int lda, long long sa,
            const bf16* Bm, int ldb, long long sb, void* C, cudaDataType_t ct, int ldc,
            long long sc, int batch, float alpha = 1.0f, float beta = 0.0f) {
    check(cublasGemmStridedBatchedEx(blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, Bm,
                                     CUDA_R_16BF, ldb, sb, A, CUDA_R_16BF, lda, sa, &beta, C, ct,
                                     ldc, sc, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmStridedBatchedEx");
  }

  // out [N, OUT] = inp [N, IN] W^T + b, W [OUT, IN].
  void linear_forward(bf16* out, const bf16* inp, size_t w_off, size_t b_off, int N, int IN,
                      int OUT) {
    gemm(false, true, N, OUT, IN, inp, IN, 0, w(w_off), IN, 0, out, CUDA_R_16BF, OUT, 0, 1);
    if (b_off != SIZE_MAX) add_bias(out, w(b_off), N, OUT);
  }

  // dinp = dout W (overwritten); dW += dout^T inp; db += column sums of dout.
  void linear_backward(bf16* dinp, size_t w_off, size_t b_off, const bf16* dout, const bf16* inp,
                       int N, int IN, int OUT) {
    gemm(false, false, N, IN, OUT, dout, OUT, 0, w(w_off), IN, 0, dinp, CUDA_R_16BF, IN, 0, 1);
    gemm(true, false, OUT, IN, N, dout, OUT, 0, inp, IN, 0, g(w_off), CUDA_R_32F, IN, 0, 1, 1.0f,
         1.0f);
    if (b_off != SIZE_MAX) bias_backward(g(b_off), dout, N, OUT);
  }

  // LayerNorm or RMSNorm, as the config says; mean is unused by RMSNorm.
  void norm_forward(bf16* out, float* mean, float* rstd, const bf16* x, size_t w_off, size_t b_off,
                    int N) {
    if (rms)
      rmsnorm_forward(out, rstd, x, w(w_off), N, cfg.n_embd, cfg.norm_eps);
    else
      layernorm_forward(out, mean, rstd, x, w(w_off), w(b_off), N, cfg.n_embd, cfg.norm_eps);
  }
  void norm_backward(bf16* dx, size_t w_off, size_t b_off, const bf16* dout, const bf16* x,
                     const float* mean, const float* rstd, int N) {
    if (rms)
      rmsnorm_backward(dx, g(w_off), dout, x, w(w_off), rstd, N, cfg.n_embd);
    else
      layernorm_backward(dx, g(w_off), g(b_off), dout, x, w(w_off), mean, rstd, N, cfg.n_embd);
  }

  void layout(int B_, int T_) {
    const size_t N = size_t(B_) * T_, C = cfg.n_embd, F = cfg.ffn_dim(), V = cfg.vocab_size;
    const size_t hd = cfg.head_dim(), Q = size_t(cfg.n_head) * hd,
                 S = (cfg.n_head + 2 * size_t(cfg.n_kv_head)) * hd;
    const size_t Fx = gated ? 2 * F : F;
    const size_t att = size_t(B_) * cfg.n_head * T_ * T_;
    // ln1, qkvr, att, atty, res1, ln2, hpre, hact, out
    const size_t per_layer = N * (C + S + Q + C + C + Fx + F + C) + att;
    acts.resize(N * C + per_layer * cfg.n_layer + N * C + N * V);
    // qkv, dqkvr, dhpre, dhact (Llama), dres, dnorm, datty, datt
    scratch.resize(2 * N * S + N * Fx + (gated ? N * F : 0) + 2 * N * C + N * Q + att);
    stats.resize(N * 4 * cfg.n_layer + N * 4);
    tokens.resize(N);
    targets.resize(N);
    bf16* a = acts.get();
    auto take = [&](size_t n) { return std::exchange(a, a + n); };
    float* s = stats.get();
    auto take_f = [&](size_t n) { return std::exchange(s, s + n); };
    resid0 = take(N * C);
    layer.resize(cfg.n_layer);
    for (LayerActs& l : layer) {
      l.ln1 = take(N * C);
      l.qkvr = take(N * S);
      l.att = take(att);
      l.atty = take(N * Q);
      l.res1 = take(N * C);
      l.ln2 = take(N * C);
      l.hpre = take(N * Fx);
      l.hact = take(N * F);
      l.out = take(N * C);
      l.mean1 = take_f(N), l.rstd1 = take_f(N), l.mean2 = take_f(N), l.rstd2 = take_f(N);
    }
    lnf = take(N * C);
    logits = take(N * V);
    meanf = take_f(N), rstdf = take_f(N), lse = take_f(N), loss = take_f(N);
    bf16* sc = scratch.get();
    auto take_s = [&](size_t n) { return std::exchange(sc, sc + n); };
    qkv = take_s(N * S);  // forward: the qkv GEMM's output; backward: d(qkv)
    dqkvr = take_s(N * S);
    dhpre = take_s(N * Fx);
    dhact = gated ? take_s(N * F) : dhpre;  // GELU's backward runs in place
    dres = take_s(N * C);
    dnorm = take_s(N * C);
    datty = take_s(N * Q);
    datt = take_s(att);
    B = B_, T = T_;
  }
};

CudaModel::CudaModel(const ModelConfig& cfg) : impl_(std::make_unique<Impl>()) {
  cfg.validate();
  require_supported(cfg, "--device cuda", kCudaFeatures);
  require_device();
  Impl& m = *impl_;
  m.cfg = cfg;
  m.rms = cfg.norm == NormKind::RMSNorm;
  m.rope = cfg.positions == Positions::Rope;
  m.gated = cfg.gated_mlp;
  m.specs = param_specs(cfg);
  m.P = m.specs.back().offset + m.specs.back().numel;
  std::unordered_map<std::string, size_t> at;
  for (const ParamSpec& s : m.specs) at.emplace(s.name, s.offset);
  auto off = [&](const std::string& n) { return at.count(n) ? at.at(n) : SIZE_MAX; };
  m.wte = off("tok_embeddings.weight");
  m.wpe = off("pos_embeddings.weight");
  m.lnfw = off("norm.weight");
  m.lnfb = off("norm.bias");
  m.lmw = cfg.tie_word_embeddings ? m.wte : off("lm_head.weight");
  for (int i = 0; i < cfg.n_layer; ++i) {
    const std::string L = "layers." + std::to_string(i) + ".";
    m.layer_off.push_back(
        {off(L + "attn_norm.weight"), off(L + "attn_norm.bias"), off(L + "attn.q.weight"),
         off(L + "attn.q.bias"), off(L + "attn.o.weight"), off(L + "attn.o.bias"),
         off(L + "mlp_norm.weight"), off(L + "mlp_norm.bias"),
         m.gated ? off(L + "mlp.gate.weight") : off(L + "mlp.up.weight"), off(L + "mlp.up.bias"),
         off(L + "mlp.down.weight"), off(L + "mlp.down.bias")});
  }
  check(cublasCreate(&m.blas), "cublasCreate");
  for (DeviceArray<float>* a : {&m.params, &m.grads, &m.m, &m.v}) {
    a->resize(m.P);
    check(cudaMemset(a->get(), 0, m.P * sizeof(float)), "cudaMemset");
  }
  m.wbf.resize(m.P);
  to_bf16(m.wbf.get(), m.params.get(), m.P);
  if (m.rope) {
    const size_t n = size_t(cfg.block_size) * (cfg.head_dim() / 2);
    std::vector<float> cos_t(n), sin_t(n);
    rope_tables(cos_t.data(), sin_t.data(), cfg.block_size, cfg.head_dim(), cfg.rope_theta);
    m.rope_cos.resize(n);
    m.rope_sin.resize(n);
    check(cudaMemcpy(m.rope_cos.get(), cos_t.data(), n * sizeof(float), cudaMemcpyHostToDevice),
          "cudaMemcpy (rope)");
    check(cudaMemcpy(m.rope_sin.get(), sin_t.data(), n * sizeof(float), cudaMemcpyHostToDevice),
          "cudaMemcpy (rope)");
  }
  m.scalars.resize(1);
  m.partials.resize(kSumSquaresBlocks);
}

CudaModel::~CudaModel() = default;

const ModelConfig& CudaModel::config() const {
  return impl_->cfg;
}
size_t CudaModel::num_params() const {
  return impl_->P;
}

namespace {
void check_size(size_t got, size_t want, const char* what) {
  if (got != want)
    fail("CudaModel: {} holds {} values, the model has {} parameters", what, got, want);
}
}  // namespace

void CudaModel::set_params(std::span<const float> p) {
  check_size(p.size(), impl_->P, "the parameter span");
  check(cudaMemcpy(impl_->params.get(), p.data(), p.size_bytes(), cudaMemcpyHostToDevice),
        "cudaMemcpy (params)");
  to_bf16(impl_->wbf.get(), impl_->params.get(), impl_->P);
  check(cudaGetLastError(), "to_bf16");
}

void CudaModel::get_params(std::span<float> p) const {
  check_size(p.size(), impl_->P, "the parameter span");
  check(cudaMemcpy(p.data(), impl_->params.get(), p.size_bytes(), cudaMemcpyDeviceToHost),
        "cudaMemcpy (params)");
}

void CudaModel::get_grads(std::span<float> g) const {
  check_size(g.size(), impl_->P, "the gradient span");
  check(cudaMemcpy(g.data(), impl_->grads.get(), g.size_bytes(), cudaMemcpyDeviceToHost),
        "cudaMemcpy (grads)");
}

std::vector<float> CudaModel::get_logits() const {
  const Impl& m = *impl_;
  if (!m.have_logits) fail("CudaModel::get_logits(): no forward pass has run yet");
  const size_t n = size_t(m.B) * m.T * m.cfg.vocab_size;
  DeviceArray<float> tmp;
  tmp.resize(n);
  to_f32(tmp.get(), m.logits, n);
  std::vector<float> out(n);
  check(cudaMemcpy(out.data(), tmp.get(), n * sizeof(float), cudaMemcpyDeviceToHost),
        "cudaMemcpy (logits)");
  return out;
}

float CudaModel::forward(const int32_t* tokens, const int32_t* targets, int B, int T) {
  Impl& m = *impl_;
  const ModelConfig& c = m.cfg;
  if (!tokens) fail("CudaModel::forward: tokens is null");
  if (B < 1 || T < 1 || T > c.block_size)
    fail("CudaModel::forward: batch {} x length {} (length must be in [1, {}])", B, T,
         c.block_size);
  const int N = B * T;
  for (int i = 0; i < N; ++i)
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size || (targets && targets[i] >= c.vocab_size))
      fail("CudaModel::forward: token or target at position {} is outside the vocabulary [0, {})",
           i, c.vocab_size);
  m.have_logits = m.backward_ready = false;
  if (B != m.B || T != m.T) m.layout(B, T);
  check(cudaMemcpy(m.tokens.get(), tokens, N * sizeof(int32_t), cudaMemcpyHostToDevice),
        "cudaMemcpy (tokens)");

  const int C = c.n_embd, F = c.ffn_dim(), H = c.n_head, KV = c.n_kv_head, hd = c.head_dim();
  const int Q = H * hd, S = (H + 2 * KV) * hd, Fx = m.gated ? 2 * F : F, r = H / KV;
  const size_t NC = size_t(N) * C, Thd = size_t(T) * hd, TT = size_t(T) * T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  embedding_forward(m.resid0, m.tokens.get(), m.w(m.wte), m.w(m.wpe), B, T, C);
  const bf16* x = m.resid0;
  // Each block mirrors the steps of sllm/model/block.h in order (the backward in reverse);
  // kCudaFeatures is empty, so no optional step beyond RoPE applies here.
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerOffsets& o = m.layer_off[l];
    LayerActs& a = m.layer[l];
    m.norm_forward(a.ln1, a.mean1, a.rstd1, x, o.ln1w, o.ln1b, N);
    m.linear_forward(m.qkv, a.ln1, o.qkvw, o.qkvb, N, C, S);
    split_heads(a.qkvr, m.qkv, B, T, H, KV, hd);
    bf16 *q = a.qkvr, *k = q + size_t(N) * Q, *v = k + size_t(N) * KV * hd;
    if (m.rope) {
      rope(q, m.rope_cos.get(), m.rope_sin.get(), B, H, T, hd, false);
      rope(k, m.rope_cos.get(), m.rope_sin.get(), B, KV, T, hd, false);
    }
    // One batch entry per (sequence, KV head): its r query heads are r*T consecutive rows.
    m.gemm(false, true, r * T, T, hd, q, hd, r * Thd, k, hd, Thd, a.att, CUDA_R_16BF, T, r * TT,
           B * KV, scale);
    causal_softmax_forward(a.att, B * H * T, T);
    bf16* y = m.dqkvr;  // scratch [B,H,T,hd]
    m.gemm(false, false, r * T, hd, T, a.att, T, r * TT, v, hd, Thd, y, CUDA_R_16BF, hd, r * Thd,
           B * KV);
    heads_to_rows(a.atty, y, B, T, H, hd);
    m.linear_forward(a.res1, a.atty, o.ow, o.ob, N, Q, C);
    residual_forward(a.res1, a.res1, x, NC);
    m.norm_forward(a.ln2, a.mean2, a.rstd2, a.res1, o.ln2w, o.ln2b, N);
    m.linear_forward(a.hpre, a.ln2, o.upw, o.upb, N, C, Fx);
    if (m.gated)
      swiglu_forward(a.hact, a.hpre, N, F);
    else
      gelu_forward(a.hact, a.hpre, size_t(N) * F);
    m.linear_forward(a.out, a.hact, o.downw, o.downb, N, F, C);
    residual_forward(a.out, a.out, a.res1, NC);
    x = a.out;
  }
  m.norm_forward(m.lnf, m.meanf, m.rstdf, x, m.lnfw, m.lnfb, N);
  m.linear_forward(m.logits, m.lnf, m.lmw, SIZE_MAX, N, C, c.vocab_size);
  check(cudaGetLastError(), "forward kernels");
  m.have_logits = true;
  if (!targets) {
    check(cudaDeviceSynchronize(), "forward");
    return std::nanf("");
  }
  m.host_targets.assign(targets, targets + N);
  check(cudaMemcpy(m.targets.get(), targets, N * sizeof(int32_t), cudaMemcpyHostToDevice),
        "cudaMemcpy (targets)");
  cross_entropy_forward(m.loss, m.lse, m.logits, m.targets.get(), N, c.vocab_size);
  m.host_loss.resize(N);
  check(cudaMemcpy(m.host_loss.data(), m.loss, N * sizeof(float), cudaMemcpyDeviceToHost),
        "cudaMemcpy (loss)");
  double sum = 0;
  m.n_valid = 0;
  for (int i = 0; i < N; ++i)
    if (targets[i] >= 0) sum += m.host_loss[i], ++m.n_valid;
  m.backward_ready = true;
  return m.n_valid ? static_cast<float>(sum / m.n_valid) : std::nanf("");
}

void CudaModel::zero_grad() {
  check(cudaMemset(impl_->grads.get(), 0, impl_->P * sizeof(float)), "cudaMemset (grads)");
}

void CudaModel::backward(float loss_scale) {
  Impl& m = *impl_;
  if (!m.backward_ready)
    fail(
        "CudaModel::backward: needs a forward pass with targets first (and only one backward per "
        "forward)");
  m.backward_ready = false;
  const ModelConfig& c = m.cfg;
  const int B = m.B, T = m.T, N = B * T, C = c.n_embd, F = c.ffn_dim(), H = c.n_head,
            KV = c.n_kv_head;
  const int hd = c.head_dim(), Q = H * hd, S = (H + 2 * KV) * hd, Fx = m.gated ? 2 * F : F,
            r = H / KV;
  const size_t NC = size_t(N) * C, Thd = size_t(T) * hd, TT = size_t(T) * T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  cross_entropy_backward(m.logits, m.lse, m.targets.get(), N, c.vocab_size,
                         m.n_valid ? loss_scale / static_cast<float>(m.n_valid) : 0.0f);
  m.linear_backward(m.dnorm, m.lmw, SIZE_MAX, m.logits, m.lnf, N, C, c.vocab_size);
  check(cudaMemset(m.dres, 0, NC * sizeof(bf16)), "cudaMemset (dres)");
  const bf16* x_last = c.n_layer ? m.layer.back().out : m.resid0;
  m.norm_backward(m.dres, m.lnfw, m.lnfb, m.dnorm, x_last, m.meanf, m.rstdf, N);
  for (int l = c.n_layer - 1; l >= 0; --l) {
    const LayerOffsets& o = m.layer_off[l];
    const LayerActs& a = m.layer[l];
    const bf16* x = l ? m.layer[l - 1].out : m.resid0;
    m.linear_backward(m.dhact, o.downw, o.downb, m.dres, a.hact, N, F, C);
    if (m.gated)
      swiglu_backward(m.dhpre, a.hpre, m.dhact, N, F);
    else
      gelu_backward(m.dhpre, a.hpre, m.dhact, size_t(N) * F);
    m.linear_backward(m.dnorm, o.upw, o.upb, m.dhpre, a.ln2, N, C, Fx);
    m.norm_backward(m.dres, o.ln2w, o.ln2b, m.dnorm, a.res1, a.mean2, a.rstd2, N);
    m.linear_backward(m.datty, o.ow, o.ob, m.dres, a.atty, N, Q, C);
    // Attention: dy in heads layout, then dP, dv, the softmax backward, dq and dk.
    bf16* dy = m.dnorm;  // free until the qkv GEMM's backward writes it
    rows_to_heads(dy, m.datty, B, T, H, hd);
    const bf16 *q = a.qkvr, *k = q + size_t(N) * Q, *v = k + size_t(N) * KV * hd;
    bf16 *dq = m.dqkvr, *dk = dq + size_t(N) * Q, *dv = dk + size_t(N) * KV * hd;
    m.gemm(false, true, r * T, T, hd, dy, hd, r * Thd, v, hd, Thd, m.datt, CUDA_R_16BF, T, r * TT,
           B * KV);
    m.gemm(true, false, T, hd, r * T, a.att, T, r * TT, dy, hd, r * Thd, dv, CUDA_R_16BF, hd, Thd,
           B * KV);
    causal_softmax_backward(m.datt, a.att, B * H * T, T);
    m.gemm(false, false, r * T, hd, T, m.datt, T, r * TT, k, hd, Thd, dq, CUDA_R_16BF, hd, r * Thd,
           B * KV, scale);
    m.gemm(true, false, T, hd, r * T, m.datt, T, r * TT, q, hd, r * Thd, dk, CUDA_R_16BF, hd, Thd,
           B * KV, scale);
    if (m.rope) {
      rope(dq, m.rope_cos.get(), m.rope_sin.get(), B, H, T, hd, true);
      rope(dk, m.rope_cos.get(), m.rope_sin.get(), B, KV, T, hd, true);
    }
    merge_qkv_grads(m.qkv, m.dqkvr, B, T, H, KV, hd);
    m.linear_backward(m.dnorm, o.qkvw, o.qkvb, m.qkv, a.ln1, N, C, S);
    m.norm_backward(m.dres, o.ln1w, o.ln1b, m.dnorm, x, a.mean1, a.rstd1, N);
  }
  embedding_backward(m.g(m.wte), m.g(m.wpe), m.dres, m.tokens.get(), B, T, C);
  check(cudaGetLastError(), "backward kernels");
  check(cudaDeviceSynchronize(), "backward");
}

float CudaModel::grad_norm() {
  Impl& m = *impl_;
  sum_squares(m.scalars.get(), m.partials.get(), m.grads.get(), m.P);
  float ss = 0;
  check(cudaMemcpy(&ss, m.scalars.get(), sizeof(float), cudaMemcpyDeviceToHost),
        "cudaMemcpy (grad norm)");
  return std::sqrt(ss);
}

void CudaModel::adamw_step(const AdamWParams& h, int64_t t) {
  Impl& m = *impl_;
  const float bc1 =
      1.0f - static_cast<float>(std::pow(static_cast<double>(h.beta1), static_cast<double>(t)));
  const float bc2 =
      1.0f - static_cast<float>(std::pow(static_cast<double>(h.beta2), static_cast<double>(t)));
  for (const ParamSpec& s : m.specs)
    adamw(m.params.get() + s.offset, m.wbf.get() + s.offset, m.grads.get() + s.offset,
          m.m.get() + s.offset, m.v.get() + s.offset, s.numel, h.lr, h.beta1, h.beta2, h.eps,
          h.weight_decay, h.grad_scale, bc1, bc2, s.decay);
  check(cudaGetLastError(), "adamw");
}

void CudaModel::get_adam_state(std::vector<float>& mo, std::vector<float>& vo) const {
  mo.resize(impl_->P);
  vo.resize(impl_->P);
  check(cudaMemcpy(mo.data(), impl_->m.get(), impl_->P * sizeof(float), cudaMemcpyDeviceToHost),
        "cudaMemcpy (m)");
  check(cudaMemcpy(vo.data(), impl_->v.get(), impl_->P * sizeof(float), cudaMemcpyDeviceToHost),
        "cudaMemcpy (v)");
}

void CudaModel::set_adam_state(std::span<const float> mi, std::span<const float> vi) {
  check_size(mi.size(), impl_->P, "AdamW m");
  check_size(vi.size(), impl_->P, "AdamW v");
  check(cudaMemcpy(impl_->m.get(), mi.data(), mi.size_bytes(), cudaMemcpyHostToDevice),
        "cudaMemcpy (m)");
  check(cudaMemcpy(impl_->v.get(), vi.data(), vi.size_bytes(), cudaMemcpyHostToDevice),
        "cudaMemcpy (v)");
}

}  // namespace sllm::cuda

#endif  // SLLM_HAVE_CUDA
