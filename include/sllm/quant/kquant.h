// ggml's k-quants and 4-bit non-linear quants, in ggml's block layouts (ggml-common.h), so the
// bytes go into and come out of GGUF files unchanged. A super block holds 256 weights:
//   Q2_K: 16 groups of 16, 4-bit scale and 4-bit min per group, f16 d and dmin; 2-bit codes
//         w = d * sc * q - dmin * m                                           (2.625 bits/weight)
//   Q3_K: 16 groups of 16, 6-bit signed scales, f16 d; 3-bit codes (2 low bits + a high-bit mask)
//         w = d * (sc - 32) * (q - 4)                                         (3.4375 bits/weight)
//   Q4_K: 8 groups of 32, 6-bit scale and 6-bit min per group, f16 d and dmin; 4-bit codes
//         w = d * sc * q - dmin * m                                           (4.5 bits/weight)
//   Q5_K: as Q4_K with a fifth code bit in qh                                 (5.5 bits/weight)
//   Q6_K: 16 groups of 16, int8 scales, f16 d; 6-bit codes (4 in ql, 2 in qh)
//         w = d * sc * (q - 32)                                               (6.5625 bits/weight)
//   Q8_K: the activation type of their dot products: f32 d, 256 int8, sums of each 16 codes.
//   IQ4_NL: 32 weights, f16 d, 4-bit indices into a fixed non-linear table   (4.5 bits/weight)
//   IQ4_XS: 256 weights, 8 groups of 32 with 6-bit scales, the IQ4_NL table  (4.25 bits/weight)
// The quantizers follow ggml's reference quantizers operation for operation (same float
// expressions in the same order, no fused multiply-adds), so they give ggml's bytes: without an
// importance matrix those of quantize_row_*_ref (quantize_iq4_nl/xs for the IQ4 types), with one
// those of quantize_q*_K(..., quant_weights), i.e. what llama.cpp's quantize writes.
#pragma once
#include <cstddef>
#include <cstdint>

#include "sllm/io/gguf.h"

namespace sllm {

constexpr int kQK = 256;  // Weights per k-quant super block.

struct BlockQ2K {
  uint8_t scales[kQK / 16];  // Low nibble scale, high nibble min.
  uint8_t qs[kQK / 4];
  uint16_t d, dmin;
};
struct BlockQ3K {
  uint8_t hmask[kQK / 8];
  uint8_t qs[kQK / 4];
  uint8_t scales[12];
  uint16_t d;
};
struct BlockQ4K {
  uint16_t d, dmin;
  uint8_t scales[12];  // 8 6-bit scales and 8 6-bit mins, packed.
  uint8_t qs[kQK / 2];
};
struct BlockQ5K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[kQK / 8];
  uint8_t qs[kQK / 2];
};
struct BlockQ6K {
  uint8_t ql[kQK / 2];
  uint8_t qh[kQK / 4];
  int8_t scales[kQK / 16];
  uint16_t d;
};
struct BlockQ8K {
  float d;
  int8_t qs[kQK];
  int16_t bsums[kQK / 16];
};
struct BlockIQ4NL {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockIQ4XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[kQK / 64];
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(BlockQ2K) == 84 && sizeof(BlockQ3K) == 110 && sizeof(BlockQ4K) == 144 &&
              sizeof(BlockQ5K) == 176 && sizeof(BlockQ6K) == 210 && sizeof(BlockQ8K) == 292 &&
              sizeof(BlockIQ4NL) == 18 && sizeof(BlockIQ4XS) == 136);

// The non-linear 4-bit grid of IQ4_NL and IQ4_XS.
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// Q2_K..Q6_K, Q8_K, IQ4_NL, IQ4_XS.
bool is_kquant_type(GGMLType t);
// The type ggml quantizes activations to for a dot product with weights of type t (its
// vec_dot_type): Q8_K for Q2_K..Q6_K and IQ4_XS, Q8_0 for IQ4_NL; F32 for the other types.
GGMLType dot_activation_type(GGMLType t);
// n: a multiple of the type's block size. imatrix: n importance weights (one per column, as
// llama.cpp's imatrix stores them) or null. Q8_K takes none (refused by name).
void quantize_row_kquant(GGMLType t, const float* x, void* dst, int64_t n, const float* imatrix);
void dequantize_row_kquant(GGMLType t, const void* src, float* y, int64_t n);

}  // namespace sllm
