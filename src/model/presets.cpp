#include "sllm/model/presets.h"

#include <array>

#include "sllm/common/error.h"

namespace sllm {

namespace {

// GPT2LMHeadModel: "transformer." + these; per layer after "h.{i}.". Fused c_attn maps to
// "attn.qkv.*", which the importer splits and the exporter concatenates.
constexpr TensorName kHfGpt2Globals[] = {{"tok_embeddings.weight", "wte.weight"},
                                         {"pos_embeddings.weight", "wpe.weight"},
                                         {"norm.weight", "ln_f.weight"},
                                         {"norm.bias", "ln_f.bias"},
                                         {"lm_head.weight", "lm_head.weight"}};
constexpr TensorName kHfGpt2Layer[] = {
    {"attn_norm.weight", "ln_1.weight"},       {"attn_norm.bias", "ln_1.bias"},
    {"attn.qkv.weight", "attn.c_attn.weight"}, {"attn.qkv.bias", "attn.c_attn.bias"},
    {"attn.o.weight", "attn.c_proj.weight"},   {"attn.o.bias", "attn.c_proj.bias"},
    {"mlp_norm.weight", "ln_2.weight"},        {"mlp_norm.bias", "ln_2.bias"},
    {"mlp.up.weight", "mlp.c_fc.weight"},      {"mlp.up.bias", "mlp.c_fc.bias"},
    {"mlp.down.weight", "mlp.c_proj.weight"},  {"mlp.down.bias", "mlp.c_proj.bias"}};

// LlamaForCausalLM and the families that share its names: "model." + these; per layer after
// "layers.{i}.".
constexpr TensorName kHfLlamaGlobals[] = {{"tok_embeddings.weight", "embed_tokens.weight"},
                                          {"norm.weight", "norm.weight"},
                                          {"lm_head.weight", "lm_head.weight"}};
constexpr TensorName kHfLlamaLayer[] = {{"attn_norm.weight", "input_layernorm.weight"},
                                        {"attn.q.weight", "self_attn.q_proj.weight"},
                                        {"attn.k.weight", "self_attn.k_proj.weight"},
                                        {"attn.v.weight", "self_attn.v_proj.weight"},
                                        {"attn.o.weight", "self_attn.o_proj.weight"},
                                        {"mlp_norm.weight", "post_attention_layernorm.weight"},
                                        {"mlp.gate.weight", "mlp.gate_proj.weight"},
                                        {"mlp.up.weight", "mlp.up_proj.weight"},
                                        {"mlp.down.weight", "mlp.down_proj.weight"},
                                        {"attn.q.bias", "self_attn.q_proj.bias"},
                                        {"attn.k.bias", "self_attn.k_proj.bias"},
                                        {"attn.v.bias", "self_attn.v_proj.bias"},
                                        {"attn.o.bias", "self_attn.o_proj.bias"},
                                        {"mlp.gate.bias", "mlp.gate_proj.bias"},
                                        {"mlp.up.bias", "mlp.up_proj.bias"},
                                        {"mlp.down.bias", "mlp.down_proj.bias"}};

constexpr HfNames kHfGpt2{HfStyle::Gpt2, "transformer.", "h.", kHfGpt2Globals, kHfGpt2Layer};
constexpr HfNames kHfLlama{HfStyle::Llama, "model.", "layers.", kHfLlamaGlobals, kHfLlamaLayer};

ModelConfig gpt2_features() {
  return ModelConfig{};  // ModelConfig's defaults are GPT-2's.
}

ModelConfig llama_features() {
  ModelConfig c;
  c.norm = NormKind::RMSNorm;
  c.positions = Positions::Rope;
  c.activation = Activation::Silu;
  c.gated_mlp = true;
  c.set_biases(false);
  c.tie_word_embeddings = false;
  return c;
}

ModelConfig qwen2_features() {
  ModelConfig c = llama_features();
  c.qkv_bias = true;
  return c;
}

const std::array<ModelPreset, 4>& table() {
  // name, HF model_type, HF architecture, GGUF arch, sllm model_type, exported,
  // optional biases, GGUF rotate-half, GGUF fused qkv, HF sliding-window key, HF names.
  static const std::array<ModelPreset, 4> t = {{
      {"gpt2", "gpt2", "GPT2LMHeadModel", "gpt2", true, true, true, false, true, nullptr, &kHfGpt2,
       gpt2_features()},
      {"llama", "llama", "LlamaForCausalLM", "llama", true, true, false, false, false, nullptr,
       &kHfLlama, llama_features()},
      {"qwen2", "qwen2", "Qwen2ForCausalLM", "qwen2", false, true, false, true, false,
       "use_sliding_window", &kHfLlama, qwen2_features()},
      {"mistral", "mistral", "MistralForCausalLM", nullptr, false, false, false, false, false,
       nullptr, &kHfLlama, llama_features()},
  }};
  return t;
}

// The features a preset fixes, each with its name for preset_mismatch.
struct Aspect {
  const char* name;
  bool (*same)(const ModelConfig&, const ModelConfig&);
  bool bias;  // One of the biases that an optional_biases row may drop together.
};

#define SLLM_ASPECT(name, field, bias)                                                        \
  {                                                                                           \
    name, [](const ModelConfig& a, const ModelConfig& b) { return a.field == b.field; }, bias \
  }
const Aspect kAspects[] = {
    SLLM_ASPECT("norm kind", norm, false),
    SLLM_ASPECT("norm bias", norm_bias, true),
    SLLM_ASPECT("Gemma's (1+w) norm", norm_unit_offset, false),
    SLLM_ASPECT("sandwich (post) norms", post_norms, false),
    SLLM_ASPECT("positions", positions, false),
    SLLM_ASPECT("RoPE scaling", rope_scaling, false),
    SLLM_ASPECT("partial rotary", rotary_fraction, false),
    SLLM_ASPECT("RoPE layout", rope_layout, false),
    SLLM_ASPECT("q/k/v biases", qkv_bias, true),
    SLLM_ASPECT("attention output bias", attn_out_bias, true),
    SLLM_ASPECT("qk-norm", qk_norm, false),
    SLLM_ASPECT("sliding-window attention", sliding_window, false),
    SLLM_ASPECT("attention softcap", attn_softcap, false),
    SLLM_ASPECT("activation", activation, false),
    SLLM_ASPECT("gated MLP", gated_mlp, false),
    SLLM_ASPECT("MLP biases", mlp_bias, true),
    SLLM_ASPECT("embedding scale", embedding_scale, false),
    SLLM_ASPECT("final-logit softcap", final_logit_softcap, false),
};
#undef SLLM_ASPECT

// The aspects in which c differs from p, first one's name in *first.
int distance(const ModelConfig& c, const ModelPreset& p, const char** first) {
  const bool dropped = p.optional_biases && c.no_biases();
  int n = 0;
  for (const Aspect& a : kAspects) {
    if (a.same(c, p.features) || (dropped && a.bias)) continue;
    if (n++ == 0 && first) *first = a.name;
  }
  return n;
}

}  // namespace

std::span<const ModelPreset> model_presets() {
  return table();
}

const ModelPreset& preset(std::string_view name) {
  for (const ModelPreset& p : table())
    if (name == p.name) return p;
  fail("unknown architecture '{}' (expected gpt2, llama, qwen2 or mistral)", name);
}

const ModelPreset* find_hf_preset(std::string_view model_type) {
  for (const ModelPreset& p : table())
    if (p.hf_model_type && model_type == p.hf_model_type) return &p;
  return nullptr;
}

const ModelPreset* find_gguf_preset(std::string_view arch) {
  for (const ModelPreset& p : table())
    if (p.gguf_arch && arch == p.gguf_arch) return &p;
  return nullptr;
}

void apply_preset(ModelConfig& c, const ModelPreset& p) {
  ModelConfig f = p.features;
  f.vocab_size = c.vocab_size;
  f.n_layer = c.n_layer;
  f.n_head = c.n_head;
  f.n_kv_head = c.n_kv_head;
  f.n_embd = c.n_embd;
  f.head_size = c.head_size;
  f.intermediate_size = c.intermediate_size;
  f.block_size = c.block_size;
  f.initializer_range = c.initializer_range;
  c = std::move(f);
}

const char* preset_mismatch(const ModelConfig& c, const ModelPreset& p) {
  const char* first = nullptr;
  return distance(c, p, &first) ? first : nullptr;
}

const ModelPreset& closest_preset(const ModelConfig& c, bool sllm_only) {
  const ModelPreset* best = nullptr;
  int best_d = 0;
  for (const ModelPreset& p : table()) {
    if (sllm_only ? !p.sllm_model_type : !p.exported) continue;
    const int d = distance(c, p, nullptr);
    if (!best || d < best_d) best = &p, best_d = d;
  }
  return *best;
}

const ModelPreset& exported_preset(const ModelConfig& c, const char* consumer) {
  // Biases are per tensor in every format; the rest must be a family's.
  require_supported(c, consumer, Feature::MixedBiases | Feature::UnbiasedLayerNorm);
  const ModelPreset& p = closest_preset(c, false);
  if (const char* f = preset_mismatch(c, p))
    fail("{}: {} is not supported (closest family: {})", consumer, f, p.name);
  return p;
}

const char* family_name(const ModelConfig& c) {
  return closest_preset(c, true).name;
}

}  // namespace sllm
