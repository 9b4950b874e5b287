// The per-ISA dot kernel tables behind dot_kernels(). Each lives in its own file, compiled
// for the baseline target with __attribute__((target(...))) on its functions, so one binary
// carries every path and picks at run time from what the CPU reports.
#pragma once
#include "sllm/quant/dot.h"

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

// The same for the packed kernels fn<Args..., NA>(w, a, as, nb, y, ldy), na in 1..8: AVX-512
// has the registers for 8 tokens per pass over a group.
#define SLLM_DISPATCH_NA16(fn, ...)                    \
  switch (na) {                                        \
    case 1:                                            \
      return fn<__VA_ARGS__, 1>(w, a, as, nb, y, ldy); \
    case 2:                                            \
      return fn<__VA_ARGS__, 2>(w, a, as, nb, y, ldy); \
    case 3:                                            \
      return fn<__VA_ARGS__, 3>(w, a, as, nb, y, ldy); \
    case 4:                                            \
      return fn<__VA_ARGS__, 4>(w, a, as, nb, y, ldy); \
    case 5:                                            \
      return fn<__VA_ARGS__, 5>(w, a, as, nb, y, ldy); \
    case 6:                                            \
      return fn<__VA_ARGS__, 6>(w, a, as, nb, y, ldy); \
    case 7:                                            \
      return fn<__VA_ARGS__, 7>(w, a, as, nb, y, ldy); \
    default:                                           \
      return fn<__VA_ARGS__, 8>(w, a, as, nb, y, ldy); \
  }

// na in 1..8 as up to two passes of at most 4 tokens (AVX2's 16 registers hold no more).
#define SLLM_DISPATCH_NA16_BY4(fn, ...)                 \
  for (int k0 = 0; k0 < na; k0 += 4) {                  \
    const ActQ8* ak = a + static_cast<size_t>(k0) * as; \
    float* yk = y + static_cast<size_t>(k0) * ldy;      \
    switch (na - k0) {                                  \
      case 1:                                           \
        fn<__VA_ARGS__, 1>(w, ak, as, nb, yk, ldy);     \
        break;                                          \
      case 2:                                           \
        fn<__VA_ARGS__, 2>(w, ak, as, nb, yk, ldy);     \
        break;                                          \
      case 3:                                           \
        fn<__VA_ARGS__, 3>(w, ak, as, nb, yk, ldy);     \
        break;                                          \
      default:                                          \
        fn<__VA_ARGS__, 4>(w, ak, as, nb, yk, ldy);     \
    }                                                   \
  }

namespace sllm::detail {

// A QDot4Fn from a QDotFn: four one-row calls (for the ISAs without a 4-row kernel).
template <QDotFn F>
void rows4_by_one(const void* w, size_t row_bytes, const ActQ8* a, int64_t nb, float* out) {
  for (int r = 0; r < 4; ++r)
    F(static_cast<const uint8_t*>(w) + r * row_bytes, a, 0, 1, nb, out + r);
}

extern const DotKernels kDotAvx2;    // AVX2 + FMA + F16C
extern const DotKernels kDotAvx512;  // AVX-512 F/BW/VL + VNNI (+ FMA, F16C)
bool cpu_has_f16c();
bool cpu_has_avx2();
bool cpu_has_avx512_vnni();

}  // namespace sllm::detail
