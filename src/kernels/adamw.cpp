#include "sllm/kernels/adamw.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace sllm {

namespace {

struct Coeffs {
  float step, sqrt_bc2, b1, b2, eps, gs, keep_decay;
};

Coeffs coeffs(const AdamWParams& h, int64_t t) {
  const float bc1 =
      1.0f - static_cast<float>(std::pow(static_cast<double>(h.beta1), static_cast<double>(t)));
  const float bc2 =
      1.0f - static_cast<float>(std::pow(static_cast<double>(h.beta2), static_cast<double>(t)));
  return {h.lr / bc1,
          std::sqrt(bc2),
          h.beta1,
          h.beta2,
          h.eps,
          h.grad_scale,
          1.0f - h.lr * h.weight_decay};
}

// The update of one contiguous run, on the calling thread.
void update_run(float* __restrict p, const float* __restrict g, float* __restrict m,
                float* __restrict v, size_t n, const Coeffs& c, bool decay) {
  const float keep = decay ? c.keep_decay : 1.0f;
  const float b1 = c.b1, b2 = c.b2, eps = c.eps, gs = c.gs, step = c.step, sqrt_bc2 = c.sqrt_bc2;
#pragma omp simd
  for (size_t i = 0; i < n; ++i) {
    const float gi = g[i] * gs;
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * keep - step * mi / (std::sqrt(vi) / sqrt_bc2 + eps);
  }
}

// Work items of at most this many floats (256 KiB per array), dealt out dynamically.
constexpr size_t kChunk = size_t{1} << 16;

// The update, and the bf16 copy of each updated block while it is still in L1.
void update_run_with_copy(float* p, const float* g, float* m, float* v, bf16* copy, size_t n,
                          const Coeffs& c, bool decay) {
  constexpr size_t kBlock = 1024;
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t len = std::min(kBlock, n - b);
    update_run(p + b, g + b, m + b, v + b, len, c, decay);
    to_bf16(copy + b, p + b, len);
  }
}

}  // namespace

void adamw_update(float* params, const float* grads, float* m, float* v, size_t n,
                  const AdamWParams& h, int64_t t, bool decay) {
  const AdamWTensor one{0, n, decay};
  adamw_update_tensors(params, grads, m, v, {&one, 1}, h, t);
}

void adamw_update_tensors(float* params, const float* grads, float* m, float* v,
                          std::span<const AdamWTensor> tensors, const AdamWParams& h, int64_t t) {
  const Coeffs c = coeffs(h, t);
  struct Work {
    size_t begin, end;
    bool decay;
    bf16* copy;  // At begin.
  };
  std::vector<Work> work;
  for (const AdamWTensor& s : tensors)
    for (size_t b = 0; b < s.numel; b += kChunk)
      work.push_back({s.offset + b, s.offset + std::min(s.numel, b + kChunk), s.decay,
                      s.bf16_copy ? s.bf16_copy + b : nullptr});
  const long nwork = static_cast<long>(work.size());
#pragma omp parallel for schedule(dynamic, 4) if (nwork > 1)
  for (long k = 0; k < nwork; ++k) {
    const Work& w = work[k];
    if (w.copy)
      update_run_with_copy(params + w.begin, grads + w.begin, m + w.begin, v + w.begin, w.copy,
                           w.end - w.begin, c, w.decay);
    else
      update_run(params + w.begin, grads + w.begin, m + w.begin, v + w.begin, w.end - w.begin, c,
                 w.decay);
  }
}

}  // namespace sllm
