// A set of LoRA adapters for one base model: which linears get adapters, their A/B matrices in
// one parameter arena (with a gradient arena beside it), and their files.
//
// Files (a folder, as Hugging Face PEFT writes them):
//   adapter_model.safetensors  F32 tensors named as PEFT names a Llama model's modules:
//     base_model.model.model.layers.{i}.self_attn.{q,k,v,o}_proj.lora_{A,B}.weight
//     base_model.model.model.layers.{i}.mlp.{gate,up,down}_proj.lora_{A,B}.weight
//     (A is [r, in], B is [out, r]); metadata {"format": "pt", "sllm_base_config": config JSON}
//   adapter_config.json        {"peft_type": "LORA", "r", "lora_alpha", "target_modules", ...}
// For gpt2-architecture bases sllm uses the same names (its q, k, v are separate matrices).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sllm/model/config.h"
#include "sllm/model/lora.h"

namespace sllm {

struct LoraConfig {
  int r = 8;
  float alpha = 16.0f;
  bool rslora = false;  // PEFT's use_rslora: scale alpha / sqrt(r) instead of alpha / r.
  std::vector<std::string> targets = {"q", "k", "v", "o", "gate", "up", "down"};

  float scale() const;
  void validate(const ModelConfig& base) const;  // Throws naming the bad field or target.
  // "q,k,v" -> {"q", "k", "v"}; also accepts PEFT names ("q_proj", ...). Throws on unknown names.
  static std::vector<std::string> parse_targets(const std::string& csv);
};

// One adapted linear: the base parameter it adapts and where its A and B live in the arena.
struct LoraTarget {
  std::string module;  // "q", "k", ..., "down"
  int layer = 0;
  std::string param;      // sllm parameter name of the frozen weight, e.g. layers.3.attn.q.weight
  std::string peft_name;  // e.g. base_model.model.model.layers.3.self_attn.q_proj
  LoraDims dims;
  size_t a_offset = 0, b_offset = 0;  // In floats from the arena start.
};

class LoraAdapters {
 public:
  LoraAdapters(const ModelConfig& base, const LoraConfig& cfg);  // Zero adapters; see init().

  const ModelConfig& base_config() const { return base_; }
  const LoraConfig& config() const { return cfg_; }
  const std::vector<LoraTarget>& targets() const { return targets_; }
  std::span<float> params() { return params_; }
  std::span<const float> params() const { return params_; }
  std::span<float> grads() { return grads_; }
  float* A(const LoraTarget& t) { return params_.data() + t.a_offset; }
  float* B(const LoraTarget& t) { return params_.data() + t.b_offset; }
  const float* A(const LoraTarget& t) const { return params_.data() + t.a_offset; }
  const float* B(const LoraTarget& t) const { return params_.data() + t.b_offset; }
  float* dA(const LoraTarget& t) { return grads_.data() + t.a_offset; }
  float* dB(const LoraTarget& t) { return grads_.data() + t.b_offset; }

  void init(uint64_t seed);  // PEFT default: A uniform, B zero.
  void zero_grad();

  // Writes DIR/adapter_model.safetensors and DIR/adapter_config.json (each atomically).
  void save(const std::string& dir, const std::string& base_name) const;
  // Loads an adapter folder for this base. Throws sllm::Error when the adapter does not match
  // the base (other config, missing or extra tensors, wrong shapes) or its files are broken.
  static LoraAdapters load(const std::string& dir, const ModelConfig& base);

  // params[spec of t.param] += sign * s * B A for every target (params laid out by specs).
  void merge_into(const std::vector<ParamSpec>& specs, float* params, float sign = 1.0f) const;

 private:
  ModelConfig base_;
  LoraConfig cfg_;
  std::vector<LoraTarget> targets_;
  std::vector<float> params_, grads_;
};

}  // namespace sllm
