// AVX-512 VNNI dot kernels. vpdpbusd multiplies unsigned by signed bytes, so weight codes are
// made unsigned (Q4 nibbles already are; Q8_0 bytes get +128 by flipping the top bit) and the
// offset that adds, offset * sum(activations), is taken back out exactly in int32 by seeding the
// accumulator with -offset * sum. One block (32 weights) per 256-bit operation, two blocks in
// flight per token so the float accumulation chains overlap.
#include <immintrin.h>

#include <array>
#include <cstring>
#include <utility>

#include "dot_isa.h"
#include "sllm/quant/packed.h"
#include "sllm/quant/quant.h"

namespace sllm::detail {

namespace {

#define SLLM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

SLLM_AVX512 inline float hsum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

SLLM_AVX512 inline __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// The 32 codes of a 4-bit block in activation order: byte j's low nibble is weight j, its high
// nibble weight j + 16.
SLLM_AVX512 inline __m256i nibbles(const uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
}

// An int32 vector whose lanes sum to v (only lane 0 is set): the block's offset correction.
SLLM_AVX512 inline __m256i lane0(int32_t v) {
  return _mm256_zextsi128_si256(_mm_cvtsi32_si128(v));
}

// Block types: unsigned codes, the code offset (0 when none), the weight scale and, for Q4_1,
// the minimum.
struct Q8_0V {
  using Block = BlockQ8_0;
  static constexpr int kOffset = 128;
  static constexpr bool has_min = false;
  SLLM_AVX512 static __m256i codes(const Block& b) {
    return _mm256_xor_si256(load256(b.qs), _mm256_set1_epi8(static_cast<char>(0x80)));
  }
  static float min(const Block&) { return 0; }
};

struct Q4_0V {
  using Block = BlockQ4_0;
  static constexpr int kOffset = 8;
  static constexpr bool has_min = false;
  SLLM_AVX512 static __m256i codes(const Block& b) { return nibbles(b.qs); }
  static float min(const Block&) { return 0; }
};

struct Q4_1V {
  using Block = BlockQ4_1;
  static constexpr int kOffset = 0;
  static constexpr bool has_min = true;
  SLLM_AVX512 static __m256i codes(const Block& b) { return nibbles(b.qs); }
  SLLM_AVX512 static float min(const Block& b) { return _cvtsh_ss(b.m); }
};

// acc += (w . x) * dw * dx for one block, in the block's 8 int32 lanes.
template <class T>
SLLM_AVX512 inline __m256 block_fma(__m256i codes, float dw, const ActQ8& x, __m256 acc) {
  const __m256i seed = T::kOffset ? lane0(-T::kOffset * x.sum) : _mm256_setzero_si256();
  const __m256i dp = _mm256_dpbusd_epi32(seed, codes, load256(x.qs));
  return _mm256_fmadd_ps(_mm256_set1_ps(dw * x.d), _mm256_cvtepi32_ps(dp), acc);
}

template <class T, int NA>
SLLM_AVX512 void qdot_vnni_n(const typename T::Block* w, const ActQ8* a, size_t as, int64_t nb,
                             float* out) {
  __m256 acc0[NA], acc1[NA];
  float mins[NA] = {};
  for (int k = 0; k < NA; ++k) acc0[k] = acc1[k] = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m256i c0 = T::codes(w[b]), c1 = T::codes(w[b + 1]);
    const float d0 = _cvtsh_ss(w[b].d), d1 = _cvtsh_ss(w[b + 1].d);
    for (int k = 0; k < NA; ++k) {
      const ActQ8* x = a + k * as + b;
      acc0[k] = block_fma<T>(c0, d0, x[0], acc0[k]);
      acc1[k] = block_fma<T>(c1, d1, x[1], acc1[k]);
      if constexpr (T::has_min) mins[k] += T::min(w[b]) * x[0].s + T::min(w[b + 1]) * x[1].s;
    }
  }
  if (b < nb) {
    const __m256i c0 = T::codes(w[b]);
    const float d0 = _cvtsh_ss(w[b].d);
    for (int k = 0; k < NA; ++k) {
      const ActQ8& x = a[k * as + b];
      acc0[k] = block_fma<T>(c0, d0, x, acc0[k]);
      if constexpr (T::has_min) mins[k] += T::min(w[b]) * x.s;
    }
  }
  for (int k = 0; k < NA; ++k) out[k] = hsum(_mm256_add_ps(acc0[k], acc1[k])) + mins[k];
}

// Four weight rows, one token: the activation block and its offset seed are loaded once for
// all four rows, and the four accumulation chains are independent.
template <class T>
SLLM_AVX512 void qdot_vnni_x4(const void* wv, size_t row_bytes, const ActQ8* a, int64_t nb,
                              float* out) {
  const auto* base = static_cast<const uint8_t*>(wv);
  const typename T::Block* w[4];
  for (int r = 0; r < 4; ++r)
    w[r] = reinterpret_cast<const typename T::Block*>(base + r * row_bytes);
  __m256 acc[4];
  float mins[4] = {};
  for (int r = 0; r < 4; ++r) acc[r] = _mm256_setzero_ps();
  // Rows follow each other in memory: prefetch the four rows after the next four, a block
  // column at a time, so those loads hit the caches when their call comes. Without it the CPU
  // keeps too few misses in flight to reach the memory bandwidth; two calls ahead beat one
  // (bench/decode measures both).
  constexpr size_t kStride = 4 * sizeof(typename T::Block);
  const char* next = reinterpret_cast<const char*>(base + 8 * row_bytes);
  for (int64_t b = 0; b < nb; ++b) {
    for (size_t off = 0; off < kStride; off += 64)
      _mm_prefetch(next + b * kStride + off, _MM_HINT_T0);
    const ActQ8& x = a[b];
    const __m256i xq = load256(x.qs);
    const __m256i seed = T::kOffset ? lane0(-T::kOffset * x.sum) : _mm256_setzero_si256();
    for (int r = 0; r < 4; ++r) {
      const __m256i dp = _mm256_dpbusd_epi32(seed, T::codes(w[r][b]), xq);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(w[r][b].d) * x.d), _mm256_cvtepi32_ps(dp),
                               acc[r]);
      if constexpr (T::has_min) mins[r] += T::min(w[r][b]) * x.s;
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum(acc[r]) + mins[r];
}

// ---- Packed rows (sllm/quant/packed.h): 16 rows per vector, per-block work per 16 rows. ----

// Codes and scales of one super block: codes(sb).c[c] is the 64-byte vector of codes 4c..4c+3
// of the 16 rows (c < 8), as unsigned bytes; kOffset is what makes them unsigned.
template <GGMLType T>
struct PackedV {
  static constexpr size_t kBytes = packed_block_bytes(T), kScales = packed_scale_bytes(T);
  static constexpr int kOffset = T == GGMLType::Q8_0 ? 128 : (T == GGMLType::Q4_0 ? 8 : 0);
  static constexpr bool has_min = T == GGMLType::Q4_1;
  struct Codes {
    __m512i c[8];
  };
  SLLM_AVX512 static Codes codes(const uint8_t* sb) {
    Codes k;
    if constexpr (T == GGMLType::Q8_0) {  // Stored unsigned already.
      for (int c = 0; c < 8; ++c) k.c[c] = _mm512_loadu_si512(sb + kScales + 64 * c);
    } else {  // Low nibbles are codes 4c.., high nibbles codes 16 + 4c...
      const __m512i low4 = _mm512_set1_epi8(0x0f);
      for (int c = 0; c < 4; ++c) {
        const __m512i t = _mm512_loadu_si512(sb + kScales + 64 * c);
        k.c[c] = _mm512_and_si512(t, low4);
        k.c[c + 4] = _mm512_and_si512(_mm512_srli_epi16(t, 4), low4);
      }
    }
    return k;
  }
};
using Q8_0P = PackedV<GGMLType::Q8_0>;
using Q4_0P = PackedV<GGMLType::Q4_0>;
using Q4_1P = PackedV<GGMLType::Q4_1>;

// The 4 activation codes at qs[4c..4c+3] in every 32-bit lane.
SLLM_AVX512 inline __m512i act4(const ActQ8& x, int c) {
  int32_t v;
  std::memcpy(&v, x.qs + 4 * c, 4);
  return _mm512_set1_epi32(v);
}

// Bytes ahead of the current super block that each block step prefetches: about 16 blocks'
// worth, far enough for DRAM latency at decode's rate.
template <class P>
constexpr size_t kPackAhead = 16 * P::kBytes;

template <class P, int NA>
SLLM_AVX512 void qdot16_n(const uint8_t* g, const ActQ8* a, size_t as, int64_t nb, float* y,
                          size_t ldy) {
  __m512 acc[NA];
  for (int k = 0; k < NA; ++k) acc[k] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* sb = g + static_cast<size_t>(b) * P::kBytes;
    for (size_t off = 0; off < P::kBytes; off += 64)
      _mm_prefetch(reinterpret_cast<const char*>(sb + kPackAhead<P> + off), _MM_HINT_T0);
    const __m512 dw =
        _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb)));
    __m512 mw = _mm512_setzero_ps();
    if constexpr (P::has_min)
      mw = _mm512_maskz_cvtph_ps(0xffff,
                                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 32)));
    const typename P::Codes w = P::codes(sb);
    for (int k = 0; k < NA; ++k) {
      const ActQ8& x = a[k * as + b];
      // Two int32 chains halve the dependent vpdpbusd latency; the offset seeds one of them.
      // (One chain per token, with the tokens' chains overlapping, was slower at 8 tokens.)
      __m512i s0 = P::kOffset ? _mm512_set1_epi32(-P::kOffset * x.sum) : _mm512_setzero_si512();
      __m512i s1 = _mm512_setzero_si512();
      for (int c = 0; c < 8; c += 2) {
        s0 = _mm512_dpbusd_epi32(s0, w.c[c], act4(x, c));
        s1 = _mm512_dpbusd_epi32(s1, w.c[c + 1], act4(x, c + 1));
      }
      const __m512 dot = _mm512_maskz_cvtepi32_ps(0xffff, _mm512_add_epi32(s0, s1));
      acc[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(x.d)), dot, acc[k]);
      if constexpr (P::has_min) acc[k] = _mm512_fmadd_ps(mw, _mm512_set1_ps(x.s), acc[k]);
    }
  }
  for (int k = 0; k < NA; ++k) _mm512_storeu_ps(y + k * ldy, acc[k]);
}

template <class P>
SLLM_AVX512 void qdot16(const void* g, const ActQ8* a, size_t as, int na, int64_t nb, float* y,
                        size_t ldy) {
  const auto* w = static_cast<const uint8_t*>(g);
  SLLM_DISPATCH_NA16(qdot16_n, P)
}

template <int NA>
SLLM_AVX512 void f32_avx512_n(const float* w, const float* a, size_t as, int64_t n, float* out) {
  __m512 acc0[NA], acc1[NA];
  for (int k = 0; k < NA; ++k) acc0[k] = acc1[k] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    // Decode streams whole matrices row after row: keep DRAM busy 2 KB ahead.
    if constexpr (NA == 1) _mm_prefetch(reinterpret_cast<const char*>(w + i + 512), _MM_HINT_T0);
    if constexpr (NA == 1) _mm_prefetch(reinterpret_cast<const char*>(w + i + 528), _MM_HINT_T0);
    const __m512 w0 = _mm512_loadu_ps(w + i), w1 = _mm512_loadu_ps(w + i + 16);
    for (int k = 0; k < NA; ++k) {
      acc0[k] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(a + k * as + i), acc0[k]);
      acc1[k] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(a + k * as + i + 16), acc1[k]);
    }
  }
  for (; i < n; i += 16) {  // Masked tail: the last 1..31 floats, 16 at a time.
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    const __m512 w0 = _mm512_maskz_loadu_ps(m, w + i);
    for (int k = 0; k < NA; ++k)
      acc0[k] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, a + k * as + i), acc0[k]);
  }
  for (int k = 0; k < NA; ++k) out[k] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[k], acc1[k]));
}

// ---- Packed F32 rows: a GEMM tile of G groups (16 rows each) by M tokens in registers. ----

// Per column k: G loads of 16 weights, M broadcasts folded into the FMAs; 2 x 12 accumulators
// keep both FMA ports busy. Decode (M = 1) streams G groups at once and prefetches ahead.
template <int G, int M>
SLLM_AVX512 void f32_groups_n(const float* w, const float* x, size_t ldx, int64_t k, float* y,
                              size_t ldy) {
  const size_t gstride = static_cast<size_t>(k) * kPackRows;
  __m512 acc[G][M];
  for (int g = 0; g < G; ++g)
    for (int t = 0; t < M; ++t) acc[g][t] = _mm512_setzero_ps();
  for (int64_t c = 0; c < k; ++c) {
    __m512 wv[G];
    for (int g = 0; g < G; ++g) {
      const float* p = w + g * gstride + c * kPackRows;
      if constexpr (M <= 2) _mm_prefetch(reinterpret_cast<const char*>(p + 512), _MM_HINT_T0);
      wv[g] = _mm512_loadu_ps(p);
    }
    for (int t = 0; t < M; ++t) {
      const __m512 xb = _mm512_set1_ps(x[t * ldx + c]);
      for (int g = 0; g < G; ++g) acc[g][t] = _mm512_fmadd_ps(wv[g], xb, acc[g][t]);
    }
  }
  for (int g = 0; g < G; ++g)
    for (int t = 0; t < M; ++t) _mm512_storeu_ps(y + t * ldy + g * kPackRows, acc[g][t]);
}

template <int G, int... Ms>
constexpr auto f32_groups_table(std::integer_sequence<int, Ms...>) {
  using Fn = void (*)(const float*, const float*, size_t, int64_t, float*, size_t);
  return std::array<Fn, sizeof...(Ms)>{f32_groups_n<G, Ms + 1>...};
}

void f32_groups(const float* w, int groups, const float* x, size_t ldx, int m, int64_t k, float* y,
                size_t ldy) {
  static constexpr auto one =
      f32_groups_table<1>(std::make_integer_sequence<int, kF32TileTokens>());
  static constexpr auto two =
      f32_groups_table<2>(std::make_integer_sequence<int, kF32TileTokens>());
  (groups == 2 ? two : one)[m - 1](w, x, ldx, k, y, ldy);
}

template <int NA>
void q8_0_n(const BlockQ8_0* w, const ActQ8* a, size_t as, int64_t nb, float* out) {
  qdot_vnni_n<Q8_0V, NA>(w, a, as, nb, out);
}
template <int NA>
void q4_0_n(const BlockQ4_0* w, const ActQ8* a, size_t as, int64_t nb, float* out) {
  qdot_vnni_n<Q4_0V, NA>(w, a, as, nb, out);
}
template <int NA>
void q4_1_n(const BlockQ4_1* w, const ActQ8* a, size_t as, int64_t nb, float* out) {
  qdot_vnni_n<Q4_1V, NA>(w, a, as, nb, out);
}

void q8_0_avx512(const void* w, const ActQ8* a, size_t as, int na, int64_t nb, float* out) {
  SLLM_DISPATCH_NA(q8_0_n, const BlockQ8_0*, a, as, nb, out)
}
void q4_0_avx512(const void* w, const ActQ8* a, size_t as, int na, int64_t nb, float* out) {
  SLLM_DISPATCH_NA(q4_0_n, const BlockQ4_0*, a, as, nb, out)
}
void q4_1_avx512(const void* w, const ActQ8* a, size_t as, int na, int64_t nb, float* out) {
  SLLM_DISPATCH_NA(q4_1_n, const BlockQ4_1*, a, as, nb, out)
}
void f32_avx512(const float* w, const float* a, size_t as, int na, int64_t n, float* out) {
  SLLM_DISPATCH_NA(f32_avx512_n, const float*, a, as, n, out)
}

}  // namespace

const DotKernels kDotAvx512{
    "avx512",      q8_0_avx512,         q4_0_avx512,         q4_1_avx512,
    f32_avx512,    qdot_vnni_x4<Q8_0V>, qdot_vnni_x4<Q4_0V>, qdot_vnni_x4<Q4_1V>,
    qdot16<Q8_0P>, qdot16<Q4_0P>,       qdot16<Q4_1P>,       f32_groups};

bool cpu_has_avx512_vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("fma") && cpu_has_f16c();
}

}  // namespace sllm::detail
