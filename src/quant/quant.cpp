#include "sllm/quant/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant_imatrix.h"
#include "sllm/common/error.h"
#include "sllm/quant/half.h"
#include "sllm/quant/kquant.h"

namespace sllm {

namespace {

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += kQBlock) {
    float amax = 0;
    for (int j = 0; j < kQBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (int j = 0; j < kQBlock; ++j)
      y[b].qs[j] = static_cast<int8_t>(std::round(x[j] * id));  // ggml rounds half away from 0.
  }
}

// ggml's reference Q4_0: the value of largest magnitude maps to -8, so the grid is
// d * {-8..7} with d = max / -8.
void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += kQBlock) {
    float amax = 0, max = 0;
    for (int j = 0; j < kQBlock; ++j)
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    const float d = max / -8.0f, id = d ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (int j = 0; j < kQBlock / 2; ++j) {
      const int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
      const int hi = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
      y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

// Squared error of quantizing x with scale d and minimum m (both as stored in f16).
float q4_1_error(const float* x, float d, float m, uint8_t* q) {
  float err = 0;
  const float id = d ? 1.0f / d : 0.0f;
  for (int j = 0; j < kQBlock; ++j) {
    int v = static_cast<int>(std::nearbyint((x[j] - m) * id));
    v = std::clamp(v, 0, 15);
    q[j] = static_cast<uint8_t>(v);
    const float e = d * v + m - x[j];
    err += e * e;
  }
  return err;
}

// Q4_1 with an error search: start from min/max, then try shrinking the range from either
// end (outliers cost a coarse grid everywhere else) and keep the best (d, m) after f16
// rounding, which is what the dequantizer will see.
void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t nb) {
  uint8_t q[kQBlock], best_q[kQBlock] = {};
  for (int64_t b = 0; b < nb; ++b, x += kQBlock) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < kQBlock; ++j) {
      lo = std::min(lo, x[j]);
      hi = std::max(hi, x[j]);
    }
    float best = INFINITY;
    uint16_t best_d = 0, best_m = 0;
    for (int a = 0; a <= 6; ++a) {
      for (int c = 0; c <= 6; ++c) {
        const float range = hi - lo;
        const float m0 = lo + range * 0.03f * a, m1 = hi - range * 0.03f * c;
        if (m1 < m0) continue;
        const uint16_t dh = f32_to_f16((m1 - m0) / 15.0f), mh = f32_to_f16(m0);
        const float err = q4_1_error(x, f16_to_f32(dh), f16_to_f32(mh), q);
        if (err < best) {
          best = err;
          best_d = dh;
          best_m = mh;
          std::memcpy(best_q, q, kQBlock);
        }
      }
    }
    y[b].d = best_d;
    y[b].m = best_m;
    for (int j = 0; j < kQBlock / 2; ++j)
      y[b].qs[j] = static_cast<uint8_t>(best_q[j] | (best_q[j + 16] << 4));
  }
}

void check_blocks(GGMLType t, const float* x, int64_t n) {
  if (n % kQBlock != 0)
    fail("{} rows need a multiple of {} values, got {}", ggml_type_name(t), kQBlock, n);
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      fail("cannot quantize to {}: weight {} is {}", ggml_type_name(t), i, x[i]);
}

void check_row(GGMLType t, int64_t n) {
  if (n % kQBlock != 0)
    fail("{} rows need a multiple of {} values, got {}", ggml_type_name(t), kQBlock, n);
}

}  // namespace

bool is_weight_type(GGMLType t) {
  return t == GGMLType::F32 || t == GGMLType::F16 || t == GGMLType::BF16 || is_quantized(t) ||
         (is_kquant_type(t) && t != GGMLType::Q8_K);
}

bool is_quantized(GGMLType t) {
  return t == GGMLType::Q8_0 || t == GGMLType::Q4_0 || t == GGMLType::Q4_1;
}

GGMLType parse_weight_type(const std::string& s) {
  std::string l = s;
  for (auto& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (l == "f32") return GGMLType::F32;
  if (l == "f16") return GGMLType::F16;
  if (l == "bf16") return GGMLType::BF16;
  if (l == "q8_0") return GGMLType::Q8_0;
  if (l == "q4_0") return GGMLType::Q4_0;
  if (l == "q4_1") return GGMLType::Q4_1;
  for (GGMLType t : {GGMLType::Q2_K, GGMLType::Q3_K, GGMLType::Q4_K, GGMLType::Q5_K, GGMLType::Q6_K,
                     GGMLType::IQ4_NL, GGMLType::IQ4_XS})
    if (l == weight_type_name(t)) return t;
  fail(
      "unknown weight type '{}' (expected f32, f16, bf16, q8_0, q4_0, q4_1, q2_k, q3_k, q4_k, "
      "q5_k, "
      "q6_k, iq4_nl or iq4_xs)",
      s);
}

std::string weight_type_name(GGMLType t) {
  std::string s = ggml_type_name(t);
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

bool uses_imatrix(GGMLType t) {
  return t == GGMLType::Q4_0 || t == GGMLType::Q4_1 || (is_kquant_type(t) && t != GGMLType::Q8_K);
}

void quantize_row(GGMLType t, const float* x, void* dst, int64_t n, const float* imatrix) {
  if (!imatrix || !uses_imatrix(t)) return quantize_row(t, x, dst, n);
  if (is_kquant_type(t)) return quantize_row_kquant(t, x, dst, n, imatrix);
  check_blocks(t, x, n);
  if (t == GGMLType::Q4_0)
    return quantize_q4_0_imatrix(x, static_cast<BlockQ4_0*>(dst), n, imatrix);
  return quantize_q4_1_imatrix(x, static_cast<BlockQ4_1*>(dst), n, imatrix);
}

void quantize_row(GGMLType t, const float* x, void* dst, int64_t n) {
  if (is_kquant_type(t)) return quantize_row_kquant(t, x, dst, n, nullptr);
  switch (t) {
    case GGMLType::F32:
      std::memcpy(dst, x, static_cast<size_t>(n) * 4);
      return;
    case GGMLType::F16: {
      auto* o = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) o[i] = f32_to_f16(x[i]);
      return;
    }
    case GGMLType::BF16: {
      auto* o = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(x[i]);
      return;
    }
    case GGMLType::Q8_0:
      check_blocks(t, x, n);
      return quantize_q8_0(x, static_cast<BlockQ8_0*>(dst), n / kQBlock);
    case GGMLType::Q4_0:
      check_blocks(t, x, n);
      return quantize_q4_0(x, static_cast<BlockQ4_0*>(dst), n / kQBlock);
    case GGMLType::Q4_1:
      check_blocks(t, x, n);
      return quantize_q4_1(x, static_cast<BlockQ4_1*>(dst), n / kQBlock);
    default:
      fail("cannot quantize to {}", ggml_type_name(t));
  }
}

void dequantize_row(GGMLType t, const void* src, float* y, int64_t n) {
  if (is_kquant_type(t)) return dequantize_row_kquant(t, src, y, n);
  switch (t) {
    case GGMLType::F32:
      std::memcpy(y, src, static_cast<size_t>(n) * 4);
      return;
    case GGMLType::F16:
      return f16_to_f32(static_cast<const uint16_t*>(src), y, static_cast<size_t>(n));
    case GGMLType::BF16:
      return bf16_to_f32(static_cast<const uint16_t*>(src), y, static_cast<size_t>(n));
    case GGMLType::Q8_0: {
      check_row(t, n);
      const auto* b = static_cast<const BlockQ8_0*>(src);
      for (int64_t i = 0; i < n / kQBlock; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < kQBlock; ++j) y[i * kQBlock + j] = d * b[i].qs[j];
      }
      return;
    }
    case GGMLType::Q4_0: {
      check_row(t, n);
      const auto* b = static_cast<const BlockQ4_0*>(src);
      for (int64_t i = 0; i < n / kQBlock; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < kQBlock / 2; ++j) {
          y[i * kQBlock + j] = d * ((b[i].qs[j] & 0xf) - 8);
          y[i * kQBlock + j + 16] = d * ((b[i].qs[j] >> 4) - 8);
        }
      }
      return;
    }
    case GGMLType::Q4_1: {
      check_row(t, n);
      const auto* b = static_cast<const BlockQ4_1*>(src);
      for (int64_t i = 0; i < n / kQBlock; ++i) {
        const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
        for (int j = 0; j < kQBlock / 2; ++j) {
          y[i * kQBlock + j] = d * (b[i].qs[j] & 0xf) + m;
          y[i * kQBlock + j + 16] = d * (b[i].qs[j] >> 4) + m;
        }
      }
      return;
    }
    default:
      fail(
          "cannot read {} weights (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q2_K, Q3_K, Q4_K, "
          "Q5_K, Q6_K, IQ4_NL, IQ4_XS)",
          ggml_type_name(t));
  }
}

}  // namespace sllm
