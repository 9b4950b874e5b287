// The k-quant dot kernels (sllm/quant/kdot.h): the vector kernels against the portable ones
// (same bits), the portable ones against dequantize-then-dot in double, and both against
// ggml's own vec_dot_*_q8_K from node-llama-cpp's libggml-cpu (bench/decode/node_modules,
// `npm ci` there; those tests skip without it).
#include <dlfcn.h>

#include <bit>
#include <cmath>
#include <random>
#include <string>

#include "sllm/common/error.h"
#include "sllm/quant/kdot.h"
#include "sllm/quant/quant.h"
#include "test_util.h"

namespace sllm {
namespace {

struct KDotCase {
  GGMLType type;
  const char* ggml_vec_dot;
};
const KDotCase kCases[] = {
    {GGMLType::Q2_K, "ggml_vec_dot_q2_K_q8_K_generic"},
    {GGMLType::Q3_K, "ggml_vec_dot_q3_K_q8_K_generic"},
    {GGMLType::Q4_K, "ggml_vec_dot_q4_K_q8_K_generic"},
    {GGMLType::Q5_K, "ggml_vec_dot_q5_K_q8_K_generic"},
    {GGMLType::Q6_K, "ggml_vec_dot_q6_K_q8_K_generic"},
    {GGMLType::IQ4_XS, "ggml_vec_dot_iq4_xs_q8_K_generic"},
};

// Rows of weights and activations: gaussian, heavy-tailed, and with an outlier.
std::vector<float> rows_of(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      const float g = nd(rng);
      x[r * cols + j] = r % 3 == 0 ? g : r % 3 == 1 ? g * g * g : (j == 5 ? 30.0f : 0.1f * g);
    }
  return x;
}

struct Quantized {
  std::vector<uint8_t> w;   // rows of weights of the case's type
  std::vector<BlockQ8K> a;  // rows of activations
  size_t row_bytes;
};

Quantized quantized(GGMLType t, int64_t rows, int64_t cols) {
  const auto w = rows_of(rows, cols, 1), x = rows_of(rows, cols, 2);
  Quantized q;
  q.row_bytes = ggml_row_size(t, cols);
  q.w.resize(q.row_bytes * rows);
  q.a.resize(static_cast<size_t>(rows * cols / kQK));
  for (int64_t r = 0; r < rows; ++r)
    quantize_row(t, w.data() + r * cols, &q.w[r * q.row_bytes], cols);
  quantize_acts_q8_k(x.data(), q.a.data(), rows * cols);
  return q;
}

TEST(QuantKDot, VectorKernelsGiveThePortableBits) {
  const int64_t rows = 9, cols = 1024, nb = cols / kQK;
  for (const KDotCase& c : kCases) {
    const Quantized q = quantized(c.type, rows, cols);
    for (int64_t r = 0; r < rows; ++r) {
      const float want = kdot_portable(c.type)(&q.w[r * q.row_bytes], &q.a[r * nb], nb);
      const float got = kdot_for(c.type)(&q.w[r * q.row_bytes], &q.a[r * nb], nb);
      EXPECT_EQ(std::bit_cast<uint32_t>(want), std::bit_cast<uint32_t>(got))
          << ggml_type_name(c.type) << " row " << r << ": " << want << " vs " << got;
    }
  }
}

TEST(QuantKDot, PortableKernelsEqualDequantizeThenDot) {
  const int64_t rows = 9, cols = 1024, nb = cols / kQK;
  std::vector<float> w(cols), x(cols);
  for (const KDotCase& c : kCases) {
    const Quantized q = quantized(c.type, rows, cols);
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(c.type, &q.w[r * q.row_bytes], w.data(), cols);
      dequantize_row(GGMLType::Q8_K, &q.a[r * nb], x.data(), cols);
      // The scale of the float rounding: the kernels sum d * q and dmin * m parts separately.
      double want = 0, mag = 0, wmax = 0, xsum = 0;
      for (int64_t j = 0; j < cols; ++j) {
        want += static_cast<double>(w[j]) * x[j];
        mag += std::fabs(static_cast<double>(w[j]) * x[j]);
        wmax = std::max(wmax, std::fabs(static_cast<double>(w[j])));
        xsum += std::fabs(x[j]);
      }
      const float got = kdot_portable(c.type)(&q.w[r * q.row_bytes], &q.a[r * nb], nb);
      EXPECT_NEAR(got, want, 1e-6 * (mag + wmax * xsum)) << ggml_type_name(c.type) << " row " << r;
    }
  }
}

TEST(QuantKDot, NonFiniteActivationsGiveNaN) {
  std::vector<float> x(512, 0.5f), w(512, 0.25f);
  x[300] = INFINITY;
  std::vector<BlockQ8K> a(2);
  quantize_acts_q8_k(x.data(), a.data(), 512);
  std::vector<uint8_t> q(ggml_row_size(GGMLType::Q4_K, 512));
  quantize_row(GGMLType::Q4_K, w.data(), q.data(), 512);
  EXPECT_TRUE(std::isnan(kdot_for(GGMLType::Q4_K)(q.data(), a.data(), 2)));
  EXPECT_FALSE(std::isnan(kdot_for(GGMLType::Q4_K)(q.data(), a.data(), 1)));
  EXPECT_FALSE(has_kdot(GGMLType::IQ4_NL));
  EXPECT_NE(
      test::error_of([] { kdot_for(GGMLType::IQ4_NL); }).find("no Q8_K dot kernel for IQ4_NL"),
      std::string::npos);
}

// ggml's generic (portable C) vec_dot: the same integer sums, float sums in another order.
TEST(QuantKDotGgml, KernelsAgreeWithGgmlsVecDot) {
  const std::string dir = std::string(SLLM_SOURCE_DIR) +
                          "/bench/decode/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/";
  // Never closed (see quant_kquant_test.cpp: ggml cannot be loaded twice).
  static void* const h = dlopen((dir + "libggml-cpu-x64.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h)
    GTEST_SKIP() << "node-llama-cpp's libggml-cpu is not installed (npm ci in bench/decode): the "
                    "comparison with ggml's vec_dot does not run";
  using VecDot = void (*)(int, float*, size_t, const void*, size_t, const void*, size_t, int);
  // Its fp16 tables (the baseline build has no F16C).
  reinterpret_cast<void (*)()>(dlsym(h, "ggml_cpu_init"))();
  const int64_t rows = 9, cols = 1024, nb = cols / kQK;
  for (const KDotCase& c : kCases) {
    auto vec_dot = reinterpret_cast<VecDot>(dlsym(h, c.ggml_vec_dot));
    ASSERT_NE(vec_dot, nullptr) << c.ggml_vec_dot;
    const Quantized q = quantized(c.type, rows, cols);
    for (int64_t r = 0; r < rows; ++r) {
      float want = 0;
      vec_dot(static_cast<int>(cols), &want, 0, &q.w[r * q.row_bytes], 0, &q.a[r * nb], 0, 1);
      const float got = kdot_for(c.type)(&q.w[r * q.row_bytes], &q.a[r * nb], nb);
      EXPECT_NEAR(got, want, 1e-5f * std::max(1.0f, std::fabs(want)))
          << ggml_type_name(c.type) << " row " << r;
    }
  }
}

}  // namespace
}  // namespace sllm
