// The k-quants and IQ4 types against ggml itself: the quantizers and dequantizers of
// node-llama-cpp's libggml-base (bench/decode/node_modules, `npm ci` there), dlopen()ed and
// called on the same rows. Without that package the ggml tests skip with a message; the
// round-trip and layout tests below run everywhere.
#include "sllm/quant/quant.h"

#include <dlfcn.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <tuple>

#include "sllm/common/error.h"
#include "sllm/quant/half.h"
#include "sllm/quant/kquant.h"
#include "test_util.h"

namespace sllm {
namespace {

struct KCase {
  GGMLType type;
  const char* quantize;        // ggml's quantize_<type>(src, dst, nrow, n_per_row, imatrix).
  const char* dequantize;      // ggml's dequantize_row_<type>(src, dst, n).
  std::vector<size_t> f16_at;  // Byte offsets of the block's f16 scales.
};
const KCase kCases[] = {
    {GGMLType::Q2_K, "quantize_q2_K", "dequantize_row_q2_K", {80, 82}},
    {GGMLType::Q3_K, "quantize_q3_K", "dequantize_row_q3_K", {108}},
    {GGMLType::Q4_K, "quantize_q4_K", "dequantize_row_q4_K", {0, 2}},
    {GGMLType::Q5_K, "quantize_q5_K", "dequantize_row_q5_K", {0, 2}},
    {GGMLType::Q6_K, "quantize_q6_K", "dequantize_row_q6_K", {208}},
    {GGMLType::IQ4_NL, "quantize_iq4_nl", "dequantize_row_iq4_nl", {0}},
    {GGMLType::IQ4_XS, "quantize_iq4_xs", "dequantize_row_iq4_xs", {0}},
};

using QuantizeFn = size_t (*)(const float*, void*, int64_t, int64_t, const float*);
using RowFn = void (*)(const void*, void*, int64_t);

class Ggml {
 public:
  // Loaded once and never closed: ggml's static initializer asserts that it has not installed
  // its terminate handler before, which a second load after dlclose() trips.
  Ggml() {
    static void* const h = [] {
      const std::string path = std::string(SLLM_SOURCE_DIR) +
                               "/bench/decode/node_modules/@node-llama-cpp/linux-x64/bins/"
                               "linux-x64/libggml-base.so";
      return dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    }();
    h_ = h;
  }
  bool loaded() const { return h_ != nullptr; }
  template <class F>
  F fn(const char* name) const {
    void* p = dlsym(h_, name);
    if (!p) throw std::runtime_error(std::string("libggml-base has no ") + name);
    return reinterpret_cast<F>(p);
  }

 private:
  void* h_ = nullptr;
};

#define NEED_GGML(g)                                                                              \
  if (!(g).loaded())                                                                              \
  GTEST_SKIP() << "node-llama-cpp's libggml-base is not installed (npm ci in bench/decode): the " \
                  "bit-exact comparison with ggml does not run"

// Rows that reach the quantizers' corners: gaussian, heavy tails, one outlier, all positive,
// constant, zero, tiny, a few values in a sea of zeros, and large magnitudes.
std::vector<float> test_rows(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> ud(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    float* v = x.data() + r * cols;
    for (int64_t j = 0; j < cols; ++j) {
      const float g = nd(rng);
      switch (r % 9) {
        case 0:
          v[j] = 0.02f * g;
          break;
        case 1:
          v[j] = g * g * g;
          break;
        case 2:
          v[j] = j == 7 ? 40.0f : g;
          break;
        case 3:
          v[j] = ud(rng) + 0.5f;
          break;
        case 4:
          v[j] = j < cols / 2 ? 0.3f : -0.7f;
          break;
        case 5:
          v[j] = j < cols / 2 ? 0.0f : g;
          break;
        case 6:
          v[j] = 1e-9f * g;
          break;
        case 7:
          v[j] = j % 37 == 0 ? g : 0.0f;
          break;
        default:
          v[j] = 3000.0f * g;
          break;
      }
    }
  }
  return x;
}

std::vector<float> test_imatrix(int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<float> ed(1.0f);
  std::vector<float> w(static_cast<size_t>(cols));
  for (auto& v : w) v = ed(rng) + 1e-3f;
  return w;
}

TEST(KQuantGgml, QuantizersGiveGgmlsBytes) {
  Ggml g;
  NEED_GGML(g);
  const int64_t rows = 18, cols = 512;
  const auto x = test_rows(rows, cols, 1);
  const auto imatrix = test_imatrix(cols, 2);
  for (const KCase& c : kCases) {
    for (const float* qw : {static_cast<const float*>(nullptr), imatrix.data()}) {
      const size_t row_bytes = ggml_row_size(c.type, cols);
      std::vector<uint8_t> want(row_bytes * rows), got(row_bytes * rows);
      g.fn<QuantizeFn>(c.quantize)(x.data(), want.data(), rows, cols, qw);
      for (int64_t r = 0; r < rows; ++r)
        quantize_row_kquant(c.type, x.data() + r * cols, got.data() + r * row_bytes, cols, qw);
      for (int64_t r = 0; r < rows; ++r)
        EXPECT_EQ(std::memcmp(want.data() + r * row_bytes, got.data() + r * row_bytes, row_bytes),
                  0)
            << ggml_type_name(c.type) << (qw ? " with" : " without") << " imatrix, row " << r;
    }
  }
}

// llama.cpp's quantize with an importance matrix runs ggml's weighted Q4_0 and Q4_1 too
// (quantize_row_q4_{0,1}_impl); without one, Q4_0 is ggml's reference (sllm's Q4_1 is its own
// search, so only the weighted Q4_1 is ggml's).
TEST(KQuantGgml, Q4_0AndQ4_1WithAnImatrixGiveGgmlsBytes) {
  Ggml g;
  NEED_GGML(g);
  const int64_t rows = 18, cols = 512;
  const auto x = test_rows(rows, cols, 5);
  const auto imatrix = test_imatrix(cols, 6);
  const std::tuple<GGMLType, const char*, const float*> cases[] = {
      {GGMLType::Q4_0, "quantize_q4_0", nullptr},
      {GGMLType::Q4_0, "quantize_q4_0", imatrix.data()},
      {GGMLType::Q4_1, "quantize_q4_1", imatrix.data()}};
  for (const auto& [type, fn, qw] : cases) {
    const size_t row_bytes = ggml_row_size(type, cols);
    std::vector<uint8_t> want(row_bytes * rows), got(row_bytes * rows);
    g.fn<QuantizeFn>(fn)(x.data(), want.data(), rows, cols, qw);
    for (int64_t r = 0; r < rows; ++r)
      quantize_row(type, x.data() + r * cols, got.data() + r * row_bytes, cols, qw);
    for (int64_t r = 0; r < rows; ++r)
      EXPECT_EQ(std::memcmp(want.data() + r * row_bytes, got.data() + r * row_bytes, row_bytes), 0)
          << ggml_type_name(type) << (qw ? " with" : " without") << " imatrix, row " << r;
  }
}

TEST(KQuantGgml, DequantizersGiveGgmlsFloats) {
  Ggml g;
  NEED_GGML(g);
  const int64_t rows = 18, cols = 512;
  const auto x = test_rows(rows, cols, 3);
  std::mt19937_64 rng(4);
  for (const KCase& c : kCases) {
    const size_t row_bytes = ggml_row_size(c.type, cols);
    // Blocks ggml wrote, then random bytes (every code and scale pattern) with finite f16 scales.
    std::vector<uint8_t> q(row_bytes * rows * 2);
    g.fn<QuantizeFn>(c.quantize)(x.data(), q.data(), rows, cols, nullptr);
    for (size_t i = row_bytes * rows; i < q.size(); ++i) q[i] = static_cast<uint8_t>(rng());
    const auto tr = ggml_type_traits(static_cast<uint32_t>(c.type));
    for (size_t b = row_bytes * rows; b < q.size(); b += tr.type_size) {
      for (size_t off : c.f16_at) {  // Finite scales of moderate size.
        uint16_t h;
        std::memcpy(&h, &q[b + off], 2);
        h = static_cast<uint16_t>((h & 0x83ff) | 0x3000);
        std::memcpy(&q[b + off], &h, 2);
      }
    }
    const int64_t n = cols * rows * 2;
    std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    g.fn<RowFn>(c.dequantize)(q.data(), want.data(), n);
    dequantize_row(c.type, q.data(), got.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(std::bit_cast<uint32_t>(want[i]), std::bit_cast<uint32_t>(got[i]))
          << ggml_type_name(c.type) << " value " << i << ": ggml " << want[i] << ", sllm "
          << got[i];
  }
}

TEST(KQuantGgml, Q8KActivationsGiveGgmlsBytes) {
  Ggml g;
  NEED_GGML(g);
  const int64_t rows = 18, cols = 512;
  const auto x = test_rows(rows, cols, 5);
  std::vector<BlockQ8K> want(rows * cols / kQK), got(want.size());
  std::memset(want.data(), 0, want.size() * sizeof(BlockQ8K));
  g.fn<void (*)(const float*, void*, int64_t)>("quantize_row_q8_K_ref")(x.data(), want.data(),
                                                                        rows * cols);
  quantize_row(GGMLType::Q8_K, x.data(), got.data(), rows * cols);
  for (size_t b = 0; b < want.size(); ++b) {
    EXPECT_EQ(std::bit_cast<uint32_t>(want[b].d), std::bit_cast<uint32_t>(got[b].d)) << b;
    EXPECT_EQ(std::memcmp(want[b].qs, got[b].qs, kQK), 0) << b;
    if (want[b].d != 0) EXPECT_EQ(std::memcmp(want[b].bsums, got[b].bsums, 32), 0) << b;
  }
}

// ---- properties that need no ggml ----

TEST(KQuant, RoundTripErrorShrinksWithBits) {
  const int64_t cols = 4096;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(cols), y(cols);
  for (auto& v : x) v = nd(rng);
  // Relative RMS error of each type on gaussian weights: about 15% above what ggml's quantizers
  // give on this row, so each k-quant must beat the one with a bit less.
  const std::pair<GGMLType, double> bounds[] = {
      {GGMLType::Q2_K, 0.34},    {GGMLType::Q3_K, 0.17},   {GGMLType::Q4_K, 0.083},
      {GGMLType::Q5_K, 0.042},   {GGMLType::Q6_K, 0.0205}, {GGMLType::IQ4_NL, 0.087},
      {GGMLType::IQ4_XS, 0.088}, {GGMLType::Q8_K, 0.0077}};
  for (const auto& [t, bound] : bounds) {
    std::vector<uint8_t> q(ggml_row_size(t, cols));
    quantize_row(t, x.data(), q.data(), cols);
    dequantize_row(t, q.data(), y.data(), cols);
    double e2 = 0, x2 = 0;
    for (int64_t i = 0; i < cols; ++i) {
      e2 += (x[i] - y[i]) * (x[i] - y[i]);
      x2 += x[i] * x[i];
    }
    EXPECT_LT(std::sqrt(e2 / x2), bound) << ggml_type_name(t);
  }
}

TEST(KQuant, BadRowsAreRefusedByName) {
  std::vector<float> x(300, 1.0f);
  std::vector<uint8_t> q(1024);
  EXPECT_NE(test::error_of([&] {
              quantize_row(GGMLType::Q4_K, x.data(), q.data(), 300);
            }).find("Q4_K rows need a multiple of 256"),
            std::string::npos);
  x[3] = NAN;
  EXPECT_NE(test::error_of([&] {
              quantize_row(GGMLType::Q6_K, x.data(), q.data(), 256);
            }).find("weight 3 is nan"),
            std::string::npos);
  x[3] = 1.0f;
  EXPECT_NE(test::error_of([&] {
              quantize_row_kquant(GGMLType::Q8_K, x.data(), q.data(), 256, x.data());
            }).find("Q8_K is an activation type"),
            std::string::npos);
  EXPECT_EQ(parse_weight_type("Q4_K"), GGMLType::Q4_K);
  EXPECT_EQ(parse_weight_type("iq4_xs"), GGMLType::IQ4_XS);
  EXPECT_FALSE(is_weight_type(GGMLType::Q8_K));
  EXPECT_FALSE(is_weight_type(GGMLType::IQ2_XXS));
}

}  // namespace
}  // namespace sllm
