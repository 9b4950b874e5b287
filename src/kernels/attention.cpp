#include "sllm/kernels/attention.h"

#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <vector>

namespace sllm {

namespace {
inline float dot(const float* a, const float* b, int n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
inline void axpy(float* y, float a, const float* x, int n) {
#pragma omp simd
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}
}  // namespace

void attention_forward(float* out, float* probs, const float* qkv, const AttentionShape& s) {
  const int B = s.B, T = s.T, H = s.H, KV = s.KV, hd = s.hd, S = s.qkv_stride(), Q = H * hd;
  const int group = H / KV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < H; ++h) {
      const int kvh = h / group;
      const float* base = qkv + static_cast<size_t>(b) * T * S;
      const float* kbase = base + Q + kvh * hd;
      const float* vbase = base + Q + KV * hd + kvh * hd;
      float* P = probs + (static_cast<size_t>(b) * H + h) * T * T;
      for (int t = 0; t < T; ++t) {
        const float* q = base + static_cast<size_t>(t) * S + h * hd;
        float* p = P + static_cast<size_t>(t) * T;
        float mx = -std::numeric_limits<float>::infinity();
        for (int t2 = 0; t2 <= t; ++t2) {
          const float v = dot(q, kbase + static_cast<size_t>(t2) * S, hd) * scale;
          p[t2] = v;
          if (v > mx) mx = v;
        }
        float sum = 0.0f;
        for (int t2 = 0; t2 <= t; ++t2) {
          p[t2] = std::exp(p[t2] - mx);
          sum += p[t2];
        }
        const float inv = 1.0f / sum;
        for (int t2 = 0; t2 <= t; ++t2) p[t2] *= inv;
        float* o = out + (static_cast<size_t>(b) * T + t) * Q + h * hd;
        std::memset(o, 0, sizeof(float) * hd);
        for (int t2 = 0; t2 <= t; ++t2) axpy(o, p[t2], vbase + static_cast<size_t>(t2) * S, hd);
      }
    }
  }
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* probs,
                        const AttentionShape& s) {
  const int B = s.B, T = s.T, H = s.H, KV = s.KV, hd = s.hd, S = s.qkv_stride(), Q = H * hd;
  const int group = H / KV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // Query heads sharing a key/value head all add into its dk/dv, so one thread owns a whole
  // (batch, kv head) group: no races and a fixed summation order.
#pragma omp parallel
  {
    std::vector<float> dp(static_cast<size_t>(T));
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b) {
      for (int kvh = 0; kvh < KV; ++kvh) {
        const float* base = qkv + static_cast<size_t>(b) * T * S;
        float* dbase = dqkv + static_cast<size_t>(b) * T * S;
        const int koff = Q + kvh * hd, voff = Q + KV * hd + kvh * hd;
        for (int t = 0; t < T; ++t) {
          std::memset(dbase + static_cast<size_t>(t) * S + koff, 0, sizeof(float) * hd);
          std::memset(dbase + static_cast<size_t>(t) * S + voff, 0, sizeof(float) * hd);
        }
        for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
          const float* P = probs + (static_cast<size_t>(b) * H + h) * T * T;
          for (int t = 0; t < T; ++t) {
            const float* p = P + static_cast<size_t>(t) * T;
            const float* q = base + static_cast<size_t>(t) * S + h * hd;
            const float* go = dout + (static_cast<size_t>(b) * T + t) * Q + h * hd;
            float* dq = dbase + static_cast<size_t>(t) * S + h * hd;
            float psum = 0.0f;
            for (int t2 = 0; t2 <= t; ++t2) {
              const size_t r = static_cast<size_t>(t2) * S;
              dp[t2] = dot(go, base + r + voff, hd);
              psum += p[t2] * dp[t2];
              axpy(dbase + r + voff, p[t2], go, hd);
            }
            std::memset(dq, 0, sizeof(float) * hd);
            for (int t2 = 0; t2 <= t; ++t2) {
              const size_t r = static_cast<size_t>(t2) * S;
              const float ds = p[t2] * (dp[t2] - psum) * scale;
              axpy(dq, ds, base + r + koff, hd);
              axpy(dbase + r + koff, ds, q, hd);
            }
          }
        }
      }
    }
  }
}

}  // namespace sllm
