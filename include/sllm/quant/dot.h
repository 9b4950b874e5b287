// Dot products of quantized weight rows with quantized activations, the inner loop of
// quantized inference. Activations are quantized per block of 32 to int8 with a float scale
// (and the scaled sum the Q4_1 minimum needs), then dotted with int8 multiply-adds.
//
// Each kernel dots one weight row with `na` (1 to 4) activation rows at once, so a weight
// block is loaded and unpacked once for several tokens during prefill.
// Implementations: AVX-512 VNNI, AVX2 (+FMA, F16C) and portable C++, the best the CPU has
// picked at startup. SLLM_ISA=avx2 or SLLM_ISA=portable forces a lower one (to test the
// fallbacks on a CPU that has more; a level the CPU lacks is reported and ignored).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sllm/quant/quant.h"

namespace sllm {

struct ActQ8 {
  float d;      // Scale: value = d * qs[j].
  float s;      // d * sum(qs): lets Q4_1's per-block minimum be applied once per block.
  int32_t sum;  // sum(qs): takes out the offset of kernels that dot unsigned weight codes.
  int8_t qs[kQBlock];
};

void quantize_activations(const float* x, ActQ8* out, int64_t n);  // n a multiple of 32.

// out[k] = dot(weight row w, activation row a + k * a_stride) for k < na (na in 1..4).
// nb = number of 32-blocks in the row; a_stride is in ActQ8 blocks.
using QDotFn = void (*)(const void* w, const ActQ8* a, size_t a_stride, int na, int64_t nb,
                        float* out);
// Same shape for f32 weights and f32 activations (n floats, a_stride in floats).
using FDotFn = void (*)(const float* w, const float* a, size_t a_stride, int na, int64_t n,
                        float* out);

// out[r] = dot(weight row r, one activation row a) for the 4 consecutive weight rows at w,
// row_bytes apart: decode's shape, where 4 independent rows keep more loads in flight.
using QDot4Fn = void (*)(const void* w, size_t row_bytes, const ActQ8* a, int64_t nb, float* out);

// One group of 16 packed weight rows (sllm/quant/packed.h) with na (1 to 8) activation rows:
// y[k * ldy + r] = dot(row r of the group, a + k * a_stride) for r < 16, k < na.
using QDot16Fn = void (*)(const void* group, const ActQ8* a, size_t a_stride, int na, int64_t nb,
                          float* y, size_t ldy);

// F32 weights packed in groups of 16 rows (sllm/quant/packed.h): y[t * ldy + r] for the
// 16 * groups rows of `groups` consecutive groups (1 or 2) and m tokens (1..kF32TileTokens) of
// x (k floats each, ldx apart). Every output is one fused multiply-add chain over k in order, so
// the bits do not depend on the tiling: prefill and decode give the same numbers.
constexpr int kF32TileTokens = 12;
using F32GroupsFn = void (*)(const float* w, int groups, const float* x, size_t ldx, int m,
                             int64_t k, float* y, size_t ldy);

struct DotKernels {
  const char* isa;  // "avx512", "avx2" or "portable"
  QDotFn q8_0, q4_0, q4_1;
  FDotFn f32;
  QDot4Fn q8_0_x4, q4_0_x4, q4_1_x4;
  QDot16Fn q8_0_x16, q4_0_x16, q4_1_x16;  // Packed rows; null where the ISA has none.
  F32GroupsFn f32_x16;                    // Packed F32 rows; null where the ISA has none.
};
const DotKernels& dot_kernels();  // The best for this CPU (or SLLM_ISA).
const DotKernels& portable_dot_kernels();
std::vector<const DotKernels*> supported_dot_kernels();  // Portable first, best last.
QDotFn qdot_for(const DotKernels& k, GGMLType t);        // Throws for non-quantized types.
QDot4Fn qdot4_for(const DotKernels& k, GGMLType t);      // The same, for the 4-row kernels.
QDot16Fn qdot16_for(const DotKernels& k, GGMLType t);    // Null when k has no packed kernels.

}  // namespace sllm
