// Hugging Face checkpoints: config.json plus one or more *.safetensors files, with the Llama
// (model.layers.N.self_attn.q_proj...) or GPT-2 (transformer.h.N.attn.c_attn...) names.
//  - HF Llama stores q/k rows permuted for its rotate-half RoPE; sllm (like Meta and GGUF)
//    rotates interleaved pairs, so the rows are permuted back (hf_permute_rows).
//  - GPT-2 uses Conv1D modules whose weights are [in, out]: they are transposed, and the
//    fused c_attn is split into q, k, v.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/format/hf_names.h"
#include "sllm/format/model_files.h"
#include "sllm/io/safetensors.h"

namespace sllm {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

GGMLType ggml_of(DType d, const std::string& file, const std::string& name) {
  switch (d) {
    case DType::F32:
      return GGMLType::F32;
    case DType::F16:
      return GGMLType::F16;
    case DType::BF16:
      return GGMLType::BF16;
    default:
      fail("{}: tensor '{}' has dtype {}; weights must be F32, F16 or BF16", file, name,
           dtype_name(d));
  }
}

int cfg_int(const json& j, std::initializer_list<const char*> keys, int def,
            const std::string& file) {
  for (const char* k : keys) {
    if (!j.contains(k) || j[k].is_null()) continue;
    if (!j[k].is_number_integer()) fail("{}: '{}' must be an integer", file, k);
    const long long v = j[k].get<long long>();
    if (v < 0 || v > (1 << 24)) fail("{}: '{}' = {} is out of range", file, k, v);
    return static_cast<int>(v);
  }
  if (def < 0) fail("{}: missing '{}'", file, *keys.begin());
  return def;
}

Activation cfg_activation(const json& j, const char* key, Activation def, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_string()) fail("{}: '{}' must be a string", file, key);
  try {
    return parse_activation(j[key].get<std::string>());
  } catch (const Error& e) {
    fail("{}: {}", file, e.what());
  }
}

bool cfg_bool(const json& j, const char* key, bool def, const std::string& file) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) fail("{}: '{}' must be a boolean", file, key);
  return j[key].get<bool>();
}

}  // namespace

ModelConfig hf_config_from_json(const json& j, const std::string& file,
                                const ModelPreset** family) {
  if (!j.is_object() || !j.contains("model_type") || !j["model_type"].is_string())
    fail("{}: needs a string 'model_type'", file);
  const std::string type = j["model_type"].get<std::string>();
  const ModelPreset* p = find_hf_preset(type);
  if (!p)
    fail("{}: unsupported model_type '{}' (sllm imports llama, mistral, qwen2 and gpt2)", file,
         type);
  if (family) *family = p;
  ModelConfig c;
  apply_preset(c, *p);
  if (p->hf->style == HfStyle::Gpt2) {
    c.n_embd = cfg_int(j, {"n_embd", "hidden_size"}, -1, file);
    c.n_layer = cfg_int(j, {"n_layer", "num_hidden_layers"}, -1, file);
    c.n_head = cfg_int(j, {"n_head", "num_attention_heads"}, -1, file);
    c.n_kv_head = c.n_head;
    c.block_size = cfg_int(j, {"n_positions", "max_position_embeddings"}, -1, file);
    c.intermediate_size = cfg_int(j, {"n_inner", "intermediate_size"}, 0, file);
    c.vocab_size = cfg_int(j, {"vocab_size"}, -1, file);
    if (j.contains("layer_norm_epsilon")) c.norm_eps = j["layer_norm_epsilon"].get<float>();
    c.tie_word_embeddings = j.value("tie_word_embeddings", true);
    c.activation = cfg_activation(j, "activation_function", c.activation, file);
  } else {
    if (p->hf_sliding_window_key && j.value(p->hf_sliding_window_key, false))
      fail("{}: sliding-window attention ({}) is not supported", file, p->hf_sliding_window_key);
    c.n_embd = cfg_int(j, {"hidden_size"}, -1, file);
    c.n_layer = cfg_int(j, {"num_hidden_layers"}, -1, file);
    c.n_head = cfg_int(j, {"num_attention_heads"}, -1, file);
    c.n_kv_head = cfg_int(j, {"num_key_value_heads"}, c.n_head, file);
    c.block_size = cfg_int(j, {"max_position_embeddings"}, -1, file);
    c.intermediate_size = cfg_int(j, {"intermediate_size"}, -1, file);
    c.vocab_size = cfg_int(j, {"vocab_size"}, -1, file);
    if (j.contains("rms_norm_eps")) c.norm_eps = j["rms_norm_eps"].get<float>();
    if (j.contains("rope_theta")) c.rope_theta = j["rope_theta"].get<float>();
    c.tie_word_embeddings = j.value("tie_word_embeddings", false);
    c.activation = cfg_activation(j, "hidden_act", c.activation, file);
    // Features the engine may not run: read, so that it refuses them by name.
    c.head_size = cfg_int(j, {"head_dim"}, 0, file);
    if (cfg_bool(j, "attention_bias", false, file)) c.qkv_bias = c.attn_out_bias = true;
    c.mlp_bias = cfg_bool(j, "mlp_bias", c.mlp_bias, file);
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
      fail("{}: rope_scaling is not supported", file);
  }
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", file, e.what());
  }
  return c;
}

std::vector<uint8_t> hf_permute_rows(const uint8_t* src, int64_t rows, size_t row_bytes, int heads,
                                     bool to_hf) {
  std::vector<uint8_t> out(static_cast<size_t>(rows) * row_bytes);
  const int64_t hd = rows / heads;
  for (int h = 0; h < heads; ++h)
    for (int64_t i = 0; i < hd / 2; ++i)
      for (int j = 0; j < 2; ++j) {
        const int64_t meta = h * hd + 2 * i + j, hf = h * hd + j * (hd / 2) + i;
        const int64_t from = to_hf ? meta : hf, to = to_hf ? hf : meta;
        std::memcpy(out.data() + to * row_bytes, src + from * row_bytes, row_bytes);
      }
  return out;
}

std::vector<uint8_t> transpose_bytes(const uint8_t* src, int64_t rows, int64_t cols, size_t elem) {
  std::vector<uint8_t> out(static_cast<size_t>(rows * cols) * elem);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      std::memcpy(out.data() + (c * rows + r) * elem, src + (r * cols + c) * elem, elem);
  return out;
}

ModelFiles load_hf_dir(const std::string& dir) {
  ModelFiles m;
  m.source = dir;
  m.format = "safetensors";
  const std::string cfg_file = dir + "/config.json";
  json j;
  try {
    j = json::parse(read_file(cfg_file));
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", cfg_file, e.what());
  }
  const ModelPreset* family = nullptr;
  m.config = hf_config_from_json(j, cfg_file, &family);
  const ModelConfig& c = m.config;

  std::map<std::string, std::pair<const TensorView*, std::string>> all;  // name -> (view, file)
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) fail("{}: no *.safetensors files next to config.json", dir);
  for (const auto& f : files) {
    auto r = std::make_shared<SafetensorsReader>(f);
    for (const auto& t : r->tensors()) all[t.name] = {&t, f};
    m.keep_alive.push_back(r);
  }
  if (file_exists(dir + "/vocab.json") && file_exists(dir + "/merges.txt")) m.tokenizer_path = dir;
  // Conv1D [in, out] weights (GPT-2), or rotate-half q/k rows (the RoPE families).
  const bool conv1d = family->hf->style == HfStyle::Gpt2;
  const bool rotate_half = family->hf->style == HfStyle::Llama;
  auto find = [&](const std::string& name) -> std::pair<const TensorView*, std::string> {
    for (const char* prefix : {"", "model.", "transformer."}) {
      auto it = all.find(prefix + name);
      if (it != all.end()) return it->second;
    }
    fail("{}: tensor '{}' is missing", dir, name);
  };
  std::vector<std::pair<std::string, std::string>> names = hf_global_names(c, *family);
  for (int i = 0; i < c.n_layer; ++i)
    for (auto& p : hf_layer_names(c, *family, i)) names.push_back(std::move(p));
  for (const auto& [hf, ours] : names) {
    if (ours == "lm_head.weight" && c.tie_word_embeddings) continue;
    auto [t, f] = find(hf);
    const size_t elem = dtype_size(t->dtype);
    WeightTensor w{ggml_of(t->dtype, f, t->name), t->shape, t->data, t->nbytes};
    const bool q_or_k =
        ours.find(".attn.q.") != std::string::npos || ours.find(".attn.k.") != std::string::npos;
    if (rotate_half &&
        q_or_k) {  // Rotate-half rows back to interleaved pairs (weights and biases).
      const int heads = ours.find(".attn.q.") != std::string::npos ? c.n_head : c.n_kv_head;
      if (t->shape.empty() || t->shape[0] % (2 * heads) != 0)
        fail("{}: {} has {} rows, not a multiple of 2*{}", f, t->name,
             t->shape.empty() ? 0 : t->shape[0], heads);
      const size_t row = t->shape.size() > 1 ? t->shape[1] * elem : elem;
      w.data = m.own(hf_permute_rows(t->data, t->shape[0], row, heads, false));
    } else if (conv1d && hf_is_conv1d(hf)) {
      if (t->shape.size() != 2) fail("{}: {} must be 2-D", f, t->name);
      w.shape = {t->shape[1], t->shape[0]};
      w.data = m.own(transpose_bytes(t->data, t->shape[0], t->shape[1], elem));
    }
    const size_t qkv = ours.find(".attn.qkv.");
    if (qkv == std::string::npos) {
      m.tensors[ours] = w;
      continue;
    }
    // GPT-2's c_attn: q, k and v are consecutive row ranges.
    const int64_t rows = w.shape.empty() ? 0 : w.shape[0];
    if (rows != 3 * c.n_embd)
      fail("{}: {} has {} outputs, expected {}", f, t->name, rows, 3 * c.n_embd);
    const std::string base = ours.substr(0, qkv) + ".attn.", part = ours.substr(qkv + 10);
    const std::array<WeightTensor, 3> split = split_rows_in_thirds(w);
    const char* parts[3] = {"q.", "k.", "v."};
    for (int p = 0; p < 3; ++p) m.tensors[base + parts[p] + part] = split[p];
  }
  return m;
}

}  // namespace sllm
