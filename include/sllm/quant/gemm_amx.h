// Prefill GEMM on AMX bf16 tiles for weights stored as F32, Q8_0, Q4_0 or Q4_1: each thread
// dequantizes a panel of 32 weight rows to bf16 (a transient 32 x cols buffer; the whole
// matrix is never expanded), then multiplies it by the step's activations, packed once to bf16
// tiles, accumulating in f32 tiles over the whole row. Products are exact in f32, so the only
// rounding beyond f32 GEMM is that of the two bf16 operands (8 significant bits), less than the
// 4- or 8-bit weight codes themselves lose.
//
// Only for CPUs with AMX-BF16 (Sapphire Rapids and later) whose kernel grants the tile state;
// amx_bf16_available() says, and SLLM_ISA=avx512|avx2|portable turns it off.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sllm/io/gguf.h"

namespace sllm {

bool amx_bf16_available();

// Activations x[n, cols] as bf16 tiles of 16 tokens x 32 columns, in the pair-interleaved
// order AMX wants for its second operand (zero padding past n and cols).
struct AmxActs {
  std::vector<uint16_t> tiles;
  int64_t n = 0, cols = 0, groups = 0, k_blocks = 0;
  void pack(const float* x, int64_t n, int64_t cols);  // Parallel over the OpenMP threads.
  // The same in two steps, for callers that split the tiles among their own threads.
  void resize(int64_t n, int64_t cols);
  void pack_tiles(const float* x, int64_t begin, int64_t end);  // Tiles [begin, end).
  int64_t tile_count() const { return groups * k_blocks; }
  const uint16_t* tile(int64_t group, int64_t kb) const {
    return tiles.data() + static_cast<size_t>(group * k_blocks + kb) * 512;
  }
};

// y[t * ldy + r] = sum_k x[t, k] * W[r, k] for every token t < x.n and rows r in [r0, r1) of W
// (type t, rows of row_bytes bytes, x.cols columns). Runs on the calling thread.
// packed: w is in 16-row groups (sllm/quant/packed.h) rather than row-major; r0 a multiple of 16.
void amx_matmul_rows(GGMLType type, const uint8_t* w, size_t row_bytes, const AmxActs& x, float* y,
                     int64_t ldy, int64_t r0, int64_t r1, bool packed = false);

}  // namespace sllm
