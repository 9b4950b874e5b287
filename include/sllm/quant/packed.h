// Quantized weights in groups of 16 rows, the layout of the AVX-512 VNNI kernels: for every
// group and every 32-column block, the 16 rows' scales together, then their codes interleaved so
// that one 64-byte load holds 4 consecutive codes of each of the 16 rows, which is what one
// vpdpbusd multiplies. A row-major ggml layout needs per-row scalar work for every block; this
// one needs it per 16 rows, so decode stops being compute-bound.
//
// One block column of a group (the "super block"), in order:
//   Q8_0: 16 f16 scales, then 8 chunks of 64 bytes: chunk c, row r = codes 4c..4c+3 of row r,
//         stored unsigned (code + 128, the top bit flipped) as vpdpbusd wants them.
//   Q4_0: 16 f16 scales, then 4 chunks of 64 bytes: chunk c, row r = the ggml bytes 4c..4c+3 of
//         row r (low nibbles are codes 4c.., high nibbles codes 16 + 4c..).
//   Q4_1: 16 f16 scales, 16 f16 minima, then the 4 chunks as for Q4_0.
// Each is 16 times the ggml block, so a packed matrix has exactly the ggml size.
//
// F32 groups are the 16 rows transposed: element (row i, column k) of a group at k * 16 + i, so
// one 64-byte load is column k of all 16 rows, which the GEMM kernel multiplies by one
// broadcast activation. No padding: the same size again.
#pragma once
#include <cstddef>
#include <cstdint>

#include "sllm/io/gguf.h"
#include "sllm/quant/quant.h"

namespace sllm {

constexpr int kPackRows = 16;

// Bytes of one super block's scales (16 f16 d, then for Q4_1 16 f16 m; the code chunks follow)
// and of the whole super block (16 rows x 32 columns); 0 for types without a packed layout.
constexpr size_t packed_scale_bytes(GGMLType t) {
  return t == GGMLType::Q4_1 ? 4 * kPackRows
                             : (t == GGMLType::Q8_0 || t == GGMLType::Q4_0 ? 2 * kPackRows : 0);
}
constexpr size_t packed_block_bytes(GGMLType t) {
  return t == GGMLType::Q8_0   ? kPackRows * sizeof(BlockQ8_0)
         : t == GGMLType::Q4_0 ? kPackRows * sizeof(BlockQ4_0)
         : t == GGMLType::Q4_1 ? kPackRows * sizeof(BlockQ4_1)
                               : 0;
}

// Whether a [rows, cols] matrix of type t can be packed (F32 or a quantized type, whole groups).
bool packable(GGMLType t, int64_t rows, int64_t cols);
// src: rows x cols in ggml layout; dst: the same bytes count, packed. rows % 16 == 0.
void pack_rows(GGMLType t, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst);
// Row r of a packed matrix back in ggml layout (ggml_row_size(t, cols) bytes at dst).
void unpack_row(GGMLType t, const uint8_t* packed, int64_t cols, int64_t r, uint8_t* dst);

}  // namespace sllm
