#include "sllm/quant/gemm_amx.h"

#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "sllm/common/error.h"
#include "sllm/quant/packed.h"
#include "sllm/quant/quant.h"

namespace sllm {

namespace {

#define SLLM_AMX \
  __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16,fma,f16c")))

constexpr int kTile = 16;    // Rows of every tile; also tokens per activation tile.
constexpr int kKBlock = 32;  // bf16 columns per tile row (64 bytes).
constexpr int kPanel = 32;   // Weight rows dequantized at once: two A tiles.

bool detect() {
  const char* isa = std::getenv("SLLM_ISA");
  if (isa && *isa && std::strcmp(isa, "amx") != 0) return false;  // A lower level was asked for.
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool amx_tile = d & (1u << 24), amx_bf16 = d & (1u << 22);
  const bool avx512 = (b & (1u << 16)) && (b & (1u << 30)) && (b & (1u << 31));  // F, BW, VL
  if (!amx_tile || !amx_bf16 || !avx512) return false;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5))) return false;  // AVX512_BF16
  // Linux hands out the 8 KB tile state only on request (ARCH_REQ_XCOMP_PERM, XTILEDATA).
  constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
}

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0-3: f32 accumulators (2 weight panels x 2 token groups); 4-5: weights; 6-7: tokens.
SLLM_AMX void configure_tiles() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = kTile;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
}

// In-register transpose of a 16 x 16 matrix of 32-bit elements: at distance d (8, 4, 2, 1) the
// off-diagonal d x d blocks of every 2d x 2d block swap, which together swap row and column.
// Stage s (d = 8 >> s) takes row i's element j from row i + d when bit d of j is set (kLo), and
// row i + d's element j from row i when it is clear (kHi); permutex2var indices >= 16 pick the
// second operand.
alignas(64) constexpr int32_t kLo[4][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
    {0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
    {0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
    {0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30}};
alignas(64) constexpr int32_t kHi[4][16] = {
    {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31},
    {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31},
    {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31},
    {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}};

SLLM_AMX inline void transpose16(__m512i r[16]) {
  for (int stage = 0; stage < 4; ++stage) {
    const int d = 8 >> stage;
    const __m512i ilo = _mm512_load_si512(kLo[stage]), ihi = _mm512_load_si512(kHi[stage]);
    for (int i = 0; i < 16; ++i) {
      if (i & d) continue;
      const __m512i a = r[i], b = r[i + d];
      r[i] = _mm512_permutex2var_epi32(a, ilo, b);
      r[i + d] = _mm512_permutex2var_epi32(a, ihi, b);
    }
  }
}

SLLM_AMX inline __m512i to_bf16(__m512 lo, __m512 hi) {
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
}

// 16 floats from 16 int8 codes: d * q + m. (The maskz forms keep GCC 12 from warning about the
// plain forms' deliberately undefined pass-through operand.)
SLLM_AMX inline __m512 scale16(__m128i q8, float d, float m) {
  return _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xffff, _mm512_maskz_cvtepi8_epi32(0xffff, q8)),
                         _mm512_set1_ps(d), _mm512_set1_ps(m));
}

// One weight row as bf16, zero-padded to kpad columns.
SLLM_AMX void row_to_bf16(GGMLType type, const uint8_t* src, int64_t cols, int64_t kpad,
                          uint16_t* dst) {
  auto* out = reinterpret_cast<__m512i*>(dst);
  if (type == GGMLType::F32) {
    const auto* f = reinterpret_cast<const float*>(src);
    int64_t k = 0;
    for (; k + 32 <= cols; k += 32)
      _mm512_storeu_si512(out + k / 32,
                          to_bf16(_mm512_loadu_ps(f + k), _mm512_loadu_ps(f + k + 16)));
    for (; k < kpad; k += 32) {
      const int64_t left = std::max<int64_t>(0, cols - k);
      const __mmask16 m0 = left >= 16 ? 0xffff : static_cast<__mmask16>((1u << left) - 1);
      const __mmask16 m1 =
          left >= 32 ? 0xffff : (left > 16 ? static_cast<__mmask16>((1u << (left - 16)) - 1) : 0);
      _mm512_storeu_si512(out + k / 32, to_bf16(_mm512_maskz_loadu_ps(m0, f + k),
                                                _mm512_maskz_loadu_ps(m1, f + k + 16)));
    }
    return;
  }
  const int64_t nb = cols / kQBlock;
  const __m128i low4 = _mm_set1_epi8(0x0f);
  for (int64_t b = 0; b < nb; ++b) {
    __m128i q0, q1;  // Codes 0..15 and 16..31 as int8.
    float d, m = 0;
    if (type == GGMLType::Q8_0) {
      const auto& blk = reinterpret_cast<const BlockQ8_0*>(src)[b];
      q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs));
      q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs + 16));
      d = _cvtsh_ss(blk.d);
    } else if (type == GGMLType::Q4_0) {
      const auto& blk = reinterpret_cast<const BlockQ4_0*>(src)[b];
      const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs));
      q0 = _mm_sub_epi8(_mm_and_si128(t, low4), _mm_set1_epi8(8));
      q1 = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(t, 4), low4), _mm_set1_epi8(8));
      d = _cvtsh_ss(blk.d);
    } else {
      const auto& blk = reinterpret_cast<const BlockQ4_1*>(src)[b];
      const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs));
      q0 = _mm_and_si128(t, low4);
      q1 = _mm_and_si128(_mm_srli_epi16(t, 4), low4);
      d = _cvtsh_ss(blk.d);
      m = _cvtsh_ss(blk.m);
    }
    _mm512_storeu_si512(out + b, to_bf16(scale16(q0, d, m), scale16(q1, d, m)));
  }
  for (int64_t k = nb * kQBlock; k < kpad; k += 32)
    _mm512_storeu_si512(out + k / 32, _mm512_setzero_si512());
}

// The 16 rows of one packed group (sllm/quant/packed.h) as bf16, zero-padded to kpad columns:
// dst row i at dst + i * kpad. Per block column the code chunks are [chunk][row] dwords; one
// 16 x 16 dword transpose turns them into [row][chunk], i.e. each row's 32 codes in order.
SLLM_AMX void group_to_bf16(GGMLType type, const uint8_t* g, int64_t cols, int64_t kpad,
                            uint16_t* dst) {
  const int64_t nb = cols / kQBlock;
  const size_t sb_bytes = packed_block_bytes(type);
  const size_t scale_bytes = packed_scale_bytes(type);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* sb = g + static_cast<size_t>(b) * sb_bytes;
    alignas(64) float d[16], m[16] = {};
    _mm512_store_ps(
        d, _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb))));
    if (type == GGMLType::Q4_1)
      _mm512_store_ps(
          m, _mm512_maskz_cvtph_ps(0xffff,
                                   _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 32))));
    __m512i r[16];
    const uint8_t* chunks = sb + scale_bytes;
    if (type == GGMLType::Q8_0) {
      for (int c = 0; c < 8; ++c)  // Back to signed codes.
        r[c] = _mm512_xor_si512(_mm512_loadu_si512(chunks + 64 * c), _mm512_set1_epi8(-128));
    } else {
      const __m512i off = _mm512_set1_epi8(type == GGMLType::Q4_0 ? 8 : 0);
      for (int c = 0; c < 4; ++c) {
        const __m512i t = _mm512_loadu_si512(chunks + 64 * c);
        r[c] = _mm512_sub_epi8(_mm512_and_si512(t, low4), off);
        r[c + 4] = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(t, 4), low4), off);
      }
    }
    for (int c = 8; c < 16; ++c) r[c] = _mm512_setzero_si512();
    transpose16(r);
    for (int i = 0; i < 16; ++i) {
      const __m128i q0 = _mm512_castsi512_si128(r[i]);
      const __m128i q1 = _mm512_extracti32x4_epi32(r[i], 1);
      _mm512_storeu_si512(dst + i * kpad + b * 32,
                          to_bf16(scale16(q0, d[i], m[i]), scale16(q1, d[i], m[i])));
    }
  }
  for (int i = 0; i < 16; ++i)
    for (int64_t k = nb * kQBlock; k < kpad; k += 32)
      _mm512_storeu_si512(dst + i * kpad + k, _mm512_setzero_si512());
}

// One 16-token x 32-column activation tile: token j's 16 bf16 pairs become column j.
SLLM_AMX void pack_tile(const float* x, int64_t n, int64_t cols, int64_t t0, int64_t k0,
                        uint16_t* dst) {
  __m512i r[16];
  const int64_t left = std::max<int64_t>(0, cols - k0);
  const __mmask16 m0 = left >= 16 ? 0xffff : static_cast<__mmask16>((1u << left) - 1);
  const __mmask16 m1 =
      left >= 32 ? 0xffff : (left > 16 ? static_cast<__mmask16>((1u << (left - 16)) - 1) : 0);
  for (int j = 0; j < 16; ++j) {
    if (t0 + j >= n) {
      r[j] = _mm512_setzero_si512();
      continue;
    }
    const float* row = x + (t0 + j) * cols + k0;
    r[j] = to_bf16(_mm512_maskz_loadu_ps(m0, row), _mm512_maskz_loadu_ps(m1, row + 16));
  }
  transpose16(r);
  for (int kk = 0; kk < 16; ++kk) _mm512_storeu_si512(dst + kk * 32, r[kk]);
}

// Writes accumulator tile c (16 weight rows x 16 tokens) into y, transposed.
SLLM_AMX void store_tile(const float* c, float* y, int64_t ldy, int64_t t0, int64_t nt, int64_t r0,
                         int64_t nr) {
  __m512i r[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_load_si512(c + i * 16);
  transpose16(r);
  const __mmask16 m = nr >= 16 ? 0xffff : static_cast<__mmask16>((1u << nr) - 1);
  for (int j = 0; j < nt; ++j)
    _mm512_mask_storeu_ps(y + (t0 + j) * ldy + r0, m, _mm512_castsi512_ps(r[j]));
}

SLLM_AMX void matmul_rows(GGMLType type, const uint8_t* w, size_t row_bytes, const AmxActs& x,
                          float* y, int64_t ldy, int64_t r0, int64_t r1, bool packed) {
  const int64_t kpad = x.k_blocks * kKBlock, stride = kpad * 2;
  thread_local std::vector<uint16_t> panel;
  panel.resize(static_cast<size_t>(kPanel * kpad));
  alignas(64) float c[4][256];
  configure_tiles();
  for (int64_t p0 = r0; p0 < r1; p0 += kPanel) {
    const int64_t nr = std::min<int64_t>(kPanel, r1 - p0);
    for (int64_t i = 0; i < kPanel; ++i) {
      uint16_t* dst = panel.data() + i * kpad;
      if (i >= nr)
        std::memset(dst, 0, static_cast<size_t>(kpad) * 2);
      else if (!packed)
        row_to_bf16(type, w + (p0 + i) * row_bytes, x.cols, kpad, dst);
      else if (i % kTile == 0)  // A whole group (r1 - p0 is a multiple of 16) from its first row.
        group_to_bf16(type, w + (p0 + i) * row_bytes, x.cols, kpad, dst);
    }
    const uint16_t* a0 = panel.data();
    const uint16_t* a1 = panel.data() + kTile * kpad;
    for (int64_t g = 0; g < x.groups; g += 2) {
      _tile_zero(0);
      _tile_zero(1);
      if (g + 1 < x.groups) {
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t kb = 0; kb < x.k_blocks; ++kb) {
          _tile_loadd(4, a0 + kb * kKBlock, stride);
          _tile_loadd(5, a1 + kb * kKBlock, stride);
          _tile_loadd(6, x.tile(g, kb), 64);
          _tile_loadd(7, x.tile(g + 1, kb), 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 5, 6);
          _tile_dpbf16ps(2, 4, 7);
          _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(2, c[2], 64);
        _tile_stored(3, c[3], 64);
      } else {
        for (int64_t kb = 0; kb < x.k_blocks; ++kb) {
          _tile_loadd(4, a0 + kb * kKBlock, stride);
          _tile_loadd(5, a1 + kb * kKBlock, stride);
          _tile_loadd(6, x.tile(g, kb), 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 5, 6);
        }
      }
      _tile_stored(0, c[0], 64);
      _tile_stored(1, c[1], 64);
      for (int64_t h = 0; h < 2 && g + h < x.groups; ++h) {
        const int64_t t0 = (g + h) * kTile, nt = std::min<int64_t>(kTile, x.n - t0);
        store_tile(c[2 * h], y, ldy, t0, nt, p0, std::min<int64_t>(kTile, nr));
        if (nr > kTile) store_tile(c[2 * h + 1], y, ldy, t0, nt, p0 + kTile, nr - kTile);
      }
    }
  }
  _tile_release();
}

}  // namespace

bool amx_bf16_available() {
  static const bool ok = detect();
  return ok;
}

void AmxActs::resize(int64_t rows, int64_t c) {
  if (!amx_bf16_available()) fail("internal: AMX packing on a CPU without AMX-BF16");
  n = rows;
  cols = c;
  groups = (rows + kTile - 1) / kTile;
  k_blocks = (c + kKBlock - 1) / kKBlock;
  tiles.resize(static_cast<size_t>(groups * k_blocks * 512));
}

void AmxActs::pack_tiles(const float* x, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const int64_t g = i / k_blocks, kb = i % k_blocks;
    pack_tile(x, n, cols, g * kTile, kb * kKBlock, tiles.data() + i * 512);
  }
}

void AmxActs::pack(const float* x, int64_t rows, int64_t c) {
  resize(rows, c);
  const int64_t count = tile_count();
#pragma omp parallel for schedule(static) if (rows * c > (1 << 15))
  for (int64_t i = 0; i < count; ++i) pack_tiles(x, i, i + 1);
}

void amx_matmul_rows(GGMLType type, const uint8_t* w, size_t row_bytes, const AmxActs& x, float* y,
                     int64_t ldy, int64_t r0, int64_t r1, bool packed) {
  if (!amx_bf16_available()) fail("internal: AMX matmul on a CPU without AMX-BF16");
  if (!(type == GGMLType::F32 || type == GGMLType::Q8_0 || type == GGMLType::Q4_0 ||
        type == GGMLType::Q4_1))
    fail("AMX matmul: no kernel for {} weights", ggml_type_name(type));
  if (type != GGMLType::F32 && x.cols % kQBlock != 0)
    fail("AMX matmul: {} columns are not whole blocks", x.cols);
  if (packed && (type == GGMLType::F32 || r0 % kPackRows != 0 || r1 % kPackRows != 0))
    fail("internal: AMX matmul on packed {} rows from {}", ggml_type_name(type), r0);
  matmul_rows(type, w, row_bytes, x, y, ldy, r0, r1, packed);
}

}  // namespace sllm
