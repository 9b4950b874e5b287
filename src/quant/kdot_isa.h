// What the k-quant dot kernels of every ISA share: the scale unpacking and the float
// combination of a block's integer sums. Every kernel computes the same integer sums per block
// and combines them here, in files built with -ffp-contract=off, so all ISAs give the same bits.
#pragma once
#include <cstdint>
#include <cstring>

#include "sllm/quant/half.h"
#include "sllm/quant/kdot.h"

namespace sllm::detail {

// Q4_K/Q5_K's 12 scale bytes to 8 6-bit scales and 8 6-bit mins (ggml's get_scale_min_k4).
inline void q4k_scales(const uint8_t* q, uint8_t* sc, uint8_t* mn) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = q[j] & 63;
    mn[j] = q[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    mn[j] = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Q3_K's 16 signed 6-bit scales.
inline int q3k_scale(const uint8_t* s, int j) {
  const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
  return (lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

// The sum of a block that has mins: acc + a.d * d * sum - a.d * dmin * msum.
inline float kblock_min(float acc, float ad, uint16_t d, uint16_t dmin, int32_t sum, int32_t msum) {
  const float dd = ad * f16_to_f32(d), dm = ad * f16_to_f32(dmin);
  return acc + (dd * static_cast<float>(sum) - dm * static_cast<float>(msum));
}
// Without: acc + a.d * d * sum.
inline float kblock(float acc, float ad, uint16_t d, int32_t sum) {
  return acc + ad * f16_to_f32(d) * static_cast<float>(sum);
}

float kdot_q4_k_avx2(const void* w, const BlockQ8K* a, int64_t nb);
float kdot_q5_k_avx2(const void* w, const BlockQ8K* a, int64_t nb);
float kdot_q6_k_avx2(const void* w, const BlockQ8K* a, int64_t nb);
float kdot_iq4_xs_avx2(const void* w, const BlockQ8K* a, int64_t nb);

}  // namespace sllm::detail
