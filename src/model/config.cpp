#include "sllm/model/config.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/model/model.h"
#include "sllm/model/presets.h"

namespace sllm {

using nlohmann::json;

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::Gelu:
      return "gelu";
    case Activation::GeluTanh:
      return "gelu_pytorch_tanh";
    case Activation::Silu:
      return "silu";
  }
  fail("internal: activation {}", static_cast<int>(a));
}

Activation parse_activation(const std::string& s) {
  if (s == "gelu") return Activation::Gelu;
  if (s == "gelu_pytorch_tanh" || s == "gelu_new") return Activation::GeluTanh;
  if (s == "silu" || s == "swish") return Activation::Silu;
  fail("unknown activation '{}' (expected gelu, gelu_pytorch_tanh, gelu_new or silu)", s);
}

int ModelConfig::ffn_dim() const {
  if (intermediate_size > 0) return intermediate_size;
  if (!gated_mlp) return 4 * n_embd;
  // Gated: 2/3 of 4C, rounded up to a multiple of 32 for SIMD-friendly GEMMs.
  int f = (8 * n_embd) / 3;
  return (f + 31) / 32 * 32;
}

bool ModelConfig::sliding_window_at(int layer) const {
  return layer < static_cast<int>(sliding_window.size()) && sliding_window[layer] > 0;
}

float ModelConfig::attn_scale() const {
  const float d = query_pre_attn_scalar > 0.0f ? query_pre_attn_scalar : head_dim();
  return 1.0f / std::sqrt(d);
}

float rope_theta_at(const ModelConfig& c, int layer) {
  return c.rope_local_theta > 0.0f && c.sliding_window_at(layer) ? c.rope_local_theta
                                                                 : c.rope_theta;
}

std::vector<double> rope_freq_divisors(const ModelConfig& c, int layer) {
  const int rot = static_cast<int>(c.head_dim() * c.rotary_fraction) / 2 * 2, half = rot / 2;
  std::vector<double> div(static_cast<size_t>(half), 1.0);
  const RopeScaling& s = c.rope_scaling;
  if (s.type.empty() || (c.rope_local_theta > 0.0f && c.sliding_window_at(layer))) return div;
  if (s.type == "linear") {
    std::fill(div.begin(), div.end(), static_cast<double>(s.factor));
  } else if (s.type == "llama3") {
    // Wavelengths shorter than original/high_freq_factor keep their frequency, longer than
    // original/low_freq_factor are divided by factor, and the band between interpolates.
    const double old = s.original_max_position, lo = s.low_freq_factor, hi = s.high_freq_factor;
    const double factor = s.factor;
    for (int i = 0; i < half; ++i) {
      const double f = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / rot);
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen < old / hi) continue;
      if (wavelen > old / lo) {
        div[i] = factor;
        continue;
      }
      const double smooth = (old / wavelen - lo) / (hi - lo);
      div[i] = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
  } else if (s.type == "freq_factors") {
    if (static_cast<int>(s.freq_factors.size()) != half)
      fail("rope_freqs has {} factors for {} rotated pairs", s.freq_factors.size(), half);
    for (int i = 0; i < half; ++i) div[i] = s.freq_factors[i];
  } else {
    fail("rope_scaling type '{}' is not supported (sllm implements linear and llama3)", s.type);
  }
  return div;
}

void ModelConfig::validate() const {
  auto need = [](bool ok, const char* field, long v, const char* why) {
    if (!ok) fail("invalid model config: {} = {}: {}", field, v, why);
  };
  need(vocab_size >= 2 && vocab_size <= 4'000'000, "vocab_size", vocab_size,
       "must be in [2, 4000000]");
  need(n_layer >= 1 && n_layer <= 1024, "num_hidden_layers", n_layer, "must be in [1, 1024]");
  need(n_head >= 1 && n_head <= 1024, "num_attention_heads", n_head, "must be in [1, 1024]");
  need(n_embd >= 1 && n_embd <= 65536, "hidden_size", n_embd, "must be in [1, 65536]");
  need(head_size >= 0 && head_size <= 65536, "head_dim", head_size, "must be in [0, 65536]");
  need(head_size > 0 || n_embd % n_head == 0, "hidden_size", n_embd,
       "must be divisible by num_attention_heads");
  need(n_kv_head >= 1 && n_head % n_kv_head == 0, "num_key_value_heads", n_kv_head,
       "must be >= 1 and divide num_attention_heads");
  need(positions != Positions::Rope || head_dim() % 2 == 0, "head_dim", head_dim(),
       "RoPE needs an even head dimension");
  need(block_size >= 1 && block_size <= 1'048'576, "max_position_embeddings", block_size,
       "must be in [1, 1048576]");
  need(intermediate_size >= 0 && intermediate_size <= 1'048'576, "intermediate_size",
       intermediate_size, "must be in [0, 1048576]");
  if (!(norm_eps > 0.0f && norm_eps < 1.0f))
    fail("invalid model config: norm eps {} must be in (0, 1)", norm_eps);
  if (norm == NormKind::RMSNorm && norm_bias)
    fail("invalid model config: norm_bias: RMSNorm has no bias");
  if (!(rope_theta > 0.0f))
    fail("invalid model config: rope_theta {} must be positive", rope_theta);
  if (!(rotary_fraction > 0.0f && rotary_fraction <= 1.0f))
    fail("invalid model config: partial_rotary_factor {} must be in (0, 1]", rotary_fraction);
  if (!(rope_scaling.factor > 0.0f))
    fail("invalid model config: rope_scaling factor {} must be positive", rope_scaling.factor);
  if (rope_scaling.type == "llama3" &&
      !(rope_scaling.original_max_position > 0 && rope_scaling.low_freq_factor > 0.0f &&
        rope_scaling.high_freq_factor > rope_scaling.low_freq_factor))
    fail(
        "invalid model config: rope_scaling llama3 needs original_max_position_embeddings > 0 and "
        "0 < low_freq_factor < high_freq_factor");
  for (float f : rope_scaling.freq_factors)
    if (!(f > 0.0f && std::isfinite(f)))
      fail("invalid model config: rope frequency factor {} must be positive", f);
  if (!(rope_local_theta >= 0.0f && std::isfinite(rope_local_theta)))
    fail("invalid model config: rope_local_base_freq {} must be >= 0", rope_local_theta);
  if (!(query_pre_attn_scalar >= 0.0f && std::isfinite(query_pre_attn_scalar)))
    fail("invalid model config: query_pre_attn_scalar {} must be >= 0", query_pre_attn_scalar);
  if (!sliding_window.empty() && static_cast<int>(sliding_window.size()) != n_layer)
    fail("invalid model config: sliding_window has {} entries for {} layers", sliding_window.size(),
         n_layer);
  for (int w : sliding_window)
    if (w < 0) fail("invalid model config: sliding_window {} must be >= 0", w);
  for (auto [v, name] : {std::pair{attn_softcap, "attn_logit_softcapping"},
                         std::pair{final_logit_softcap, "final_logit_softcapping"}})
    if (!(v >= 0.0f && std::isfinite(v))) fail("invalid model config: {} {} must be >= 0", name, v);
  if (!(embedding_scale > 0.0f && std::isfinite(embedding_scale)))
    fail("invalid model config: embedding_scale {} must be positive", embedding_scale);
  if (!(initializer_range > 0.0f && initializer_range <= 1.0f))
    fail("invalid model config: initializer_range {} must be in (0, 1]", initializer_range);
}

namespace {

struct FeatureInfo {
  Feature f;
  const char* name;
  bool (*used)(const ModelConfig&);
};

const FeatureInfo kFeatures[] = {
    {Feature::HeadDim, "head_dim independent of hidden_size",
     [](const ModelConfig& c) { return c.head_size > 0 && c.head_size * c.n_head != c.n_embd; }},
    {Feature::NormUnitOffset, "Gemma's (1+w) norm",
     [](const ModelConfig& c) { return c.norm_unit_offset; }},
    {Feature::PostNorms, "sandwich (post) norms",
     [](const ModelConfig& c) { return c.post_norms; }},
    {Feature::RopeScaling, "RoPE scaling",
     [](const ModelConfig& c) { return !c.rope_scaling.type.empty(); }},
    {Feature::PartialRotary, "partial rotary",
     [](const ModelConfig& c) { return c.rotary_fraction != 1.0f; }},
    {Feature::RotateHalf, "rotate-half RoPE layout",
     [](const ModelConfig& c) { return c.rope_layout == RopeLayout::RotateHalf; }},
    {Feature::QkNorm, "qk-norm", [](const ModelConfig& c) { return c.qk_norm; }},
    {Feature::SlidingWindow, "sliding-window attention",
     [](const ModelConfig& c) {
       for (int l = 0; l < c.n_layer; ++l)
         if (c.sliding_window_at(l)) return true;
       return false;
     }},
    {Feature::AttnSoftcap, "attention softcap",
     [](const ModelConfig& c) { return c.attn_softcap > 0.0f; }},
    {Feature::FinalSoftcap, "final-logit softcap",
     [](const ModelConfig& c) { return c.final_logit_softcap > 0.0f; }},
    {Feature::EmbeddingScale, "embedding scale",
     [](const ModelConfig& c) { return c.embedding_scale != 1.0f; }},
    {Feature::ExactGelu, "exact (erf) gelu",
     [](const ModelConfig& c) { return c.activation == Activation::Gelu; }},
    {Feature::GatedGelu, "gated gelu MLP (GeGLU)",
     [](const ModelConfig& c) { return c.gated_mlp && c.activation != Activation::Silu; }},
    {Feature::PlainSilu, "plain (ungated) silu MLP",
     [](const ModelConfig& c) { return !c.gated_mlp && c.activation == Activation::Silu; }},
    {Feature::GatedMlpBias, "biases on a gated MLP",
     [](const ModelConfig& c) { return c.gated_mlp && c.mlp_bias; }},
    {Feature::MixedBiases, "biases on only some projections and norms (as Qwen2's q/k/v biases)",
     [](const ModelConfig& c) { return !c.all_biases() && !c.no_biases(); }},
    {Feature::UnbiasedLayerNorm, "LayerNorm without bias",
     [](const ModelConfig& c) { return c.norm == NormKind::LayerNorm && !c.norm_bias; }},
    {Feature::GroupedQueryLearned, "grouped-query attention with learned positions",
     [](const ModelConfig& c) {
       return c.n_kv_head != c.n_head && c.positions == Positions::Learned;
     }},
    {Feature::QueryPreAttnScalar, "query_pre_attn_scalar other than head_dim",
     [](const ModelConfig& c) {
       return c.query_pre_attn_scalar > 0.0f && c.query_pre_attn_scalar != c.head_dim();
     }},
    {Feature::LocalRopeBase, "a separate RoPE base for sliding-window layers",
     [](const ModelConfig& c) { return c.rope_local_theta > 0.0f; }},
};

}  // namespace

const char* feature_name(Feature f) {
  for (const FeatureInfo& i : kFeatures)
    if (i.f == f) return i.name;
  fail("internal: feature {}", static_cast<uint32_t>(f));
}

bool uses_feature(const ModelConfig& c, Feature f) {
  for (const FeatureInfo& i : kFeatures)
    if (i.f == f) return i.used(c);
  fail("internal: feature {}", static_cast<uint32_t>(f));
}

void require_supported(const ModelConfig& c, const char* consumer, uint32_t supported) {
  for (const FeatureInfo& i : kFeatures)
    if (!(supported & static_cast<uint32_t>(i.f)) && i.used(c))
      fail("{}: {} is not supported", consumer, i.name);
}

float width_scaled_init_std(int n_embd) {
  if (n_embd < 1) fail("width_scaled_init_std: width {} must be positive", n_embd);
  return static_cast<float>(0.02 * std::sqrt(768.0 / n_embd));
}

json ModelConfig::to_json() const {
  const ModelPreset& base = closest_preset(*this, true);
  const ModelConfig& d = base.features;
  json j;
  j["model_type"] = base.name;
  j["vocab_size"] = vocab_size;
  j["num_hidden_layers"] = n_layer;
  j["num_attention_heads"] = n_head;
  j["num_key_value_heads"] = n_kv_head;
  j["hidden_size"] = n_embd;
  j["intermediate_size"] = ffn_dim();
  j["max_position_embeddings"] = block_size;
  j[norm == NormKind::LayerNorm ? "layer_norm_epsilon" : "rms_norm_eps"] = norm_eps;
  if (positions == Positions::Rope) j["rope_theta"] = rope_theta;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["initializer_range"] = initializer_range;
  // Features that differ from the model_type's, each under its own key.
  if (head_size > 0) j["head_dim"] = head_size;
  if (norm != d.norm) j["norm"] = norm == NormKind::LayerNorm ? "layer_norm" : "rms_norm";
  if (base.optional_biases && no_biases() && !d.no_biases()) {
    j["bias"] = false;
  } else {
    if (norm_bias != d.norm_bias) j["norm_bias"] = norm_bias;
    if (qkv_bias != d.qkv_bias) j["qkv_bias"] = qkv_bias;
    if (attn_out_bias != d.attn_out_bias) j["attention_out_bias"] = attn_out_bias;
    if (mlp_bias != d.mlp_bias) j["mlp_bias"] = mlp_bias;
  }
  if (norm_unit_offset) j["norm_unit_offset"] = true;
  if (post_norms) j["post_norms"] = true;
  if (positions != d.positions)
    j["position_embedding"] = positions == Positions::Rope ? "rope" : "learned";
  if (!rope_scaling.type.empty()) {
    json r = {{"rope_type", rope_scaling.type}, {"factor", rope_scaling.factor}};
    if (rope_scaling.original_max_position > 0)
      r["original_max_position_embeddings"] = rope_scaling.original_max_position;
    if (rope_scaling.low_freq_factor != 0.0f) r["low_freq_factor"] = rope_scaling.low_freq_factor;
    if (rope_scaling.high_freq_factor != 0.0f)
      r["high_freq_factor"] = rope_scaling.high_freq_factor;
    if (!rope_scaling.short_factor.empty()) r["short_factor"] = rope_scaling.short_factor;
    if (!rope_scaling.long_factor.empty()) r["long_factor"] = rope_scaling.long_factor;
    if (!rope_scaling.freq_factors.empty()) r["freq_factors"] = rope_scaling.freq_factors;
    j["rope_scaling"] = r;
  }
  if (rotary_fraction != 1.0f) j["partial_rotary_factor"] = rotary_fraction;
  if (rope_layout != RopeLayout::Interleaved) j["rope_layout"] = "rotate_half";
  if (qk_norm) j["qk_norm"] = true;
  if (!sliding_window.empty()) j["sliding_window"] = sliding_window;
  if (attn_softcap > 0.0f) j["attn_logit_softcapping"] = attn_softcap;
  if (query_pre_attn_scalar > 0.0f) j["query_pre_attn_scalar"] = query_pre_attn_scalar;
  if (rope_local_theta > 0.0f) j["rope_local_base_freq"] = rope_local_theta;
  if (activation != d.activation) j["hidden_act"] = activation_name(activation);
  if (gated_mlp != d.gated_mlp) j["gated_mlp"] = gated_mlp;
  if (embedding_scale != 1.0f) j["embedding_scale"] = embedding_scale;
  if (final_logit_softcap > 0.0f) j["final_logit_softcapping"] = final_logit_softcap;
  return j;
}

ModelConfig ModelConfig::from_json(const json& j) {
  if (!j.is_object()) fail("model config must be a JSON object");
  ModelConfig c;
  auto get_int = [&](const char* key, int& out, bool required) {
    if (!j.contains(key)) {
      if (required) fail("model config is missing '{}'", key);
      return;
    }
    if (!j[key].is_number_integer()) fail("model config field '{}' must be an integer", key);
    long long v = j[key].get<long long>();
    if (v < -1 || v > 1'000'000'000) fail("model config field '{}' = {} is out of range", key, v);
    out = static_cast<int>(v);
  };
  auto get_float = [&](const json& o, const char* key, float& out) {
    if (!o.contains(key)) return;
    if (!o[key].is_number()) fail("model config field '{}' must be a number", key);
    out = o[key].get<float>();
  };
  auto get_bool = [&](const char* key, bool& out) {
    if (!j.contains(key)) return;
    if (!j[key].is_boolean()) fail("model config field '{}' must be a boolean", key);
    out = j[key].get<bool>();
  };
  // One of a few strings; returns the index of the match.
  auto get_enum = [&](const char* key, std::initializer_list<const char*> names, int& out) {
    if (!j.contains(key)) return;
    if (!j[key].is_string()) fail("model config field '{}' must be a string", key);
    const std::string v = j[key].get<std::string>();
    int i = 0;
    for (const char* n : names) {
      if (v == n) {
        out = i;
        return;
      }
      ++i;
    }
    fail("model config field '{}' = '{}' is not one of the known values", key, v);
  };
  if (!j.contains("model_type") || !j["model_type"].is_string())
    fail("model config needs a string 'model_type'");
  apply_preset(c, preset(j["model_type"].get<std::string>()));
  get_int("vocab_size", c.vocab_size, true);
  get_int("num_hidden_layers", c.n_layer, true);
  get_int("num_attention_heads", c.n_head, true);
  c.n_kv_head = c.n_head;
  get_int("num_key_value_heads", c.n_kv_head, false);
  get_int("hidden_size", c.n_embd, true);
  get_int("head_dim", c.head_size, false);
  get_int("intermediate_size", c.intermediate_size, false);
  get_int("max_position_embeddings", c.block_size, true);
  int e = static_cast<int>(c.norm);
  get_enum("norm", {"layer_norm", "rms_norm"}, e);
  c.norm = static_cast<NormKind>(e);
  get_float(j, c.norm == NormKind::LayerNorm ? "layer_norm_epsilon" : "rms_norm_eps", c.norm_eps);
  e = static_cast<int>(c.positions);
  get_enum("position_embedding", {"learned", "rope"}, e);
  c.positions = static_cast<Positions>(e);
  get_float(j, "rope_theta", c.rope_theta);
  get_float(j, "initializer_range", c.initializer_range);
  get_bool("tie_word_embeddings", c.tie_word_embeddings);
  if (j.contains("bias")) {
    bool b = true;
    get_bool("bias", b);
    c.set_biases(b);
  }
  get_bool("norm_bias", c.norm_bias);
  get_bool("qkv_bias", c.qkv_bias);
  get_bool("attention_out_bias", c.attn_out_bias);
  get_bool("mlp_bias", c.mlp_bias);
  get_bool("norm_unit_offset", c.norm_unit_offset);
  get_bool("post_norms", c.post_norms);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const json& r = j["rope_scaling"];
    if (!r.is_object() || !r.contains("rope_type") || !r["rope_type"].is_string())
      fail("model config field 'rope_scaling' must be an object with a string 'rope_type'");
    RopeScaling& s = c.rope_scaling;
    s.type = r["rope_type"].get<std::string>();
    get_float(r, "factor", s.factor);
    if (r.contains("original_max_position_embeddings")) {
      if (!r["original_max_position_embeddings"].is_number_integer())
        fail("model config field 'original_max_position_embeddings' must be an integer");
      s.original_max_position = r["original_max_position_embeddings"].get<int>();
    }
    get_float(r, "low_freq_factor", s.low_freq_factor);
    get_float(r, "high_freq_factor", s.high_freq_factor);
    for (auto [key, out] :
         {std::pair{"short_factor", &s.short_factor}, std::pair{"long_factor", &s.long_factor},
          std::pair{"freq_factors", &s.freq_factors}}) {
      if (!r.contains(key)) continue;
      if (!r[key].is_array()) fail("model config field '{}' must be an array", key);
      for (const json& x : r[key]) {
        if (!x.is_number()) fail("model config field '{}' must hold numbers", key);
        out->push_back(x.get<float>());
      }
    }
  }
  get_float(j, "partial_rotary_factor", c.rotary_fraction);
  e = static_cast<int>(c.rope_layout);
  get_enum("rope_layout", {"interleaved", "rotate_half"}, e);
  c.rope_layout = static_cast<RopeLayout>(e);
  get_bool("qk_norm", c.qk_norm);
  if (j.contains("sliding_window")) {
    if (!j["sliding_window"].is_array())
      fail("model config field 'sliding_window' must be an array (a window per layer)");
    for (const json& x : j["sliding_window"]) {
      if (!x.is_number_integer()) fail("model config field 'sliding_window' must hold integers");
      c.sliding_window.push_back(x.get<int>());
    }
  }
  get_float(j, "attn_logit_softcapping", c.attn_softcap);
  get_float(j, "query_pre_attn_scalar", c.query_pre_attn_scalar);
  get_float(j, "rope_local_base_freq", c.rope_local_theta);
  if (j.contains("hidden_act")) {
    if (!j["hidden_act"].is_string()) fail("model config field 'hidden_act' must be a string");
    c.activation = parse_activation(j["hidden_act"].get<std::string>());
  }
  get_bool("gated_mlp", c.gated_mlp);
  get_float(j, "embedding_scale", c.embedding_scale);
  get_float(j, "final_logit_softcapping", c.final_logit_softcap);
  c.validate();
  return c;
}

std::vector<ParamSpec> param_specs(const ModelConfig& c) {
  std::vector<ParamSpec> out;
  size_t off = 0;
  auto add = [&](std::string name, std::vector<int64_t> shape, bool decay) {
    ParamSpec p;
    p.name = std::move(name);
    p.shape = std::move(shape);
    p.numel = 1;
    for (auto d : p.shape) p.numel *= static_cast<size_t>(d);
    p.offset = off;
    p.decay = decay;
    off += p.numel;
    out.push_back(std::move(p));
  };
  const int64_t C = c.n_embd, V = c.vocab_size, F = c.ffn_dim(), hd = c.head_dim();
  const int64_t Q = c.n_head * hd, KV = c.n_kv_head * hd;
  const bool nb = c.norm_bias, mb = c.mlp_bias;
  add("tok_embeddings.weight", {V, C}, false);
  if (c.positions == Positions::Learned) add("pos_embeddings.weight", {c.block_size, C}, false);
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string L = "layers." + std::to_string(i) + ".";
    add(L + "attn_norm.weight", {C}, false);
    if (nb) add(L + "attn_norm.bias", {C}, false);
    add(L + "attn.q.weight", {Q, C}, true);
    add(L + "attn.k.weight", {KV, C}, true);
    add(L + "attn.v.weight", {KV, C}, true);
    if (c.qkv_bias) {
      add(L + "attn.q.bias", {Q}, false);
      add(L + "attn.k.bias", {KV}, false);
      add(L + "attn.v.bias", {KV}, false);
    }
    if (c.qk_norm) {
      add(L + "attn.q_norm.weight", {hd}, false);
      add(L + "attn.k_norm.weight", {hd}, false);
    }
    add(L + "attn.o.weight", {C, Q}, true);
    if (c.attn_out_bias) add(L + "attn.o.bias", {C}, false);
    if (c.post_norms) add(L + "attn_post_norm.weight", {C}, false);
    add(L + "mlp_norm.weight", {C}, false);
    if (nb) add(L + "mlp_norm.bias", {C}, false);
    if (c.gated_mlp) add(L + "mlp.gate.weight", {F, C}, true);
    add(L + "mlp.up.weight", {F, C}, true);
    if (c.gated_mlp && mb) add(L + "mlp.gate.bias", {F}, false);
    if (mb) add(L + "mlp.up.bias", {F}, false);
    add(L + "mlp.down.weight", {C, F}, true);
    if (mb) add(L + "mlp.down.bias", {C}, false);
    if (c.post_norms) add(L + "mlp_post_norm.weight", {C}, false);
  }
  add("norm.weight", {C}, false);
  if (nb) add("norm.bias", {C}, false);
  if (!c.tie_word_embeddings) add("lm_head.weight", {V, C}, true);
  return out;
}

size_t num_params(const ModelConfig& c) {
  auto specs = param_specs(c);
  return specs.back().offset + specs.back().numel;
}

MemoryEstimate estimate_training_memory(const ModelConfig& c, int batch, int seq_len, bool bf16) {
  MemoryEstimate m;
  const size_t P = num_params(c);
  m.params = P * 4;
  m.grads = P * 4;
  // Batch shards' own gradient arenas (Model::set_batch_shards): as many as fit the budget,
  // whatever the thread count.
  const size_t arena = P * 4, budget = Model::kShardGradBytes;
  if (arena <= budget) m.grads += budget / arena * arena;
  m.optimizer = P * 8;
  // Saved activations per token per layer, in floats: norms, q/k/v, attention output, MLP
  // hidden (pre and post activation), residuals; plus per-head attention probabilities.
  const size_t BT = static_cast<size_t>(batch) * seq_len;
  const size_t C = c.n_embd, F = c.ffn_dim(), kv = static_cast<size_t>(c.n_kv_head) * c.head_dim();
  // The features' own: q/k before qk-norm and its rstd, the branch outputs under post norms.
  const size_t heads = c.qk_norm ? static_cast<size_t>(c.n_head + c.n_kv_head) : 0;
  const size_t per_layer = BT * (6 * C + 2 * kv + 3 * F) +
                           static_cast<size_t>(batch) * c.n_head * seq_len * seq_len +
                           BT * heads * (c.head_dim() + 1) + (c.post_norms ? BT * 2 * (C + 1) : 0);
  // Logits and their gradient, and tanh of the logits under a final-logit softcap.
  const size_t logits =
      BT * static_cast<size_t>(c.vocab_size) * (c.final_logit_softcap > 0.0f ? 3 : 2);
  m.activations = (per_layer * c.n_layer + logits + BT * C * 4) * 4;
  if (bf16) {
    const size_t Q = static_cast<size_t>(c.n_head) * c.head_dim();
    m.params += P * 2;
    m.activations += (BT * (2 * C + Q + F) * c.n_layer + BT * c.vocab_size) * 2;
  }
  return m;
}

double flops_per_token(const ModelConfig& c, int seq_len) {
  // The PaLM / nanoGPT / llm.c convention: 6 FLOPs per matmul parameter per token (forward 2,
  // backward 4) plus 12 * L * C * T for attention scores and the weighted sum. Lookups are free:
  // with tied embeddings the one [V,C] matrix counts once, as the LM head.
  double n = static_cast<double>(num_params(c));
  if (!c.tie_word_embeddings) n -= static_cast<double>(c.vocab_size) * c.n_embd;
  if (c.positions == Positions::Learned) n -= static_cast<double>(c.block_size) * c.n_embd;
  double attn = 12.0 * c.n_layer * static_cast<double>(c.n_embd) * seq_len;
  return 6.0 * n + attn;
}

}  // namespace sllm
