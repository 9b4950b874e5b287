#include "sllm/model/model.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <random>
#include <unordered_map>

#include "model_impl.h"
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

using namespace model_detail;

namespace model_detail {

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

}  // namespace model_detail

namespace {

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

}  // namespace sllm
