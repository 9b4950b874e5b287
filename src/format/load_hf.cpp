// Hugging Face checkpoints: config.json plus one or more *.safetensors files, with the Llama
// (model.layers.N.self_attn.q_proj...) or GPT-2 (transformer.h.N.attn.c_attn...) names.
//  - HF Llama stores q/k rows permuted for its rotate-half RoPE; sllm (like Meta and GGUF)
//    rotates interleaved pairs, so the rows are permuted back (hf_permute_rows).
//  - GPT-2 uses Conv1D modules whose weights are [in, out]: they are transposed, and the
//    fused c_attn is split into q, k, v.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "family_names.h"
#include "sllm/common/error.h"
#include "sllm/format/hf_names.h"
#include "sllm/format/model_files.h"
#include "sllm/io/safetensors.h"
#include "sllm/tokenizer/hf_tokenizer.h"

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

// A number that may be null (Gemma 3's softcaps): absent reads as def, null as `none`.
float cfg_float(const json& j, const char* key, float def, float none, const std::string& file) {
  if (!j.contains(key)) return def;
  if (j[key].is_null()) return none;
  if (!j[key].is_number()) fail("{}: '{}' must be a number", file, key);
  return j[key].get<float>();
}

// HF rope_scaling: null, or {"rope_type" (older: "type"): ..., "factor": ...}. sllm runs
// "default", "linear" and "llama3"; anything else (yarn, longrope, dynamic, ...) is refused by
// name.
RopeScaling cfg_rope_scaling(const json& j, const std::string& file) {
  RopeScaling s;
  if (!j.contains("rope_scaling") || j["rope_scaling"].is_null()) return s;
  const json& r = j["rope_scaling"];
  const char* key = r.is_object() && r.contains("rope_type") ? "rope_type" : "type";
  if (!r.is_object() || !r.contains(key) || !r[key].is_string())
    fail("{}: rope_scaling must be an object with a string rope_type", file);
  const std::string type = r[key].get<std::string>();
  if (type == "default") return s;
  if (type != "linear" && type != "llama3")
    fail("{}: rope_scaling type '{}' is not supported (sllm implements linear and llama3)", file,
         type);
  s.type = type;
  s.factor = cfg_float(r, "factor", 0.0f, 0.0f, file);
  if (type == "llama3") {
    s.low_freq_factor = cfg_float(r, "low_freq_factor", 0.0f, 0.0f, file);
    s.high_freq_factor = cfg_float(r, "high_freq_factor", 0.0f, 0.0f, file);
    s.original_max_position = cfg_int(r, {"original_max_position_embeddings"}, -1, file);
  }
  return s;
}

// The window of each layer: layer_types when the config has them, else the family's layout.
std::vector<int> cfg_windows(const json& j, const ModelPreset& p, int n_layer,
                             const std::string& file) {
  if (!j.contains("sliding_window") || j["sliding_window"].is_null()) return {};
  const int w = cfg_int(j, {"sliding_window"}, -1, file);
  if (w == 0) return {};
  std::vector<int> out(static_cast<size_t>(n_layer), 0);
  if (j.contains("layer_types") && !j["layer_types"].is_null()) {
    const json& t = j["layer_types"];
    if (!t.is_array() || static_cast<int>(t.size()) != n_layer)
      fail("{}: layer_types must list {} layers", file, n_layer);
    for (int i = 0; i < n_layer; ++i) {
      const std::string kind = t[i].is_string() ? t[i].get<std::string>() : "";
      if (kind == "sliding_attention")
        out[i] = w;
      else if (kind != "full_attention")
        fail("{}: layer_types[{}] '{}' is not supported (sliding_attention or full_attention)",
             file, i, kind);
    }
    return out;
  }
  switch (p.window_layers) {
    case WindowLayers::None:
      return {};
    case WindowLayers::Every:
      std::fill(out.begin(), out.end(), w);
      break;
    case WindowLayers::Even:
      for (int i = 0; i < n_layer; i += 2) out[i] = w;
      break;
    case WindowLayers::Pattern: {
      const int every = cfg_int(j, {"sliding_window_pattern"}, 6, file);
      for (int i = 0; i < n_layer; ++i) out[i] = every > 0 && (i + 1) % every == 0 ? 0 : w;
      break;
    }
  }
  return out;
}

}  // namespace

ModelConfig hf_config_from_json(const json& top, const std::string& file,
                                const ModelPreset** family) {
  if (!top.is_object() || !top.contains("model_type") || !top["model_type"].is_string())
    fail("{}: needs a string 'model_type'", file);
  // A multimodal checkpoint (Gemma 3's gemma3) runs as its language model: text_config.
  const bool wrapped = top.contains("text_config") && top["text_config"].is_object() &&
                       top["text_config"].contains("model_type");
  const json& j = wrapped ? top["text_config"] : top;
  if (!j["model_type"].is_string()) fail("{}: needs a string 'model_type'", file);
  const std::string type = j["model_type"].get<std::string>();
  const ModelPreset* p = find_hf_preset(type);
  if (!p)
    fail("{}: unsupported model_type '{}' (sllm imports {})", file, type,
         family_names(&ModelPreset::hf_model_type));
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
    c.tie_word_embeddings = j.value("tie_word_embeddings", p->features.tie_word_embeddings);
    // Gemma's MLP reads hidden_activation (its hidden_act is legacy).
    c.activation = cfg_activation(j, "hidden_act", c.activation, file);
    c.activation = cfg_activation(j, "hidden_activation", c.activation, file);
    // Features the engine may not run: read, so that it refuses them by name.
    c.head_size = cfg_int(j, {"head_dim"}, 0, file);
    if (cfg_bool(j, "attention_bias", false, file)) c.qkv_bias = c.attn_out_bias = true;
    c.mlp_bias = cfg_bool(j, "mlp_bias", c.mlp_bias, file);
    c.rope_scaling = cfg_rope_scaling(j, file);
    c.rotary_fraction = cfg_float(j, "partial_rotary_factor", 1.0f, 1.0f, file);
    c.rope_local_theta = cfg_float(j, "rope_local_base_freq", c.rope_local_theta, 0.0f, file);
    c.query_pre_attn_scalar =
        cfg_float(j, "query_pre_attn_scalar", c.query_pre_attn_scalar, 0.0f, file);
    c.attn_softcap = cfg_float(j, "attn_logit_softcapping", c.attn_softcap, 0.0f, file);
    c.final_logit_softcap =
        cfg_float(j, "final_logit_softcapping", c.final_logit_softcap, 0.0f, file);
    if (p->sqrt_embedding_scale) c.embedding_scale = std::sqrt(static_cast<float>(c.n_embd));
    c.sliding_window = cfg_windows(j, *p, c.n_layer, file);
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
  const std::string index_file = dir + "/model.safetensors.index.json";
  if (file_exists(index_file)) {
    // Sharded: the files the index names (each once), all of which must be there.
    json idx;
    try {
      idx = json::parse(read_file(index_file));
    } catch (const json::exception& e) {
      fail("{}: not valid JSON: {}", index_file, e.what());
    }
    if (!idx.contains("weight_map") || !idx["weight_map"].is_object())
      fail("{}: needs an object 'weight_map'", index_file);
    std::set<std::string> shards;
    for (const auto& [tensor, f] : idx["weight_map"].items()) {
      if (!f.is_string()) fail("{}: weight_map['{}'] must be a file name", index_file, tensor);
      const std::string name = f.get<std::string>();
      if (name.empty() || name.find('/') != std::string::npos)
        fail("{}: weight_map['{}'] = '{}' is not a file in the folder", index_file, tensor, name);
      shards.insert(name);
    }
    for (const std::string& f : shards) {
      if (!file_exists(dir + "/" + f)) fail("{}: shard '{}' is missing", index_file, f);
      files.push_back(dir + "/" + f);
    }
  } else {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) fail("{}: no *.safetensors files next to config.json", dir);
  for (const auto& f : files) {
    auto r = std::make_shared<SafetensorsReader>(f);
    for (const auto& t : r->tensors()) all[t.name] = {&t, f};
    m.keep_alive.push_back(r);
  }
  if (file_exists(dir + "/tokenizer.json") ||
      (file_exists(dir + "/vocab.json") && file_exists(dir + "/merges.txt")))
    m.tokenizer_path = dir;
  m.chat_template = hf_chat_template(dir);
  // Conv1D [in, out] weights (GPT-2), or rotate-half q/k rows (the RoPE families).
  const bool conv1d = family->hf->style == HfStyle::Gpt2;
  const bool rotate_half = family->hf->style == HfStyle::Llama;
  auto find = [&](const std::string& name) -> std::pair<const TensorView*, std::string> {
    // Multimodal checkpoints keep the language model under language_model.
    for (const char* prefix : {"", "model.", "transformer.", "language_model.model.",
                               "model.language_model.", "language_model."}) {
      auto it = all.find(prefix + name);
      if (it != all.end()) return it->second;
    }
    fail("{}: tensor '{}' is missing", dir, name);
  };
  const int64_t hd = c.head_dim(), Q = c.n_head * hd, KV = c.n_kv_head * hd, F = c.ffn_dim();
  // A fused tensor's parts, in row order (GPT-2's c_attn and Phi-3's qkv_proj; Phi-3's
  // gate_up_proj).
  struct Fused {
    const char* ours;
    std::vector<const char*> parts;
    std::vector<int64_t> rows;
  };
  const Fused fused[] = {{".attn.qkv.", {".attn.q.", ".attn.k.", ".attn.v."}, {Q, KV, KV}},
                         {".mlp.gate_up.", {".mlp.gate.", ".mlp.up."}, {F, F}}};
  std::vector<std::pair<std::string, std::string>> names = hf_global_names(c, *family);
  for (int i = 0; i < c.n_layer; ++i)
    for (auto& p : hf_layer_names(c, *family, i)) names.push_back(std::move(p));
  for (const auto& [hf, ours] : names) {
    if (ours == "lm_head.weight" && c.tie_word_embeddings) continue;
    auto [t, f] = find(hf);
    const size_t elem = dtype_size(t->dtype);
    WeightTensor w{ggml_of(t->dtype, f, t->name), t->shape, t->data, t->nbytes};
    if (conv1d && hf_is_conv1d(hf)) {
      if (t->shape.size() != 2) fail("{}: {} must be 2-D", f, t->name);
      w.shape = {t->shape[1], t->shape[0]};
      w.data = m.own(transpose_bytes(t->data, t->shape[0], t->shape[1], elem));
    }
    std::vector<std::pair<std::string, WeightTensor>> parts;
    for (const Fused& fu : fused) {
      const size_t at = ours.find(fu.ours);
      if (at == std::string::npos) continue;
      int64_t want = 0;
      for (int64_t r : fu.rows) want += r;
      const int64_t rows = w.shape.empty() ? 0 : w.shape[0];
      if (rows != want) fail("{}: {} has {} rows, expected {}", f, t->name, rows, want);
      const std::vector<WeightTensor> split = split_rows(w, fu.rows);
      const std::string base = ours.substr(0, at), rest = ours.substr(at + strlen(fu.ours));
      for (size_t p = 0; p < split.size(); ++p)
        parts.emplace_back(base + fu.parts[p] + rest, split[p]);
    }
    if (parts.empty()) parts.emplace_back(ours, w);
    for (auto& [name, part] : parts) {
      // Rotate-half q/k rows back to interleaved pairs (weights, biases and the per-head norm
      // weights of qk-norm, whose elements follow the rows of one head).
      const bool q = name.find(".attn.q.") != std::string::npos,
                 k = name.find(".attn.k.") != std::string::npos,
                 qk_norm = name.find(".attn.q_norm.") != std::string::npos ||
                           name.find(".attn.k_norm.") != std::string::npos;
      if (rotate_half && (q || k || qk_norm)) {
        const int heads = q ? c.n_head : k ? c.n_kv_head : 1;
        const int64_t rows = part.shape.empty() ? 0 : part.shape[0];
        if (rows % (2 * heads) != 0)
          fail("{}: {} has {} rows, not a multiple of 2*{}", f, t->name, rows, heads);
        const size_t row = part.shape.size() > 1 ? part.shape[1] * elem : elem;
        part.data = m.own(hf_permute_rows(part.data, rows, row, heads, false));
      }
      m.tensors[name] = part;
    }
  }
  return m;
}

}  // namespace sllm
