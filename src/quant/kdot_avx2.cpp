// AVX2 k-quant dot kernels: each block's integer sums in vectors (maddubs of the unsigned codes
// with the int8 activations, then madd with the group scales), the float combination shared
// with the portable kernels (kdot_isa.h), so both give the same bits.
#include <immintrin.h>

#include "kdot_isa.h"

namespace sllm::detail {

namespace {

#define SLLM_AVX2 __attribute__((target("avx2,fma,f16c")))

SLLM_AVX2 inline int32_t hsum_i32(__m256i v) {
  __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  x = _mm_add_epi32(x, _mm_unpackhi_epi64(x, x));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 1));
  return _mm_cvtsi128_si32(x);
}

SLLM_AVX2 inline __m256i load(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// 32 unsigned codes (< 64) times 32 int8 activations, pairs summed to int16 (no overflow:
// 2 * 63 * 127 < 32767), then times the scales of the two 16-halves and summed to int32.
SLLM_AVX2 inline __m256i scaled(__m256i codes, const int8_t* x, __m256i scales16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(codes, load(x)), scales16);
}

// Q4_K/Q5_K's integer sums and min sums of one block; bits5 adds qh's fifth bit.
template <bool kFive>
SLLM_AVX2 inline void q45_block(const uint8_t* scales, const uint8_t* qs, const uint8_t* qh,
                                const BlockQ8K& a, int32_t& sum, int32_t& msum) {
  uint8_t sc[8], mn[8];
  q4k_scales(scales, sc, mn);
  const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  const __m256i hb = kFive ? load(qh) : _mm256_setzero_si256();
  __m256i acc = _mm256_setzero_si256();
  for (int j = 0; j < 4; ++j) {
    const __m256i q = load(qs + 32 * j);
    __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    if constexpr (kFive) {
      lo = _mm256_or_si256(
          lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), one), 4));
      hi = _mm256_or_si256(
          hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), one), 4));
    }
    acc = _mm256_add_epi32(acc, scaled(lo, a.qs + 64 * j, _mm256_set1_epi16(sc[2 * j])));
    acc = _mm256_add_epi32(acc, scaled(hi, a.qs + 64 * j + 32, _mm256_set1_epi16(sc[2 * j + 1])));
  }
  sum = hsum_i32(acc);
  // The mins against the activations' group sums: 8 pairs of bsums.
  const __m256i bs = load(a.bsums);
  const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
  uint64_t m8;
  std::memcpy(&m8, mn, 8);
  const __m128i mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(m8)));
  __m128i p = _mm_madd_epi16(pairs, mins);
  p = _mm_add_epi32(p, _mm_unpackhi_epi64(p, p));
  p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 1));
  msum = _mm_cvtsi128_si32(p);
}

}  // namespace

SLLM_AVX2 float kdot_q4_k_avx2(const void* wv, const BlockQ8K* a, int64_t nb) {
  const auto* w = static_cast<const BlockQ4K*>(wv);
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t sum, msum;
    q45_block<false>(w[i].scales, w[i].qs, nullptr, a[i], sum, msum);
    acc = kblock_min(acc, a[i].d, w[i].d, w[i].dmin, sum, msum);
  }
  return acc;
}

SLLM_AVX2 float kdot_q5_k_avx2(const void* wv, const BlockQ8K* a, int64_t nb) {
  const auto* w = static_cast<const BlockQ5K*>(wv);
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i) {
    int32_t sum, msum;
    q45_block<true>(w[i].scales, w[i].qs, w[i].qh, a[i], sum, msum);
    acc = kblock_min(acc, a[i].d, w[i].d, w[i].dmin, sum, msum);
  }
  return acc;
}

// Q6_K: codes q in 0..63 stand for q - 32, so sum = sum_g sc_g * (q . x)_g - 32 * sum_g sc_g *
// bsum_g, the second from Q8_K's group sums.
SLLM_AVX2 float kdot_q6_k_avx2(const void* wv, const BlockQ8K* a, int64_t nb) {
  const auto* w = static_cast<const BlockQ6K*>(wv);
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* ql = w[i].ql;
    const uint8_t* qh = w[i].qh;
    const int8_t* sc = w[i].scales;
    const int8_t* x = a[i].qs;
    __m256i vsum = _mm256_setzero_si256();
    for (int n = 0; n < 2; ++n, ql += 64, qh += 32, sc += 8, x += 128) {
      const __m256i l0 = load(ql), l1 = load(ql + 32), h = load(qh);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4)),
          _mm256_or_si256(_mm256_and_si256(l1, m4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4))};
      for (int k = 0; k < 4; ++k) {
        const __m256i s16 =
            _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
        vsum = _mm256_add_epi32(vsum, scaled(q[k], x + 32 * k, s16));
      }
    }
    int32_t off = 0;
    for (int g = 0; g < 16; ++g) off += w[i].scales[g] * a[i].bsums[g];
    acc = kblock(acc, a[i].d, w[i].d, hsum_i32(vsum) - 32 * off);
  }
  return acc;
}

// IQ4_XS: the table lookup by pshufb; the signed table values times the signed activations by
// maddubs on |value| and the activations given the values' signs.
SLLM_AVX2 float kdot_iq4_xs_avx2(const void* wv, const BlockQ8K* a, int64_t nb) {
  const auto* w = static_cast<const BlockIQ4XS*>(wv);
  const __m128i t128 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues));
  const __m256i table = _mm256_set_m128i(t128, t128), m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  float acc = 0;
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* qs = w[i].qs;
    const int8_t* x = a[i].qs;
    int32_t sum = 0;
    for (int ib = 0; ib < kQK / 32; ++ib, qs += 16, x += 32) {
      const int ls =
          ((w[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((w[i].scales_h >> 2 * ib) & 3) << 4);
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
      const __m256i idx =
          _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), m4);  // j, then j + 16
      const __m256i v = _mm256_shuffle_epi8(table, idx);
      const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(load(x), v));
      sum += (ls - 32) * hsum_i32(_mm256_madd_epi16(p, ones));
    }
    acc = kblock(acc, a[i].d, w[i].d, sum);
  }
  return acc;
}

}  // namespace sllm::detail
