// Whether the CUDA backend can run here, and the backend's stand-ins in a build without it.
#include <string>

#include "sllm/common/error.h"
#include "sllm/cuda/cuda_model.h"

#ifndef SLLM_HAVE_CUDA
#define SLLM_HAVE_CUDA 0
#endif
#if SLLM_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace sllm::cuda {

bool built() {
  return SLLM_HAVE_CUDA != 0;
}

#if SLLM_HAVE_CUDA

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // Clear the sticky "no device" error.
    return 0;
  }
  return n;
}

std::string require_device() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    cudaGetLastError();
    fail("--device cuda: no usable NVIDIA GPU here ({}); use --device cpu",
         e != cudaSuccess ? cudaGetErrorString(e) : "no device found");
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) fail("--device cuda: cannot query GPU 0");
  if (prop.major < 8)
    fail(
        "--device cuda: GPU 0 ({}) has compute capability {}.{}; the bf16 kernels need 8.0 or "
        "newer",
        prop.name, prop.major, prop.minor);
  return prop.name;
}

#else

int device_count() {
  return 0;
}

[[noreturn]] static void no_backend() {
  fail(
      "--device cuda: this sllm was built without the CUDA backend (CMake found no nvcc); install "
      "the CUDA "
      "toolkit with cuBLAS and rebuild, or use --device cpu");
}

std::string require_device() {
  no_backend();
}

struct CudaModel::Impl {};
CudaModel::CudaModel(const ModelConfig&) {
  no_backend();
}
CudaModel::~CudaModel() = default;
const ModelConfig& CudaModel::config() const {
  no_backend();
}
size_t CudaModel::num_params() const {
  no_backend();
}
void CudaModel::set_params(std::span<const float>) {
  no_backend();
}
void CudaModel::get_params(std::span<float>) const {
  no_backend();
}
void CudaModel::get_grads(std::span<float>) const {
  no_backend();
}
std::vector<float> CudaModel::get_logits() const {
  no_backend();
}
float CudaModel::forward(const int32_t*, const int32_t*, int, int) {
  no_backend();
}
void CudaModel::zero_grad() {
  no_backend();
}
void CudaModel::backward(float) {
  no_backend();
}
float CudaModel::grad_norm() {
  no_backend();
}
void CudaModel::adamw_step(const AdamWParams&, int64_t) {
  no_backend();
}
void CudaModel::get_adam_state(std::vector<float>&, std::vector<float>&) const {
  no_backend();
}
void CudaModel::set_adam_state(std::span<const float>, std::span<const float>) {
  no_backend();
}

#endif

}  // namespace sllm::cuda
