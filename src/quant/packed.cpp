#include "sllm/quant/packed.h"

#include <cstring>

#include "sllm/common/error.h"

namespace sllm {

namespace {

// One row's block in ggml layout: its bytes, of which `scales` (d, and m for Q4_1) come first
// and the codes follow. Row i of a group keeps scale s at sb + scale_offset(s, i) and code
// chunk c (4 bytes) at sb + code_offset(c, i) of each super block sb.
struct Geometry {
  GGMLType type;
  size_t block, scales;
  size_t codes() const { return block - scales; }
  size_t super_block() const { return packed_block_bytes(type); }
  size_t scale_offset(size_t s, int64_t i) const { return s / 2 * 2 * kPackRows + 2 * i; }
  size_t code_offset(size_t c, int64_t i) const {
    return packed_scale_bytes(type) + c * 64 + 4 * i;
  }
  // Q8_0's codes are kept unsigned (top bit flipped), as vpdpbusd multiplies them.
  uint32_t flip() const { return type == GGMLType::Q8_0 ? 0x80808080u : 0; }
};

Geometry geometry(GGMLType t) {
  if (!packed_block_bytes(t)) fail("no packed layout for {} weights", ggml_type_name(t));
  return {t, packed_block_bytes(t) / kPackRows, packed_scale_bytes(t) / kPackRows};
}

// The super block of row r's block b in a packed matrix with nb blocks per row.
size_t super_block_at(const Geometry& g, int64_t r, int64_t b, int64_t nb) {
  return (static_cast<size_t>(r / kPackRows) * nb + b) * g.super_block();
}

// Where element (r, k) of an F32 matrix with `cols` columns lies once packed, in floats.
size_t f32_packed_at(int64_t r, int64_t k, int64_t cols) {
  return static_cast<size_t>((r / kPackRows) * kPackRows * cols + k * kPackRows + r % kPackRows);
}

}  // namespace

bool packable(GGMLType t, int64_t rows, int64_t cols) {
  if (rows <= 0 || rows % kPackRows != 0 || cols <= 0) return false;
  return t == GGMLType::F32 || (is_quantized(t) && cols % kQBlock == 0);
}

void pack_rows(GGMLType t, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst) {
  if (!packable(t, rows, cols))
    fail("cannot pack a {} x {} {} matrix into groups of {} rows", rows, cols, ggml_type_name(t),
         kPackRows);
  if (t == GGMLType::F32) {
    const auto* w = reinterpret_cast<const float*>(src);
    auto* out = reinterpret_cast<float*>(dst);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols; ++k) out[f32_packed_at(r, k, cols)] = w[r * cols + k];
    return;
  }
  const Geometry g = geometry(t);
  const int64_t nb = cols / kQBlock;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = src + static_cast<size_t>(r * nb + b) * g.block;
      uint8_t* sb = dst + super_block_at(g, r, b, nb);
      const int64_t i = r % kPackRows;
      for (size_t s = 0; s < g.scales; s += 2) std::memcpy(sb + g.scale_offset(s, i), blk + s, 2);
      for (size_t c = 0; c < g.codes() / 4; ++c) {
        uint32_t v;
        std::memcpy(&v, blk + g.scales + 4 * c, 4);
        v ^= g.flip();
        std::memcpy(sb + g.code_offset(c, i), &v, 4);
      }
    }
}

void unpack_row(GGMLType t, const uint8_t* packed, int64_t cols, int64_t r, uint8_t* dst) {
  if (t == GGMLType::F32) {
    const auto* in = reinterpret_cast<const float*>(packed);
    auto* out = reinterpret_cast<float*>(dst);
    for (int64_t k = 0; k < cols; ++k) out[k] = in[f32_packed_at(r, k, cols)];
    return;
  }
  const Geometry g = geometry(t);
  const int64_t nb = cols / kQBlock;
  const int64_t i = r % kPackRows;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* sb = packed + super_block_at(g, r, b, nb);
    uint8_t* blk = dst + static_cast<size_t>(b) * g.block;
    for (size_t s = 0; s < g.scales; s += 2) std::memcpy(blk + s, sb + g.scale_offset(s, i), 2);
    for (size_t c = 0; c < g.codes() / 4; ++c) {
      uint32_t v;
      std::memcpy(&v, sb + g.code_offset(c, i), 4);
      v ^= g.flip();
      std::memcpy(blk + g.scales + 4 * c, &v, 4);
    }
  }
}

}  // namespace sllm
