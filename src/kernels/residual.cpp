#include "sllm/kernels/residual.h"

namespace sllm {

void residual_forward(float* out, const float* a, const float* b, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void residual_add_row(float* y, const float* r, const float* bias, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] += r[i] + (bias ? bias[i] : 0.0f);
}

}  // namespace sllm
