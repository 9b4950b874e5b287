#include "sllm/model/lora.h"

#include <cblas.h>

#include <cmath>
#include <cstring>
#include <random>

namespace sllm {

void lora_forward(const LoraDims& d, const float* x, int N, const float* W, const float* A,
                  const float* B, float* y, float* xa) {
  // y = x W^T ; xa = x A^T ; y += s xa B^T
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, d.out, d.in, 1.0f, x, d.in, W, d.in, 0.0f,
              y, d.out);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, d.r, d.in, 1.0f, x, d.in, A, d.in, 0.0f,
              xa, d.r);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, d.out, d.r, d.scale, xa, d.r, B, d.r,
              1.0f, y, d.out);
}

void lora_backward(const LoraDims& d, const float* x, const float* xa, const float* dy, int N,
                   const float* W, const float* A, const float* B, float* dA, float* dB, float* dx,
                   float* scratch) {
  // dxa = s dy B  [N, r]
  float* dxa = scratch;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, d.r, d.out, d.scale, dy, d.out, B, d.r,
              0.0f, dxa, d.r);
  // dB += s dy^T xa  [out, r]
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d.out, d.r, N, d.scale, dy, d.out, xa, d.r,
              1.0f, dB, d.r);
  // dA += dxa^T x  [r, in]
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d.r, d.in, N, 1.0f, dxa, d.r, x, d.in, 1.0f,
              dA, d.in);
  if (dx) {
    // dx = dy W + dxa A  [N, in]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, d.in, d.out, 1.0f, dy, d.out, W, d.in,
                0.0f, dx, d.in);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, d.in, d.r, 1.0f, dxa, d.r, A, d.in,
                1.0f, dx, d.in);
  }
}

void lora_grads_from_weight_grad(const LoraDims& d, const float* dW, const float* A, const float* B,
                                 float* dA, float* dB) {
  // dB += s dW A^T  [out, r]
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d.out, d.r, d.in, d.scale, dW, d.in, A, d.in,
              1.0f, dB, d.r);
  // dA += s B^T dW  [r, in]
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d.r, d.in, d.out, d.scale, B, d.r, dW, d.in,
              1.0f, dA, d.in);
}

void lora_merge(const LoraDims& d, const float* W, const float* A, const float* B, float* W_out,
                float sign) {
  if (W_out != W) std::memcpy(W_out, W, sizeof(float) * static_cast<size_t>(d.out) * d.in);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d.out, d.in, d.r, sign * d.scale, B, d.r,
              A, d.in, 1.0f, W_out, d.in);
}

void lora_init(const LoraDims& d, float* A, float* B, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const float bound = 1.0f / std::sqrt(static_cast<float>(d.in));
  std::uniform_real_distribution<float> u(-bound, bound);
  for (size_t i = 0; i < static_cast<size_t>(d.r) * d.in; ++i) A[i] = u(rng);
  std::memset(B, 0, sizeof(float) * static_cast<size_t>(d.out) * d.r);
}

}  // namespace sllm
