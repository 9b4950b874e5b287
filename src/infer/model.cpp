#include "sllm/infer/model.h"

#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "sllm/common/error.h"
#include "sllm/kernels/activation.h"
#include "sllm/kernels/attention.h"
#include "sllm/kernels/blas_threads.h"
#include "sllm/kernels/f16.h"
#include "sllm/kernels/norm.h"
#include "sllm/kernels/residual.h"
#include "sllm/kernels/rope.h"
#include "sllm/model/block.h"
#include "sllm/quant/quant.h"

namespace sllm {

// ---- KVCache ----

KVType parse_kv_type(const std::string& s) {
  if (s == "f32") return KVType::F32;
  if (s == "f16") return KVType::F16;
  fail("unknown KV cache type '{}': f32 or f16", s);
}

const char* kv_type_name(KVType t) {
  return t == KVType::F16 ? "f16" : "f32";
}

KVCache::KVCache(const ModelConfig& c, int capacity, KVType type)
    : capacity_(capacity), heads_(c.n_kv_head), hd_(c.head_dim()), type_(type) {
  if (capacity < 1) fail("KV cache capacity must be at least 1, got {}", capacity);
  const size_t n = static_cast<size_t>(c.n_layer) * capacity * heads_ * hd_;
  if (type == KVType::F16) {
    k16_.assign(n, 0);
    v16_.assign(n, 0);
  } else {
    k_.assign(n, 0.0f);
    v_.assign(n, 0.0f);
  }
}

size_t KVCache::bytes() const {
  return (k_.size() + v_.size()) * sizeof(float) + (k16_.size() + v16_.size()) * sizeof(uint16_t);
}

void KVCache::store(int layer, int pos, const float* k, const float* v) {
  const size_t at = static_cast<size_t>(pos) * hd_;
  for (int h = 0; h < heads_; ++h) {
    const size_t dst = offset(layer, h) + at;
    if (type_ == KVType::F16) {
      to_f16(k16_.data() + dst, k + h * hd_, static_cast<size_t>(hd_));
      to_f16(v16_.data() + dst, v + h * hd_, static_cast<size_t>(hd_));
    } else {
      std::memcpy(k_.data() + dst, k + h * hd_, hd_ * sizeof(float));
      std::memcpy(v_.data() + dst, v + h * hd_, hd_ * sizeof(float));
    }
  }
}

void KVCache::truncate(int n) {
  if (n < 0 || n > size_) fail("KV cache: cannot truncate {} positions to {}", size_, n);
  size_ = n;
}

// ---- Loading ----

struct InferenceModel::Scratch {
  std::vector<float> x, xn, q, k, v, att, h1, h2, last, mlp_out;
  float* logits = nullptr;  // Where forward_layers writes the classifier output.
  QuantizedActs acts;
  std::unique_ptr<TeamState> team;  // Helper threads, kept across steps.
};

namespace {

// From this many consecutive queries of one sequence, attention runs as two GEMMs per head, on
// blocks of at most kQueryBlockMax queries: the scores of a block are kQueryBlockMax x
// positions floats per thread (1 MiB at 4096 positions), not a whole prefill's square.
constexpr int64_t kQueryBlockMin = 8, kQueryBlockMax = 64;

// Hands the pages of a converted tensor back to the kernel: the mapping stays valid (pages
// re-read from the file on access) but they no longer count toward the resident set.
void release_pages(const uint8_t* p, size_t n) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t b = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

}  // namespace

std::unique_ptr<InferenceModel> InferenceModel::load(const std::string& path,
                                                     const LoadOptions& opt) {
  return std::make_unique<InferenceModel>(load_model_files(path, opt.tokenizer), opt);
}

InferenceModel::~InferenceModel() = default;

Weight InferenceModel::matrix(const std::string& name, std::optional<GGMLType> to) {
  const WeightTensor& t = files_.tensors.at(name);
  Weight w;
  w.rows = t.shape[0];
  w.cols = t.shape.size() > 1 ? t.shape[1] : 1;
  // Types matmul has no kernel for (F16, BF16, Q3_K without one, IQ4_NL, ...) run as F32.
  GGMLType target = to.value_or(runs_natively(t.type) ? t.type : GGMLType::F32);
  if ((is_quantized(target) && w.cols % kQBlock != 0) || (has_kdot(target) && w.cols % kQK != 0))
    target = GGMLType::F32;  // Rows not whole blocks.
  w.type = target;
  if (t.type == target) {
    w.data = t.data;
    std::vector<uint8_t> packed;
    if (pack_for_kernels(w, packed)) {
      release_pages(t.data, t.nbytes);
      w.data = files_.own(std::move(packed));
    }
    return w;
  }
  std::vector<uint8_t> buf(w.nbytes());
  const size_t src_row = ggml_row_size(t.type, w.cols);
  bool bad = false;
  std::string why;
#pragma omp parallel
  {
    std::vector<float> row(static_cast<size_t>(w.cols));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < w.rows; ++r) {
      try {
        dequantize_row(t.type, t.data + r * src_row, row.data(), w.cols);
        quantize_row(target, row.data(), buf.data() + r * w.row_bytes(), w.cols);
      } catch (const Error& e) {
#pragma omp critical
        {
          bad = true;
          why = e.what();
        }
      }
    }
  }
  if (bad) fail("{}: tensor '{}': {}", files_.source, name, why);
  release_pages(t.data, t.nbytes);
  w.data = buf.data();
  std::vector<uint8_t> packed;
  w.data = files_.own(pack_for_kernels(w, packed) ? std::move(packed) : std::move(buf));
  return w;
}

std::vector<float> InferenceModel::vec(const std::string& name) {
  const WeightTensor& t = files_.tensors.at(name);
  std::vector<float> out(static_cast<size_t>(t.numel()));
  dequantize_row(t.type, t.data, out.data(), t.numel());
  return out;
}

InferenceModel::InferenceModel(ModelFiles files, const LoadOptions& opt)
    : files_(std::move(files)),
      cfg_(files_.config),
      kv_type_(opt.kv_type),
      s_(std::make_unique<Scratch>()) {
  require_supported(cfg_, "inference engine", kInferenceFeatures);
  if (opt.weight_type && !runs_natively(*opt.weight_type))
    fail(
        "weights can be stored as f32, q8_0, q4_0, q4_1, q2_k, q3_k, q4_k, q5_k, q6_k or iq4_xs, "
        "not {}",
        weight_type_name(*opt.weight_type));
  files_.validate();
  // Where each parameter of param_specs() goes: matrices (stored in opt.weight_type) or
  // vectors (f32). A config without biases simply has no bias specs.
  using M = Weight Layer::*;
  using Vec = std::vector<float> Layer::*;
  static const std::map<std::string, M> matrices = {
      {"attn.q.weight", &Layer::q},      {"attn.k.weight", &Layer::k},
      {"attn.v.weight", &Layer::v},      {"attn.o.weight", &Layer::o},
      {"mlp.gate.weight", &Layer::gate}, {"mlp.up.weight", &Layer::up},
      {"mlp.down.weight", &Layer::down}};
  static const std::map<std::string, Vec> vectors = {
      {"attn_norm.weight", &Layer::attn_norm_w},
      {"attn_norm.bias", &Layer::attn_norm_b},
      {"mlp_norm.weight", &Layer::mlp_norm_w},
      {"mlp_norm.bias", &Layer::mlp_norm_b},
      {"attn.q.bias", &Layer::q_b},
      {"attn.k.bias", &Layer::k_b},
      {"attn.v.bias", &Layer::v_b},
      {"attn.o.bias", &Layer::o_b},
      {"mlp.up.bias", &Layer::up_b},
      {"mlp.down.bias", &Layer::down_b},
      {"attn.q_norm.weight", &Layer::q_norm_w},
      {"attn.k_norm.weight", &Layer::k_norm_w},
      {"attn_post_norm.weight", &Layer::attn_post_norm_w},
      {"mlp_post_norm.weight", &Layer::mlp_post_norm_w}};
  const auto to = opt.weight_type;
  layers_.resize(cfg_.n_layer);
  for (const ParamSpec& spec : param_specs(cfg_)) {
    const std::string& n = spec.name;
    if (n.starts_with("layers.")) {
      const size_t dot = n.find('.', 7);
      Layer& l = layers_.at(std::stoul(n.substr(7, dot - 7)));
      const std::string part = n.substr(dot + 1);
      if (auto m = matrices.find(part); m != matrices.end()) {
        l.*(m->second) = matrix(n, to);
        layer_matrix_names_[&(l.*(m->second))] = n;
      } else
        l.*(vectors.at(part)) = vec(n);
    } else if (n == "tok_embeddings.weight") {
      tok_emb_ = matrix(n, to);
    } else if (n == "lm_head.weight") {
      lm_head_ = matrix(n, to);
    } else if (n == "pos_embeddings.weight") {
      pos_emb_ = vec(n);
    } else if (n == "norm.weight") {
      norm_w_ = vec(n);
    } else if (n == "norm.bias") {
      norm_b_ = vec(n);
    } else {
      fail("internal: no place for parameter '{}'", n);
    }
  }
  if (cfg_.tie_word_embeddings) lm_head_ = tok_emb_;
  // Gemma's x * (1 + w): the 1 joins the weights once here.
  if (cfg_.norm_unit_offset) {
    auto shift = [](std::vector<float>& w) {
      for (float& x : w) x += 1.0f;
    };
    shift(norm_w_);
    for (Layer& l : layers_)
      for (auto* w : {&l.attn_norm_w, &l.mlp_norm_w, &l.q_norm_w, &l.k_norm_w, &l.attn_post_norm_w,
                      &l.mlp_post_norm_w})
        shift(*w);
  }
  const int hd = cfg_.head_dim();
  for (int l = 0; l < cfg_.n_layer; ++l) {
    std::vector<float>& f = layers_[l].inv_freq;
    f.resize(hd / 2);
    rope_inv_freq(f.data(), hd, rope_theta_at(cfg_, l));
    const std::vector<double> div = rope_freq_divisors(cfg_, l);
    for (size_t i = 0; i < div.size() && i < f.size(); ++i)
      if (div[i] != 1.0) f[i] = static_cast<float>(f[i] / div[i]);
  }
}

size_t InferenceModel::weight_bytes() const {
  size_t n = lm_head_.nbytes();
  for (const auto& l : layers_) {
    n +=
        l.q.nbytes() + l.k.nbytes() + l.v.nbytes() + l.o.nbytes() + l.up.nbytes() + l.down.nbytes();
    if (l.gate.data) n += l.gate.nbytes();
  }
  return n;
}

KVCache InferenceModel::new_cache(int ctx) const {
  if (ctx <= 0 || ctx > cfg_.block_size) ctx = cfg_.block_size;
  return KVCache(cfg_, ctx, kv_type_);
}

// ---- Forward ----

void InferenceModel::norm(const float* x, const float* w, const float* b, float* out, int64_t n,
                          Team& team) const {
  const int C = cfg_.n_embd;
  const float eps = cfg_.norm_eps;
  const bool layer_norm = cfg_.norm == NormKind::LayerNorm;
  team.parallel_for(n, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      if (layer_norm)
        layernorm_row(out + t * C, x + t * C, w, b, C, eps);
      else
        rmsnorm_row(out + t * C, x + t * C, w, C, eps);
    }
  });
}

namespace {

void add_bias(float* y, const std::vector<float>& b, int64_t t0, int64_t t1) {
  if (b.empty()) return;
  const size_t m = b.size();
  for (int64_t t = t0; t < t1; ++t)
    for (size_t i = 0; i < m; ++i) y[t * m + i] += b[i];
}

}  // namespace

void InferenceModel::attention(std::span<const Seq> seqs, int layer, const std::vector<int>& seq_of,
                               const std::vector<int>& pos_of, Team& team) {
  const int H = cfg_.n_head, hd = cfg_.head_dim(), group = cfg_.n_head / cfg_.n_kv_head;
  const int Q = H * hd;
  const int64_t N = static_cast<int64_t>(seq_of.size());
  const float scale = cfg_.attn_scale(), softcap = cfg_.attn_softcap;
  const int window = cfg_.window_at(layer);
  Scratch& s = *s_;
  // Runs of consecutive tokens of one sequence (forward_batch keeps a sequence's tokens
  // together). A long run (a prefill chunk) goes through attention_query_block per head and
  // block of queries, the rest one (token, head) at a time.
  struct Run {
    int64_t t0, n;
  };
  std::vector<Run> blocks;
  std::vector<int64_t> singles;
  for (int64_t t = 0; t < N;) {
    int64_t e = t + 1;
    while (e < N && seq_of[e] == seq_of[t] && pos_of[e] == pos_of[e - 1] + 1) ++e;
    if (e - t >= kQueryBlockMin) {
      for (int64_t b = t; b < e; b += kQueryBlockMax)
        blocks.push_back({b, std::min(kQueryBlockMax, e - b)});
    } else {
      for (int64_t u = t; u < e; ++u) singles.push_back(u);
    }
    t = e;
  }
  // Items: (block or single token, KV head), each doing the `group` query heads that read that
  // KV head, so its keys and values are fetched (and an F16 head widened) once for all of them.
  const int KVH = cfg_.n_kv_head;
  const int64_t nb = static_cast<int64_t>(blocks.size()) * KVH;
  const int64_t items = nb + static_cast<int64_t>(singles.size()) * KVH;
  team.parallel_for(items, 1, [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> sc, kv;  // Scores, and an F16 head's keys/values as f32.
    for (int64_t item = i0; item < i1; ++item) {
      if (item < nb) {
        const int kvh = static_cast<int>(item % KVH);
        const Run& r = blocks[item / KVH];
        const KVCache& cache = *seqs[seq_of[r.t0]].cache;
        const int first = pos_of[r.t0], P = first + static_cast<int>(r.n);
        sc.resize(static_cast<size_t>(r.n * P));
        const float *k = nullptr, *v = nullptr;
        if (cache.type() == KVType::F16) {
          const size_t len = static_cast<size_t>(P) * hd;
          kv.resize(2 * len);
          from_f16(kv.data(), cache.k16(layer, kvh), len);
          from_f16(kv.data() + len, cache.v16(layer, kvh), len);
          k = kv.data();
          v = kv.data() + len;
        } else {
          k = cache.k(layer, kvh);
          v = cache.v(layer, kvh);
        }
        for (int h = kvh * group; h < (kvh + 1) * group; ++h)
          attention_query_block(s.att.data() + r.t0 * Q + h * hd, static_cast<size_t>(Q), sc.data(),
                                s.q.data() + r.t0 * Q + h * hd, static_cast<size_t>(Q), k, v,
                                static_cast<size_t>(hd), static_cast<int>(r.n), first, hd, scale,
                                window, softcap);
        continue;
      }
      const int64_t t = singles[(item - nb) / KVH];
      const int kvh = static_cast<int>((item - nb) % KVH);
      const KVCache& cache = *seqs[seq_of[t]].cache;
      const int p = pos_of[t];
      // The keys this query sees: all before it, or the last `window` on a sliding layer.
      const int lo = window > 0 ? std::max(0, p + 1 - window) : 0, n = p + 1 - lo;
      const size_t at = static_cast<size_t>(lo) * hd;
      sc.resize(static_cast<size_t>(group) * n);
      float* out = s.att.data() + t * Q + kvh * group * hd;
      const float* q = s.q.data() + t * Q + kvh * group * hd;
      if (cache.type() == KVType::F16)
        attention_group_query_f16(out, sc.data(), q, group, cache.k16(layer, kvh) + at,
                                  cache.v16(layer, kvh) + at, static_cast<size_t>(hd), n, hd, scale,
                                  softcap);
      else
        attention_group_query(out, sc.data(), q, group, cache.k(layer, kvh) + at,
                              cache.v(layer, kvh) + at, static_cast<size_t>(hd), n, hd, scale,
                              softcap);
    }
  });
}

void InferenceModel::forward_batch(std::span<const Seq> seqs, std::vector<float>& logits,
                                   bool all_positions) {
  if (seqs.empty()) fail("forward_batch: no sequences");
  const int C = cfg_.n_embd, V = cfg_.vocab_size, F = cfg_.ffn_dim(), hd = cfg_.head_dim();
  const int Q = cfg_.n_head * hd, KV = cfg_.n_kv_head * hd;
  std::vector<int> seq_of, pos_of, last_of;
  std::set<const KVCache*> seen;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const Seq& sq = seqs[i];
    if (!sq.cache) fail("forward_batch: sequence {} has no KV cache", i);
    if (!seen.insert(sq.cache).second)
      fail("forward_batch: sequence {} shares its KV cache with another", i);
    if (sq.tokens.empty()) fail("forward_batch: sequence {} has no new tokens", i);
    const int64_t end =
        static_cast<int64_t>(sq.cache->size()) + static_cast<int64_t>(sq.tokens.size());
    if (end > sq.cache->capacity())
      fail(
          "sequence of {} tokens does not fit the context of {} tokens ({} already cached + {} "
          "new)",
          end, sq.cache->capacity(), sq.cache->size(), sq.tokens.size());
    for (int32_t id : sq.tokens)
      if (id < 0 || id >= V) fail("token id {} is outside the vocabulary [0, {})", id, V);
    for (size_t j = 0; j < sq.tokens.size(); ++j) {
      seq_of.push_back(static_cast<int>(i));
      pos_of.push_back(sq.cache->size() + static_cast<int>(j));
    }
    last_of.push_back(static_cast<int>(seq_of.size()) - 1);
  }
  const int64_t N = static_cast<int64_t>(seq_of.size());
  // The positions whose logits are wanted.
  std::vector<int> rows;
  if (all_positions) {
    for (int64_t t = 0; t < N; ++t) rows.push_back(static_cast<int>(t));
  } else {
    rows = last_of;
  }
  const int64_t M = static_cast<int64_t>(rows.size());
  // Threads: as many as asked for, but no more than the step has work for (a 1-token step of a
  // tiny model is faster alone than split).
  const int64_t flops = N * static_cast<int64_t>(weight_bytes());
  const int threads = flops < (1 << 18) ? 1 : std::max(1, omp_get_max_threads());
  Scratch& s = *s_;
  s.x.resize(N * C);
  s.xn.resize(N * C);
  s.q.resize(N * Q);
  s.k.resize(N * KV);
  s.v.resize(N * KV);
  s.att.resize(N * Q);
  s.h1.resize(N * F);
  s.h2.resize(N * F);
  s.mlp_out.resize(N * C);
  s.last.resize(M * C);
  logits.resize(static_cast<size_t>(M) * V);
  s.logits = logits.data();
  std::vector<int32_t> tok_of;
  for (const auto& sq : seqs) tok_of.insert(tok_of.end(), sq.tokens.begin(), sq.tokens.end());

  // One team for the whole step (team.h says why), OpenBLAS single-threaded inside it.
  if (!s.team || s.team->threads() != std::max(1, omp_get_max_threads()))
    s.team = std::make_unique<TeamState>(std::max(1, omp_get_max_threads()));
  {
    detail::BlasSingleThreaded blas_single;
    Team team(*s.team, threads == 1);
    forward_layers(seqs, tok_of, seq_of, pos_of, rows, team);
  }
  for (const auto& sq : seqs) sq.cache->advance(static_cast<int>(sq.tokens.size()));
}

void InferenceModel::forward_layers(std::span<const Seq> seqs, const std::vector<int32_t>& tok_of,
                                    const std::vector<int>& seq_of, const std::vector<int>& pos_of,
                                    const std::vector<int>& rows, Team& team) {
  const int C = cfg_.n_embd, F = cfg_.ffn_dim(), hd = cfg_.head_dim();
  const int Q = cfg_.n_head * hd, KV = cfg_.n_kv_head * hd;
  const int64_t N = static_cast<int64_t>(seq_of.size()), M = static_cast<int64_t>(rows.size());
  Scratch& s = *s_;
  const bool gated = cfg_.gated_mlp;
  static const std::vector<float> kNoBias;

  // Embeddings.
  team.parallel_for(N, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int32_t id = tok_of[t];
      if (tok_emb_.packed) {  // Tied to a packed LM head: the row back in ggml layout first.
        thread_local std::vector<uint8_t> row;
        row.resize(tok_emb_.row_bytes());
        tok_emb_.copy_row(id, row.data());
        dequantize_row(tok_emb_.type, row.data(), s.x.data() + t * C, C);
      } else {
        dequantize_row(tok_emb_.type, tok_emb_.row(id), s.x.data() + t * C, C);
      }
      if (cfg_.embedding_scale != 1.0f)  // Of the token embeddings only.
        for (int i = 0; i < C; ++i) s.x[t * C + i] *= cfg_.embedding_scale;
      if (!pos_emb_.empty()) {
        const float* pe = pos_emb_.data() + static_cast<size_t>(pos_of[t]) * C;
        for (int i = 0; i < C; ++i) s.x[t * C + i] += pe[i];
      }
    }
  });

  // Multiplies the normalised input by several weights (quantized once for all of them).
  auto project = [&](std::initializer_list<MatmulOut> outs, const float* in) {
    if (matmul_hook_)
      for (const MatmulOut& o : outs) matmul_hook_(layer_matrix_names_.at(o.w), in, N, o.w->cols);
    matmul_many(std::span<const MatmulOut>(outs.begin(), outs.size()), in, N, s.acts, team);
  };
  // y += r (the residual), token by token.
  auto residual = [&](float* y, const float* r, const std::vector<float>& bias) {
    team.parallel_for(N, 4, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        residual_add_row(y + t * C, r + t * C, bias.empty() ? nullptr : bias.data(), C);
    });
  };

  for (int l = 0; l < cfg_.n_layer; ++l) {
    Layer& L = layers_[l];
    for (const BlockStep step : block_steps(cfg_)) switch (step) {
        case BlockStep::AttnNorm:
          norm(s.x.data(), L.attn_norm_w.data(),
               L.attn_norm_b.empty() ? nullptr : L.attn_norm_b.data(), s.xn.data(), N, team);
          break;
        case BlockStep::Qkv:
          project({{&L.q, s.q.data()}, {&L.k, s.k.data()}, {&L.v, s.v.data()}}, s.xn.data());
          team.parallel_for(N, 4, [&](int64_t t0, int64_t t1) {
            add_bias(s.q.data(), L.q_b, t0, t1);
            add_bias(s.k.data(), L.k_b, t0, t1);
            add_bias(s.v.data(), L.v_b, t0, t1);
          });
          break;
        case BlockStep::QkNorm:
          team.parallel_for(N, 4, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) {
              for (int h = 0; h < cfg_.n_head; ++h) {
                float* q = s.q.data() + t * Q + h * hd;
                rmsnorm_row(q, q, L.q_norm_w.data(), hd, cfg_.norm_eps);
              }
              for (int h = 0; h < cfg_.n_kv_head; ++h) {
                float* k = s.k.data() + t * KV + h * hd;
                rmsnorm_row(k, k, L.k_norm_w.data(), hd, cfg_.norm_eps);
              }
            }
          });
          break;
        case BlockStep::Rope:
          team.parallel_for(N, 4, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) {
              rope_row(s.q.data() + t * Q, cfg_.n_head, hd, pos_of[t], L.inv_freq.data());
              rope_row(s.k.data() + t * KV, cfg_.n_kv_head, hd, pos_of[t], L.inv_freq.data());
            }
          });
          break;
        case BlockStep::Attention:
          team.parallel_for(N, 4, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t)
              seqs[seq_of[t]].cache->store(l, pos_of[t], s.k.data() + t * KV, s.v.data() + t * KV);
          });
          attention(seqs, l, seq_of, pos_of, team);
          break;
        case BlockStep::AttnOut:
          project({{&L.o, s.mlp_out.data()}}, s.att.data());
          break;
        case BlockStep::AttnPostNorm:  // The output bias joins before the norm.
          team.parallel_for(
              N, 4, [&](int64_t t0, int64_t t1) { add_bias(s.mlp_out.data(), L.o_b, t0, t1); });
          norm(s.mlp_out.data(), L.attn_post_norm_w.data(), nullptr, s.mlp_out.data(), N, team);
          break;
        case BlockStep::AttnResidual:
          residual(s.x.data(), s.mlp_out.data(), cfg_.post_norms ? kNoBias : L.o_b);
          break;
        case BlockStep::MlpNorm:
          norm(s.x.data(), L.mlp_norm_w.data(),
               L.mlp_norm_b.empty() ? nullptr : L.mlp_norm_b.data(), s.xn.data(), N, team);
          break;
        case BlockStep::MlpUp:
          if (gated)
            project({{&L.gate, s.h1.data()}, {&L.up, s.h2.data()}}, s.xn.data());
          else
            project({{&L.up, s.h1.data()}}, s.xn.data());
          break;
        case BlockStep::Activation:
          if (gated) {
            const auto glu = cfg_.activation == Activation::Silu ? swiglu_span : geglu_span;
            team.parallel_for(N * F, 1024, [&](int64_t i0, int64_t i1) {
              glu(s.h1.data() + i0, s.h1.data() + i0, s.h2.data() + i0,
                  static_cast<size_t>(i1 - i0));
            });
          } else {  // The up projection's bias joins the GELU's pass.
            team.parallel_for(N, 1, [&](int64_t t0, int64_t t1) {
              add_bias(s.h1.data(), L.up_b, t0, t1);
              gelu_span(s.h1.data() + t0 * F, s.h1.data() + t0 * F,
                        static_cast<size_t>((t1 - t0) * F));
            });
          }
          break;
        case BlockStep::MlpDown:
          project({{&L.down, s.mlp_out.data()}}, s.h1.data());
          break;
        case BlockStep::MlpPostNorm:
          team.parallel_for(
              N, 4, [&](int64_t t0, int64_t t1) { add_bias(s.mlp_out.data(), L.down_b, t0, t1); });
          norm(s.mlp_out.data(), L.mlp_post_norm_w.data(), nullptr, s.mlp_out.data(), N, team);
          break;
        case BlockStep::MlpResidual:
          residual(s.x.data(), s.mlp_out.data(), cfg_.post_norms ? kNoBias : L.down_b);
          break;
      }
  }

  // Final norm and classifier, only for the positions whose logits are wanted.
  team.parallel_for(M, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      std::memcpy(s.last.data() + i * C, s.x.data() + rows[i] * C, C * sizeof(float));
  });
  norm(s.last.data(), norm_w_.data(), norm_b_.empty() ? nullptr : norm_b_.data(), s.xn.data(), M,
       team);
  matmul(lm_head_, s.xn.data(), M, s.logits, s.acts, team);
  if (const float cap = cfg_.final_logit_softcap; cap > 0.0f) {
    const int64_t V = cfg_.vocab_size;
    team.parallel_for(M, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0 * V; i < i1 * V; ++i) s.logits[i] = cap * std::tanh(s.logits[i] / cap);
    });
  }
}

std::vector<float> InferenceModel::forward(KVCache& cache, std::span<const int32_t> tokens) {
  std::vector<float> logits;
  Seq s{&cache, tokens};
  forward_batch({&s, 1}, logits);
  return logits;
}

std::span<const float> InferenceModel::last_hidden() const {
  // forward_batch leaves the normalised rows it classified at the front of xn.
  return {s_->xn.data(), s_->last.size()};
}

}  // namespace sllm
