// Model configuration for the decoder-only transformer. A block is described by its features
// (norm, positions, attention, MLP, ...), never by a family name: the families sllm knows (gpt2,
// llama, qwen2, mistral) are presets in one table (sllm/model/presets.h), and every consumer
// (training model, inference engine, CUDA backend, LoRA, exporters) branches on the features
// and refuses, by name, those it cannot run (require_supported below).
// Serialized as JSON with Hugging Face field names (config.json).
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace sllm {

enum class NormKind : uint8_t { LayerNorm, RMSNorm };
enum class Positions : uint8_t { Learned, Rope };
// Which dimensions RoPE rotates together. sllm's kernels rotate interleaved pairs (2i, 2i+1),
// as Meta, llama2.c and GGUF's llama do; importers of rotate-half checkpoints (Hugging Face,
// GGUF qwen2) permute q/k rows into this layout.
enum class RopeLayout : uint8_t { Interleaved, RotateHalf };
// gelu: exact (erf); gelu_tanh: the tanh approximation (GPT-2's "gelu_new"); silu.
enum class Activation : uint8_t { Gelu, GeluTanh, Silu };
const char* activation_name(Activation a);  // HF hidden_act: "gelu", "gelu_pytorch_tanh", "silu"
Activation parse_activation(const std::string& s);  // Also "gelu_new"; throws on anything else.

// RoPE frequency scaling (HF rope_scaling); type "" is none.
struct RopeScaling {
  std::string type;  // "linear", "dynamic", "yarn", "llama3", "longrope", ...
  float factor = 1.0f;
  int original_max_position = 0;
  float low_freq_factor = 0.0f, high_freq_factor = 0.0f;  // llama3
  std::vector<float> short_factor, long_factor;           // longrope (Phi-3)
  bool operator==(const RopeScaling&) const = default;
};

// The defaults are GPT-2's features (the gpt2 preset).
struct ModelConfig {
  int vocab_size = 256;
  int n_layer = 4;
  int n_head = 4;
  int n_kv_head = 4;  // Grouped-query attention: divides n_head.
  int n_embd = 128;
  // Width of one attention head; 0 means n_embd / n_head (HF head_dim).
  int head_size = 0;
  // MLP hidden width; 0 means the default (4C plain, or 8C/3 rounded for a gated MLP).
  int intermediate_size = 0;
  int block_size = 64;  // max_position_embeddings: longest sequence.

  // Norm. norm_bias: the LayerNorms have biases. norm_unit_offset: Gemma's x * (1 + w).
  NormKind norm = NormKind::LayerNorm;
  bool norm_bias = true;
  float norm_eps = 1e-5f;
  bool norm_unit_offset = false;
  bool post_norms = false;  // Sandwich norms: the attention and MLP outputs are normalised too.

  // Positions: learned embeddings, or RoPE over the first rotary_fraction of each head.
  Positions positions = Positions::Learned;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  float rotary_fraction = 1.0f;
  RopeLayout rope_layout = RopeLayout::Interleaved;

  // Attention. sliding_window: per layer, 0 = full causal attention (empty: all full).
  bool qkv_bias = true;       // q/k/v projections (GPT-2, Qwen2).
  bool attn_out_bias = true;  // The output projection.
  bool qk_norm = false;       // RMSNorm of q and k per head (Qwen3, Gemma 3).
  std::vector<int> sliding_window;
  float attn_softcap = 0.0f;  // Gemma 2's tanh cap on the scores; 0 is none.

  // MLP: act(x W_up) or act(x W_gate) * (x W_up) when gated.
  Activation activation = Activation::GeluTanh;
  bool gated_mlp = false;
  bool mlp_bias = true;

  float embedding_scale = 1.0f;  // Multiplies the token embeddings (Gemma: sqrt(n_embd)).
  bool tie_word_embeddings = true;
  float final_logit_softcap = 0.0f;  // 0 is none.

  // Std of the N(0, std) init of every matrix and embedding (Hugging Face's initializer_range);
  // the residual output projections (attention out, MLP down) start at std / sqrt(2 n_layer),
  // as in GPT-2. 0.02 is GPT-2's; `sllm train` defaults to width_scaled_init_std().
  float initializer_range = 0.02f;

  int head_dim() const { return head_size > 0 ? head_size : n_embd / n_head; }
  int ffn_dim() const;  // Resolved intermediate_size.
  // nanoGPT's `bias`: every linear layer and norm has a bias (false: none has).
  bool all_biases() const { return norm_bias && qkv_bias && attn_out_bias && mlp_bias; }
  bool no_biases() const { return !norm_bias && !qkv_bias && !attn_out_bias && !mlp_bias; }
  void set_biases(bool on) { norm_bias = qkv_bias = attn_out_bias = mlp_bias = on; }
  bool sliding_window_at(int layer) const;

  void validate() const;  // Throws sllm::Error naming the bad field.
  // model_type is the closest preset that sllm writes (gpt2 or llama); every feature that
  // differs from it is written as its own field, so old files read and write unchanged.
  nlohmann::json to_json() const;
  static ModelConfig from_json(const nlohmann::json& j);  // Validates.
  bool operator==(const ModelConfig&) const = default;
};

// The features a consumer may lack. Each has a name for the error and a test of whether a
// config uses it (the table in config.cpp).
enum class Feature : uint32_t {
  HeadDim = 1u << 0,         // head_dim independent of hidden_size
  NormUnitOffset = 1u << 1,  // Gemma's (1+w) norm
  PostNorms = 1u << 2,       // sandwich (post) norms
  RopeScaling = 1u << 3,
  PartialRotary = 1u << 4,
  RotateHalf = 1u << 5,  // rotate-half RoPE layout
  QkNorm = 1u << 6,
  SlidingWindow = 1u << 7,
  AttnSoftcap = 1u << 8,
  FinalSoftcap = 1u << 9,
  EmbeddingScale = 1u << 10,
  ExactGelu = 1u << 11,            // exact (erf) GELU
  GatedGelu = 1u << 12,            // gated MLP with a GELU (GeGLU)
  PlainSilu = 1u << 13,            // plain (ungated) MLP with SiLU
  GatedMlpBias = 1u << 14,         // biases on a gated MLP
  MixedBiases = 1u << 15,          // biases on some projections or norms only (Qwen2: q/k/v)
  UnbiasedLayerNorm = 1u << 16,    // LayerNorm without bias
  GroupedQueryLearned = 1u << 17,  // grouped-query attention with learned positions
};
constexpr uint32_t operator|(Feature a, Feature b) {
  return static_cast<uint32_t>(a) | static_cast<uint32_t>(b);
}
constexpr uint32_t operator|(uint32_t a, Feature b) {
  return a | static_cast<uint32_t>(b);
}

const char* feature_name(Feature f);
bool uses_feature(const ModelConfig& c, Feature f);
// Throws sllm::Error "<consumer>: <feature> is not supported" for the first feature c uses
// that is not in `supported` (a mask of Feature bits).
void require_supported(const ModelConfig& c, const char* consumer, uint32_t supported);

// `sllm train`'s default initializer_range: GPT-2's 0.02 at its width of 768, scaled as
// 1/sqrt(n_embd) like a fan-in init, so that a layer's outputs start at the same scale at every
// width: 0.049 at 128 wide, 0.028 at 384, 0.02 at 768, 0.0173 at 1024. A fixed 0.02 trains
// markedly worse at 128 wide (bench/shakespeare_char.sh and the README give the figures).
float width_scaled_init_std(int n_embd);

// One parameter tensor in the model's parameter arena. Shapes are [out, in] for linear
// weights (row-major, like torch.nn.Linear). Within a layer, q/k/v weights are adjacent (and
// their biases), and a gated MLP's gate/up weights are adjacent, so each group is one fused GEMM.
struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0;  // In floats from the start of the arena.
  size_t numel = 0;
  bool decay = false;  // AdamW weight decay applies (matrices only; not norms, biases, embeddings).
};

// Parameter names (sllm's own checkpoint names; importers and exporters map them):
//   tok_embeddings.weight [V,C]; pos_embeddings.weight [T,C] (learned positions)
//   layers.{i}.attn_norm.{weight,bias}; layers.{i}.attn.{q,k,v}.weight; .{q,k,v}.bias (qkv_bias)
//   layers.{i}.attn.{q,k}_norm.weight [hd] (qk_norm); layers.{i}.attn.o.{weight,bias}
//   layers.{i}.attn_post_norm.weight, mlp_post_norm.weight (post_norms)
//   layers.{i}.mlp_norm.{weight,bias}; layers.{i}.mlp.gate.{weight,bias} [F,C] (gated)
//   layers.{i}.mlp.up.{weight,bias} [F,C]; layers.{i}.mlp.down.{weight,bias} [C,F]
//   norm.{weight,bias}; lm_head.weight [V,C] when not tied. Norm biases with norm_bias, the
//   others with attn_out_bias / mlp_bias.
std::vector<ParamSpec> param_specs(const ModelConfig& c);
size_t num_params(const ModelConfig& c);

// Training-memory estimate, used to refuse a config before allocating.
struct MemoryEstimate {
  size_t params = 0, grads = 0, optimizer = 0, activations = 0;
  size_t total() const { return params + grads + optimizer + activations; }
};
// bf16: --dtype bfloat16's extra bf16 copies (weights, linear-layer inputs, one output gradient).
MemoryEstimate estimate_training_memory(const ModelConfig& c, int batch, int seq_len,
                                        bool bf16 = false);

// Forward+backward FLOPs per token (6N plus attention), for MFU.
double flops_per_token(const ModelConfig& c, int seq_len);

}  // namespace sllm
