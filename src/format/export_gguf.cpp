// GGUF for llama.cpp: its tensor names (token_embd, blk.N.attn_q, ...) and metadata keys
// ({arch}.embedding_length, ...), written with sllm's GGUF writer.
#include <cmath>
#include <cstring>
#include <deque>

#include "export_vocab.h"
#include "sllm/common/error.h"
#include "sllm/format/export.h"
#include "sllm/format/hf_names.h"
#include "sllm/format/quantize.h"
#include "sllm/model/presets.h"
#include "sllm/quant/kquant.h"
#include "sllm/quant/quant.h"

namespace sllm {

namespace {

// llama.cpp's llama_ftype for a model whose matrices are `t`.
uint32_t file_type(GGMLType t) {
  switch (t) {
    case GGMLType::F32:
      return 0;
    case GGMLType::F16:
      return 1;
    case GGMLType::Q4_0:
      return 2;
    case GGMLType::Q4_1:
      return 3;
    case GGMLType::Q8_0:
      return 7;
    case GGMLType::BF16:
      return 32;
    // Files of one k-quant type: the llama.cpp mix whose base it is.
    case GGMLType::Q2_K:
      return 10;
    case GGMLType::Q3_K:
      return 12;
    case GGMLType::Q4_K:
      return 15;
    case GGMLType::Q5_K:
      return 17;
    case GGMLType::Q6_K:
      return 18;
    case GGMLType::IQ4_NL:
      return 25;
    case GGMLType::IQ4_XS:
      return 30;
    default:
      fail("no llama.cpp file type for {}", ggml_type_name(t));
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> gguf_names(const ModelConfig& c) {
  std::vector<std::pair<std::string, std::string>> n = {
      {"tok_embeddings.weight", "token_embd.weight"}, {"norm.weight", "output_norm.weight"}};
  if (!c.tie_word_embeddings) n.push_back({"lm_head.weight", "output.weight"});
  if (c.positions == Positions::Learned)
    n.push_back({"pos_embeddings.weight", "position_embd.weight"});
  if (c.norm_bias) n.push_back({"norm.bias", "output_norm.bias"});
  static const std::pair<const char*, const char*> per_layer[] = {
      {"attn_norm.", "attn_norm."},
      {"attn.q.", "attn_q."},
      {"attn.k.", "attn_k."},
      {"attn.v.", "attn_v."},
      {"attn.o.", "attn_output."},
      {"mlp_norm.", "ffn_norm."},
      {"mlp.gate.", "ffn_gate."},
      {"mlp.up.", "ffn_up."},
      {"mlp.down.", "ffn_down."},
      {"attn.q_norm.", "attn_q_norm."},
      {"attn.k_norm.", "attn_k_norm."},
      {"attn_post_norm.", "post_attention_norm."},
      {"mlp_post_norm.", "post_ffw_norm."}};
  for (int i = 0; i < c.n_layer; ++i)
    for (const auto& [ours, theirs] : per_layer)
      for (const char* part : {"weight", "bias"}) {
        const std::string from = "layers." + std::to_string(i) + "." + ours + part;
        const std::string to = "blk." + std::to_string(i) + "." + theirs + part;
        n.push_back({from, to});
      }
  return n;
}

namespace {

// The sliding window llama.cpp reads (0: none), with the layer-pattern key the family needs;
// sllm::Error when the family's layout cannot say c's windows.
int gguf_window(const ModelConfig& c, const ModelPreset& family, GGUFWriter& w,
                const std::string& arch) {
  int win = 0;
  for (int x : c.sliding_window) {
    if (x > 0 && win > 0 && x != win)
      fail("GGUF export: sliding windows of different sizes ({} and {}) are not supported", win, x);
    if (x > 0) win = x;
  }
  if (win == 0) return 0;
  auto layout = [&](auto slides) {
    for (int i = 0; i < c.n_layer; ++i)
      if (c.sliding_window_at(i) != slides(i)) return false;
    return true;
  };
  bool ok = false;
  switch (family.window_layers) {
    case WindowLayers::None:
      break;
    case WindowLayers::Every:
      ok = layout([](int) { return true; });
      break;
    case WindowLayers::Even:
      ok = layout([](int i) { return i % 2 == 0; });
      break;
    case WindowLayers::Pattern:
      for (int every = 1; every <= c.n_layer + 1 && !ok; ++every)
        if (layout([&](int i) { return (i + 1) % every != 0; })) {
          w.set(arch + ".attention.sliding_window_pattern", GGUFValue::u32(every));
          ok = true;
        }
      break;
  }
  if (!ok) fail("GGUF export: {}'s sliding-window layout has no {} GGUF form", family.name, arch);
  return win;
}

}  // namespace

// mix: the matrices' types; none: as stored.
static ExportReport export_with(const ModelFiles& files, const std::string& path,
                                const std::optional<QuantMix>& mix);

ExportReport export_gguf(const ModelFiles& files, const std::string& path,
                         std::optional<GGMLType> type) {
  if (type && !(*type == GGMLType::F32 || is_quantized(*type)))
    fail("export: GGUF matrices can be f32, q8_0, q4_0 or q4_1, not {}", weight_type_name(*type));
  return export_with(files, path,
                     type ? std::optional(parse_quant_mix(weight_type_name(*type))) : std::nullopt);
}

ExportReport export_gguf(const ModelFiles& files, const std::string& path, const QuantMix& mix) {
  return export_with(files, path, mix);
}

static ExportReport export_with(const ModelFiles& files, const std::string& path,
                                const std::optional<QuantMix>& mix) {
  files.validate();
  const ModelConfig& c = files.config;
  const ModelPreset& family = export_family(c, "GGUF export", true);
  if (!family.gguf_arch) fail("GGUF export: family {} has no GGUF architecture", family.name);
  // The metadata carries dimensions, RoPE, windows, softcaps and the attention scale; every
  // other feature is the architecture's (llama.cpp's llama always runs SiLU, reads no MLP
  // bias, ...), so c must have the row's.
  ModelPreset row = family;  // The row's features at c's dimensions.
  row.features = c;
  apply_preset(row.features, family);
  ModelConfig carried = c;
  carried.rope_scaling = row.features.rope_scaling;
  carried.sliding_window = row.features.sliding_window;
  carried.attn_softcap = row.features.attn_softcap;
  carried.final_logit_softcap = row.features.final_logit_softcap;
  carried.query_pre_attn_scalar = row.features.query_pre_attn_scalar;
  if ((c.rope_local_theta > 0.0f) == (row.features.rope_local_theta > 0.0f))
    carried.rope_local_theta = row.features.rope_local_theta;
  // The GGUF loader scales Gemma's embeddings by sqrt(n_embd), and nobody else's.
  const float scale = family.sqrt_embedding_scale ? std::sqrt(static_cast<float>(c.n_embd)) : 1.0f;
  if (c.embedding_scale == scale) carried.embedding_scale = row.features.embedding_scale;
  if (const char* f = preset_mismatch(carried, row))
    fail("GGUF export: {} is not supported by llama.cpp's {} (closest family: {})", f,
         family.gguf_arch, family.name);
  const std::string arch = family.gguf_arch;
  // Families llama.cpp runs with rotate-half (NEOX) RoPE (qwen2) get q/k rows in HF order.
  const bool rotate_half = family.gguf_rotate_half, fused = family.gguf_fused_qkv;
  GGUFWriter w;
  ExportReport rep;
  w.set("general.architecture", GGUFValue::string(arch));
  w.set("general.name", GGUFValue::string(files.source));
  const GGMLType matrices = mix ? mix->base : files.tensors.at("layers.0.attn.o.weight").type;
  w.set("general.file_type", GGUFValue::u32(mix ? mix->ftype : file_type(matrices)));
  if (is_quantized(matrices) || is_kquant_type(matrices))
    w.set("general.quantization_version", GGUFValue::u32(2));
  auto key = [&](const char* k) { return arch + "." + k; };
  w.set(key("vocab_size"), GGUFValue::u32(c.vocab_size));
  w.set(key("context_length"), GGUFValue::u32(c.block_size));
  w.set(key("embedding_length"), GGUFValue::u32(c.n_embd));
  w.set(key("block_count"), GGUFValue::u32(c.n_layer));
  w.set(key("feed_forward_length"), GGUFValue::u32(c.ffn_dim()));
  w.set(key("attention.head_count"), GGUFValue::u32(c.n_head));
  w.set(key("attention.head_count_kv"), GGUFValue::u32(c.n_kv_head));
  if (c.norm == NormKind::LayerNorm)
    w.set(key("attention.layer_norm_epsilon"), GGUFValue::f32(c.norm_eps));
  else
    w.set(key("attention.layer_norm_rms_epsilon"), GGUFValue::f32(c.norm_eps));
  if (c.head_size > 0) {
    w.set(key("attention.key_length"), GGUFValue::u32(c.head_dim()));
    w.set(key("attention.value_length"), GGUFValue::u32(c.head_dim()));
  }
  std::vector<float> rope_freqs;  // llama.cpp's form of llama3 scaling: rope_freqs.weight
  if (c.positions == Positions::Rope) {
    w.set(key("rope.dimension_count"), GGUFValue::u32(c.head_dim()));
    w.set(key("rope.freq_base"), GGUFValue::f32(c.rope_theta));
    const RopeScaling& r = c.rope_scaling;
    if (r.type == "linear") {
      w.set(key("rope.scaling.type"), GGUFValue::string("linear"));
      w.set(key("rope.scaling.factor"), GGUFValue::f32(r.factor));
    } else if (r.type == "llama3" || r.type == "freq_factors") {
      if (c.rope_local_theta > 0.0f)
        fail("GGUF export: RoPE scaling '{}' with a separate local RoPE base is not supported",
             r.type);
      for (double d : rope_freq_divisors(c, 0)) rope_freqs.push_back(static_cast<float>(d));
    } else if (!r.type.empty()) {
      fail("GGUF export: RoPE scaling '{}' is not supported", r.type);
    }
    if (c.rope_local_theta > 0.0f)
      w.set(key("rope.freq_base_swa"), GGUFValue::f32(c.rope_local_theta));
  }
  if (const int win = gguf_window(c, family, w, arch); win > 0)
    w.set(key("attention.sliding_window"), GGUFValue::u32(win));
  if (c.attn_softcap > 0.0f || family.features.attn_softcap > 0.0f)
    w.set(key("attn_logit_softcapping"), GGUFValue::f32(c.attn_softcap));
  if (c.final_logit_softcap > 0.0f || family.features.final_logit_softcap > 0.0f)
    w.set(key("final_logit_softcapping"), GGUFValue::f32(c.final_logit_softcap));
  if (c.query_pre_attn_scalar > 0.0f) w.set(key("attention.scale"), GGUFValue::f32(c.attn_scale()));
  rep.tokenizer = add_gguf_vocab(files, w, rep.note);

  // Tensors already in the type wanted are written from where they are (the mapped file).
  std::deque<std::vector<uint8_t>> bufs;  // Converted or fused tensors, alive until write().
  struct Bytes {
    GGMLType type;
    const uint8_t* data;
    size_t size;
  };
  auto stored = [&](const std::string& name) -> Bytes {
    const WeightTensor& t = files.tensors.at(name);
    GGMLType to = mix ? mix_tensor_type(*mix, name, t, c) : t.type;
    if (t.shape.size() == 1) to = GGMLType::F32;  // llama.cpp reads norms and biases as F32.
    if (to == t.type) return {to, t.data, t.nbytes};
    bufs.push_back(convert_tensor(t, to, files.source + ": tensor '" + name + "'"));
    return {to, bufs.back().data(), bufs.back().size()};
  };
  // As llama.cpp reads it: q/k rows (and qk-norm weights, one head) in HF order for NEOX
  // families; Gemma's norms as 1 + w (its converter's form; llama.cpp multiplies by the weight).
  auto prepared = [&](const std::string& name) -> Bytes {
    Bytes b = stored(name);
    const WeightTensor& t = files.tensors.at(name);
    const bool q = name.find(".attn.q.") != std::string::npos,
               k = name.find(".attn.k.") != std::string::npos,
               head_norm = name.find(".attn.q_norm.") != std::string::npos ||
                           name.find(".attn.k_norm.") != std::string::npos;
    if (rotate_half && (q || k || head_norm)) {
      const int64_t rows = t.shape[0];
      bufs.push_back(hf_permute_rows(b.data, rows, b.size / rows,
                                     head_norm ? 1
                                     : q       ? c.n_head
                                               : c.n_kv_head,
                                     true));
      b.data = bufs.back().data();
    }
    if (c.norm_unit_offset && name.ends_with("norm.weight")) {
      std::vector<uint8_t> plus(b.size);
      std::memcpy(plus.data(), b.data, b.size);
      float* f = reinterpret_cast<float*>(plus.data());
      for (size_t i = 0; i < b.size / sizeof(float); ++i) f[i] += 1.0f;
      bufs.push_back(std::move(plus));
      b.data = bufs.back().data();
    }
    return b;
  };
  auto add = [&](const std::string& gguf_name, std::vector<int64_t> shape, const Bytes& b) {
    w.add_tensor(gguf_name, b.type, {shape.rbegin(), shape.rend()}, b.data, b.size);
    ++rep.tensors;
    rep.bytes += b.size;
  };
  // Rows of several tensors as one (fused q/k/v; Phi-3's [gate; up] as ffn_up).
  auto add_fused = [&](const std::string& gguf_name, const std::vector<std::string>& parts) {
    std::vector<uint8_t> bytes;
    GGMLType ft = GGMLType::F32;
    std::vector<int64_t> shape = files.tensors.at(parts[0]).shape;
    shape[0] = 0;
    for (const std::string& p : parts) {
      const Bytes b = prepared(p);
      if (!bytes.empty() && b.type != ft)
        fail("export: {} is {} but {} is {}; {} needs one type", p, ggml_type_name(b.type),
             parts[0], ggml_type_name(ft), gguf_name);
      ft = b.type;
      bytes.insert(bytes.end(), b.data, b.data + b.size);
      shape[0] += files.tensors.at(p).shape[0];
    }
    bufs.push_back(std::move(bytes));
    add(gguf_name, shape, {ft, bufs.back().data(), bufs.back().size()});
  };
  if (!rope_freqs.empty()) {
    bufs.emplace_back(reinterpret_cast<const uint8_t*>(rope_freqs.data()),
                      reinterpret_cast<const uint8_t*>(rope_freqs.data() + rope_freqs.size()));
    add("rope_freqs.weight", {static_cast<int64_t>(rope_freqs.size())},
        {GGMLType::F32, bufs.back().data(), bufs.back().size()});
  }
  for (const auto& [ours, theirs] : gguf_names(c)) {
    auto it = files.tensors.find(ours);
    if (it == files.tensors.end()) continue;  // Biases of bias-free models, gate of GPT-2.
    const bool qk =
        ours.find(".attn.q.") != std::string::npos || ours.find(".attn.k.") != std::string::npos;
    const bool v = ours.find(".attn.v.") != std::string::npos;
    const bool gate = ours.find(".mlp.gate.") != std::string::npos,
               up = ours.find(".mlp.up.") != std::string::npos;
    if (fused && (qk || (c.gated_mlp && gate))) continue;  // Written with v / up.
    const std::string part = ours.substr(ours.rfind('.') + 1);
    if (fused && v) {
      // llama.cpp's GPT-2 and Phi-3 read one fused attn_qkv: q, k and v rows in turn.
      const std::string base = ours.substr(0, ours.find(".attn.v.")) + ".attn.";
      add_fused(theirs.substr(0, theirs.find("attn_v.")) + "attn_qkv." + part,
                {base + "q." + part, base + "k." + part, base + "v." + part});
      continue;
    }
    if (fused && c.gated_mlp && up) {
      const std::string base = ours.substr(0, ours.find(".mlp.up.")) + ".mlp.";
      add_fused(theirs, {base + "gate." + part, base + "up." + part});
      continue;
    }
    add(theirs, it->second.shape, prepared(ours));
  }
  w.write(path);
  return rep;
}

}  // namespace sllm
