#include "sllm/kernels/norm.h"

#include <cmath>
#include <cstddef>

namespace sllm {

namespace {
constexpr int kColBlock = 64;

// Parameter gradients sum over rows; to stay deterministic and race-free each thread owns a
// block of columns and walks all rows in order.
template <typename F>
void for_column_blocks(int C, F&& f) {
  const int nblocks = (C + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < nblocks; ++blk) {
    const int c0 = blk * kColBlock;
    f(c0, c0 + kColBlock < C ? c0 + kColBlock : C);
  }
}
}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* x = inp + static_cast<size_t>(n) * C;
    float* o = out + static_cast<size_t>(n) * C;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int c = 0; c < C; ++c) s += x[c];
    const float m = s / C;
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    const float r = 1.0f / std::sqrt(v / C + eps);
    if (b) {
      for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * r * w[c] + b[c];
    } else {
      for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * r * w[c];
    }
    mean[n] = m;
    rstd[n] = r;
  }
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* w, const float* mean, const float* rstd, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* x = inp + static_cast<size_t>(n) * C;
    const float* g = dout + static_cast<size_t>(n) * C;
    float* d = dinp + static_cast<size_t>(n) * C;
    const float m = mean[n], r = rstd[n];
    float sum_g = 0.0f, sum_gx = 0.0f;
#pragma omp simd reduction(+ : sum_g, sum_gx)
    for (int c = 0; c < C; ++c) {
      const float gn = g[c] * w[c];
      sum_g += gn;
      sum_gx += gn * (x[c] - m) * r;
    }
    sum_g /= C;
    sum_gx /= C;
    for (int c = 0; c < C; ++c) {
      const float xhat = (x[c] - m) * r;
      d[c] += (g[c] * w[c] - sum_g - xhat * sum_gx) * r;
    }
  }
  for_column_blocks(C, [&](int c0, int c1) {
    for (int n = 0; n < N; ++n) {
      const float* x = inp + static_cast<size_t>(n) * C;
      const float* g = dout + static_cast<size_t>(n) * C;
      const float m = mean[n], r = rstd[n];
      for (int c = c0; c < c1; ++c) dw[c] += g[c] * ((x[c] - m) * r);
      if (db)
        for (int c = c0; c < c1; ++c) db[c] += g[c];
    }
  });
}

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C,
                     float eps, float w_offset) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* x = inp + static_cast<size_t>(n) * C;
    float* o = out + static_cast<size_t>(n) * C;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; ++c) ss += x[c] * x[c];
    const float r = 1.0f / std::sqrt(ss / C + eps);
    for (int c = 0; c < C; ++c) o[c] = x[c] * r * (w[c] + w_offset);
    rstd[n] = r;
  }
}

void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                      const float* rstd, int N, int C, float w_offset) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    const float* x = inp + static_cast<size_t>(n) * C;
    const float* g = dout + static_cast<size_t>(n) * C;
    float* d = dinp + static_cast<size_t>(n) * C;
    const float r = rstd[n];
    float sum_gx = 0.0f;
#pragma omp simd reduction(+ : sum_gx)
    for (int c = 0; c < C; ++c) sum_gx += g[c] * (w[c] + w_offset) * x[c] * r;
    sum_gx /= C;
    for (int c = 0; c < C; ++c) d[c] += (g[c] * (w[c] + w_offset) - x[c] * r * sum_gx) * r;
  }
  for_column_blocks(C, [&](int c0, int c1) {
    for (int n = 0; n < N; ++n) {
      const float* x = inp + static_cast<size_t>(n) * C;
      const float* g = dout + static_cast<size_t>(n) * C;
      const float r = rstd[n];
      for (int c = c0; c < c1; ++c) dw[c] += g[c] * (x[c] * r);
    }
  });
}

void layernorm_row(float* o, const float* xi, const float* w, const float* b, int C, float eps) {
  float mean = 0;
  for (int i = 0; i < C; ++i) mean += xi[i];
  mean /= C;
  float var = 0;
  for (int i = 0; i < C; ++i) var += (xi[i] - mean) * (xi[i] - mean);
  const float rs = 1.0f / std::sqrt(var / C + eps);
  for (int i = 0; i < C; ++i) o[i] = (xi[i] - mean) * rs * w[i] + (b ? b[i] : 0.0f);
}

void rmsnorm_row(float* o, const float* xi, const float* w, int C, float eps) {
  float ss = 0;
  for (int i = 0; i < C; ++i) ss += xi[i] * xi[i];
  const float rs = 1.0f / std::sqrt(ss / C + eps);
  for (int i = 0; i < C; ++i) o[i] = xi[i] * rs * w[i];
}

}  // namespace sllm
