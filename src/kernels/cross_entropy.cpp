#include "sllm/kernels/cross_entropy.h"

#include <cmath>
#include <cstddef>
#include <limits>

#include "simd.h"

namespace sllm {

float cross_entropy_forward(float* lse, const float* logits, const int32_t* targets, int N, int V,
                            int* n_valid) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* z = logits + static_cast<size_t>(n) * V;
    const float mx = simd::max(z, V);
    lse[n] = mx + std::log(simd::sum_exp_shifted(z, V, mx));
  }
  // The mean is taken serially in double so the loss is independent of the thread count.
  double total = 0.0;
  int count = 0;
  for (int n = 0; n < N; ++n) {
    if (targets[n] < 0) continue;
    total += static_cast<double>(lse[n]) - logits[static_cast<size_t>(n) * V + targets[n]];
    ++count;
  }
  *n_valid = count;
  return count ? static_cast<float>(total / count) : std::numeric_limits<float>::quiet_NaN();
}

void cross_entropy_backward(float* logits, const float* lse, const int32_t* targets, int N, int V,
                            int n_valid, float dloss_scale) {
  const float k = n_valid ? dloss_scale / n_valid : 0.0f;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    float* z = logits + static_cast<size_t>(n) * V;
    if (targets[n] < 0) {
      for (int v = 0; v < V; ++v) z[v] = 0.0f;
      continue;
    }
    simd::exp_shifted_scaled(z, z, V, lse[n], k);
    z[targets[n]] -= k;
  }
}

}  // namespace sllm
