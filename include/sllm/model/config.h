// Model configuration for the decoder-only transformer, covering two architectures:
//   gpt2:  LayerNorm, learned positions, GELU MLP, biases, tied embeddings.
//   llama: RMSNorm, RoPE (interleaved pairs, as Meta/llama2.c/GGUF), SwiGLU, GQA, no biases.
// Serialized as JSON with Hugging Face field names (config.json).
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace sllm {

enum class Arch { GPT2, Llama };
const char* arch_name(Arch a);          // "gpt2" / "llama"
Arch parse_arch(const std::string& s);  // Throws sllm::Error on anything else.

struct ModelConfig {
  Arch arch = Arch::GPT2;
  int vocab_size = 256;
  int n_layer = 4;
  int n_head = 4;
  int n_kv_head = 4;  // Llama GQA: divides n_head. GPT-2: always n_head.
  int n_embd = 128;
  // MLP hidden width; 0 means the arch default (4C, or Llama's 8C/3 rounded).
  int intermediate_size = 0;
  int block_size = 64;  // max_position_embeddings: longest sequence.
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  bool tie_word_embeddings = true;
  // GPT-2 only: biases in the linear layers and LayerNorms. nanoGPT's `bias = False` (its
  // default) drops them all; JSON field "bias", written only when false.
  bool bias = true;
  // Llama with biases on the q/k/v projections (Qwen2). Inference and import/export only:
  // the trainable Model refuses it.
  bool qkv_bias = false;
  // Std of the N(0, std) init of every matrix and embedding (Hugging Face's initializer_range);
  // the residual output projections (attention out, MLP down) start at std / sqrt(2 n_layer),
  // as in GPT-2. 0.02 is GPT-2's; `sllm train` defaults to width_scaled_init_std().
  float initializer_range = 0.02f;

  int head_dim() const { return n_embd / n_head; }
  int ffn_dim() const;  // Resolved intermediate_size.
  bool has_bias() const { return arch == Arch::GPT2 && bias; }
  bool has_qkv_bias() const { return has_bias() || qkv_bias; }  // q/k/v biases: gpt2, Qwen2.

  void validate() const;  // Throws sllm::Error naming the bad field.
  nlohmann::json to_json() const;
  static ModelConfig from_json(const nlohmann::json& j);  // Validates.
};

// `sllm train`'s default initializer_range: GPT-2's 0.02 at its width of 768, scaled as
// 1/sqrt(n_embd) like a fan-in init, so that a layer's outputs start at the same scale at every
// width: 0.049 at 128 wide, 0.028 at 384, 0.02 at 768, 0.0173 at 1024. A fixed 0.02 trains
// markedly worse at 128 wide (bench/shakespeare_char.sh: val 1.90 against 1.76).
float width_scaled_init_std(int n_embd);

// One parameter tensor in the model's parameter arena. Shapes are [out, in] for linear
// weights (row-major, like torch.nn.Linear). Within a layer, q/k/v weights are adjacent (and
// their biases), and Llama's gate/up weights are adjacent, so each group is one fused GEMM.
struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0;  // In floats from the start of the arena.
  size_t numel = 0;
  bool decay = false;  // AdamW weight decay applies (matrices only; not norms, biases, embeddings).
};

// Parameter names (sllm's own checkpoint names; importers and exporters map them):
//   tok_embeddings.weight [V,C]; pos_embeddings.weight [T,C] (gpt2)
//   layers.{i}.attn_norm.{weight,bias}; layers.{i}.attn.{q,k,v}.weight; .{q,k,v}.bias (gpt2)
//   layers.{i}.attn.o.{weight,bias}; layers.{i}.mlp_norm.{weight,bias}
//   gpt2:  layers.{i}.mlp.up.{weight,bias} [F,C]; layers.{i}.mlp.down.{weight,bias} [C,F]
//   llama: layers.{i}.mlp.gate.weight [F,C]; layers.{i}.mlp.up.weight [F,C]; mlp.down.weight [C,F]
//   norm.{weight,bias}; lm_head.weight [V,C] when not tied. (bias entries only for gpt2)
//   qkv_bias (Qwen2): layers.{i}.attn.{q,k,v}.bias on a llama.
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
