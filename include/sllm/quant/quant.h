// Weight quantization in ggml's block layouts, so quantized tensors go into GGUF unchanged:
//   Q8_0: 32 weights = f16 scale d + 32 int8;             w = d * q            (8.5 bits/weight)
//   Q4_0: 32 weights = f16 scale d + 16 bytes of nibbles;  w = d * (q - 8)      (4.5 bits/weight)
//   Q4_1: 32 weights = f16 scale d, f16 min m + nibbles;   w = d * q + m        (5 bits/weight)
// In a block, byte j holds weight j in its low nibble and weight j + 16 in its high nibble.
// Q4_1 is sllm's "better 4-bit": a scale and a minimum per group of 32, with the pair chosen
// by a search that minimises the squared error rather than ggml's plain min/max.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "sllm/io/gguf.h"

namespace sllm {

constexpr int kQBlock = 32;

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQBlock];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQBlock / 2];
};
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[kQBlock / 2];
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);

// Weight storage types inference supports. Others in a GGUF file are refused with a message.
bool is_weight_type(GGMLType t);  // F32, F16, BF16, Q8_0, Q4_0, Q4_1, kquant.h's but Q8_K
bool is_quantized(GGMLType t);    // Q8_0, Q4_0, Q4_1: the types with dot kernels
// "f32", "q8_0", "q4_0", "q4_1", "q2_k".."q6_k", "iq4_nl", "iq4_xs" (also "f16", "bf16").
GGMLType parse_weight_type(const std::string& s);
std::string weight_type_name(GGMLType t);  // Lower case, as parse_weight_type takes.

// Quantizes n floats (whole blocks for block types) into dst, which holds
// ggml_row_size(t, n) bytes. F32/F16/BF16 are plain conversions.
void quantize_row(GGMLType t, const float* x, void* dst, int64_t n);
// With an importance matrix (n weights, one per column; see sllm/format/imatrix_file.h), as
// llama.cpp's quantize: ggml's weighted quantizers for Q4_0, Q4_1 and the k-quants. The other
// types do not use one (ggml's neither): see uses_imatrix.
void quantize_row(GGMLType t, const float* x, void* dst, int64_t n, const float* imatrix);
bool uses_imatrix(GGMLType t);
void dequantize_row(GGMLType t, const void* src, float* y, int64_t n);

}  // namespace sllm
