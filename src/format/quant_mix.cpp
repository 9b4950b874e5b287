#include "sllm/format/quant_mix.h"

#include <cctype>

#include "sllm/common/error.h"
#include "sllm/format/quantize.h"
#include "sllm/model/presets.h"
#include "sllm/quant/kquant.h"
#include "sllm/quant/quant.h"

namespace sllm {

namespace {

const QuantMix kMixes[] = {
    {"f32", GGMLType::F32, 0, false},       {"q8_0", GGMLType::Q8_0, 7, false},
    {"q4_0", GGMLType::Q4_0, 2, false},     {"q4_1", GGMLType::Q4_1, 3, false},
    {"q2_k", GGMLType::Q2_K, 10, true},     {"q3_k_s", GGMLType::Q3_K, 11, true},
    {"q3_k_m", GGMLType::Q3_K, 12, true},   {"q3_k_l", GGMLType::Q3_K, 13, true},
    {"q4_k_s", GGMLType::Q4_K, 14, true},   {"q4_k_m", GGMLType::Q4_K, 15, true},
    {"q5_k_s", GGMLType::Q5_K, 16, true},   {"q5_k_m", GGMLType::Q5_K, 17, true},
    {"q6_k", GGMLType::Q6_K, 18, true},     {"iq4_nl", GGMLType::IQ4_NL, 25, true},
    {"iq4_xs", GGMLType::IQ4_XS, 30, true},
};

// llama.cpp's layers that get more bits in the _M mixes: the first and last eighth, and every
// third one between.
bool use_more_bits(int i, int n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

// Layer index of "layers.N.…", or -1.
int layer_of(const std::string& name) {
  if (name.rfind("layers.", 0) != 0) return -1;
  return std::atoi(name.c_str() + 7);
}

bool has(const std::string& name, const char* part) {
  return name.find(part) != std::string::npos;
}

// llama_tensor_get_type for the mixes above (dense models: no experts), in sllm's names.
GGMLType rule_type(const QuantMix& m, const std::string& name, const ModelConfig& c,
                   bool has_imatrix) {
  const std::string& f = m.name;
  GGMLType t = m.base;
  const int n = c.n_layer, i = layer_of(name);
  const int n_gqa = c.n_kv_head > 0 ? c.n_head / c.n_kv_head : 1;
  const bool output =
      name == "lm_head.weight" || (c.tie_word_embeddings && name == "tok_embeddings.weight");
  if (output) return t != GGMLType::Q8_0 ? GGMLType::Q6_K : t;
  if (name == "tok_embeddings.weight") return t;
  // Families whose GGUF fuses q/k/v into one attn_qkv (GPT-2) follow that tensor's rule.
  const bool fused_qkv = closest_preset(c, false).gguf_fused_qkv;
  if (has(name, ".attn.v.") && !fused_qkv) {
    if (f == "q2_k") return n_gqa >= 4 ? GGMLType::Q4_K : GGMLType::Q3_K;
    if (f == "q3_k_m") return i < 2 ? GGMLType::Q5_K : GGMLType::Q4_K;
    if (f == "q3_k_l") return GGMLType::Q5_K;
    if ((f == "iq4_nl" || f == "iq4_xs") && n_gqa >= 4) return GGMLType::Q5_K;
    if ((f == "q4_k_m" || f == "q5_k_m") && use_more_bits(i, n)) return GGMLType::Q6_K;
    if (f == "q4_k_s" && i < 4) return GGMLType::Q5_K;
    return t;
  }
  if (has(name, ".mlp.down.")) {
    if (f == "q2_k") return GGMLType::Q3_K;
    if (f == "q3_k_m") return i < n / 16 ? GGMLType::Q5_K : GGMLType::Q4_K;
    if (f == "q3_k_l") return GGMLType::Q5_K;
    if (f == "q4_k_m") return use_more_bits(i, n) ? GGMLType::Q6_K : t;
    if (i < n / 8 && (f == "iq4_nl" || f == "iq4_xs") && !has_imatrix) return GGMLType::Q5_K;
    if (f == "q5_k_m" && use_more_bits(i, n)) return GGMLType::Q6_K;
    if (f == "q4_k_s" && i < n / 8) return GGMLType::Q5_K;
    return t;
  }
  if (has(name, ".attn.o.")) {
    if (f == "q2_k") return GGMLType::Q3_K;
    if (f == "q3_k_m") return GGMLType::Q4_K;
    if (f == "q3_k_l") return GGMLType::Q5_K;
    return t;
  }
  if (fused_qkv && (has(name, ".attn.q.") || has(name, ".attn.k.") || has(name, ".attn.v."))) {
    if (f == "q3_k_m" || f == "q3_k_l") return GGMLType::Q4_K;
    if (f == "q4_k_m") return GGMLType::Q5_K;
    if (f == "q5_k_m") return GGMLType::Q6_K;
    return t;
  }
  return t;
}

}  // namespace

const char* quant_mix_names() {
  return "f32, q8_0, q4_0, q4_1, q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m, "
         "q6_k, iq4_nl, iq4_xs";
}

QuantMix parse_quant_mix(const std::string& name) {
  std::string l = name;
  for (auto& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const QuantMix& m : kMixes)
    if (m.name == l) return m;
  fail("unknown quantization type '{}' (expected {})", name, quant_mix_names());
}

GGMLType mix_tensor_type(const QuantMix& mix, const std::string& name, const WeightTensor& t,
                         const ModelConfig& c, bool has_imatrix) {
  if (t.shape.size() != 2 || name == "pos_embeddings.weight") return GGMLType::F32;
  if (!mix.rules) return stored_type(name, t, mix.base);
  GGMLType to = rule_type(mix, name, c, has_imatrix);
  const int64_t cols = t.shape.back();
  const auto block = ggml_type_traits(static_cast<uint32_t>(to)).block_size;
  if (cols % block != 0) {
    // llama.cpp's fallback: IQ4_XS -> IQ4_NL; its Q5_0/Q5_1/Q8_0 for the k-quants -> Q8_0.
    to = to == GGMLType::IQ4_XS ? GGMLType::IQ4_NL : GGMLType::Q8_0;
    if (cols % 32 != 0) to = GGMLType::F32;
  }
  return to;
}

}  // namespace sllm
