// The trainable transformer: one arena for parameters, one for gradients, one for the
// activations saved by forward for backward (llm.c's layout). Forward and backward are
// explicit per layer (see sllm/kernels/). Deterministic for a fixed thread count.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sllm/kernels/bf16.h"
#include "sllm/model/config.h"

namespace sllm {

// The precision of the matrix products (nanoGPT's --dtype). BFloat16 rounds the operands of
// every linear layer's products, forward and backward, to bf16 and accumulates in fp32
// (sllm/kernels/bf16.h); weights, gradients, activations, attention, norms, the loss and the
// optimizer stay fp32.
enum class ComputeDtype { Float32, BFloat16 };
ComputeDtype parse_compute_dtype(const std::string& name);  // "float32" | "bfloat16"; throws.
const char* compute_dtype_name(ComputeDtype d);

// The optional features (sllm/model/config.h) the training model runs (LoRA adds nothing: it
// runs on this model or the inference engine, which refuse what they cannot run); its
// constructor refuses the others by name. Norm kinds, learned or RoPE positions, gelu_tanh or
// gated silu MLPs are its basics. It runs every feature of the open families (Llama 3.x, Qwen,
// Gemma 2/3, Phi-3, Mistral), as the inference engine does.
inline constexpr uint32_t kTrainingModelFeatures =
    Feature::UnbiasedLayerNorm | Feature::MixedBiases | Feature::GroupedQueryLearned |
    Feature::HeadDim | Feature::QkNorm | Feature::RopeScaling | Feature::NormUnitOffset |
    Feature::PostNorms | Feature::EmbeddingScale | Feature::GatedGelu | Feature::AttnSoftcap |
    Feature::FinalSoftcap | Feature::QueryPreAttnScalar | Feature::SlidingWindow |
    Feature::LocalRopeBase;

class Model {
 public:
  explicit Model(const ModelConfig& cfg);  // Validates cfg; allocates params and grads.
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return cfg_; }
  const std::vector<ParamSpec>& specs() const { return specs_; }
  // The mutable accessors count as writes: bf16 compute converts the weights again before the
  // next forward() (so get the pointer again after a forward() to write through it).
  std::span<float> params() {
    ++params_version_;
    return {params_.data(), params_.size()};
  }
  std::span<const float> params() const { return {params_.data(), params_.size()}; }
  std::span<float> grads() {
    materialize_zero_grads();
    return {grads_.data(), grads_.size()};
  }
  float* param(const std::string& name);  // Throws sllm::Error if unknown.
  float* grad(const std::string& name);
  const ParamSpec& spec(const std::string& name) const;

  // Float32 by default. Takes effect from the next forward().
  void set_compute_dtype(ComputeDtype d) {
    dtype_ = d;
    bf16_weights_version_ = 0;
  }
  ComputeDtype compute_dtype() const { return dtype_; }
  // With bf16 compute, forward() multiplies by bf16 copies of the weight matrices, converted
  // when the parameters may have changed. An optimizer that rewrites the parameters can write
  // the copies in the same pass: bf16_weight_copy(s) is where parameter s's copy lives (null
  // when no product reads s, or in float32), and bf16_weight_copies_written() then says that
  // every copy matches the parameters.
  bf16* bf16_weight_copy(const ParamSpec& s);
  void bf16_weight_copies_written() {
    if (dtype_ == ComputeDtype::BFloat16) bf16_weights_version_ = params_version_;
  }

  // GPT-2 initialisation: N(0, 0.02) for matrices and embeddings, N(0, 0.02/sqrt(2L)) for
  // the residual projections (attn.o, mlp.down), zeros for biases, ones for norm weights.
  void init_weights(uint64_t seed);

  // Forward over tokens [B,T] (T <= block_size). If targets is non-null, returns the mean
  // cross-entropy over positions whose target is >= 0 (negative targets are ignored, for
  // masked SFT losses); otherwise returns NaN. Activations are kept for backward().
  float forward(const int32_t* tokens, const int32_t* targets, int B, int T);
  // Logits [B,T,V] of the last forward. With targets, the buffer holds probabilities' gradient
  // after backward(), so read it before calling backward().
  const float* logits() const;

  // Cheap: the next backward() overwrites instead of accumulating (grads() still reads zeros).
  void zero_grad();
  // Accumulates d(loss * loss_scale)/d(params) into grads(). Needs a forward with targets.
  // For gradient accumulation over K micro-batches pass loss_scale = 1/K.
  void backward(float loss_scale = 1.0f);
  // Backward from the caller's d(loss)/d(logits) [B,T,V] instead of the built-in cross-entropy
  // (distillation losses); the forward must have had targets. Accumulates like backward().
  void backward_from_logits_grad(const float* dlogits);

  // Called during backward() each time a contiguous slice of grads() is final for this
  // backward: the head and final norm first, then each layer from the last to the first, then
  // the embeddings (a tied embedding only there). Together the slices cover grads() once.
  // Lets a caller start communicating gradients while backward still runs (data parallel);
  // the callback runs on the calling thread, between kernels. Empty: no calls.
  using GradsReadyFn = std::function<void(std::span<float> ready)>;
  void set_grads_ready_callback(GradsReadyFn fn) { grads_ready_ = std::move(fn); }

  // Batch shards: with several OpenMP threads, a forward and its backward can give each thread
  // whole sequences of the batch and run every layer on them alone, with no synchronisation
  // between kernels (small models gain most), then add the threads' gradients in a fixed
  // order. 0 (the default) chooses one shard per thread when the batch has that many
  // sequences and the extra gradient arenas fit in kShardGradBytes, else 1. Deterministic for
  // a given count; different counts differ by rounding.
  static constexpr size_t kShardGradBytes = size_t{64} << 20;
  void set_batch_shards(int shards);
  int batch_shards(int B) const;  // The count a forward over B sequences uses now.

  struct Impl;

 private:
  void materialize_zero_grads();
  bool prepare_grads_for_backward();  // False: this backward overwrites the weight gradients.

  ModelConfig cfg_;
  std::vector<ParamSpec> specs_;
  std::vector<float> params_, grads_;
  bool grads_zero_pending_ = false;  // zero_grad() was called and no backward() has run since.
  ComputeDtype dtype_ = ComputeDtype::Float32;
  uint64_t params_version_ = 1, bf16_weights_version_ = 0;  // Equal: the bf16 copies are current.
  std::unique_ptr<Impl> impl_;  // Activation arena and scratch, sized on first forward.
  GradsReadyFn grads_ready_;
  int batch_shards_ = 0;
};

}  // namespace sllm
