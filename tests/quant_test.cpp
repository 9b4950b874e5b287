#include "sllm/quant/quant.h"

#include <bit>
#include <cmath>
#include <random>

#include "sllm/common/error.h"
#include "sllm/quant/dot.h"
#include "sllm/quant/half.h"
#include "test_util.h"

namespace sllm {
namespace {

std::vector<float> randn(size_t n, uint64_t seed, float sd = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

TEST(Half, F16RoundTripsEveryHalfAndRoundsToNearestEven) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), h) << h;
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // Tie: to even.
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 1);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.5f)), 1.5f);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);  // Tie: to even.
}

TEST(Quant, RoundTripErrorsAreWithinTheGrid) {
  const int64_t n = 32 * 64;
  auto x = randn(n, 1);
  for (GGMLType t : {GGMLType::Q8_0, GGMLType::Q4_0, GGMLType::Q4_1}) {
    std::vector<uint8_t> q(ggml_row_size(t, n));
    quantize_row(t, x.data(), q.data(), n);
    std::vector<float> y(n);
    dequantize_row(t, q.data(), y.data(), n);
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; ++i) {
      err += (x[i] - y[i]) * (x[i] - y[i]);
      ref += x[i] * x[i];
    }
    const double rel = std::sqrt(err / ref);
    const double bound = t == GGMLType::Q8_0 ? 0.01 : 0.12;
    EXPECT_LT(rel, bound) << ggml_type_name(t);
    if (t == GGMLType::Q4_1) {  // The error search must beat Q4_0 on the same data.
      std::vector<uint8_t> q0(ggml_row_size(GGMLType::Q4_0, n));
      quantize_row(GGMLType::Q4_0, x.data(), q0.data(), n);
      dequantize_row(GGMLType::Q4_0, q0.data(), y.data(), n);
      double e0 = 0;
      for (int64_t i = 0; i < n; ++i) e0 += (x[i] - y[i]) * (x[i] - y[i]);
      EXPECT_LT(err, e0 * 0.8);
    }
  }
  std::vector<float> bad(32, 1.0f);
  bad[3] = NAN;
  std::vector<uint8_t> q(34);
  EXPECT_THROW(quantize_row(GGMLType::Q8_0, bad.data(), q.data(), 32), Error);
  EXPECT_THROW(quantize_row(GGMLType::Q8_0, bad.data(), q.data(), 31), Error);
  EXPECT_THROW(parse_weight_type("q5_0"), Error);  // A ggml type sllm does not run.
}

TEST(Quant, Q8_0MatchesGgmlBlockLayout) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16) * 0.5f;  // amax 8 at i = 0.
  BlockQ8_0 b;
  quantize_row(GGMLType::Q8_0, x.data(), &b, 32);
  EXPECT_EQ(f16_to_f32(b.d), f16_to_f32(f32_to_f16(8.0f / 127.0f)));
  EXPECT_EQ(b.qs[0], -127);
  EXPECT_EQ(b.qs[16], 0);
  BlockQ4_0 c;
  quantize_row(GGMLType::Q4_0, x.data(), &c, 32);
  EXPECT_EQ(f16_to_f32(c.d), 1.0f);  // max = -8 -> d = 1.
  EXPECT_EQ(c.qs[0] & 0xf, 0);       // -8 + 8
  EXPECT_EQ(c.qs[0] >> 4, 8);        // x[16] = 0 -> 8
}

// Every kernel equals the float dot of the dequantized operands (up to float rounding), for an
// even and an odd number of blocks (the SIMD kernels pair blocks) and f32 lengths that are not
// a multiple of the vector width (attention dots head_dim floats).
TEST(QuantDot, KernelsMatchDequantizedMathOnEveryIsa) {
  ASSERT_GE(supported_dot_kernels().size(), 1u);
  EXPECT_STREQ(supported_dot_kernels().front()->isa, "portable");
  for (const int64_t n : {32 * 24, 32 * 9}) {
    auto w = randn(n, 2), a0 = randn(4 * n, 3, 2.0f);
    std::vector<ActQ8> acts(4 * n / 32);
    for (int k = 0; k < 4; ++k)
      quantize_activations(a0.data() + k * n, acts.data() + k * n / 32, n);
    std::vector<float> adq(4 * n);
    for (size_t b = 0; b < acts.size(); ++b) {
      int sum = 0;
      for (int j = 0; j < 32; ++j) {
        adq[b * 32 + j] = acts[b].d * acts[b].qs[j];
        sum += acts[b].qs[j];
      }
      ASSERT_EQ(acts[b].sum, sum);
    }
    for (const DotKernels* k : supported_dot_kernels()) {
      for (GGMLType t : {GGMLType::Q8_0, GGMLType::Q4_0, GGMLType::Q4_1}) {
        std::vector<uint8_t> q(ggml_row_size(t, n));
        quantize_row(t, w.data(), q.data(), n);
        std::vector<float> wdq(n);
        dequantize_row(t, q.data(), wdq.data(), n);
        for (int na = 1; na <= 4; ++na) {
          float out[4];
          qdot_for(*k, t)(q.data(), acts.data(), n / 32, na, n / 32, out);
          for (int j = 0; j < na; ++j) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < n; ++i) {
              ref += static_cast<double>(wdq[i]) * adq[j * n + i];
              mag += std::fabs(static_cast<double>(wdq[i]) * adq[j * n + i]);
            }
            EXPECT_NEAR(out[j], ref, 1e-5 * mag)
                << k->isa << " " << ggml_type_name(t) << " na=" << na << " n=" << n;
          }
        }
        // The 4-row kernel: rows r..r+3 of a 5-row matrix (row r = this w shifted by r), token 0.
        std::vector<uint8_t> q5(5 * q.size());
        std::vector<float> ref5(5);
        for (int r = 0; r < 5; ++r) {
          std::vector<float> wr(n);
          for (int64_t i = 0; i < n; ++i) wr[i] = w[(i + 7 * r) % n];
          quantize_row(t, wr.data(), q5.data() + r * q.size(), n);
          qdot_for(portable_dot_kernels(), t)(q5.data() + r * q.size(), acts.data(), 0, 1, n / 32,
                                              &ref5[r]);
        }
        for (int r0 = 0; r0 <= 1; ++r0) {
          float out4[4];
          qdot4_for(*k, t)(q5.data() + r0 * q.size(), q.size(), acts.data(), n / 32, out4);
          for (int r = 0; r < 4; ++r)
            EXPECT_NEAR(out4[r], ref5[r0 + r], 1e-5 * std::fabs(ref5[r0 + r]) + 1e-3)
                << k->isa << " " << ggml_type_name(t) << " x4 row " << r0 + r << " n=" << n;
        }
      }
      for (const int64_t m : {n, int64_t{48}, int64_t{100}, int64_t{7}}) {
        float out[3];
        k->f32(w.data(), a0.data(), n, 3, m, out);
        for (int j = 0; j < 3; ++j) {
          double ref = 0;
          for (int64_t i = 0; i < m; ++i) ref += static_cast<double>(w[i]) * a0[j * n + i];
          EXPECT_NEAR(out[j], ref, 1e-3) << k->isa << " m=" << m;
        }
      }
    }
  }
}

// The vector quantization against its one-element-at-a-time definition, bit for bit: every
// block scale, including all-zero blocks, tiny and huge magnitudes, and NaN/inf blocks.
TEST(QuantDot, QuantizedActivationsEqualTheScalarDefinition) {
  const int64_t nb = 64, n = nb * 32;
  std::vector<float> x(n);
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i)
    x[i] = g(rng) * std::pow(10.0f, static_cast<float>(i / 32 % 9) - 4);
  for (int j = 0; j < 32; ++j) x[5 * 32 + j] = 0.0f;                  // All zero.
  for (int j = 0; j < 32; ++j) x[6 * 32 + j] = j % 2 ? 1.5f : -1.5f;  // Ties at 0.5 steps.
  x[7 * 32 + 31] = NAN;
  x[8 * 32 + 3] = -INFINITY;
  x[9 * 32] = 3e38f;
  std::vector<ActQ8> got(nb);
  quantize_activations(x.data(), got.data(), n);
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x.data() + b * 32;
    float amax = 0;
    bool finite = true;
    for (int j = 0; j < 32; ++j) {
      finite &= std::isfinite(xb[j]);
      amax = std::max(amax, std::fabs(xb[j]));
    }
    if (!finite) {
      EXPECT_TRUE(std::isnan(got[b].d) && std::isnan(got[b].s)) << "block " << b;
      continue;
    }
    const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::nearbyint(xb[j] * id));
      ASSERT_EQ(got[b].qs[j], q) << "block " << b << " element " << j;
      sum += q;
    }
    EXPECT_EQ(got[b].sum, sum) << "block " << b;
    EXPECT_EQ(std::bit_cast<uint32_t>(got[b].d), std::bit_cast<uint32_t>(d)) << "block " << b;
    EXPECT_EQ(std::bit_cast<uint32_t>(got[b].s),
              std::bit_cast<uint32_t>(d * static_cast<float>(sum)))
        << "block " << b;
  }
}

// Weight codes at the ends of their range (-128 is a valid Q8_0 code in files from other tools;
// 0 and 15 for the nibbles) against activations at +-127.
TEST(QuantDot, ExtremeCodesMatchPortableOnEveryIsa) {
  const int64_t nb = 3, n = nb * 32;
  std::vector<ActQ8> acts(nb);
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = (i % 3 == 0) ? -1.0f : 1.0f;
  quantize_activations(x.data(), acts.data(), n);
  std::vector<BlockQ8_0> q8(nb);
  std::vector<BlockQ4_0> q4(nb);
  std::vector<BlockQ4_1> q41(nb);
  for (int64_t b = 0; b < nb; ++b) {
    q8[b].d = q4[b].d = q41[b].d = q41[b].m = 0x3c00;  // 1.0
    for (int j = 0; j < 32; ++j) q8[b].qs[j] = static_cast<int8_t>(j % 2 ? -128 : 127);
    for (int j = 0; j < 16; ++j)
      q4[b].qs[j] = q41[b].qs[j] = static_cast<uint8_t>(j % 2 ? 0xf0 : 0x0f);
  }
  const void* rows[] = {q8.data(), q4.data(), q41.data()};
  const GGMLType types[] = {GGMLType::Q8_0, GGMLType::Q4_0, GGMLType::Q4_1};
  for (int t = 0; t < 3; ++t) {
    float ref;
    qdot_for(portable_dot_kernels(), types[t])(rows[t], acts.data(), nb, 1, nb, &ref);
    for (const DotKernels* k : supported_dot_kernels()) {
      float out;
      qdot_for(*k, types[t])(rows[t], acts.data(), nb, 1, nb, &out);
      EXPECT_NEAR(out, ref, 1e-4 * std::fabs(ref) + 1e-3)
          << k->isa << " " << ggml_type_name(types[t]);
    }
  }
}

}  // namespace
}  // namespace sllm
