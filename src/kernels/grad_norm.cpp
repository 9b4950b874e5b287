#include "sllm/kernels/grad_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace sllm {

float global_norm(const float* x, size_t n) {
  // Fixed-size chunks (not one per thread) so the summation order is the same for any
  // thread count.
  constexpr size_t kChunk = 1 << 16;
  const size_t nchunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(nchunks, 0.0);
#pragma omp parallel for schedule(static)
  for (size_t c = 0; c < nchunks; ++c) {
    const size_t i0 = c * kChunk, i1 = std::min(n, i0 + kChunk);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (size_t i = i0; i < i1; ++i) s += x[i] * x[i];
    partial[c] = s;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return static_cast<float>(std::sqrt(total));
}

void scale_inplace(float* x, size_t n, float scale) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) x[i] *= scale;
}

}  // namespace sllm
