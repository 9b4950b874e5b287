#include "sllm/kernels/bf16.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>

namespace sllm {

namespace detail {

bool isa_forced_portable() {
  static const bool forced = [] {
    const char* isa = std::getenv("SLLM_ISA");
    return isa && (std::strcmp(isa, "portable") == 0 || std::strcmp(isa, "avx2") == 0);
  }();
  return forced;
}

namespace {
// VCVTNEPS2BF16's rounding, written out (Intel SDM, convert_fp32_to_bfloat16).
inline bf16 round_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<bf16>((x >> 16) | 0x40);  // Quiet NaN.
  if ((x & 0x7f800000) == 0) return static_cast<bf16>((x >> 16) & 0x8000);        // Zero, denormal.
  x += 0x7fff + ((x >> 16) & 1);
  return static_cast<bf16>(x >> 16);
}

bool cpu_has_avx512_bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void to_bf16_avx512_body(
    bf16* out, const float* in, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 lo = _mm512_loadu_ps(in + i), hi = _mm512_loadu_ps(in + i + 16);
    _mm512_storeu_si512(out + i, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    const __m256bh r = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, in + i));
    _mm256_mask_storeu_epi16(out + i, m, reinterpret_cast<__m256i>(r));
  }
}
}  // namespace

void to_bf16_portable(bf16* out, const float* in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = round_to_bf16(in[i]);
}

bool to_bf16_avx512(bf16* out, const float* in, size_t n) {
  static const bool have = cpu_has_avx512_bf16();
  if (!have) return false;
  to_bf16_avx512_body(out, in, n);
  return true;
}

}  // namespace detail

namespace {
void convert_serial(bf16* out, const float* in, size_t n) {
  static const bool portable = detail::isa_forced_portable();
  if (portable || !detail::to_bf16_avx512(out, in, n)) detail::to_bf16_portable(out, in, n);
}

// Below this many values one thread converts faster than a team can be woken.
constexpr size_t kParallelMin = size_t{1} << 15;
constexpr size_t kChunk = size_t{1} << 14;
}  // namespace

void to_bf16(bf16* out, const float* in, size_t n) {
  if (n < kParallelMin || omp_in_parallel()) return convert_serial(out, in, n);
  const long chunks = static_cast<long>((n + kChunk - 1) / kChunk);
#pragma omp parallel for schedule(static)
  for (long c = 0; c < chunks; ++c) {
    const size_t b = static_cast<size_t>(c) * kChunk;
    convert_serial(out + b, in + b, std::min(kChunk, n - b));
  }
}

void to_bf16_rows(bf16* out, const float* in, size_t rows, size_t cols, size_t ld) {
  if (ld == cols) return to_bf16(out, in, rows * cols);
  const bool parallel = rows * cols >= kParallelMin && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (size_t r = 0; r < rows; ++r) convert_serial(out + r * cols, in + r * ld, cols);
}

void from_bf16(float* out, const bf16* in, size_t n) {
  const bool parallel = n >= kParallelMin && !omp_in_parallel();
#pragma omp parallel for simd schedule(static) if (parallel)
  for (size_t i = 0; i < n; ++i) out[i] = std::bit_cast<float>(static_cast<uint32_t>(in[i]) << 16);
}

}  // namespace sllm
