// attention_group_query (decode-time attention over a KV cache) against a float64 reference,
// for head sizes on the register fast path (multiples of the vector width) and off it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "sllm/kernels/attention.h"
#include "sllm/kernels/f16.h"
#include "sllm/quant/half.h"

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
      sllm::attention_group_query(out.data(), scores.data(), q.data(), 1, k.data(), v.data(),
                                  stride, n, hd, scale);
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
  sllm::attention_group_query(out.data(), scores.data(), q.data(), 1, k.data(), v.data(), hd, n, hd,
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
        sllm::attention_group_query(one.data(), sc.data(), q.data() + i * qs, 1, k.data(), v.data(),
                                    kv, first + i + 1, hd, scale);
        for (int j = 0; j < hd; ++j)
          ASSERT_NEAR(out[i * qs + j], one[j], 1e-5f * (1 + std::abs(one[j])))
              << "hd " << hd << " n " << n << " first " << first << " query " << i;
        for (size_t j = hd; j < qs; ++j) ASSERT_TRUE(std::isnan(out[i * qs + j]));  // In bounds.
      }
    }
  }
}

}  // namespace

// The F16 cache's conversions: to_f16 gives the bits of the scalar round-to-nearest-even
// conversion (quant/half, checked against numpy/torch elsewhere) for normal, subnormal,
// overflowing and special values, at every length (vector body and tail); from_f16 is exact.
TEST(KernelsF16, CopiesRoundLikeTheScalarConversion) {
  std::mt19937 rng(3);
  std::vector<float> x = {0.0f,     -0.0f, 1.0f,          -2.5f,    65504.0f,
                          65520.0f, 1e6f,  -1e6f,         6.1e-5f,  5.96e-8f,
                          2.9e-8f,  3e-9f, 1.0009765625f, INFINITY, -INFINITY};
  std::uniform_real_distribution<float> e(-30.0f, 18.0f);
  while (x.size() < 1000) x.push_back((rng() & 1 ? -1.0f : 1.0f) * std::exp2(e(rng)));
  for (size_t n : {size_t{1}, size_t{15}, size_t{16}, size_t{17}, x.size()}) {
    std::vector<uint16_t> h(n, 0xdead);
    sllm::to_f16(h.data(), x.data(), n);
    std::vector<float> back(n, NAN);
    sllm::from_f16(back.data(), h.data(), n);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(h[i], sllm::f32_to_f16(x[i])) << "x = " << x[i];
      const float exact = sllm::f16_to_f32(h[i]);
      ASSERT_EQ(std::memcmp(&back[i], &exact, sizeof exact), 0) << h[i];
    }
  }
  uint16_t nan_bits;
  const float nan = NAN;
  sllm::to_f16(&nan_bits, &nan, 1);
  float nan_back;
  sllm::from_f16(&nan_back, &nan_bits, 1);
  EXPECT_TRUE(std::isnan(nan_back));
}

// Random queries, keys and values (normal), and the keys and values as IEEE half.
struct RandomHeads {
  std::vector<float> q, k, v;
  std::vector<uint16_t> k16, v16;
  RandomHeads(std::mt19937& rng, size_t q_floats, size_t kv_floats)
      : q(q_floats), k(kv_floats), v(kv_floats), k16(kv_floats), v16(kv_floats) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& x : q) x = nd(rng);
    for (auto& x : k) x = nd(rng);
    for (auto& x : v) x = nd(rng);
    sllm::to_f16(k16.data(), k.data(), k.size());
    sllm::to_f16(v16.data(), v.data(), v.size());
  }
};

// attention over an F16 cache is attention over the widened rows, bit for bit.
TEST(KernelsF16, OneQueryEqualsF32OnTheWidenedRows) {
  std::mt19937 rng(11);
  for (int hd : {8, 24, 64, 128}) {
    for (int n : {1, 17, 130}) {
      const size_t stride = static_cast<size_t>(hd);
      RandomHeads r(rng, hd, n * stride);
      auto &q = r.q, &k = r.k, &v = r.v;
      auto &k16 = r.k16, &v16 = r.v16;
      sllm::from_f16(k.data(), k16.data(), k.size());
      sllm::from_f16(v.data(), v16.data(), v.size());
      std::vector<float> a(hd), b(hd), scores(n);
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      sllm::attention_group_query(a.data(), scores.data(), q.data(), 1, k.data(), v.data(), stride,
                                  n, hd, scale);
      sllm::attention_group_query_f16(b.data(), scores.data(), q.data(), 1, k16.data(), v16.data(),
                                      stride, n, hd, scale);
      ASSERT_EQ(a, b) << "hd " << hd << " n " << n;
    }
  }
}

// Grouped-query decode: every head of a group gets the bits it gets in a group of one, for
// group sizes that split into 4 + 2 + 1 and head sizes on and off the register path.
TEST(KernelsAttention, GroupQueryEqualsOneQueryPerHead) {
  std::mt19937 rng(5);
  for (int hd : {24, 64, 128}) {
    for (int g : {1, 2, 3, 4, 5, 7, 8}) {
      for (int n : {1, 33}) {
        const size_t stride = static_cast<size_t>(hd);
        RandomHeads r(rng, g * hd, n * stride);
        const auto &q = r.q, &k = r.k, &v = r.v;
        const auto &k16 = r.k16, &v16 = r.v16;
        const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
        std::vector<float> one(g * hd), one16(g * hd), grouped(g * hd, NAN), grouped16(g * hd, NAN),
            scores(g * n);
        for (int h = 0; h < g; ++h) {
          sllm::attention_group_query(one.data() + h * hd, scores.data(), q.data() + h * hd, 1,
                                      k.data(), v.data(), stride, n, hd, scale);
          sllm::attention_group_query_f16(one16.data() + h * hd, scores.data(), q.data() + h * hd,
                                          1, k16.data(), v16.data(), stride, n, hd, scale);
        }
        sllm::attention_group_query(grouped.data(), scores.data(), q.data(), g, k.data(), v.data(),
                                    stride, n, hd, scale);
        sllm::attention_group_query_f16(grouped16.data(), scores.data(), q.data(), g, k16.data(),
                                        v16.data(), stride, n, hd, scale);
        ASSERT_EQ(one, grouped) << "hd " << hd << " group " << g << " n " << n;
        ASSERT_EQ(one16, grouped16) << "hd " << hd << " group " << g << " n " << n;
      }
    }
  }
}
