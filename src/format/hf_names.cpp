#include "sllm/format/hf_names.h"

#include <nlohmann/json.hpp>

namespace sllm {

std::vector<std::pair<std::string, std::string>> hf_global_names(const ModelConfig& c) {
  if (c.arch == Arch::GPT2)
    return {{"wte.weight", "tok_embeddings.weight"},
            {"wpe.weight", "pos_embeddings.weight"},
            {"ln_f.weight", "norm.weight"},
            {"ln_f.bias", "norm.bias"},
            {"lm_head.weight", "lm_head.weight"}};
  return {{"embed_tokens.weight", "tok_embeddings.weight"},
          {"norm.weight", "norm.weight"},
          {"lm_head.weight", "lm_head.weight"}};
}

std::vector<std::pair<std::string, std::string>> hf_layer_names(const ModelConfig& c, int i) {
  const std::string L = "layers." + std::to_string(i) + ".";
  if (c.arch == Arch::GPT2) {
    const std::string H = "h." + std::to_string(i) + ".";
    return {{H + "ln_1.weight", L + "attn_norm.weight"},
            {H + "ln_1.bias", L + "attn_norm.bias"},
            {H + "attn.c_attn.weight", L + "attn.qkv.weight"},
            {H + "attn.c_attn.bias", L + "attn.qkv.bias"},
            {H + "attn.c_proj.weight", L + "attn.o.weight"},
            {H + "attn.c_proj.bias", L + "attn.o.bias"},
            {H + "ln_2.weight", L + "mlp_norm.weight"},
            {H + "ln_2.bias", L + "mlp_norm.bias"},
            {H + "mlp.c_fc.weight", L + "mlp.up.weight"},
            {H + "mlp.c_fc.bias", L + "mlp.up.bias"},
            {H + "mlp.c_proj.weight", L + "mlp.down.weight"},
            {H + "mlp.c_proj.bias", L + "mlp.down.bias"}};
  }
  const std::string H = "layers." + std::to_string(i) + ".";
  std::vector<std::pair<std::string, std::string>> n = {
      {H + "input_layernorm.weight", L + "attn_norm.weight"},
      {H + "self_attn.q_proj.weight", L + "attn.q.weight"},
      {H + "self_attn.k_proj.weight", L + "attn.k.weight"},
      {H + "self_attn.v_proj.weight", L + "attn.v.weight"},
      {H + "self_attn.o_proj.weight", L + "attn.o.weight"},
      {H + "post_attention_layernorm.weight", L + "mlp_norm.weight"},
      {H + "mlp.gate_proj.weight", L + "mlp.gate.weight"},
      {H + "mlp.up_proj.weight", L + "mlp.up.weight"},
      {H + "mlp.down_proj.weight", L + "mlp.down.weight"}};
  if (c.qkv_bias)  // Qwen2.
    for (const char* p : {"q", "k", "v"})
      n.push_back({H + "self_attn." + p + "_proj.bias", L + "attn." + p + ".bias"});
  return n;
}

bool hf_is_conv1d(const std::string& n) {
  return n.ends_with(".weight") &&
         (n.find("c_attn") != std::string::npos || n.find("c_proj") != std::string::npos ||
          n.find("c_fc") != std::string::npos);
}

nlohmann::json hf_config_to_json(const ModelConfig& c) {
  nlohmann::json j;
  if (c.arch == Arch::GPT2) {
    j["architectures"] = {"GPT2LMHeadModel"};
    j["model_type"] = "gpt2";
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
    j["architectures"] = {c.qkv_bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
    j["model_type"] = c.qkv_bias ? "qwen2" : "llama";
    j["hidden_size"] = c.n_embd;
    j["num_hidden_layers"] = c.n_layer;
    j["num_attention_heads"] = c.n_head;
    j["num_key_value_heads"] = c.n_kv_head;
    j["intermediate_size"] = c.ffn_dim();
    j["max_position_embeddings"] = c.block_size;
    j["vocab_size"] = c.vocab_size;
    j["rms_norm_eps"] = c.norm_eps;
    j["rope_theta"] = c.rope_theta;
    j["hidden_act"] = "silu";
    if (c.qkv_bias) j["use_sliding_window"] = false;
    j["tie_word_embeddings"] = c.tie_word_embeddings;
  }
  j["torch_dtype"] = "float32";
  return j;
}

}  // namespace sllm
