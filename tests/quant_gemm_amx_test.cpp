// The AMX bf16 prefill GEMM against a double-precision product of the same operands rounded to
// bf16 (so any layout or padding slip shows, not just gross errors), on shapes that leave
// partial tiles everywhere: rows, tokens and (for f32) columns.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "sllm/quant/gemm_amx.h"
#include "sllm/quant/quant.h"

namespace sllm {
namespace {

float bf16_round(float x) {  // Round to nearest even, as vcvtne2ps2bf16 does.
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

TEST(QuantGemmAmx, MatchesBf16RoundedProductOnPartialTiles) {
  if (!amx_bf16_available()) GTEST_SKIP() << "no AMX-BF16 here (or SLLM_ISA lowered it)";
  std::mt19937_64 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  struct Case {
    GGMLType type;
    int64_t rows, cols, n, r0, r1;
  };
  const Case cases[] = {{GGMLType::Q8_0, 50, 96, 37, 0, 50},  {GGMLType::Q4_0, 64, 288, 16, 0, 64},
                        {GGMLType::Q4_1, 70, 64, 33, 5, 61},  {GGMLType::F32, 40, 70, 20, 0, 40},
                        {GGMLType::F32, 33, 128, 128, 1, 33}, {GGMLType::Q8_0, 16, 32, 1, 0, 16}};
  for (const Case& c : cases) {
    std::vector<float> w(c.rows * c.cols), x(c.n * c.cols);
    for (auto& v : w) v = nd(rng);
    for (auto& v : x) v = nd(rng);
    const size_t rb = ggml_row_size(c.type, c.cols);
    std::vector<uint8_t> wq(rb * c.rows);
    for (int64_t r = 0; r < c.rows; ++r)
      quantize_row(c.type, w.data() + r * c.cols, wq.data() + r * rb, c.cols);
    std::vector<float> wd(w.size());
    for (int64_t r = 0; r < c.rows; ++r)
      dequantize_row(c.type, wq.data() + r * rb, wd.data() + r * c.cols, c.cols);
    AmxActs acts;
    acts.pack(x.data(), c.n, c.cols);
    const float sentinel = 12345.0f;
    std::vector<float> y(c.n * c.rows, sentinel);
    amx_matmul_rows(c.type, wq.data(), rb, acts, y.data(), c.rows, c.r0, c.r1);
    for (int64_t t = 0; t < c.n; ++t)
      for (int64_t r = 0; r < c.rows; ++r) {
        const float got = y[t * c.rows + r];
        if (r < c.r0 || r >= c.r1) {
          ASSERT_EQ(got, sentinel) << "wrote outside its rows: r=" << r << " t=" << t;
          continue;
        }
        double ref = 0, mag = 0;
        for (int64_t k = 0; k < c.cols; ++k) {
          const double p =
              static_cast<double>(bf16_round(wd[r * c.cols + k])) * bf16_round(x[t * c.cols + k]);
          ref += p;
          mag += std::fabs(p);
        }
        ASSERT_NEAR(got, ref, 1e-5 * mag + 1e-6)
            << ggml_type_name(c.type) << " rows=" << c.rows << " cols=" << c.cols << " n=" << c.n
            << " at t=" << t << " r=" << r;
      }
  }
}

}  // namespace
}  // namespace sllm
