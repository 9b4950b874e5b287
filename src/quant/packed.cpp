#include "sllm/quant/packed.h"

#include <cstring>

#include "sllm/common/error.h"
#include "sllm/quant/quant.h"

namespace sllm {

namespace {

// Bytes of one row's block in ggml layout, of its scales (d, and m for Q4_1), and of its codes.
struct Geometry {
  size_t block, scales, codes;
};

Geometry geometry(GGMLType t) {
  switch (t) {
    case GGMLType::Q8_0:
      return {sizeof(BlockQ8_0), 2, kQBlock};
    case GGMLType::Q4_0:
      return {sizeof(BlockQ4_0), 2, kQBlock / 2};
    case GGMLType::Q4_1:
      return {sizeof(BlockQ4_1), 4, kQBlock / 2};
    default:
      fail("no packed layout for {} weights", ggml_type_name(t));
  }
}

}  // namespace

bool packable(GGMLType t, int64_t rows, int64_t cols) {
  return is_quantized(t) && rows > 0 && rows % kPackRows == 0 && cols > 0 && cols % kQBlock == 0;
}

size_t packed_block_bytes(GGMLType t) {
  return kPackRows * geometry(t).block;
}

void pack_rows(GGMLType t, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst) {
  if (!packable(t, rows, cols))
    fail("cannot pack a {} x {} {} matrix into groups of {} rows", rows, cols, ggml_type_name(t),
         kPackRows);
  const Geometry g = geometry(t);
  const int64_t nb = cols / kQBlock;
  const size_t row_bytes = g.block * static_cast<size_t>(nb), sb = kPackRows * g.block;
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* group = dst + static_cast<size_t>(r / kPackRows) * kPackRows * row_bytes;
    const int64_t i = r % kPackRows;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = src + static_cast<size_t>(r) * row_bytes + b * g.block;
      uint8_t* out = group + b * sb;
      // Scales: d of the 16 rows, then (Q4_1) m of the 16 rows.
      for (size_t s = 0; s < g.scales; s += 2)
        std::memcpy(out + s / 2 * 2 * kPackRows + 2 * i, blk + s, 2);
      const uint8_t* codes = blk + g.scales;
      uint8_t* chunks = out + g.scales * kPackRows;
      for (size_t c = 0; c < g.codes / 4; ++c)
        for (int j = 0; j < 4; ++j) {
          uint8_t v = codes[4 * c + j];
          if (t == GGMLType::Q8_0) v ^= 0x80;
          chunks[c * 64 + 4 * i + j] = v;
        }
    }
  }
}

void unpack_rows(GGMLType t, const uint8_t* packed, int64_t cols, int64_t r0, int64_t n,
                 uint8_t* dst) {
  const Geometry g = geometry(t);
  const int64_t nb = cols / kQBlock;
  const size_t row_bytes = g.block * static_cast<size_t>(nb), sb = kPackRows * g.block;
  const uint32_t flip = t == GGMLType::Q8_0 ? 0x80808080u : 0;
  for (int64_t r = r0; r < r0 + n; ++r) {
    const uint8_t* group = packed + static_cast<size_t>(r / kPackRows) * kPackRows * row_bytes;
    const int64_t i = r % kPackRows;
    uint8_t* out = dst + static_cast<size_t>(r - r0) * row_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* in = group + b * sb;
      uint8_t* blk = out + b * g.block;
      for (size_t s = 0; s < g.scales; s += 2)
        std::memcpy(blk + s, in + s / 2 * 2 * kPackRows + 2 * i, 2);
      const uint8_t* chunks = in + g.scales * kPackRows + 4 * i;
      for (size_t c = 0; c < g.codes / 4; ++c) {
        uint32_t v;
        std::memcpy(&v, chunks + c * 64, 4);
        v ^= flip;
        std::memcpy(blk + g.scales + 4 * c, &v, 4);
      }
    }
  }
}

void unpack_row(GGMLType t, const uint8_t* packed, int64_t cols, int64_t r, uint8_t* dst) {
  unpack_rows(t, packed, cols, r, 1, dst);
}

}  // namespace sllm
