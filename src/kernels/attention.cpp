#include "sllm/kernels/attention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

#include "simd.h"
#include "sllm/kernels/gemm.h"

namespace sllm {

namespace {
// Query rows are processed in blocks; a block only meets keys up to its last row, so the
// matrix products skip the masked upper triangle, block by block.
constexpr int kRowBlock = 64;

// Row-major single-threaded SGEMM; called inside the per-(b, head) OpenMP loops.
void mm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
        int ldb, float beta, float* C, int ldc) {
  detail::sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
}  // namespace

float AttentionShape::score_scale() const {
  return scale > 0.0f ? scale : 1.0f / std::sqrt(static_cast<float>(hd));
}

namespace {
// The first key query t sees.
int first_key(const AttentionShape& s, int t) {
  return s.window > 0 ? std::max(0, t - s.window + 1) : 0;
}
}  // namespace

void attention_forward(float* out, float* probs, const float* qkv, const AttentionShape& s) {
  const int B = s.B, T = s.T, H = s.H, KV = s.KV, hd = s.hd, S = s.qkv_stride(), Q = H * hd;
  const int group = H / KV;
  const float scale = s.score_scale();
  detail::BlasSingleThreaded single;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < H; ++h) {
      const int kvh = h / group;
      const float* base = qkv + static_cast<size_t>(b) * T * S;
      const float* k = base + Q + kvh * hd;
      const float* v = base + Q + KV * hd + kvh * hd;
      float* P = probs + (static_cast<size_t>(b) * H + h) * T * T;
      float* o = out + static_cast<size_t>(b) * T * Q + h * hd;
      for (int r0 = 0; r0 < T; r0 += kRowBlock) {
        const int r1 = std::min(T, r0 + kRowBlock), rows = r1 - r0;
        float* Pb = P + static_cast<size_t>(r0) * T;
        // Scores for rows [r0, r1) against keys [0, r1).
        mm(false, true, rows, r1, hd, scale, base + static_cast<size_t>(r0) * S + h * hd, S, k, S,
           0.0f, Pb, T);
        for (int t = r0; t < r1; ++t) {
          float* p = P + static_cast<size_t>(t) * T;
          const int lo = first_key(s, t), n = t + 1 - lo;
          if (s.softcap > 0.0f)
            for (int j = lo; j <= t; ++j) p[j] = s.softcap * std::tanh(p[j] / s.softcap);
          const float mx = simd::max(p + lo, n);
          const float inv = 1.0f / simd::exp_shifted(p + lo, p + lo, n, mx);
          for (int t2 = lo; t2 <= t; ++t2) p[t2] *= inv;
          std::fill(p, p + lo, 0.0f);
          std::fill(p + t + 1, p + r1, 0.0f);
        }
        mm(false, false, rows, hd, r1, 1.0f, Pb, T, v, S, 0.0f, o + static_cast<size_t>(r0) * Q, Q);
      }
    }
  }
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* probs,
                        const AttentionShape& s) {
  const int B = s.B, T = s.T, H = s.H, KV = s.KV, hd = s.hd, S = s.qkv_stride(), Q = H * hd;
  const int group = H / KV;
  const float scale = s.score_scale();
  detail::BlasSingleThreaded single;
  // Query heads sharing a key/value head all add into its dk/dv, so one thread owns a whole
  // (batch, kv head) group: no races and a fixed summation order.
#pragma omp parallel
  {
    std::vector<float> dp(static_cast<size_t>(kRowBlock) * T);
    // With a softcap, the scores before the cap, recomputed (the same product as forward's).
    std::vector<float> raw(s.softcap > 0.0f ? static_cast<size_t>(kRowBlock) * T : 0);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b) {
      for (int kvh = 0; kvh < KV; ++kvh) {
        const float* base = qkv + static_cast<size_t>(b) * T * S;
        float* dbase = dqkv + static_cast<size_t>(b) * T * S;
        const float* k = base + Q + kvh * hd;
        const float* v = base + Q + KV * hd + kvh * hd;
        float* dk = dbase + Q + kvh * hd;
        float* dv = dbase + Q + KV * hd + kvh * hd;
        for (int t = 0; t < T; ++t) {
          std::memset(dk + static_cast<size_t>(t) * S, 0, sizeof(float) * hd);
          std::memset(dv + static_cast<size_t>(t) * S, 0, sizeof(float) * hd);
        }
        for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
          const float* P = probs + (static_cast<size_t>(b) * H + h) * T * T;
          const float* q = base + h * hd;
          float* dq = dbase + h * hd;
          const float* go = dout + static_cast<size_t>(b) * T * Q + h * hd;
          for (int r0 = 0; r0 < T; r0 += kRowBlock) {
            const int r1 = std::min(T, r0 + kRowBlock), rows = r1 - r0;
            const float* Pb = P + static_cast<size_t>(r0) * T;
            const float* gob = go + static_cast<size_t>(r0) * Q;
            // dP = dO V^T and dV += P^T dO over keys [0, r1).
            mm(false, true, rows, r1, hd, 1.0f, gob, Q, v, S, 0.0f, dp.data(), T);
            mm(true, false, r1, hd, rows, 1.0f, Pb, T, gob, Q, 1.0f, dv, S);
            if (!raw.empty())
              mm(false, true, rows, r1, hd, scale, q + static_cast<size_t>(r0) * S, S, k, S, 0.0f,
                 raw.data(), T);
            // Softmax backward: dS = P (dP - rowsum(P dP)), times the score scale (and the
            // cap's derivative 1 - tanh^2). P is zero outside the window, and so is dS.
            for (int i = 0; i < rows; ++i) {
              const float* p = Pb + static_cast<size_t>(i) * T;
              float* d = dp.data() + static_cast<size_t>(i) * T;
              const int n = r0 + i + 1;
              float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
              for (int j = 0; j < n; ++j) dot += p[j] * d[j];
              if (raw.empty()) {
                for (int j = 0; j < n; ++j) d[j] = p[j] * (d[j] - dot) * scale;
              } else {
                const float* r = raw.data() + static_cast<size_t>(i) * T;
                for (int j = 0; j < n; ++j) {
                  const float th = std::tanh(r[j] / s.softcap);
                  d[j] = p[j] * (d[j] - dot) * (1.0f - th * th) * scale;
                }
              }
              std::fill(d + n, d + r1, 0.0f);
            }
            mm(false, false, rows, hd, r1, 1.0f, dp.data(), T, k, S, 0.0f,
               dq + static_cast<size_t>(r0) * S, S);
            mm(true, false, r1, hd, rows, 1.0f, dp.data(), T, q + static_cast<size_t>(r0) * S, S,
               1.0f, dk, S);
          }
        }
      }
    }
  }
}

void attention_group_query(float* out, float* scores, const float* q, int queries, const float* k,
                           const float* v, size_t stride, int n, int hd, float scale,
                           float softcap) {
  simd::attend(out, scores, q, static_cast<size_t>(queries), k, v, stride, static_cast<size_t>(n),
               static_cast<size_t>(hd), scale, softcap);
}

void attention_group_query_f16(float* out, float* scores, const float* q, int queries,
                               const uint16_t* k, const uint16_t* v, size_t stride, int n, int hd,
                               float scale, float softcap) {
  simd::attend_f16(out, scores, q, static_cast<size_t>(queries), k, v, stride,
                   static_cast<size_t>(n), static_cast<size_t>(hd), scale, softcap);
}

void attention_query_block(float* out, size_t out_stride, float* scores, const float* q,
                           size_t q_stride, const float* k, const float* v, size_t kv_stride, int n,
                           int first, int hd, float scale, int window, float softcap) {
  // Keys [lo, first + n) are the union of the queries' windows; scores hold only those.
  const int lo = window > 0 ? std::max(0, first - window + 1) : 0;
  const int P = first + n - lo;
  const int ld_q = static_cast<int>(q_stride), ld_kv = static_cast<int>(kv_stride);
  k += static_cast<size_t>(lo) * kv_stride;
  v += static_cast<size_t>(lo) * kv_stride;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, P, hd, scale, q, ld_q, k, ld_kv, 0.0f,
              scores, P);
  for (int i = 0; i < n; ++i) {
    float* row = scores + static_cast<size_t>(i) * P;
    const int end = first + i + 1 - lo;  // The future: masked.
    const int begin = window > 0 ? std::max(0, first + i + 1 - window - lo) : 0;
    const size_t len = static_cast<size_t>(end - begin);
    float* r = row + begin;
    float mx = simd::max(r, len);
    if (softcap > 0.0f) {
      for (size_t j = 0; j < len; ++j) r[j] = softcap * std::tanh(r[j] / softcap);
      mx = softcap * std::tanh(mx / softcap);
    }
    const float inv = 1.0f / simd::exp_shifted(r, r, len, mx);
    for (size_t j = 0; j < len; ++j) r[j] *= inv;
    std::fill(row, r, 0.0f);
    std::fill(row + end, row + P, 0.0f);
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, P, 1.0f, scores, P, v, ld_kv, 0.0f,
              out, static_cast<int>(out_stride));
}

}  // namespace sllm
