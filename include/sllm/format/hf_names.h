// Hugging Face parameter names for sllm's, shared by the safetensors importer and exporter,
// from the family's row of the preset table (sllm/model/presets.h). GPT-2's c_attn (fused
// q/k/v) maps to "layers.N.attn.qkv.{weight,bias}", which the importer splits and the exporter
// concatenates.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "sllm/model/config.h"
#include "sllm/model/presets.h"

namespace sllm {

// The family c is exported as; sllm::Error naming the feature when none expresses c: an
// exported row c is exactly (gpt2, llama, qwen2), else the first row whose config.json reads
// back as c (the open families, with their rope scaling, windows, softcaps, ...); with gguf,
// among the rows that have a GGUF architecture. Phi-3 and Mistral have the same features:
// a Phi-3 exports to Hugging Face as the same model in Mistral's layout.
const ModelPreset& export_family(const ModelConfig& c, const char* consumer, bool gguf);
const ModelPreset& hf_preset(const ModelConfig& c);  // export_family(c, "Hugging Face export")
// (hf name without the "model."/"transformer." prefix, sllm name), for the tensors c has.
std::vector<std::pair<std::string, std::string>> hf_global_names(const ModelConfig& c,
                                                                 const ModelPreset& p);
std::vector<std::pair<std::string, std::string>> hf_layer_names(const ModelConfig& c,
                                                                const ModelPreset& p, int layer);
bool hf_is_conv1d(const std::string& hf_name);  // GPT-2 weights stored [in, out].

// The config and the family row of an HF config.json.
ModelConfig hf_config_from_json(const nlohmann::json& j, const std::string& file,
                                const ModelPreset** family = nullptr);
nlohmann::json hf_config_to_json(const ModelConfig& c, const ModelPreset& p);

// Row permutation between Meta's interleaved RoPE layout and HF's rotate-half layout, for a
// q or k weight of `rows` rows (heads * head_dim) of row_bytes each.
std::vector<uint8_t> hf_permute_rows(const uint8_t* src, int64_t rows, size_t row_bytes, int heads,
                                     bool to_hf);
std::vector<uint8_t> transpose_bytes(const uint8_t* src, int64_t rows, int64_t cols, size_t elem);

}  // namespace sllm
