// The k-quant dot kernels' table and the portable kernels, which follow the dequantizers of
// kquant.cpp value for value but sum integer codes per block (ggml's vec_dot_*_q8_K).
#include "sllm/quant/kdot.h"

#include <cmath>
#include <cstring>

#include "dot_isa.h"
#include "kdot_isa.h"
#include "sllm/common/error.h"

namespace sllm {

namespace {

using detail::kblock;
using detail::kblock_min;

// Sum of the 16 activations of group g (of 16) of a block, from Q8_K's bsums.
int32_t bsum(const BlockQ8K& a, int g) {
  return a.bsums[g];
}

float kdot_q2_k(const void* wv, const BlockQ8K* a, int64_t nb) {
  const auto* w = static_cast<const BlockQ2K*>(wv);
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* q = w[i].qs;
    const int8_t* x = a[i].qs;
    int32_t sum = 0, msum = 0;
    int is = 0;
    for (int n = 0; n < kQK; n += 128, q += 32)
      for (int shift = 0; shift < 8; shift += 2)
        for (int half = 0; half < 2; ++half, ++is, x += 16) {
          int32_t s = 0;
          for (int l = 0; l < 16; ++l) s += ((q[l + 16 * half] >> shift) & 3) * x[l];
          sum += (w[i].scales[is] & 0xF) * s;
          msum += (w[i].scales[is] >> 4) * bsum(a[i], is);
        }
    acc = kblock_min(acc, a[i].d, w[i].d, w[i].dmin, sum, msum);
  }
  return acc;
}

float kdot_q3_k(const void* wv, const BlockQ8K* a, int64_t nb) {
  const auto* w = static_cast<const BlockQ3K*>(wv);
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* q = w[i].qs;
    const uint8_t* hm = w[i].hmask;
    const int8_t* x = a[i].qs;
    int32_t sum = 0;
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < kQK; n += 128, q += 32)
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1))
        for (int half = 0; half < 2; ++half, ++is, x += 16) {
          int32_t s = 0;
          for (int l = 0; l < 16; ++l) {
            const int k = l + 16 * half;
            s += (((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4)) * x[l];
          }
          sum += detail::q3k_scale(w[i].scales, is) * s;
        }
    acc = kblock(acc, a[i].d, w[i].d, sum);
  }
  return acc;
}

float kdot_q4_k(const void* wv, const BlockQ8K* a, int64_t nb) {
  const auto* w = static_cast<const BlockQ4K*>(wv);
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t sc[8], mn[8];
    detail::q4k_scales(w[i].scales, sc, mn);
    const uint8_t* q = w[i].qs;
    const int8_t* x = a[i].qs;
    int32_t sum = 0, msum = 0;
    for (int j = 0; j < 4; ++j, q += 32, x += 64) {
      int32_t lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        lo += (q[l] & 0xF) * x[l];
        hi += (q[l] >> 4) * x[l + 32];
      }
      sum += sc[2 * j] * lo + sc[2 * j + 1] * hi;
    }
    for (int j = 0; j < 8; ++j) msum += mn[j] * (bsum(a[i], 2 * j) + bsum(a[i], 2 * j + 1));
    acc = kblock_min(acc, a[i].d, w[i].d, w[i].dmin, sum, msum);
  }
  return acc;
}

float kdot_q5_k(const void* wv, const BlockQ8K* a, int64_t nb) {
  const auto* w = static_cast<const BlockQ5K*>(wv);
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t sc[8], mn[8];
    detail::q4k_scales(w[i].scales, sc, mn);
    const uint8_t* q = w[i].qs;
    const uint8_t* qh = w[i].qh;
    const int8_t* x = a[i].qs;
    int32_t sum = 0, msum = 0;
    for (int j = 0; j < 4; ++j, q += 32, x += 64) {
      int32_t lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        lo += ((q[l] & 0xF) | (((qh[l] >> (2 * j)) & 1) << 4)) * x[l];
        hi += ((q[l] >> 4) | (((qh[l] >> (2 * j + 1)) & 1) << 4)) * x[l + 32];
      }
      sum += sc[2 * j] * lo + sc[2 * j + 1] * hi;
    }
    for (int j = 0; j < 8; ++j) msum += mn[j] * (bsum(a[i], 2 * j) + bsum(a[i], 2 * j + 1));
    acc = kblock_min(acc, a[i].d, w[i].d, w[i].dmin, sum, msum);
  }
  return acc;
}

float kdot_q6_k(const void* wv, const BlockQ8K* a, int64_t nb) {
  const auto* w = static_cast<const BlockQ6K*>(wv);
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* ql = w[i].ql;
    const uint8_t* qh = w[i].qh;
    const int8_t* sc = w[i].scales;
    const int8_t* x = a[i].qs;
    int32_t sum = 0;
    for (int n = 0; n < kQK; n += 128, ql += 64, qh += 32, sc += 8, x += 128) {
      int32_t s[8] = {};
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        s[is + 0] += (((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32) * x[l];
        s[is + 2] += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * x[l + 32];
        s[is + 4] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * x[l + 64];
        s[is + 6] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * x[l + 96];
      }
      for (int g = 0; g < 8; ++g) sum += sc[g] * s[g];
    }
    acc = kblock(acc, a[i].d, w[i].d, sum);
  }
  return acc;
}

float kdot_iq4_xs(const void* wv, const BlockQ8K* a, int64_t nb) {
  const auto* w = static_cast<const BlockIQ4XS*>(wv);
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* qs = w[i].qs;
    const int8_t* x = a[i].qs;
    int32_t sum = 0;
    for (int ib = 0; ib < kQK / 32; ++ib, qs += 16, x += 32) {
      const int ls =
          ((w[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((w[i].scales_h >> 2 * ib) & 3) << 4);
      int32_t s = 0;
      for (int j = 0; j < 16; ++j)
        s += kIQ4NLValues[qs[j] & 0xf] * x[j] + kIQ4NLValues[qs[j] >> 4] * x[j + 16];
      sum += (ls - 32) * s;
    }
    acc = kblock(acc, a[i].d, w[i].d, sum);
  }
  return acc;
}

constexpr KDotKernels kKDot[] = {
    {GGMLType::Q2_K, kdot_q2_k, nullptr},
    {GGMLType::Q3_K, kdot_q3_k, nullptr},
    {GGMLType::Q4_K, kdot_q4_k, detail::kdot_q4_k_avx2},
    {GGMLType::Q5_K, kdot_q5_k, detail::kdot_q5_k_avx2},
    {GGMLType::Q6_K, kdot_q6_k, detail::kdot_q6_k_avx2},
    {GGMLType::IQ4_XS, kdot_iq4_xs, detail::kdot_iq4_xs_avx2},
};

const KDotKernels* find(GGMLType t) {
  for (const KDotKernels& k : kKDot)
    if (k.type == t) return &k;
  return nullptr;
}

const KDotKernels& row(GGMLType t) {
  const KDotKernels* k = find(t);
  if (!k) fail("no Q8_K dot kernel for {} weights", ggml_type_name(t));
  return *k;
}

}  // namespace

bool has_kdot(GGMLType t) {
  return find(t) != nullptr;
}

KDotFn kdot_portable(GGMLType t) {
  return row(t).portable;
}

KDotFn kdot_for(GGMLType t) {
  const KDotKernels& k = row(t);
  // dot_kernels() has weighed the CPU and SLLM_ISA: anything above portable has AVX2.
  const bool vector = std::strcmp(dot_kernels().isa, "portable") != 0;
  return vector && k.avx2 ? k.avx2 : k.portable;
}

}  // namespace sllm
