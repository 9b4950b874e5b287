#include "sllm/kernels/activation.h"

#include <algorithm>

#include "simd.h"

namespace sllm {

namespace {
// Elementwise work in cache-sized slabs, one slab per OpenMP iteration.
constexpr size_t kSlab = 4096;

template <typename F>
void for_slabs(size_t n, F&& f) {
  const size_t nslabs = (n + kSlab - 1) / kSlab;
#pragma omp parallel for schedule(static)
  for (size_t s = 0; s < nslabs; ++s) {
    const size_t i0 = s * kSlab;
    f(i0, std::min(n, i0 + kSlab) - i0);
  }
}
}  // namespace

void gelu_forward(float* out, const float* inp, size_t n) {
  for_slabs(n, [&](size_t i, size_t m) { simd::gelu(out + i, inp + i, m); });
}

void gelu_backward(float* dinp, const float* inp, const float* dout, size_t n) {
  for_slabs(n, [&](size_t i, size_t m) { simd::gelu_backward(dinp + i, inp + i, dout + i, m); });
}

void gelu_span(float* out, const float* inp, size_t n) {
  simd::gelu(out, inp, n);
}

void swiglu_span(float* out, const float* gate, const float* up, size_t n) {
  simd::swiglu(out, gate, up, n);
}

void geglu_span(float* out, const float* gate, const float* up, size_t n) {
  simd::gelu(out, gate, n);
  for (size_t i = 0; i < n; ++i) out[i] *= up[i];
}

void swiglu_forward(float* out, const float* inp, int N, int F) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* g = inp + static_cast<size_t>(n) * 2 * F;
    simd::swiglu(out + static_cast<size_t>(n) * F, g, g + F, F);
  }
}

void swiglu_backward(float* dinp, const float* inp, const float* dout, int N, int F) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* g = inp + static_cast<size_t>(n) * 2 * F;
    float* dg = dinp + static_cast<size_t>(n) * 2 * F;
    simd::swiglu_backward(dg, dg + F, g, g + F, dout + static_cast<size_t>(n) * F, F);
  }
}

void geglu_forward(float* out, const float* inp, int N, int F) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* g = inp + static_cast<size_t>(n) * 2 * F;
    geglu_span(out + static_cast<size_t>(n) * F, g, g + F, F);
  }
}

void geglu_backward(float* dinp, const float* inp, const float* dout, int N, int F) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* g = inp + static_cast<size_t>(n) * 2 * F;
    const float* d = dout + static_cast<size_t>(n) * F;
    float* dg = dinp + static_cast<size_t>(n) * 2 * F;
    float* du = dg + F;
    simd::gelu(du, g, F);  // d up = dout * gelu(gate)
    for (int i = 0; i < F; ++i) {
      dg[i] = d[i] * g[F + i];  // d gelu(gate) = dout * up
      du[i] *= d[i];
    }
    simd::gelu_backward(dg, g, dg, F);
  }
}

}  // namespace sllm
