// AVX2 dot kernels (also the fallback on AVX-512 CPUs without VNNI).
#include <cpuid.h>
#include <immintrin.h>

#include <cstring>

#include "dot_isa.h"
#include "sllm/quant/packed.h"
#include "sllm/quant/quant.h"

namespace sllm::detail {

namespace {

// ---- AVX2 kernels (llama.cpp's sign trick: |w| * sign(a, w) keeps maddubs' unsigned
// operand non-negative; no int16 overflow since |w|, |a| <= 127). ----

#define SLLM_AVX2 __attribute__((target("avx2,fma,f16c")))

SLLM_AVX2 inline float hsum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

SLLM_AVX2 inline __m256 dot_i8(__m256i w, __m256i x) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

SLLM_AVX2 inline __m256i nibbles(const uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_and_si256(b, _mm256_set1_epi8(0x0f));
}

SLLM_AVX2 inline float h2f(uint16_t h) {
  return _cvtsh_ss(h);
}

inline __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

template <int NA>
SLLM_AVX2 void q8_0_avx2_n(const BlockQ8_0* w, const ActQ8* a, size_t as, int64_t nb, float* out) {
  __m256 acc[NA];
  for (int k = 0; k < NA; ++k) acc[k] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i wq = load256(w[b].qs);
    const float dw = h2f(w[b].d);
    for (int k = 0; k < NA; ++k) {
      const ActQ8& x = a[k * as + b];
      acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x.d), dot_i8(wq, load256(x.qs)), acc[k]);
    }
  }
  for (int k = 0; k < NA; ++k) out[k] = hsum(acc[k]);
}

template <int NA>
SLLM_AVX2 void q4_0_avx2_n(const BlockQ4_0* w, const ActQ8* a, size_t as, int64_t nb, float* out) {
  __m256 acc[NA];
  for (int k = 0; k < NA; ++k) acc[k] = _mm256_setzero_ps();
  const __m256i eight = _mm256_set1_epi8(8);
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i wq = _mm256_sub_epi8(nibbles(w[b].qs), eight);
    const float dw = h2f(w[b].d);
    for (int k = 0; k < NA; ++k) {
      const ActQ8& x = a[k * as + b];
      acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x.d), dot_i8(wq, load256(x.qs)), acc[k]);
    }
  }
  for (int k = 0; k < NA; ++k) out[k] = hsum(acc[k]);
}

template <int NA>
SLLM_AVX2 void q4_1_avx2_n(const BlockQ4_1* w, const ActQ8* a, size_t as, int64_t nb, float* out) {
  __m256 acc[NA];
  float mins[NA] = {};
  for (int k = 0; k < NA; ++k) acc[k] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i wq = nibbles(w[b].qs);  // 0..15: already a valid unsigned maddubs operand.
    const float dw = h2f(w[b].d), mw = h2f(w[b].m);
    for (int k = 0; k < NA; ++k) {
      const ActQ8& x = a[k * as + b];
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wq, load256(x.qs)), ones);
      acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x.d), _mm256_cvtepi32_ps(p), acc[k]);
      mins[k] += mw * x.s;
    }
  }
  for (int k = 0; k < NA; ++k) out[k] = hsum(acc[k]) + mins[k];
}

template <int NA>
SLLM_AVX2 void f32_avx2_n(const float* w, const float* a, size_t as, int64_t n, float* out) {
  __m256 acc[NA][2];
  for (int k = 0; k < NA; ++k) acc[k][0] = acc[k][1] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 w0 = _mm256_loadu_ps(w + i), w1 = _mm256_loadu_ps(w + i + 8);
    for (int k = 0; k < NA; ++k) {
      acc[k][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(a + k * as + i), acc[k][0]);
      acc[k][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(a + k * as + i + 8), acc[k][1]);
    }
  }
  for (int k = 0; k < NA; ++k) {
    float s = hsum(_mm256_add_ps(acc[k][0], acc[k][1]));
    for (int64_t j = i; j < n; ++j) s += w[j] * a[k * as + j];
    out[k] = s;
  }
}

void q8_0_avx2(const void* w, const ActQ8* a, size_t as, int na, int64_t nb, float* out) {
  SLLM_DISPATCH_NA(q8_0_avx2_n, const BlockQ8_0*, a, as, nb, out)
}
void q4_0_avx2(const void* w, const ActQ8* a, size_t as, int na, int64_t nb, float* out) {
  SLLM_DISPATCH_NA(q4_0_avx2_n, const BlockQ4_0*, a, as, nb, out)
}
void q4_1_avx2(const void* w, const ActQ8* a, size_t as, int na, int64_t nb, float* out) {
  SLLM_DISPATCH_NA(q4_1_avx2_n, const BlockQ4_1*, a, as, nb, out)
}
void f32_avx2(const float* w, const float* a, size_t as, int na, int64_t n, float* out) {
  SLLM_DISPATCH_NA(f32_avx2_n, const float*, a, as, n, out);  // (';' keeps clang-format's layout)
}

// ---- Packed rows (sllm/quant/packed.h): a 64-byte code chunk is two vectors, rows 0-7 and
// rows 8-15; each half of a group is 8 rows in the 8 int32 lanes. ----

// The 4 activation codes at qs[4c..4c+3] in every 32-bit lane.
SLLM_AVX2 inline __m256i act4(const ActQ8& x, int c) {
  int32_t v;
  std::memcpy(&v, x.qs + 4 * c, 4);
  return _mm256_set1_epi32(v);
}

// The int32 block dots of 8 rows with one token. Q8_0: signed codes through the sign trick, one
// madd per chunk (a pair of products can reach 2 * 128 * 127). Nibbles: 0..15 are valid
// unsigned operands, and 8 chunks of pairs stay within int16 (8 * 2 * 15 * 127 = 30480).
template <GGMLType T>
SLLM_AVX2 inline __m256i dots8(const __m256i w[8], const ActQ8& x) {
  const __m256i ones = _mm256_set1_epi16(1);
  if constexpr (T == GGMLType::Q8_0) {
    __m256i s = _mm256_setzero_si256();
    for (int c = 0; c < 8; ++c) {
      const __m256i p =
          _mm256_maddubs_epi16(_mm256_sign_epi8(w[c], w[c]), _mm256_sign_epi8(act4(x, c), w[c]));
      s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
    }
    return s;
  } else {
    __m256i p = _mm256_maddubs_epi16(w[0], act4(x, 0));
    for (int c = 1; c < 8; ++c) p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w[c], act4(x, c)));
    __m256i s = _mm256_madd_epi16(p, ones);
    if constexpr (T == GGMLType::Q4_0) s = _mm256_sub_epi32(s, _mm256_set1_epi32(8 * x.sum));
    return s;
  }
}

template <GGMLType T, int NA>
SLLM_AVX2 void qdot16_avx2_n(const uint8_t* g, const ActQ8* a, size_t as, int64_t nb, float* y,
                             size_t ldy) {
  constexpr size_t kBytes = packed_block_bytes(T), kScales = packed_scale_bytes(T);
  __m256 acc[NA][2];
  for (int k = 0; k < NA; ++k) acc[k][0] = acc[k][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* sb = g + static_cast<size_t>(b) * kBytes;
    for (size_t off = 0; off < kBytes; off += 64)
      _mm_prefetch(reinterpret_cast<const char*>(sb + 16 * kBytes + off), _MM_HINT_T0);
    for (int h = 0; h < 2; ++h) {
      const __m256 dw =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + 16 * h)));
      __m256i w[8];
      if constexpr (T == GGMLType::Q8_0) {
        for (int c = 0; c < 8; ++c)
          w[c] = _mm256_xor_si256(load256(sb + kScales + 64 * c + 32 * h),
                                  _mm256_set1_epi8(static_cast<char>(0x80)));
      } else {
        for (int c = 0; c < 4; ++c) {
          const __m256i t = load256(sb + kScales + 64 * c + 32 * h);
          w[c] = _mm256_and_si256(t, _mm256_set1_epi8(0x0f));
          w[c + 4] = _mm256_and_si256(_mm256_srli_epi16(t, 4), _mm256_set1_epi8(0x0f));
        }
      }
      for (int k = 0; k < NA; ++k) {
        const ActQ8& x = a[k * as + b];
        const __m256 dot = _mm256_cvtepi32_ps(dots8<T>(w, x));
        acc[k][h] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(x.d)), dot, acc[k][h]);
        if constexpr (T == GGMLType::Q4_1) {
          const __m256 mw =
              _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + 32 + 16 * h)));
          acc[k][h] = _mm256_fmadd_ps(mw, _mm256_set1_ps(x.s), acc[k][h]);
        }
      }
    }
  }
  for (int k = 0; k < NA; ++k) {
    _mm256_storeu_ps(y + k * ldy, acc[k][0]);
    _mm256_storeu_ps(y + k * ldy + 8, acc[k][1]);
  }
}

template <GGMLType T>
void qdot16_avx2(const void* g, const ActQ8* a, size_t as, int na, int64_t nb, float* y,
                 size_t ldy) {
  const auto* w = static_cast<const uint8_t*>(g);
  SLLM_DISPATCH_NA16_BY4(qdot16_avx2_n, T)
}

}  // namespace

const DotKernels kDotAvx2{"avx2",
                          q8_0_avx2,
                          q4_0_avx2,
                          q4_1_avx2,
                          f32_avx2,
                          rows4_by_one<q8_0_avx2>,
                          rows4_by_one<q4_0_avx2>,
                          rows4_by_one<q4_1_avx2>,
                          qdot16_avx2<GGMLType::Q8_0>,
                          qdot16_avx2<GGMLType::Q4_0>,
                          qdot16_avx2<GGMLType::Q4_1>,
                          nullptr};

bool cpu_has_f16c() {  // Clang's __builtin_cpu_supports does not know "f16c".
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}

}  // namespace sllm::detail
