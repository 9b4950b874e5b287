#include "sllm/model/model.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <random>
#include <unordered_map>

#include "block_ops.h"
#include "sllm/common/error.h"
#include "sllm/kernels/activation.h"
#include "sllm/kernels/attention.h"
#include "sllm/kernels/bf16.h"
#include "sllm/kernels/blas_threads.h"
#include "sllm/kernels/cross_entropy.h"
#include "sllm/kernels/embedding.h"
#include "sllm/kernels/linear.h"
#include "sllm/kernels/norm.h"
#include "sllm/kernels/residual.h"
#include "sllm/kernels/rope.h"
#include "sllm/model/block.h"
#include "sllm/model/presets.h"

namespace sllm {

namespace {

// Pointers into the parameter (or gradient) arena for one layer. q/k/v are adjacent in the
// arena, so qkv_w is one [(H+2KV)*hd, C] matrix; Llama's gate/up likewise form up_w [2F, C].
struct LayerTensors {
  float *norm1_w = nullptr, *norm1_b = nullptr, *qkv_w = nullptr, *qkv_b = nullptr, *o_w = nullptr,
        *o_b = nullptr;
  float *norm2_w = nullptr, *norm2_b = nullptr, *up_w = nullptr, *up_b = nullptr, *down_w = nullptr,
        *down_b = nullptr;
  float *q_norm_w = nullptr, *k_norm_w = nullptr;       // [hd] each (qk_norm)
  float *attn_post_w = nullptr, *mlp_post_w = nullptr;  // [C] each (post_norms)
};

struct ModelTensors {
  float *wte = nullptr, *wpe = nullptr, *normf_w = nullptr, *normf_b = nullptr, *lm_w = nullptr;
  std::vector<LayerTensors> layers;
};

// Activations one layer saves for backward, all [N = B*T rows]: norm1 [N,C], mean1/rstd1 [N],
// qkv [N,S] (q and k after qk-norm and RoPE), probs [B,H,T,T], atty [N,Q], res1 [N,C] (the
// stream after attention), norm2 [N,C], mean2/rstd2 [N], hpre [N,Fx], hact [N,F], out [N,C].
// With qk_norm: qk_pre [N,(H+KV)*hd] (q and k before it) and qk_rstd [N,H+KV]. With post_norms:
// attn_o and mlp_o [N,C] (the branch outputs before their post norms) and their rstd [N].
struct LayerActs {
  float *norm1, *mean1, *rstd1, *qkv, *probs, *atty, *res1, *norm2, *mean2, *rstd2, *hpre, *hact,
      *out;
  float *qk_pre, *qk_rstd, *attn_o, *attn_o_rstd, *mlp_o, *mlp_o_rstd;
};

// With bf16 compute, the bf16 copies of the linear layers' inputs (for their weight gradients).
struct LayerActs16 {
  bf16 *norm1, *atty, *norm2, *hact;
};

}  // namespace

struct Model::Impl {
  std::unordered_map<std::string, size_t> index;  // name -> position in specs
  ModelTensors p, g;
  // RoPE: each layer's frequency divisors and base (rope_freq_divisors, rope_theta_at), and one
  // cos/sin table [rope_T, hd/2] per distinct pair, grown to the longest forward so far.
  std::vector<std::vector<double>> rope_div;
  std::vector<double> rope_base;
  std::vector<int> rope_table;  // Per layer: its table.
  std::vector<std::vector<float>> rope_cos, rope_sin;
  int rope_T = 0;
  // Slices of the gradient arena in the order backward finishes them (see
  // set_grads_ready_callback): the head, layers n_layer-1 .. 0, the embeddings.
  struct Slice {
    size_t begin, end;
  };
  std::vector<Slice> ready_order;

  std::vector<float> acts, scratch;
  int B = 0, T = 0;
  std::vector<LayerActs> layer;
  // logit_tanh [N,V]: tanh(logits / cap) under a final-logit softcap, for backward.
  float *resid0 = nullptr, *normf = nullptr, *meanf = nullptr, *rstdf = nullptr, *logits = nullptr,
        *lse = nullptr, *logit_tanh = nullptr;
  // dpost [N,C]: the gradient of a branch output under its post norm (post_norms).
  float *dres = nullptr, *dnorm = nullptr, *dqkv = nullptr, *datty = nullptr, *dhact = nullptr,
        *dhpre = nullptr, *dpost = nullptr;
  std::vector<int32_t> tokens, targets;
  int n_valid = 0;
  // Batch shards of the last forward (Model::set_batch_shards); shards 1.. write their
  // gradients into their own arenas, which backward adds to the model's.
  int shards = 1;
  std::vector<float> shard_grads;
  std::vector<ModelTensors> shard_g;
  std::vector<Slice> accumulated;  // The gradients backward adds into (zeroed before the first).
  bool have_logits = false, backward_ready = false;

  // bf16 compute. w16 has the parameter arena's layout but holds only the slices the products
  // read (gemm_weights), converted at each forward; acts16 the inputs of the linear layers;
  // dout16 the output gradient of the layer being differentiated.
  const float* params_base = nullptr;
  std::vector<Slice> gemm_weights;
  std::vector<bf16> w16, acts16, dout16;
  std::vector<LayerActs16> layer16;
  bf16* normf16 = nullptr;
  bool forward_bf16 = false;  // The last forward ran in bf16; its backward does too.
  const bf16* w16_of(const float* w) const { return w16.data() + (w - params_base); }
};

namespace {

ModelTensors map_tensors(const ModelConfig& c, const std::vector<ParamSpec>& specs,
                         const std::unordered_map<std::string, size_t>& index, float* base) {
  auto at = [&](const std::string& name) -> float* {
    auto it = index.find(name);
    return it == index.end() ? nullptr : base + specs[it->second].offset;
  };
  ModelTensors t;
  t.wte = at("tok_embeddings.weight");
  t.wpe = at("pos_embeddings.weight");
  t.normf_w = at("norm.weight");
  t.normf_b = at("norm.bias");
  t.lm_w = c.tie_word_embeddings ? t.wte : at("lm_head.weight");
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string L = "layers." + std::to_string(i) + ".";
    LayerTensors l;
    l.norm1_w = at(L + "attn_norm.weight");
    l.norm1_b = at(L + "attn_norm.bias");
    l.qkv_w = at(L + "attn.q.weight");
    l.qkv_b = at(L + "attn.q.bias");
    l.o_w = at(L + "attn.o.weight");
    l.o_b = at(L + "attn.o.bias");
    l.norm2_w = at(L + "mlp_norm.weight");
    l.norm2_b = at(L + "mlp_norm.bias");
    l.up_w = c.gated_mlp ? at(L + "mlp.gate.weight") : at(L + "mlp.up.weight");
    l.up_b = at(L + "mlp.up.bias");
    l.down_w = at(L + "mlp.down.weight");
    l.down_b = at(L + "mlp.down.bias");
    l.q_norm_w = at(L + "attn.q_norm.weight");
    l.k_norm_w = at(L + "attn.k_norm.weight");
    l.attn_post_w = at(L + "attn_post_norm.weight");
    l.mlp_post_w = at(L + "mlp_post_norm.weight");
    t.layers.push_back(l);
  }
  return t;
}

// The fused groups are only valid if the config's layout really puts them side by side.
void check_fused_layout(const ModelConfig& c, const std::vector<ParamSpec>& specs,
                        const std::unordered_map<std::string, size_t>& index) {
  auto adjacent = [&](const std::string& a, const std::string& b) {
    const ParamSpec& x = specs[index.at(a)];
    const ParamSpec& y = specs[index.at(b)];
    if (x.offset + x.numel != y.offset)
      fail("internal: parameters {} and {} are not adjacent", a, b);
  };
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string L = "layers." + std::to_string(i) + ".";
    adjacent(L + "attn.q.weight", L + "attn.k.weight");
    adjacent(L + "attn.k.weight", L + "attn.v.weight");
    if (c.qkv_bias) {
      adjacent(L + "attn.q.bias", L + "attn.k.bias");
      adjacent(L + "attn.k.bias", L + "attn.v.bias");
    }
    if (c.gated_mlp) adjacent(L + "mlp.gate.weight", L + "mlp.up.weight");
  }
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Box-Muller over a 64-bit Mersenne Twister: the same stream on every platform.
class NormalRng {
 public:
  explicit NormalRng(uint64_t seed) : gen_(seed) {}
  float next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = (static_cast<double>(gen_() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    double u2 = static_cast<double>(gen_() >> 11) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * M_PI * u2;
    spare_ = static_cast<float>(r * std::sin(a));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(a));
  }

 private:
  std::mt19937_64 gen_;
  float spare_ = 0.0f;
  bool has_spare_ = false;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The arena holds the embeddings, then each layer's tensors, then the final norm and head
// (param_specs); backward finishes them in the reverse order, a tied embedding last of all.
std::vector<Model::Impl::Slice> backward_slices(const ModelConfig& c,
                                                const std::vector<ParamSpec>& specs) {
  const auto starts_with = [](const std::string& s, const std::string& p) {
    return s.rfind(p, 0) == 0;
  };
  std::vector<size_t> layer_begin(c.n_layer + 1, SIZE_MAX);
  size_t head_begin = SIZE_MAX;
  for (const ParamSpec& s : specs) {
    if (starts_with(s.name, "layers.")) {
      const int l = std::stoi(s.name.substr(7));
      layer_begin[l] = std::min(layer_begin[l], s.offset);
    } else if (starts_with(s.name, "norm.") || starts_with(s.name, "lm_head.")) {
      head_begin = std::min(head_begin, s.offset);
    }
  }
  const size_t end = specs.back().offset + specs.back().numel;
  layer_begin[c.n_layer] = head_begin;
  std::vector<Model::Impl::Slice> out{{head_begin, end}};
  for (int l = c.n_layer - 1; l >= 0; --l) out.push_back({layer_begin[l], layer_begin[l + 1]});
  out.push_back({0, c.n_layer ? layer_begin[0] : head_begin});
  return out;
}

// The weight matrices the linear layers multiply by: every matrix but the embeddings, and the
// token embedding too when the LM head is tied to it.
std::vector<Model::Impl::Slice> gemm_weight_slices(const ModelConfig& c,
                                                   const std::vector<ParamSpec>& specs) {
  std::vector<Model::Impl::Slice> out;
  for (const ParamSpec& s : specs) {
    const bool tok = s.name == "tok_embeddings.weight", pos = s.name == "pos_embeddings.weight";
    if (s.shape.size() == 2 && !pos && (!tok || c.tie_word_embeddings))
      out.push_back({s.offset, s.offset + s.numel});
  }
  return out;
}

// What backward adds into rather than overwrites on a first backward: vectors, embeddings
// (their lookup backward adds), except a tied embedding, whose first writer is the head GEMM.
std::vector<Model::Impl::Slice> accumulated_slices(const ModelConfig& c,
                                                   const std::vector<ParamSpec>& specs) {
  std::vector<Model::Impl::Slice> out;
  for (const ParamSpec& s : specs) {
    const bool embedding = s.name == "tok_embeddings.weight" || s.name == "pos_embeddings.weight";
    const bool gemm_overwrites =
        s.shape.size() == 2 &&
        (!embedding || (s.name == "tok_embeddings.weight" && c.tie_word_embeddings));
    if (!gemm_overwrites) out.push_back({s.offset, s.offset + s.numel});
  }
  return out;
}

}  // namespace

ComputeDtype parse_compute_dtype(const std::string& name) {
  if (name == "float32") return ComputeDtype::Float32;
  if (name == "bfloat16") return ComputeDtype::BFloat16;
  if (name == "float16")
    fail(
        "--dtype float16 is not supported (CPUs have no fp16 training path here): use float32 "
        "or bfloat16");
  fail("unknown --dtype '{}': use float32 or bfloat16", name);
}

const char* compute_dtype_name(ComputeDtype d) {
  return d == ComputeDtype::BFloat16 ? "bfloat16" : "float32";
}

Model::Model(const ModelConfig& cfg) : cfg_(cfg), impl_(std::make_unique<Impl>()) {
  cfg_.validate();
  require_supported(cfg_, "training model", kTrainingModelFeatures);
  specs_ = param_specs(cfg_);
  const size_t n = specs_.back().offset + specs_.back().numel;
  params_.assign(n, 0.0f);
  grads_.assign(n, 0.0f);
  for (size_t i = 0; i < specs_.size(); ++i) impl_->index.emplace(specs_[i].name, i);
  check_fused_layout(cfg_, specs_, impl_->index);
  impl_->p = map_tensors(cfg_, specs_, impl_->index, params_.data());
  impl_->g = map_tensors(cfg_, specs_, impl_->index, grads_.data());
  impl_->ready_order = backward_slices(cfg_, specs_);
  impl_->params_base = params_.data();
  impl_->gemm_weights = gemm_weight_slices(cfg_, specs_);
  impl_->accumulated = accumulated_slices(cfg_, specs_);
  // Combinations no family uses, which the kernels here do not run.
  if (cfg_.norm == NormKind::LayerNorm && (cfg_.norm_unit_offset || cfg_.post_norms))
    fail(
        "training model: {} with LayerNorm is not supported (RMSNorm only)",
        cfg_.post_norms ? feature_name(Feature::PostNorms) : feature_name(Feature::NormUnitOffset));
  if (cfg_.embedding_scale != 1.0f && cfg_.positions == Positions::Learned)
    fail("training model: {} with learned positions is not supported",
         feature_name(Feature::EmbeddingScale));
  if (cfg_.positions == Positions::Rope) {
    Impl& m = *impl_;
    for (int l = 0; l < cfg_.n_layer; ++l) {
      std::vector<double> div = rope_freq_divisors(cfg_, l);  // Throws naming an unknown type.
      const double base = rope_theta_at(cfg_, l);
      int t = 0;
      while (t < static_cast<int>(m.rope_base.size()) &&
             (m.rope_base[t] != base || m.rope_div[t] != div))
        ++t;
      if (t == static_cast<int>(m.rope_base.size())) {
        m.rope_base.push_back(base);
        m.rope_div.push_back(std::move(div));
      }
      m.rope_table.push_back(t);
    }
    m.rope_cos.resize(m.rope_base.size());
    m.rope_sin.resize(m.rope_base.size());
  }
}

Model::~Model() = default;

const ParamSpec& Model::spec(const std::string& name) const {
  auto it = impl_->index.find(name);
  if (it == impl_->index.end())
    fail("unknown parameter '{}' for a {} model", name, family_name(cfg_));
  return specs_[it->second];
}

float* Model::param(const std::string& name) {
  ++params_version_;
  return params_.data() + spec(name).offset;
}

bf16* Model::bf16_weight_copy(const ParamSpec& s) {
  if (dtype_ != ComputeDtype::BFloat16) return nullptr;
  Impl& m = *impl_;
  bool read_by_products = false;
  size_t end = 0;
  for (const Impl::Slice& w : m.gemm_weights) {
    read_by_products |= w.begin <= s.offset && s.offset + s.numel <= w.end;
    end = std::max(end, w.end);
  }
  if (!read_by_products) return nullptr;
  if (m.w16.size() < end) m.w16.resize(end);
  return m.w16.data() + s.offset;
}
float* Model::grad(const std::string& name) {
  return grads_.data() + spec(name).offset;
}

void Model::init_weights(uint64_t seed) {
  ++params_version_;
  // Every tensor is cut into fixed chunks, each with its own generator seeded from (seed,
  // tensor, chunk): the values do not depend on the thread count, and the work is parallel.
  constexpr size_t kChunk = size_t{1} << 16;
  struct Work {
    size_t spec, begin, end;
  };
  std::vector<Work> work;
  for (size_t i = 0; i < specs_.size(); ++i)
    for (size_t b = 0; b < specs_[i].numel; b += kChunk)
      work.push_back({i, b, std::min(specs_[i].numel, b + kChunk)});
  const float base_std = cfg_.initializer_range;
  const float resid_std = base_std / std::sqrt(2.0f * cfg_.n_layer);
#pragma omp parallel for schedule(dynamic)
  for (size_t k = 0; k < work.size(); ++k) {
    const ParamSpec& s = specs_[work[k].spec];
    float* w = params_.data() + s.offset;
    if (s.shape.size() == 1) {
      const float v = ends_with(s.name, "norm.weight") ? 1.0f : 0.0f;
      for (size_t i = work[k].begin; i < work[k].end; ++i) w[i] = v;
      continue;
    }
    const bool resid = ends_with(s.name, "attn.o.weight") || ends_with(s.name, "mlp.down.weight");
    const float std = resid ? resid_std : base_std;
    NormalRng rng(splitmix64(seed ^ splitmix64((work[k].spec << 32) ^ (work[k].begin / kChunk))));
    for (size_t i = work[k].begin; i < work[k].end; ++i) w[i] = std * rng.next();
  }
}

void Model::zero_grad() {
  grads_zero_pending_ = true;
}

void Model::materialize_zero_grads() {
  if (!grads_zero_pending_) return;
  std::memset(grads_.data(), 0, grads_.size() * sizeof(float));
  grads_zero_pending_ = false;
}

const float* Model::logits() const {
  if (!impl_->have_logits) fail("Model::logits(): no forward pass has run yet");
  return impl_->logits;
}

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

// Row widths of the activation buffers, to point at a shard's rows.
struct RowDims {
  size_t C, S, Q, F, Fx, V, probs, dout;  // probs: per sequence; dout: of dout16, the widest
  size_t qk_heads = 0, qk_width = 0;      // H+KV and (H+KV)*hd with qk_norm, else 0
  size_t post = 0;                        // C with post_norms, else 0
  size_t capV = 0;                        // V with a final-logit softcap, else 0
};

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
