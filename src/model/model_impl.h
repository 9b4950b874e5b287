// The training model's private layout, shared by its files: pointers into the parameter and
// gradient arenas, the activations each layer saves, and Model::Impl. model.cpp builds the model
// (parameters, init); model_layout.cpp lays out the activation arenas; model_passes.cpp runs
// forward and backward.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "sllm/kernels/bf16.h"
#include "sllm/model/model.h"

namespace sllm {

namespace model_detail {

// Pointers into the parameter (or gradient) arena for one layer. q/k/v are adjacent in the
// arena, so qkv_w is one [(H+2KV)*hd, C] matrix; Llama's gate/up likewise form up_w [2F, C].
struct LayerTensors {
  float *norm1_w = nullptr, *norm1_b = nullptr, *qkv_w = nullptr, *qkv_b = nullptr, *o_w = nullptr,
        *o_b = nullptr;
  float *norm2_w = nullptr, *norm2_b = nullptr, *up_w = nullptr, *up_b = nullptr, *down_w = nullptr,
        *down_b = nullptr;
  float *q_norm_w = nullptr, *k_norm_w = nullptr;       // [hd] each (qk_norm)
  float *attn_post_w = nullptr, *mlp_post_w = nullptr;  // [C] each (post_norms)
};

struct ModelTensors {
  float *wte = nullptr, *wpe = nullptr, *normf_w = nullptr, *normf_b = nullptr, *lm_w = nullptr;
  std::vector<LayerTensors> layers;
};

// Activations one layer saves for backward, all [N = B*T rows]: norm1 [N,C], mean1/rstd1 [N],
// qkv [N,S] (q and k after qk-norm and RoPE), probs [B,H,T,T], atty [N,Q], res1 [N,C] (the
// stream after attention), norm2 [N,C], mean2/rstd2 [N], hpre [N,Fx], hact [N,F], out [N,C].
// With qk_norm: qk_pre [N,(H+KV)*hd] (q and k before it) and qk_rstd [N,H+KV]. With post_norms:
// attn_o and mlp_o [N,C] (the branch outputs before their post norms) and their rstd [N].
struct LayerActs {
  float *norm1, *mean1, *rstd1, *qkv, *probs, *atty, *res1, *norm2, *mean2, *rstd2, *hpre, *hact,
      *out;
  float *qk_pre, *qk_rstd, *attn_o, *attn_o_rstd, *mlp_o, *mlp_o_rstd;
};

// With bf16 compute, the bf16 copies of the linear layers' inputs (for their weight gradients).
struct LayerActs16 {
  bf16 *norm1, *atty, *norm2, *hact;
};

// Row widths of the activation buffers, to point at a shard's rows.
struct RowDims {
  size_t C, S, Q, F, Fx, V, probs, dout;  // probs: per sequence; dout: of dout16, the widest
  size_t qk_heads = 0, qk_width = 0;      // H+KV and (H+KV)*hd with qk_norm, else 0
  size_t post = 0;                        // C with post_norms, else 0
  size_t capV = 0;                        // V with a final-logit softcap, else 0
};

}  // namespace model_detail

struct Model::Impl {
  using ModelTensors = model_detail::ModelTensors;
  using LayerActs = model_detail::LayerActs;
  using LayerActs16 = model_detail::LayerActs16;
  std::unordered_map<std::string, size_t> index;  // name -> position in specs
  ModelTensors p, g;
  // RoPE: each layer's frequency divisors and base (rope_freq_divisors, rope_theta_at), and one
  // cos/sin table [rope_T, hd/2] per distinct pair, grown to the longest forward so far.
  std::vector<std::vector<double>> rope_div;
  std::vector<double> rope_base;
  std::vector<int> rope_table;  // Per layer: its table.
  std::vector<std::vector<float>> rope_cos, rope_sin;
  int rope_T = 0;
  // Slices of the gradient arena in the order backward finishes them (see
  // set_grads_ready_callback): the head, layers n_layer-1 .. 0, the embeddings.
  struct Slice {
    size_t begin, end;
  };
  std::vector<Slice> ready_order;

  std::vector<float> acts, scratch;
  int B = 0, T = 0;
  std::vector<LayerActs> layer;
  // logit_tanh [N,V]: tanh(logits / cap) under a final-logit softcap, for backward.
  float *resid0 = nullptr, *normf = nullptr, *meanf = nullptr, *rstdf = nullptr, *logits = nullptr,
        *lse = nullptr, *logit_tanh = nullptr;
  // dpost [N,C]: the gradient of a branch output under its post norm (post_norms).
  float *dres = nullptr, *dnorm = nullptr, *dqkv = nullptr, *datty = nullptr, *dhact = nullptr,
        *dhpre = nullptr, *dpost = nullptr;
  std::vector<int32_t> tokens, targets;
  int n_valid = 0;
  // Batch shards of the last forward (Model::set_batch_shards); shards 1.. write their
  // gradients into their own arenas, which backward adds to the model's.
  int shards = 1;
  std::vector<float> shard_grads;
  std::vector<ModelTensors> shard_g;
  std::vector<Slice> accumulated;  // The gradients backward adds into (zeroed before the first).
  bool have_logits = false, backward_ready = false;

  // bf16 compute. w16 has the parameter arena's layout but holds only the slices the products
  // read (gemm_weights), converted at each forward; acts16 the inputs of the linear layers;
  // dout16 the output gradient of the layer being differentiated.
  const float* params_base = nullptr;
  std::vector<Slice> gemm_weights;
  std::vector<bf16> w16, acts16, dout16;
  std::vector<LayerActs16> layer16;
  bf16* normf16 = nullptr;
  bool forward_bf16 = false;  // The last forward ran in bf16; its backward does too.
  const bf16* w16_of(const float* w) const { return w16.data() + (w - params_base); }
};

namespace model_detail {

// The parameter (or gradient) arena's tensors, from base.
ModelTensors map_tensors(const ModelConfig& c, const std::vector<ParamSpec>& specs,
                         const std::unordered_map<std::string, size_t>& index, float* base);
RowDims row_dims(const ModelConfig& c, int T);
// The activation arena (and the backward scratch) for [B, T]; grows, never shrinks.
void layout_activations(Model::Impl& m, const ModelConfig& c, int B, int T);
// The bf16 buffers of bf16 compute for [B, T]; grow when needed, never shrink.
void layout_bf16(Model::Impl& m, const ModelConfig& c, int B, int T);
// The rows of sequences b0.. (token row r0 = b0 * T) of one layer's activations.
LayerActs rows_of(const LayerActs& a, size_t r0, size_t b0, const RowDims& d);
LayerActs16 rows_of(const LayerActs16& a, size_t r0, const RowDims& d);

}  // namespace model_detail

}  // namespace sllm
