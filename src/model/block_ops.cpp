#include "block_ops.h"

#include <cmath>

namespace sllm {

namespace {
// The weights of head j of a row: the query heads' then the key heads'.
const float* head_weight(int j, int H, const float* wq, const float* wk) {
  return j < H ? wq : wk;
}
}  // namespace

void head_norm_forward(float* qkv, float* pre, float* rstd, const float* wq, const float* wk, int N,
                       int S, int H, int KV, int hd, float eps, float w_offset) {
  const int heads = H + KV;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    for (int j = 0; j < heads; ++j) {
      float* x = qkv + static_cast<size_t>(n) * S + static_cast<size_t>(j) * hd;
      float* p = pre + (static_cast<size_t>(n) * heads + j) * hd;
      const float* w = head_weight(j, H, wq, wk);
      float ss = 0.0f;
      for (int i = 0; i < hd; ++i) {
        p[i] = x[i];
        ss += x[i] * x[i];
      }
      const float r = 1.0f / std::sqrt(ss / hd + eps);
      rstd[static_cast<size_t>(n) * heads + j] = r;
      for (int i = 0; i < hd; ++i) x[i] = p[i] * r * (w[i] + w_offset);
    }
  }
}

void head_norm_backward(float* dqkv, float* dwq, float* dwk, const float* pre, const float* rstd,
                        const float* wq, const float* wk, int N, int S, int H, int KV, int hd,
                        float w_offset) {
  const int heads = H + KV;
  // The weight gradients first (they read dqkv before it is overwritten): element i of each
  // weight sums over rows and heads in order.
#pragma omp parallel for schedule(static)
  for (int i = 0; i < hd; ++i) {
    float sq = 0.0f, sk = 0.0f;
    for (int n = 0; n < N; ++n)
      for (int j = 0; j < heads; ++j) {
        const size_t h = static_cast<size_t>(n) * heads + j;
        const float g = dqkv[static_cast<size_t>(n) * S + static_cast<size_t>(j) * hd + i] *
                        pre[h * hd + i] * rstd[h];
        (j < H ? sq : sk) += g;
      }
    dwq[i] += sq;
    dwk[i] += sk;
  }
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    for (int j = 0; j < heads; ++j) {
      const size_t h = static_cast<size_t>(n) * heads + j;
      float* d = dqkv + static_cast<size_t>(n) * S + static_cast<size_t>(j) * hd;
      const float* x = pre + h * hd;
      const float* w = head_weight(j, H, wq, wk);
      const float r = rstd[h];
      float sum = 0.0f;
      for (int i = 0; i < hd; ++i) sum += d[i] * (w[i] + w_offset) * x[i] * r;
      sum /= hd;
      for (int i = 0; i < hd; ++i) d[i] = (d[i] * (w[i] + w_offset) - x[i] * r * sum) * r;
    }
  }
}

void softcap_forward(float* x, float* t, size_t n, float cap) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) {
    t[i] = std::tanh(x[i] / cap);
    x[i] = cap * t[i];
  }
}

void softcap_backward(float* dx, const float* t, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) dx[i] *= 1.0f - t[i] * t[i];
}

void rope_tables_scaled(float* cos_t, float* sin_t, int T, int hd, double theta,
                        const std::vector<double>& div) {
  const int half = hd / 2;
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < half; ++i) {
      const double freq = std::pow(theta, -2.0 * i / hd);
      const double a = div[i] == 1.0 ? t * freq : t * freq / div[i];
      cos_t[static_cast<size_t>(t) * half + i] = static_cast<float>(std::cos(a));
      sin_t[static_cast<size_t>(t) * half + i] = static_cast<float>(std::sin(a));
    }
  }
}

}  // namespace sllm
