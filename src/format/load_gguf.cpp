// GGUF models as llama.cpp writes them (the preset table's GGUF architectures: llama, qwen2,
// qwen3, gemma2, gemma3, phi3, gpt2), mapped to sllm's parameter names. Tensors stay in the mapped
// file; fused tensors (GPT-2's and Phi-3's attn_qkv, Phi-3's [gate; up] ffn_up) are split by
// rows, which needs no copy because rows are stored whole in every ggml type. Facts from
// llama.cpp's converter and loader that the file does not say:
//  - its Gemma converter stores norm weights as 1 + w, so the file's norms are plain RMSNorm;
//  - Gemma scales embeddings by sqrt(n_embd), and its attention by 1/sqrt(head_dim) except on
//    the 27B models (46 or 62 layers: 1/sqrt(n_embd / n_head));
//  - Gemma 3's local layers are five of every six, with RoPE base 10000 and no scaling;
//  - llama3 rope_scaling arrives as rope_freqs.weight, a divisor per rotated pair.
#include <cmath>

#include "family_names.h"
#include "sllm/common/error.h"
#include "sllm/format/hf_names.h"
#include "sllm/format/model_files.h"
#include "sllm/model/presets.h"

namespace sllm {

namespace {

std::string blk(int i, const char* s) {
  return "blk." + std::to_string(i) + "." + s;
}
std::string lay(int i, const char* s) {
  return "layers." + std::to_string(i) + "." + s;
}

WeightTensor view(const GGUFTensorInfo& t) {
  WeightTensor w{t.type, {}, t.data, t.nbytes};
  for (auto it = t.dims.rbegin(); it != t.dims.rend(); ++it) w.shape.push_back(*it);
  return w;
}

}  // namespace

ModelFiles load_gguf_model(const std::string& path) {
  auto r = std::make_shared<GGUFReader>(path);
  ModelFiles m;
  m.source = path;
  m.format = "gguf";
  const std::string arch = r->get_string("general.architecture");
  if (arch.empty())
    fail("{}: GGUF file has no general.architecture (a vocabulary-only file?)", path);
  const ModelPreset* family = find_gguf_preset(arch);
  if (!family)
    fail("{}: unsupported architecture '{}' (sllm runs {})", path, arch,
         family_names(&ModelPreset::gguf_arch));
  ModelConfig& c = m.config;
  apply_preset(c, *family);
  auto need_int = [&](const std::string& key) {
    const int64_t v = r->get_int(arch + "." + key, -1);
    if (v <= 0 || v > (1 << 24))
      fail("{}: metadata {}.{} is missing or out of range ({})", path, arch, key, v);
    return static_cast<int>(v);
  };
  c.n_embd = need_int("embedding_length");
  c.n_layer = need_int("block_count");
  c.n_head = need_int("attention.head_count");
  c.n_kv_head = static_cast<int>(r->get_int(arch + ".attention.head_count_kv", c.n_head));
  c.intermediate_size = need_int("feed_forward_length");
  c.block_size = need_int("context_length");
  const GGUFTensorInfo& emb = r->tensor("token_embd.weight");
  if (emb.dims.size() != 2) fail("{}: token_embd.weight must be 2-D", path);
  c.vocab_size = static_cast<int>(emb.dims[1]);
  const bool rms = c.norm == NormKind::RMSNorm;
  c.norm_eps = static_cast<float>(r->get_float(
      arch + (rms ? ".attention.layer_norm_rms_epsilon" : ".attention.layer_norm_epsilon"), 1e-5));
  const int64_t key_length = r->get_int(arch + ".attention.key_length", c.n_embd / c.n_head);
  if (r->get_int(arch + ".attention.value_length", key_length) != key_length)
    fail("{}: {}.attention.value_length differs from key_length", path, arch);
  if (key_length <= 0 || key_length > 65536)
    fail("{}: {}.attention.key_length {} is out of range", path, arch, key_length);
  if (key_length * c.n_head != c.n_embd) c.head_size = static_cast<int>(key_length);
  if (c.positions == Positions::Rope) {
    c.rope_theta =
        static_cast<float>(r->get_float(arch + ".rope.freq_base", family->features.rope_theta));
    const int64_t rot = r->get_int(arch + ".rope.dimension_count", c.head_dim());
    if (rot != c.head_dim())
      fail("{}: partial RoPE (dimension_count {}) is not supported", path, rot);
    const std::string scaling = r->get_string(arch + ".rope.scaling.type", "none");
    if (scaling == "linear") {
      c.rope_scaling.type = "linear";
      c.rope_scaling.factor = static_cast<float>(r->get_float(arch + ".rope.scaling.factor", 1.0));
    } else if (scaling != "none") {
      fail("{}: rope scaling type '{}' is not supported (sllm implements linear and llama3)", path,
           scaling);
    }
    if (const GGUFTensorInfo* f = r->find_tensor("rope_freqs.weight")) {
      if (!c.rope_scaling.type.empty())
        fail("{}: rope_freqs.weight and rope scaling type '{}' together", path, scaling);
      if (f->type != GGMLType::F32 || f->numel() != c.head_dim() / 2)
        fail("{}: rope_freqs.weight must be F32 with {} entries", path, c.head_dim() / 2);
      const float* v = reinterpret_cast<const float*>(f->data);
      c.rope_scaling.type = "freq_factors";
      c.rope_scaling.freq_factors.assign(v, v + f->numel());
    }
    if (c.rope_local_theta > 0.0f)
      c.rope_local_theta = static_cast<float>(
          r->get_float(arch + ".rope.freq_base_swa", family->features.rope_local_theta));
  }
  if (const int64_t w = r->get_int(arch + ".attention.sliding_window", 0); w != 0) {
    if (w < 0 || w > (1 << 24))
      fail("{}: {}.attention.sliding_window {} is out of range", path, arch, w);
    c.sliding_window.assign(static_cast<size_t>(c.n_layer), 0);
    for (int i = 0; i < c.n_layer; ++i) {
      switch (family->window_layers) {
        case WindowLayers::None:
          fail("{}: {}.attention.sliding_window is not supported for this architecture", path,
               arch);
        case WindowLayers::Every:
          c.sliding_window[i] = static_cast<int>(w);
          break;
        case WindowLayers::Even:
          c.sliding_window[i] = i % 2 == 0 ? static_cast<int>(w) : 0;
          break;
        case WindowLayers::Pattern: {
          const int64_t every = r->get_int(arch + ".attention.sliding_window_pattern", 6);
          c.sliding_window[i] = every > 0 && (i + 1) % every == 0 ? 0 : static_cast<int>(w);
          break;
        }
      }
    }
  }
  c.attn_softcap = static_cast<float>(
      r->get_float(arch + ".attn_logit_softcapping", family->features.attn_softcap));
  c.final_logit_softcap = static_cast<float>(
      r->get_float(arch + ".final_logit_softcapping", family->features.final_logit_softcap));
  if (family->sqrt_embedding_scale) {
    c.norm_unit_offset = false;  // The converter stored 1 + w.
    c.embedding_scale = std::sqrt(static_cast<float>(c.n_embd));
    const bool big = c.n_layer == 46 || c.n_layer == 62;  // Gemma 2 and 3 27B
    c.query_pre_attn_scalar = big ? static_cast<float>(c.n_embd / c.n_head) : c.head_dim();
  }
  if (const double scale = r->get_float(arch + ".attention.scale", 0.0); scale > 0.0)
    c.query_pre_attn_scalar = static_cast<float>(1.0 / (scale * scale));
  c.tie_word_embeddings = r->find_tensor("output.weight") == nullptr;
  try {
    c.validate();
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }

  auto map = [&](const std::string& from, const std::string& to) {
    m.tensors[to] = view(r->tensor(from));
  };
  map("token_embd.weight", "tok_embeddings.weight");
  map("output_norm.weight", "norm.weight");
  if (!c.tie_word_embeddings) map("output.weight", "lm_head.weight");
  const bool fused = family->gguf_fused_qkv;
  if (c.positions == Positions::Learned) map("position_embd.weight", "pos_embeddings.weight");
  if (c.norm_bias) map("output_norm.bias", "norm.bias");
  const int64_t hd = c.head_dim(), Q = c.n_head * hd, KV = c.n_kv_head * hd, F = c.ffn_dim();
  // Splits a fused tensor into consecutive row ranges, checking its rows.
  auto split = [&](const std::string& from, std::initializer_list<int64_t> rows,
                   std::initializer_list<std::string> to) {
    const WeightTensor w = view(r->tensor(from));
    int64_t want = 0;
    for (int64_t n : rows) want += n;
    if (w.shape.empty() || w.shape[0] != want)
      fail("{}: {} has {} rows, expected {}", path, from, w.shape.empty() ? 0 : w.shape[0], want);
    const std::vector<WeightTensor> parts = split_rows(w, std::vector<int64_t>(rows));
    size_t j = 0;
    for (const std::string& name : to) m.tensors[name] = parts[j++];
  };
  // Per-layer tensors that are one-to-one: llama.cpp's name, sllm's, and whether c has it.
  struct Plain {
    const char *theirs, *ours;
    bool present;
  };
  const bool gated_sep = c.gated_mlp && !fused;  // Phi-3 fuses gate into ffn_up.
  const Plain plain[] = {
      {"attn_norm.weight", "attn_norm.weight", true},
      {"attn_norm.bias", "attn_norm.bias", c.norm_bias},
      {"attn_q.weight", "attn.q.weight", !fused},
      {"attn_k.weight", "attn.k.weight", !fused},
      {"attn_v.weight", "attn.v.weight", !fused},
      {"attn_q.bias", "attn.q.bias", !fused && c.qkv_bias},
      {"attn_k.bias", "attn.k.bias", !fused && c.qkv_bias},
      {"attn_v.bias", "attn.v.bias", !fused && c.qkv_bias},
      {"attn_q_norm.weight", "attn.q_norm.weight", c.qk_norm},
      {"attn_k_norm.weight", "attn.k_norm.weight", c.qk_norm},
      {"attn_output.weight", "attn.o.weight", true},
      {"attn_output.bias", "attn.o.bias", c.attn_out_bias},
      {"post_attention_norm.weight", "attn_post_norm.weight", c.post_norms},
      {"ffn_norm.weight", "mlp_norm.weight", true},
      {"ffn_norm.bias", "mlp_norm.bias", c.norm_bias},
      {"ffn_gate.weight", "mlp.gate.weight", gated_sep},
      {"ffn_up.weight", "mlp.up.weight", !(c.gated_mlp && fused)},
      {"ffn_up.bias", "mlp.up.bias", c.mlp_bias},
      {"ffn_down.weight", "mlp.down.weight", true},
      {"ffn_down.bias", "mlp.down.bias", c.mlp_bias},
      {"post_ffw_norm.weight", "mlp_post_norm.weight", c.post_norms},
  };
  for (int i = 0; i < c.n_layer; ++i) {
    for (const Plain& p : plain)
      if (p.present) map(blk(i, p.theirs), lay(i, p.ours));
    if (fused) {
      split(blk(i, "attn_qkv.weight"), {Q, KV, KV},
            {lay(i, "attn.q.weight"), lay(i, "attn.k.weight"), lay(i, "attn.v.weight")});
      if (c.qkv_bias)
        split(blk(i, "attn_qkv.bias"), {Q, KV, KV},
              {lay(i, "attn.q.bias"), lay(i, "attn.k.bias"), lay(i, "attn.v.bias")});
      if (c.gated_mlp)
        split(blk(i, "ffn_up.weight"), {F, F},
              {lay(i, "mlp.gate.weight"), lay(i, "mlp.up.weight")});
    }
    if (!family->gguf_rotate_half) continue;
    // llama.cpp runs this family with rotate-half (NEOX) RoPE, so its q/k rows (and the
    // per-head qk-norm weights) are in Hugging Face order: back to interleaved pairs.
    const std::pair<const char*, int> permuted[] = {
        {"attn.q.weight", c.n_head},  {"attn.q.bias", c.n_head}, {"attn.k.weight", c.n_kv_head},
        {"attn.k.bias", c.n_kv_head}, {"attn.q_norm.weight", 1}, {"attn.k_norm.weight", 1}};
    for (const auto& [name, heads] : permuted) {
      auto it = m.tensors.find(lay(i, name));
      if (it == m.tensors.end()) continue;
      WeightTensor& w = it->second;
      const int64_t rows = w.shape.empty() ? 0 : w.shape[0];
      if (rows == 0 || rows % (2 * heads) != 0)
        fail("{}: layer {} {} has {} rows, not a multiple of 2*{}", path, i, name, rows, heads);
      w.data = m.own(hf_permute_rows(w.data, rows, w.nbytes / rows, heads, false));
    }
  }

  VocabInfo& v = m.vocab;
  if (const GGUFValue* toks = r->find("tokenizer.ggml.tokens")) {
    v.model = r->get_string("tokenizer.ggml.model");
    v.tokens = toks->as_strings();
    if (const GGUFValue* s = r->find("tokenizer.ggml.scores")) v.scores = s->as_floats();
    if (const GGUFValue* t = r->find("tokenizer.ggml.token_type"))
      for (auto x : t->as_ints()) v.token_types.push_back(static_cast<int32_t>(x));
    if (const GGUFValue* mg = r->find("tokenizer.ggml.merges")) v.merges = mg->as_strings();
    v.bos_id = static_cast<int32_t>(r->get_int("tokenizer.ggml.bos_token_id", -1));
    v.eos_id = static_cast<int32_t>(r->get_int("tokenizer.ggml.eos_token_id", -1));
    const GGUFValue* ab = r->find("tokenizer.ggml.add_bos_token");
    v.add_bos = ab ? ab->as_bool() : v.model == "llama";
  }
  m.chat_template = r->get_string("tokenizer.chat_template");
  m.keep_alive.push_back(r);
  return m;
}

}  // namespace sllm
