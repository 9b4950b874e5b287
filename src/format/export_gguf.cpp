// GGUF for llama.cpp: its tensor names (token_embd, blk.N.attn_q, ...) and metadata keys
// ({arch}.embedding_length, ...), written with sllm's GGUF writer.
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
      {"attn_norm.", "attn_norm."}, {"attn.q.", "attn_q."},      {"attn.k.", "attn_k."},
      {"attn.v.", "attn_v."},       {"attn.o.", "attn_output."}, {"mlp_norm.", "ffn_norm."},
      {"mlp.gate.", "ffn_gate."},   {"mlp.up.", "ffn_up."},      {"mlp.down.", "ffn_down."}};
  for (int i = 0; i < c.n_layer; ++i)
    for (const auto& [ours, theirs] : per_layer)
      for (const char* part : {"weight", "bias"}) {
        const std::string from = "layers." + std::to_string(i) + "." + ours + part;
        const std::string to = "blk." + std::to_string(i) + "." + theirs + part;
        n.push_back({from, to});
      }
  return n;
}

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
  const ModelPreset& family = exported_preset(c, "GGUF export");
  if (!family.gguf_arch) fail("GGUF export: family {} has no GGUF architecture", family.name);
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
  if (c.positions == Positions::Rope) {
    w.set(key("rope.dimension_count"), GGUFValue::u32(c.head_dim()));
    w.set(key("rope.freq_base"), GGUFValue::f32(c.rope_theta));
  }
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
  auto add = [&](const std::string& gguf_name, std::vector<int64_t> shape, const Bytes& b) {
    w.add_tensor(gguf_name, b.type, {shape.rbegin(), shape.rend()}, b.data, b.size);
    ++rep.tensors;
    rep.bytes += b.size;
  };
  for (const auto& [ours, theirs] : gguf_names(c)) {
    auto it = files.tensors.find(ours);
    if (it == files.tensors.end()) continue;  // Biases of bias-free models, gate of GPT-2.
    if (fused &&
        (ours.find(".attn.q.") != std::string::npos || ours.find(".attn.k.") != std::string::npos))
      continue;
    if (fused && ours.find(".attn.v.") != std::string::npos) {
      // llama.cpp's GPT-2 reads one fused attn_qkv: q, k and v rows one after the other.
      const std::string base = ours.substr(0, ours.find(".attn.v.")) + ".attn.";
      const std::string part = ours.substr(ours.rfind('.') + 1);
      std::vector<uint8_t> fused;
      GGMLType ft = GGMLType::F32;
      for (const char* qkv : {"q.", "k.", "v."}) {
        const Bytes b = stored(base + qkv + part);
        if (!fused.empty() && b.type != ft)
          fail("export: {}{}{} is {} but q is {}; fused q/k/v need one type", base, qkv, part,
               ggml_type_name(b.type), ggml_type_name(ft));
        ft = b.type;
        fused.insert(fused.end(), b.data, b.data + b.size);
      }
      std::vector<int64_t> shape = it->second.shape;
      shape[0] *= 3;
      bufs.push_back(std::move(fused));
      const std::string fused_name = theirs.substr(0, theirs.find("attn_v.")) + "attn_qkv." + part;
      add(fused_name, shape, {ft, bufs.back().data(), bufs.back().size()});
      continue;
    }
    Bytes b = stored(ours);
    const bool q = ours.find(".attn.q.") != std::string::npos;
    if (rotate_half && (q || ours.find(".attn.k.") != std::string::npos)) {
      const int64_t rows = it->second.shape[0];
      bufs.push_back(
          hf_permute_rows(b.data, rows, b.size / rows, q ? c.n_head : c.n_kv_head, true));
      b.data = bufs.back().data();
    }
    add(theirs, it->second.shape, b);
  }
  w.write(path);
  return rep;
}

}  // namespace sllm
