#include "sllm/quant/dot.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "sllm/common/error.h"
#include "sllm/quant/half.h"

namespace sllm {

void quantize_activations(const float* x, ActQ8* out, int64_t n) {
  for (int64_t b = 0; b < n / kQBlock; ++b, x += kQBlock) {
    float amax = 0;
    for (int j = 0; j < kQBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    if (!std::isfinite(amax)) {  // Propagate NaN/inf instead of casting it to int.
      std::memset(out[b].qs, 0, kQBlock);
      out[b].d = out[b].s = NAN;
      continue;
    }
    const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQBlock; ++j) {
      const int q = static_cast<int>(std::nearbyint(x[j] * id));
      out[b].qs[j] = static_cast<int8_t>(q);
      sum += q;
    }
    out[b].d = d;
    out[b].s = d * static_cast<float>(sum);
  }
}

namespace {

// ---- Portable kernels: one loop over blocks, int32 block sums, float accumulation. Each
// block type says how to dot one weight block with 32 int8 activations and how to scale it. ----

struct Q8_0Block {
  using Block = BlockQ8_0;
  static constexpr bool has_min = false;
  static int idot(const Block& w, const int8_t* x) {
    int sum = 0;
    for (int j = 0; j < kQBlock; ++j) sum += w.qs[j] * x[j];
    return sum;
  }
};

struct Q4_0Block {
  using Block = BlockQ4_0;
  static constexpr bool has_min = false;
  static int idot(const Block& w, const int8_t* x) {
    int sum = 0;
    for (int j = 0; j < kQBlock / 2; ++j)
      sum += ((w.qs[j] & 0xf) - 8) * x[j] + ((w.qs[j] >> 4) - 8) * x[j + 16];
    return sum;
  }
};

struct Q4_1Block {
  using Block = BlockQ4_1;
  static constexpr bool has_min = true;  // w = d * q + m: m times the activations' sum.
  static int idot(const Block& w, const int8_t* x) {
    int sum = 0;
    for (int j = 0; j < kQBlock / 2; ++j)
      sum += (w.qs[j] & 0xf) * x[j] + (w.qs[j] >> 4) * x[j + 16];
    return sum;
  }
};

template <class T>
void qdot_portable(const void* wv, const ActQ8* a, size_t as, int na, int64_t nb, float* out) {
  const auto* w = static_cast<const typename T::Block*>(wv);
  for (int k = 0; k < na; ++k) {
    float acc = 0;
    for (int64_t b = 0; b < nb; ++b) {
      const ActQ8& x = a[k * as + b];
      float v = f16_to_f32(w[b].d) * x.d * static_cast<float>(T::idot(w[b], x.qs));
      if constexpr (T::has_min) v += f16_to_f32(w[b].m) * x.s;
      acc += v;
    }
    out[k] = acc;
  }
}

void f32_portable(const float* w, const float* a, size_t as, int na, int64_t n, float* out) {
  for (int k = 0; k < na; ++k) {
    float acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += w[i] * a[k * as + i];
    out[k] = acc;
  }
}

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

// Dispatch on na at run time to the unrolled template instances.
#define SLLM_DISPATCH_NA(fn, W, ...)                \
  switch (na) {                                     \
    case 1:                                         \
      return fn<1>(static_cast<W>(w), __VA_ARGS__); \
    case 2:                                         \
      return fn<2>(static_cast<W>(w), __VA_ARGS__); \
    case 3:                                         \
      return fn<3>(static_cast<W>(w), __VA_ARGS__); \
    default:                                        \
      return fn<4>(static_cast<W>(w), __VA_ARGS__); \
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

constexpr DotKernels kPortable{"portable", qdot_portable<Q8_0Block>, qdot_portable<Q4_0Block>,
                               qdot_portable<Q4_1Block>, f32_portable};
constexpr DotKernels kAvx2{"avx2", q8_0_avx2, q4_0_avx2, q4_1_avx2, f32_avx2};

const DotKernels& pick() {
  const char* isa = std::getenv("SLLM_ISA");
  if (isa && std::strcmp(isa, "portable") == 0) return kPortable;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kAvx2;
  return kPortable;
}

}  // namespace

const DotKernels& dot_kernels() {
  static const DotKernels& k = pick();
  return k;
}

const DotKernels& portable_dot_kernels() {
  return kPortable;
}

QDotFn qdot_for(const DotKernels& k, GGMLType t) {
  switch (t) {
    case GGMLType::Q8_0:
      return k.q8_0;
    case GGMLType::Q4_0:
      return k.q4_0;
    case GGMLType::Q4_1:
      return k.q4_1;
    default:
      fail("no quantized dot kernel for {}", ggml_type_name(t));
  }
}

}  // namespace sllm
