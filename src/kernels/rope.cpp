#include "sllm/kernels/rope.h"

#include <cmath>
#include <cstddef>

namespace sllm {

void rope_tables(float* cos_t, float* sin_t, int T, int hd, float theta) {
  const int half = hd / 2;
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < half; ++i) {
      const double freq = std::pow(static_cast<double>(theta), -2.0 * i / hd);
      const double a = t * freq;
      cos_t[static_cast<size_t>(t) * half + i] = static_cast<float>(std::cos(a));
      sin_t[static_cast<size_t>(t) * half + i] = static_cast<float>(std::sin(a));
    }
  }
}

namespace {
void rotate(float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads, int hd,
            int stride, float sign) {
  const int half = hd / 2;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < B * T; ++n) {
    const float* c = cos_t + static_cast<size_t>(n % T) * half;
    const float* s = sin_t + static_cast<size_t>(n % T) * half;
    float* row = x + static_cast<size_t>(n) * stride;
    for (int h = 0; h < n_heads; ++h) {
      float* v = row + h * hd;
      for (int i = 0; i < half; ++i) {
        const float x0 = v[2 * i], x1 = v[2 * i + 1], si = sign * s[i];
        v[2 * i] = x0 * c[i] - x1 * si;
        v[2 * i + 1] = x0 * si + x1 * c[i];
      }
    }
  }
}
}  // namespace

void rope_forward(float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads,
                  int hd, int stride) {
  rotate(x, cos_t, sin_t, B, T, n_heads, hd, stride, 1.0f);
}

void rope_backward(float* dx, const float* cos_t, const float* sin_t, int B, int T, int n_heads,
                   int hd, int stride) {
  rotate(dx, cos_t, sin_t, B, T, n_heads, hd, stride, -1.0f);
}

void rope_inv_freq(float* inv_freq, int hd, float theta) {
  for (int i = 0; i < hd / 2; ++i)
    inv_freq[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(hd));
}

void rope_row(float* v, int heads, int hd, int pos, const float* inv_freq) {
  for (int i = 0; i < hd / 2; ++i) {
    const float a = static_cast<float>(pos) * inv_freq[i];
    const float c = std::cos(a), s = std::sin(a);
    for (int h = 0; h < heads; ++h) {
      float* p = v + h * hd + 2 * i;
      const float x0 = p[0], x1 = p[1];
      p[0] = x0 * c - x1 * s;
      p[1] = x0 * s + x1 * c;
    }
  }
}

}  // namespace sllm
