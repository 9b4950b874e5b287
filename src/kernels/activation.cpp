#include "sllm/kernels/activation.h"

#include <cmath>

namespace sllm {

namespace {
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
}

void gelu_forward(float* out, const float* inp, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const float x = inp[i];
    out[i] = 0.5f * x * (1.0f + std::tanh(kGeluScale * (x + 0.044715f * x * x * x)));
  }
}

void gelu_backward(float* dinp, const float* inp, const float* dout, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const float x = inp[i];
    const float u = kGeluScale * (x + 0.044715f * x * x * x);
    const float th = std::tanh(u);
    const float sech2 = 1.0f - th * th;
    const float grad =
        0.5f * (1.0f + th) + 0.5f * x * sech2 * kGeluScale * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] = grad * dout[i];
  }
}

void swiglu_forward(float* out, const float* inp, int N, int F) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* g = inp + static_cast<size_t>(n) * 2 * F;
    const float* u = g + F;
    float* o = out + static_cast<size_t>(n) * F;
    for (int j = 0; j < F; ++j) o[j] = g[j] / (1.0f + std::exp(-g[j])) * u[j];
  }
}

void swiglu_backward(float* dinp, const float* inp, const float* dout, int N, int F) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* g = inp + static_cast<size_t>(n) * 2 * F;
    const float* u = g + F;
    const float* d = dout + static_cast<size_t>(n) * F;
    float* dg = dinp + static_cast<size_t>(n) * 2 * F;
    float* du = dg + F;
    for (int j = 0; j < F; ++j) {
      const float sig = 1.0f / (1.0f + std::exp(-g[j]));
      const float silu = g[j] * sig;
      du[j] = d[j] * silu;
      dg[j] = d[j] * u[j] * sig * (1.0f + g[j] * (1.0f - sig));
    }
  }
}

}  // namespace sllm
