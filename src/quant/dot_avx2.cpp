// AVX2 dot kernels (also the fallback on AVX-512 CPUs without VNNI).
#include <cpuid.h>
#include <immintrin.h>

#include "dot_isa.h"
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
  SLLM_DISPATCH_NA(f32_avx2_n, const float*, a, as, n, out)
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
                          nullptr,
                          nullptr,
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
