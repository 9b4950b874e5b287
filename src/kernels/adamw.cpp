#include "sllm/kernels/adamw.h"

#include <cmath>

namespace sllm {

void adamw_update(float* params, const float* grads, float* m, float* v, size_t n,
                  const AdamWParams& h, int64_t t, bool decay) {
  const float bc1 =
      1.0f - static_cast<float>(std::pow(static_cast<double>(h.beta1), static_cast<double>(t)));
  const float bc2 =
      1.0f - static_cast<float>(std::pow(static_cast<double>(h.beta2), static_cast<double>(t)));
  const float step = h.lr / bc1;
  const float sqrt_bc2 = std::sqrt(bc2);
  const float keep = decay ? 1.0f - h.lr * h.weight_decay : 1.0f;
  const float b1 = h.beta1, b2 = h.beta2, eps = h.eps, gs = h.grad_scale;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const float g = grads[i] * gs;
    const float mi = b1 * m[i] + (1.0f - b1) * g;
    const float vi = b2 * v[i] + (1.0f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] = params[i] * keep - step * mi / (std::sqrt(vi) / sqrt_bc2 + eps);
  }
}

}  // namespace sllm
