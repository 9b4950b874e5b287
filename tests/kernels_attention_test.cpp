// attention_one_query (decode-time attention over a KV cache) against a float64 reference,
// for head sizes on the register fast path (multiples of the vector width) and off it.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "sllm/kernels/attention.h"

namespace {

void reference(std::vector<double>& out, const float* q, const float* k, const float* v,
               size_t stride, int n, int hd, double scale) {
  std::vector<double> s(static_cast<size_t>(n));
  double mx = -INFINITY;
  for (int j = 0; j < n; ++j) {
    double d = 0;
    for (int i = 0; i < hd; ++i) d += double{q[i]} * k[j * stride + i];
    s[j] = d * scale;
    mx = std::max(mx, s[j]);
  }
  double sum = 0;
  for (auto& x : s) sum += (x = std::exp(x - mx));
  out.assign(static_cast<size_t>(hd), 0.0);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < hd; ++i) out[i] += s[j] / sum * v[j * stride + i];
}

TEST(KernelsAttention, OneQueryMatchesFloat64Reference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int hd : {8, 16, 24, 64, 80, 128, 300}) {
    for (int n : {1, 2, 17, 200}) {
      const size_t stride = static_cast<size_t>(3 * hd + 5);  // Other heads sit in between.
      std::vector<float> q(hd), k(n * stride), v(n * stride), out(hd, NAN), scores(n);
      for (auto& x : q) x = 2 * nd(rng);
      for (auto& x : k) x = nd(rng);
      for (auto& x : v) x = nd(rng);
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      sllm::attention_one_query(out.data(), scores.data(), q.data(), k.data(), v.data(), stride, n,
                                hd, scale);
      std::vector<double> ref;
      reference(ref, q.data(), k.data(), v.data(), stride, n, hd, scale);
      for (int i = 0; i < hd; ++i)
        ASSERT_NEAR(out[i], ref[i], 2e-5 * (1 + std::abs(ref[i]))) << "hd " << hd << " n " << n;
    }
  }
}

TEST(KernelsAttention, OneQueryIsStableForLargeScores) {
  // Scores near 1e4 overflow exp unless the max is subtracted: the output is then v of the
  // winning position exactly.
  const int hd = 64, n = 3;
  std::vector<float> q(hd, 10.0f), k(n * hd, 0.0f), v(n * hd), out(hd), scores(n);
  for (int i = 0; i < hd; ++i) k[hd + i] = 100.0f;  // Position 1 wins by far.
  for (int i = 0; i < n * hd; ++i) v[i] = static_cast<float>(i);
  sllm::attention_one_query(out.data(), scores.data(), q.data(), k.data(), v.data(), hd, n, hd,
                            1.0f);
  for (int i = 0; i < hd; ++i) EXPECT_FLOAT_EQ(out[i], v[hd + i]);
}

TEST(KernelsAttention, QueryBlockMatchesOneQueryAtATime) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int hd : {16, 48, 64}) {
    for (auto [n, first] : {std::pair{1, 0}, {8, 0}, {13, 5}, {64, 100}}) {
      const int P = first + n;
      const size_t kv = static_cast<size_t>(2 * hd + 3), qs = static_cast<size_t>(3 * hd);
      std::vector<float> k(P * kv), v(P * kv), q(n * qs), out(n * qs, NAN), scores(n * P);
      for (auto* vec : {&k, &v, &q})
        for (auto& x : *vec) x = nd(rng);
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      sllm::attention_query_block(out.data(), qs, scores.data(), q.data(), qs, k.data(), v.data(),
                                  kv, n, first, hd, scale);
      std::vector<float> one(hd), sc(P);
      for (int i = 0; i < n; ++i) {
        sllm::attention_one_query(one.data(), sc.data(), q.data() + i * qs, k.data(), v.data(), kv,
                                  first + i + 1, hd, scale);
        for (int j = 0; j < hd; ++j)
          ASSERT_NEAR(out[i * qs + j], one[j], 1e-5f * (1 + std::abs(one[j])))
              << "hd " << hd << " n " << n << " first " << first << " query " << i;
        for (size_t j = hd; j < qs; ++j) ASSERT_TRUE(std::isnan(out[i * qs + j]));  // In bounds.
      }
    }
  }
}

}  // namespace
