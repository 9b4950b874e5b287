// The model families sllm knows, as data: one row per family maps its name (--arch, config.json
// model_type) to its Hugging Face model_type and GGUF general.architecture, its features (a
// ModelConfig with the family's defaults) and its tensor names. Only this table and the
// loaders (which read a family's file layout from its row) know families; every other consumer
// branches on ModelConfig's features. Adding a family: a row here, its tensor-name map, its
// reference test, and only the kernels that are new.
#pragma once
#include <span>
#include <string>
#include <string_view>

#include "sllm/model/config.h"

namespace sllm {

// One tensor's name in sllm and in a file format: whole names for the global tensors, names
// after the layer prefix ("layers.{i}." in sllm) for per-layer ones.
struct TensorName {
  const char* ours;
  const char* theirs;
};

// How a family's Hugging Face checkpoints are laid out.
enum class HfStyle {
  Gpt2,  // GPT2LMHeadModel: n_embd/n_layer keys, Conv1D [in, out] weights, fused c_attn q/k/v
  Llama  // LlamaForCausalLM and kin: hidden_size keys, [out, in] weights, rotate-half q/k rows
};

struct HfNames {
  HfStyle style;
  const char* prefix;        // Of every tensor but lm_head on export: "transformer.", "model."
  const char* layer_prefix;  // "h." or "layers." (then the layer number and a dot)
  std::span<const TensorName> globals, layer;
};

struct ModelPreset {
  const char* name;           // --arch, config.json model_type
  const char* hf_model_type;  // config.json model_type of its HF checkpoints
  const char* hf_architecture;
  const char* gguf_arch;  // general.architecture; nullptr: no GGUF mapping
  // config.json's model_type names it (gpt2, llama); a config closest to another row is
  // written as the closest of these plus its differing features, as sllm always has.
  bool sllm_model_type;
  bool exported;  // Exporters may name a model after it (not mistral: llama's features).
  // A model may drop all its biases and still be this family (nanoGPT's bias=False gpt2).
  bool optional_biases;
  // llama.cpp rotates halves (NEOX) for it: its GGUF q/k rows are in Hugging Face order.
  bool gguf_rotate_half;
  // GGUF stores q/k/v as one fused attn_qkv tensor.
  bool gguf_fused_qkv;
  // The HF config key that switches sliding-window attention on (Qwen2), or nullptr.
  const char* hf_sliding_window_key;
  const HfNames* hf;
  ModelConfig features;  // The family's features and default eps/theta/tying; dimensions unused.
};

std::span<const ModelPreset> model_presets();
// By sllm name (--arch, config.json model_type); throws "unknown architecture" otherwise.
const ModelPreset& preset(std::string_view name);
const ModelPreset* find_hf_preset(std::string_view model_type);
const ModelPreset* find_gguf_preset(std::string_view arch);
// Sets c's features (and default eps, theta and tying) to the preset's; keeps the dimensions.
void apply_preset(ModelConfig& c, const ModelPreset& p);
// The name of the first feature in which c differs from the preset (biases count as one when
// the row makes them optional and c has none), or nullptr when c is the preset's.
const char* preset_mismatch(const ModelConfig& c, const ModelPreset& p);
// The row c differs least from (ties: table order), among the rows config.json names
// (sllm_only) or every exported row.
const ModelPreset& closest_preset(const ModelConfig& c, bool sllm_only);
// For exporters: the exported row that c is exactly, or sllm::Error
// "<consumer>: <feature> is not supported (closest family: <name>)".
const ModelPreset& exported_preset(const ModelConfig& c, const char* consumer);
// config.json's model_type for c, which sllm's banners print too: "gpt2" or "llama".
const char* family_name(const ModelConfig& c);

}  // namespace sllm
