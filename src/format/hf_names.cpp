#include "sllm/format/hf_names.h"

#include <nlohmann/json.hpp>
#include <set>

#include "sllm/model/presets.h"

namespace sllm {

namespace {

// The row's names of the tensors c has: a fused "attn.qkv.*" counts when its q part exists.
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
    if (have.count(probe)) out.push_back({hf_prefix + n.theirs, std::move(ours)});
  }
  return out;
}

}  // namespace

const ModelPreset& hf_preset(const ModelConfig& c) {
  return exported_preset(c, "Hugging Face export");
}

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
  }
  j["torch_dtype"] = "float32";
  return j;
}

}  // namespace sllm
