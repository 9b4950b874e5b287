// The 16-row packed weight layout (sllm/quant/packed.h): it round-trips the ggml bytes, its
// kernels give the row-major kernels' dots, and matmul gives the same result packed or not.
#include <cmath>
#include <cstring>
#include <random>

#include "sllm/common/error.h"
#include "sllm/infer/matmul.h"
#include "sllm/quant/dot.h"
#include "sllm/quant/gemm_amx.h"
#include "sllm/quant/packed.h"
#include "sllm/quant/quant.h"
#include "test_util.h"

namespace sllm {
namespace {

constexpr GGMLType kTypes[] = {GGMLType::Q8_0, GGMLType::Q4_0, GGMLType::Q4_1};

std::vector<uint8_t> random_matrix(GGMLType t, int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& x : w) x = nd(rng);
  const size_t rb = ggml_row_size(t, cols);
  std::vector<uint8_t> q(rb * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) quantize_row(t, w.data() + r * cols, q.data() + r * rb, cols);
  return q;
}

TEST(QuantPacked, RoundTripsTheGgmlBytesExactly) {
  for (GGMLType t : {GGMLType::F32, GGMLType::Q8_0, GGMLType::Q4_0, GGMLType::Q4_1}) {
    const int64_t rows = 48, cols = 96;
    auto q = random_matrix(t, rows, cols, 1);
    // Extreme codes too: Q8_0 -128 and 127, nibbles 0x00 and 0xff.
    q[ggml_row_size(t, cols) * 5 + 3] = 0x80;
    q[ggml_row_size(t, cols) * 17 + 9] = 0xff;
    std::vector<uint8_t> p(q.size(), 0xcd), back(q.size());
    pack_rows(t, q.data(), rows, cols, p.data());
    EXPECT_NE(p, q) << ggml_type_name(t);
    const size_t rb = ggml_row_size(t, cols);
    for (int64_t r = 0; r < rows; ++r) unpack_row(t, p.data(), cols, r, back.data() + r * rb);
    EXPECT_EQ(back, q) << ggml_type_name(t);
    std::vector<uint8_t> one(ggml_row_size(t, cols));
    unpack_row(t, p.data(), cols, 37, one.data());
    EXPECT_EQ(0, std::memcmp(one.data(), q.data() + 37 * one.size(), one.size()));
  }
}

TEST(QuantPacked, RefusesShapesItCannotPack) {
  EXPECT_FALSE(packable(GGMLType::Q8_0, 65, 64));
  EXPECT_FALSE(packable(GGMLType::Q8_0, 64, 40));
  EXPECT_FALSE(packable(GGMLType::F16, 64, 64));
  EXPECT_FALSE(packable(GGMLType::F32, 40, 64));
  EXPECT_TRUE(packable(GGMLType::F32, 64, 7));  // F32 needs whole row groups, any width.
  EXPECT_TRUE(packable(GGMLType::Q4_1, 32, 64));
  std::vector<uint8_t> buf(4096);
  EXPECT_THROW(pack_rows(GGMLType::Q4_0, buf.data(), 20, 64, buf.data()), Error);
}

TEST(QuantPacked, KernelsMatchTheRowMajorKernels) {
  int tested = 0;
  for (const DotKernels* kp : supported_dot_kernels()) {
    const DotKernels& k = *kp;
    if (!k.q8_0_x16) continue;  // Portable: rows stay row-major.
    ++tested;
    for (GGMLType t : kTypes) {
      const int64_t rows = 32, cols = 32 * 24, nb = cols / 32;
      const auto q = random_matrix(t, rows, cols, 2);
      std::vector<uint8_t> p(q.size());
      pack_rows(t, q.data(), rows, cols, p.data());
      std::mt19937_64 rng(3);
      std::normal_distribution<float> nd(0.0f, 2.0f);
      std::vector<float> x(8 * cols);
      for (auto& v : x) v = nd(rng);
      std::vector<ActQ8> acts(8 * nb);
      for (int j = 0; j < 8; ++j)
        quantize_activations(x.data() + j * cols, acts.data() + j * nb, cols);
      for (int na = 1; na <= 8; ++na) {
        std::vector<float> y(8 * rows, NAN);
        for (int64_t g = 0; g < rows / 16; ++g)
          qdot16_for(k, t)(p.data() + g * 16 * ggml_row_size(t, cols), acts.data(), nb, na, nb,
                           y.data() + g * 16, rows);
        for (int j = 0; j < na; ++j)
          for (int64_t r = 0; r < rows; ++r) {
            float ref;
            qdot_for(portable_dot_kernels(), t)(q.data() + r * ggml_row_size(t, cols),
                                                acts.data() + j * nb, 0, 1, nb, &ref);
            ASSERT_NEAR(y[j * rows + r], ref, 1e-5 * std::fabs(ref) + 1e-3)
                << k.isa << " " << ggml_type_name(t) << " na " << na << " token " << j << " row "
                << r;
          }
        for (int64_t i = na * rows; i < 8 * rows; ++i)
          ASSERT_TRUE(std::isnan(y[i]));  // No overrun.
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "no ISA with packed kernels here";
}

// matmul over a packed weight against the same weight row-major, for decode (1 token), the dot
// kernels' prefill (5 tokens, and 13: a pass of 8 then one of 5) and, where the CPU has it,
// the AMX prefill (20 tokens).
TEST(QuantPacked, MatmulGivesTheRowMajorResult) {
  if (!dot_kernels().q8_0_x16) GTEST_SKIP() << dot_kernels().isa << " has no packed kernels";
  TeamState state(2);
  Team team(state);
  for (GGMLType t : kTypes) {
    const int64_t rows = 48, cols = 128;
    auto q = random_matrix(t, rows, cols, 4);
    Weight plain{t, rows, cols, q.data()};
    Weight packed = plain;
    std::vector<uint8_t> storage;
    ASSERT_TRUE(pack_for_kernels(packed, storage));
    EXPECT_FALSE(pack_for_kernels(packed, storage));  // Already packed.
    std::vector<uint8_t> row(plain.row_bytes());
    packed.copy_row(33, row.data());
    EXPECT_EQ(0, std::memcmp(row.data(), plain.row(33), row.size()));
    for (int64_t n : {1, 5, 13, 20}) {
      std::mt19937_64 rng(5 + n);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      std::vector<float> x(n * cols), y0(n * rows), y1(n * rows);
      for (auto& v : x) v = nd(rng);
      QuantizedActs s0, s1;
      matmul(plain, x.data(), n, y0.data(), s0, team);
      matmul(packed, x.data(), n, y1.data(), s1, team);
      for (int64_t i = 0; i < n * rows; ++i) {
        if (n >= 16 && amx_bf16_available())  // The same bf16 panels: bit for bit.
          ASSERT_EQ(y0[i], y1[i]) << ggml_type_name(t) << " n " << n << " i " << i;
        else
          ASSERT_NEAR(y0[i], y1[i], 1e-5 * std::fabs(y0[i]) + 1e-3)
              << ggml_type_name(t) << " n " << n << " i " << i;
      }
    }
  }
}

// The packed F32 kernel is one fused multiply-add chain per output, over the columns in order:
// bit for bit std::fma in a loop, for every tile shape (1 or 2 groups, 1 to 12 tokens).
TEST(QuantPacked, F32KernelIsAnFmaChainPerOutput) {
  for (const DotKernels* k : supported_dot_kernels()) {
    if (!k->f32_x16) continue;
    for (int64_t cols : {1, 7, 288}) {
      const int64_t rows = 32;
      std::mt19937_64 rng(11 + cols);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      std::vector<float> w(rows * cols), x(kF32TileTokens * cols);
      for (auto& v : w) v = nd(rng);
      for (auto& v : x) v = nd(rng);
      std::vector<float> p(w.size());
      pack_rows(GGMLType::F32, reinterpret_cast<const uint8_t*>(w.data()), rows, cols,
                reinterpret_cast<uint8_t*>(p.data()));
      for (int groups : {1, 2})
        for (int m = 1; m <= kF32TileTokens; ++m) {
          const size_t ldy = rows + 3;
          std::vector<float> y(kF32TileTokens * ldy, NAN);
          k->f32_x16(p.data(), groups, x.data(), cols, m, cols, y.data(), ldy);
          for (int t = 0; t < kF32TileTokens; ++t)
            for (int64_t r = 0; r < static_cast<int64_t>(ldy); ++r) {
              if (t >= m || r >= 16 * groups) {
                ASSERT_TRUE(std::isnan(y[t * ldy + r])) << "wrote outside the tile";
                continue;
              }
              float ref = 0;
              for (int64_t c = 0; c < cols; ++c)
                ref = std::fma(w[r * cols + c], x[t * cols + c], ref);
              ASSERT_EQ(y[t * ldy + r], ref) << k->isa << " cols " << cols << " groups " << groups
                                             << " m " << m << " token " << t << " row " << r;
            }
        }
    }
  }
}

// matmul over packed F32 weights: close to OpenBLAS's product on the row-major matrix, with an
// odd number of groups, and a decoded token gives the same bits as the same token in a prefill.
TEST(QuantPacked, F32MatmulMatchesRowMajorAndDecodeEqualsPrefill) {
  if (!dot_kernels().f32_x16) GTEST_SKIP() << dot_kernels().isa << " has no packed F32 kernel";
  TeamState state(2);
  Team team(state);
  const int64_t rows = 48, cols = 100;
  std::mt19937_64 rng(13);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> wf(rows * cols);
  for (auto& v : wf) v = nd(rng);
  Weight plain{GGMLType::F32, rows, cols, reinterpret_cast<const uint8_t*>(wf.data())};
  Weight packed = plain;
  std::vector<uint8_t> storage;
  ASSERT_TRUE(pack_for_kernels(packed, storage));
  std::vector<uint8_t> row(plain.row_bytes());
  packed.copy_row(41, row.data());
  EXPECT_EQ(0, std::memcmp(row.data(), plain.row(41), row.size()));
  const int64_t n = 30;
  std::vector<float> x(n * cols), y0(n * rows), y1(n * rows), one(rows);
  for (auto& v : x) v = nd(rng);
  QuantizedActs acts;
  matmul(plain, x.data(), n, y0.data(), acts, team);
  matmul(packed, x.data(), n, y1.data(), acts, team);
  for (int64_t i = 0; i < n * rows; ++i)
    ASSERT_NEAR(y0[i], y1[i], 1e-5 * std::fabs(y0[i]) + 1e-4) << "i " << i;
  for (int64_t t : {0, 13, 29}) {
    matmul(packed, x.data() + t * cols, 1, one.data(), acts, team);
    ASSERT_EQ(0, std::memcmp(one.data(), y1.data() + t * rows, rows * sizeof(float))) << t;
  }
}

// Several weights in one matmul_many: the same bits as one matmul per weight, for packed
// quantized weights of different heights, packed F32 with odd group counts, and a mix.
TEST(Matmul, ManyWeightsGiveTheBitsOfOneCallEach) {
  TeamState state(2);
  Team team(state);
  const int64_t cols = 96;
  std::mt19937_64 rng(21);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<std::vector<float>> f32s;
  std::vector<std::vector<uint8_t>> bytes, storage(6);
  std::vector<Weight> ws;
  const int64_t heights[] = {48, 16, 32};
  for (int kind = 0; kind < 2; ++kind)
    for (int64_t rows : heights) {
      const GGMLType t = kind == 0 ? GGMLType::Q4_0 : GGMLType::F32;
      bytes.push_back(random_matrix(t, rows, cols, 30 + ws.size()));
      ws.push_back(Weight{t, rows, cols, bytes.back().data()});
    }
  for (size_t i = 0; i < ws.size(); ++i) pack_for_kernels(ws[i], storage[i]);
  const std::vector<std::vector<size_t>> sets = {{0, 1, 2}, {3, 4, 5}, {3, 0}, {1}};
  for (int64_t n : {1, 13}) {
    std::vector<float> x(n * cols);
    for (auto& v : x) v = nd(rng);
    for (const auto& set : sets) {
      std::vector<std::vector<float>> one(set.size()), many(set.size());
      std::vector<MatmulOut> outs;
      for (size_t j = 0; j < set.size(); ++j) {
        const Weight& w = ws[set[j]];
        one[j].assign(n * w.rows, NAN);
        many[j].assign(n * w.rows, NAN);
        QuantizedActs acts;
        matmul(w, x.data(), n, one[j].data(), acts, team);
        outs.push_back({&w, many[j].data()});
      }
      QuantizedActs acts;
      matmul_many(outs, x.data(), n, acts, team);
      for (size_t j = 0; j < set.size(); ++j)
        ASSERT_EQ(0, std::memcmp(one[j].data(), many[j].data(), one[j].size() * sizeof(float)))
            << "n " << n << " weight " << set[j] << " of a set of " << set.size();
    }
  }
}

// Every matmul path gives the same bits with 1, 2 or 3 threads, on matrices big enough to be
// split (sgemm calls of several chunks, many packed groups, several AMX panels).
TEST(Matmul, SameBitsAtAnyThreadCount) {
  const int64_t rows = 288, cols = 288;  // stories15M: where OpenBLAS is split-sensitive.
  std::mt19937_64 rng(9);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> wf(rows * cols);
  for (auto& v : wf) v = nd(rng);
  std::vector<uint8_t> wq(ggml_row_size(GGMLType::Q4_0, cols) * rows);
  for (int64_t r = 0; r < rows; ++r)
    quantize_row(GGMLType::Q4_0, wf.data() + r * cols,
                 wq.data() + r * ggml_row_size(GGMLType::Q4_0, cols), cols);
  std::vector<uint8_t> storage;
  Weight f32{GGMLType::F32, rows, cols, reinterpret_cast<const uint8_t*>(wf.data())};
  Weight q4{GGMLType::Q4_0, rows, cols, wq.data()};
  pack_for_kernels(q4, storage);
  Weight f32_packed = f32;
  std::vector<uint8_t> f32_storage;
  pack_for_kernels(f32_packed, f32_storage);
  for (const Weight* w : {&f32, &q4, &f32_packed})
    for (int64_t n : {1, 5, 16, 37}) {
      std::vector<float> x(n * cols);
      for (auto& v : x) v = nd(rng);
      std::vector<float> ref;
      for (int threads : {1, 2, 3}) {
        TeamState state(threads);
        Team team(state);
        QuantizedActs acts;
        std::vector<float> y(n * rows);
        matmul(*w, x.data(), n, y.data(), acts, team);
        if (ref.empty())
          ref = y;
        else
          ASSERT_EQ(0, std::memcmp(ref.data(), y.data(), y.size() * sizeof(float)))
              << ggml_type_name(w->type) << " n " << n << " threads " << threads;
      }
    }
}

}  // namespace
}  // namespace sllm
