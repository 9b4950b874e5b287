#include "sllm/model/config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/model/model.h"

namespace sllm {

using nlohmann::json;

const char* arch_name(Arch a) {
  return a == Arch::GPT2 ? "gpt2" : "llama";
}

Arch parse_arch(const std::string& s) {
  if (s == "gpt2") return Arch::GPT2;
  if (s == "llama") return Arch::Llama;
  fail("unknown architecture '{}' (expected gpt2 or llama)", s);
}

int ModelConfig::ffn_dim() const {
  if (intermediate_size > 0) return intermediate_size;
  if (arch == Arch::GPT2) return 4 * n_embd;
  // Llama: 2/3 of 4C, rounded up to a multiple of 32 for SIMD-friendly GEMMs.
  int f = (8 * n_embd) / 3;
  return (f + 31) / 32 * 32;
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
  need(n_embd % n_head == 0, "hidden_size", n_embd, "must be divisible by num_attention_heads");
  need(n_kv_head >= 1 && n_head % n_kv_head == 0, "num_key_value_heads", n_kv_head,
       "must be >= 1 and divide num_attention_heads");
  need(arch != Arch::GPT2 || n_kv_head == n_head, "num_key_value_heads", n_kv_head,
       "gpt2 has no grouped-query attention: must equal num_attention_heads");
  need(arch != Arch::Llama || head_dim() % 2 == 0, "head_dim", head_dim(),
       "RoPE needs an even head dimension");
  need(block_size >= 1 && block_size <= 1'048'576, "max_position_embeddings", block_size,
       "must be in [1, 1048576]");
  need(intermediate_size >= 0 && intermediate_size <= 1'048'576, "intermediate_size",
       intermediate_size, "must be in [0, 1048576]");
  if (!(norm_eps > 0.0f && norm_eps < 1.0f))
    fail("invalid model config: norm eps {} must be in (0, 1)", norm_eps);
  if (qkv_bias && arch != Arch::Llama)
    fail("invalid model config: qkv_bias applies to llama (Qwen2), not {}", arch_name(arch));
  if (!(rope_theta > 0.0f))
    fail("invalid model config: rope_theta {} must be positive", rope_theta);
  if (!(initializer_range > 0.0f && initializer_range <= 1.0f))
    fail("invalid model config: initializer_range {} must be in (0, 1]", initializer_range);
}

float width_scaled_init_std(int n_embd) {
  if (n_embd < 1) fail("width_scaled_init_std: width {} must be positive", n_embd);
  return static_cast<float>(0.02 * std::sqrt(768.0 / n_embd));
}

json ModelConfig::to_json() const {
  json j;
  j["model_type"] = arch_name(arch);
  j["vocab_size"] = vocab_size;
  j["num_hidden_layers"] = n_layer;
  j["num_attention_heads"] = n_head;
  j["num_key_value_heads"] = n_kv_head;
  j["hidden_size"] = n_embd;
  j["intermediate_size"] = ffn_dim();
  j["max_position_embeddings"] = block_size;
  if (arch == Arch::GPT2) {
    j["layer_norm_epsilon"] = norm_eps;
    if (!bias) j["bias"] = false;
  } else {
    j["rms_norm_eps"] = norm_eps;
    j["rope_theta"] = rope_theta;
  }
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["initializer_range"] = initializer_range;
  if (qkv_bias) j["qkv_bias"] = true;
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
  auto get_float = [&](const char* key, float& out) {
    if (!j.contains(key)) return;
    if (!j[key].is_number()) fail("model config field '{}' must be a number", key);
    out = j[key].get<float>();
  };
  if (!j.contains("model_type") || !j["model_type"].is_string())
    fail("model config needs a string 'model_type'");
  c.arch = parse_arch(j["model_type"].get<std::string>());
  get_int("vocab_size", c.vocab_size, true);
  get_int("num_hidden_layers", c.n_layer, true);
  get_int("num_attention_heads", c.n_head, true);
  c.n_kv_head = c.n_head;
  get_int("num_key_value_heads", c.n_kv_head, false);
  get_int("hidden_size", c.n_embd, true);
  get_int("intermediate_size", c.intermediate_size, false);
  get_int("max_position_embeddings", c.block_size, true);
  get_float(c.arch == Arch::GPT2 ? "layer_norm_epsilon" : "rms_norm_eps", c.norm_eps);
  get_float("rope_theta", c.rope_theta);
  get_float("initializer_range", c.initializer_range);
  c.tie_word_embeddings = c.arch == Arch::GPT2;
  if (j.contains("tie_word_embeddings")) {
    if (!j["tie_word_embeddings"].is_boolean())
      fail("model config field 'tie_word_embeddings' must be a boolean");
    c.tie_word_embeddings = j["tie_word_embeddings"].get<bool>();
  }
  if (j.contains("bias")) {
    if (!j["bias"].is_boolean()) fail("model config field 'bias' must be a boolean");
    c.bias = j["bias"].get<bool>();
    if (c.arch != Arch::GPT2 && c.bias)
      fail("model config field 'bias' = true: only gpt2 models have biases");
  }
  if (j.contains("qkv_bias")) {
    if (!j["qkv_bias"].is_boolean()) fail("model config field 'qkv_bias' must be a boolean");
    c.qkv_bias = j["qkv_bias"].get<bool>();
  }
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
  const bool bias = c.has_bias();
  add("tok_embeddings.weight", {V, C}, false);
  if (c.arch == Arch::GPT2) add("pos_embeddings.weight", {c.block_size, C}, false);
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string L = "layers." + std::to_string(i) + ".";
    add(L + "attn_norm.weight", {C}, false);
    if (bias) add(L + "attn_norm.bias", {C}, false);
    add(L + "attn.q.weight", {Q, C}, true);
    add(L + "attn.k.weight", {KV, C}, true);
    add(L + "attn.v.weight", {KV, C}, true);
    if (c.has_qkv_bias()) {
      add(L + "attn.q.bias", {Q}, false);
      add(L + "attn.k.bias", {KV}, false);
      add(L + "attn.v.bias", {KV}, false);
    }
    add(L + "attn.o.weight", {C, Q}, true);
    if (bias) add(L + "attn.o.bias", {C}, false);
    add(L + "mlp_norm.weight", {C}, false);
    if (bias) add(L + "mlp_norm.bias", {C}, false);
    if (c.arch == Arch::Llama) add(L + "mlp.gate.weight", {F, C}, true);
    add(L + "mlp.up.weight", {F, C}, true);
    if (bias) add(L + "mlp.up.bias", {F}, false);
    add(L + "mlp.down.weight", {C, F}, true);
    if (bias) add(L + "mlp.down.bias", {C}, false);
  }
  add("norm.weight", {C}, false);
  if (bias) add("norm.bias", {C}, false);
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
  const size_t per_layer =
      BT * (6 * C + 2 * kv + 3 * F) + static_cast<size_t>(batch) * c.n_head * seq_len * seq_len;
  const size_t logits = BT * static_cast<size_t>(c.vocab_size) * 2;
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
  if (c.arch == Arch::GPT2) n -= static_cast<double>(c.block_size) * c.n_embd;
  double attn = 12.0 * c.n_layer * static_cast<double>(c.n_embd) * seq_len;
  return 6.0 * n + attn;
}

}  // namespace sllm
