#include "sllm/format/hf_names.h"

#include <nlohmann/json.hpp>
#include <set>

#include "sllm/common/error.h"
#include "sllm/model/presets.h"

namespace sllm {

namespace {

// The row's names of the tensors c has: a fused "attn.qkv.*" counts when its q part exists, a
// fused "mlp.gate_up.*" when its gate part does.
std::vector<std::pair<std::string, std::string>> present(const ModelConfig& c,
                                                         std::span<const TensorName> names,
                                                         const std::string& ours_prefix,
                                                         const std::string& hf_prefix) {
  std::set<std::string> have;
  for (const ParamSpec& s : param_specs(c))
    if (s.name.starts_with(ours_prefix) || ours_prefix.empty()) have.insert(s.name);
  std::vector<std::pair<std::string, std::string>> out;
  for (const TensorName& n : names) {
    std::string ours = ours_prefix + n.ours;
    std::string probe = ours;
    if (const size_t f = probe.find(".attn.qkv."); f != std::string::npos)
      probe.replace(f, 10, ".attn.q.");
    if (const size_t f = probe.find(".mlp.gate_up."); f != std::string::npos)
      probe.replace(f, 13, ".mlp.gate.");
    if (have.count(probe)) out.push_back({hf_prefix + n.theirs, std::move(ours)});
  }
  return out;
}

}  // namespace

namespace {

// The fields config.json does not carry, and the forms of one model that read back
// differently (a default made explicit), set alike so that configs compare by the model.
ModelConfig comparable(ModelConfig c) {
  c.intermediate_size = c.ffn_dim();
  c.head_size = c.head_dim();
  if (c.query_pre_attn_scalar == static_cast<float>(c.head_dim())) c.query_pre_attn_scalar = 0.0f;
  bool windows = false;
  for (int w : c.sliding_window) windows |= w > 0;
  if (!windows) c.sliding_window.clear();
  c.initializer_range = 0.02f;
  return c;
}

}  // namespace

const ModelPreset& hf_preset(const ModelConfig& c) {
  return export_family(c, "Hugging Face export", false);
}

const ModelPreset& export_family(const ModelConfig& c, const char* consumer, bool gguf) {
  try {
    return exported_preset(c, consumer);
  } catch (const Error&) {
    // A family whose config.json carries c's features (rope scaling, windows, softcaps, ...):
    // the first row whose config.json reads back as c.
    const ModelConfig want = comparable(c);
    for (const ModelPreset& p : model_presets()) {
      if (!p.hf || p.hf->style != HfStyle::Llama || (gguf && !p.gguf_arch)) continue;
      try {
        if (comparable(hf_config_from_json(hf_config_to_json(c, p), "config.json")) == want)
          return p;
      } catch (const Error&) {
      }
    }
    throw;
  }
}

namespace {

// The window every sliding layer has (0: none); sllm::Error when they differ, which no
// config.json can say.
int common_window(const ModelConfig& c) {
  int w = 0;
  for (int x : c.sliding_window) {
    if (x > 0 && w > 0 && x != w)
      fail("Hugging Face export: sliding windows of different sizes ({} and {}) are not supported",
           w, x);
    if (x > 0) w = x;
  }
  return w;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> hf_global_names(const ModelConfig& c,
                                                                 const ModelPreset& p) {
  return present(c, p.hf->globals, "", "");  // lm_head only when untied
}

std::vector<std::pair<std::string, std::string>> hf_layer_names(const ModelConfig& c,
                                                                const ModelPreset& p, int i) {
  return present(c, p.hf->layer, "layers." + std::to_string(i) + ".",
                 p.hf->layer_prefix + std::to_string(i) + ".");
}

bool hf_is_conv1d(const std::string& n) {
  return n.ends_with(".weight") &&
         (n.find("c_attn") != std::string::npos || n.find("c_proj") != std::string::npos ||
          n.find("c_fc") != std::string::npos);
}

nlohmann::json hf_config_to_json(const ModelConfig& c, const ModelPreset& p) {
  nlohmann::json j;
  j["architectures"] = {p.hf_architecture};
  j["model_type"] = p.hf_model_type;
  if (p.hf->style == HfStyle::Gpt2) {
    j["n_embd"] = c.n_embd;
    j["n_layer"] = c.n_layer;
    j["n_head"] = c.n_head;
    j["n_positions"] = c.block_size;
    j["n_ctx"] = c.block_size;
    j["n_inner"] = c.ffn_dim();
    j["vocab_size"] = c.vocab_size;
    j["layer_norm_epsilon"] = c.norm_eps;
    j["activation_function"] = "gelu_new";
    j["tie_word_embeddings"] = c.tie_word_embeddings;
  } else {
    j["hidden_size"] = c.n_embd;
    j["num_hidden_layers"] = c.n_layer;
    j["num_attention_heads"] = c.n_head;
    j["num_key_value_heads"] = c.n_kv_head;
    j["intermediate_size"] = c.ffn_dim();
    j["max_position_embeddings"] = c.block_size;
    j["vocab_size"] = c.vocab_size;
    j["rms_norm_eps"] = c.norm_eps;
    j["rope_theta"] = c.rope_theta;
    j["hidden_act"] = activation_name(c.activation);
    if (p.hf_sliding_window_key) j[p.hf_sliding_window_key] = false;
    j["tie_word_embeddings"] = c.tie_word_embeddings;
    // The family's own fields, each where c has it (the loader reads them back).
    if (c.head_size > 0) j["head_dim"] = c.head_size;
    if (c.attn_out_bias) j["attention_bias"] = true;
    if (c.mlp_bias) j["mlp_bias"] = true;
    const RopeScaling& r = c.rope_scaling;
    if (r.type == "linear") {
      j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", r.factor}};
    } else if (r.type == "llama3") {
      j["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", r.factor},
                           {"low_freq_factor", r.low_freq_factor},
                           {"high_freq_factor", r.high_freq_factor},
                           {"original_max_position_embeddings", r.original_max_position}};
    } else if (!r.type.empty()) {
      fail("Hugging Face export: RoPE scaling '{}' has no config.json form", r.type);
    }
    // Gemma's fields only in Gemma's config.json (transformers' other configs ignore them).
    if (p.features.rope_local_theta > 0.0f && c.rope_local_theta > 0.0f)
      j["rope_local_base_freq"] = c.rope_local_theta;
    if (p.sqrt_embedding_scale) {
      if (c.query_pre_attn_scalar > 0.0f) j["query_pre_attn_scalar"] = c.query_pre_attn_scalar;
      j["attn_logit_softcapping"] =
          c.attn_softcap > 0.0f ? nlohmann::json(c.attn_softcap) : nlohmann::json();
      j["final_logit_softcapping"] =
          c.final_logit_softcap > 0.0f ? nlohmann::json(c.final_logit_softcap) : nlohmann::json();
      j["hidden_activation"] = activation_name(c.activation);
    }
    // Windows only for the families whose config.json has them.
    if (const int w = common_window(c); w > 0 && p.window_layers != WindowLayers::None) {
      j["sliding_window"] = w;
      // Each layer's kind (transformers' layer_types), unless the family's layout says it.
      if (p.window_layers != WindowLayers::Every) {
        nlohmann::json types = nlohmann::json::array();
        for (int i = 0; i < c.n_layer; ++i)
          types.push_back(c.sliding_window_at(i) ? "sliding_attention" : "full_attention");
        j["layer_types"] = types;
      }
    } else if (p.window_layers != WindowLayers::None) {
      j["sliding_window"] = nullptr;
    }
  }
  j["torch_dtype"] = "float32";
  return j;
}

}  // namespace sllm
