// The CUDA backend (`--device cuda`): the model of sllm/model/model.h (LayerNorm or RMSNorm,
// learned or RoPE positions, GELU or gated SiLU MLP, grouped-query attention) on one NVIDIA GPU.
// cuBLAS runs the GEMMs (bf16 inputs, fp32 accumulation); sllm's own kernels (src/cuda/) do the
// norms, RoPE, attention softmax, GELU/SwiGLU, cross-entropy, gradient norm and AdamW. Activations
// and the compute copy of the weights are bf16; the master weights, their gradients and the AdamW
// state are fp32, in the CPU model's arena layout, so weights move between the two unchanged. Built
// only where CMake finds nvcc (SLLM_CUDA); without it, or without a GPU at run time, every entry
// point throws sllm::Error saying so.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sllm/kernels/adamw.h"
#include "sllm/model/config.h"

namespace sllm::cuda {

bool built();        // This sllm was compiled with the CUDA backend.
int device_count();  // Usable GPUs now: 0 without CUDA, a driver or a GPU.
// Throws sllm::Error explaining why `--device cuda` cannot run here; returns the GPU's name.
std::string require_device();

// The optional features (sllm/model/config.h) the CUDA backend runs: none yet. CudaModel refuses
// the others by name ("--device cuda: LayerNorm without bias is not supported"), before it
// looks for a GPU.
inline constexpr uint32_t kCudaFeatures = 0;

class CudaModel {
 public:
  explicit CudaModel(const ModelConfig& cfg);  // Throws without a usable GPU.
  ~CudaModel();
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  const ModelConfig& config() const;
  size_t num_params() const;
  // fp32 master weights in Model::params() layout (also refreshes the bf16 copy).
  void set_params(std::span<const float> params);
  void get_params(std::span<float> params) const;
  void get_grads(std::span<float> grads) const;
  // Logits [B,T,V] of the last forward (as fp32). Like the CPU model, backward overwrites them.
  std::vector<float> get_logits() const;

  // Mean cross-entropy over positions with target >= 0 (as Model::forward).
  float forward(const int32_t* tokens, const int32_t* targets, int B, int T);
  void zero_grad();
  // Accumulates d(loss * loss_scale)/d(params) into the gradients.
  void backward(float loss_scale = 1.0f);
  float grad_norm();  // Global L2 norm of the gradients.
  // One AdamW update (sllm::adamw_update per tensor, decay where ParamSpec::decay); t counts
  // updates.
  void adamw_step(const AdamWParams& h, int64_t t);
  void get_adam_state(std::vector<float>& m, std::vector<float>& v) const;
  void set_adam_state(std::span<const float> m, std::span<const float> v);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sllm::cuda
