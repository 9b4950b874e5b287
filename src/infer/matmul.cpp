#include "sllm/infer/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <thread>

#include "sllm/common/error.h"
#include "sllm/quant/packed.h"

namespace sllm {

namespace {
// Fewest rows per work item for the dot kernels: enough that a chunk's weights stay in L1/L2
// while every token of the step streams past them.
constexpr int64_t kRowChunk = 16;
// Below this many tokens the matrix-vector kernel beats sgemm, which repacks the whole weight
// matrix on every call (bench/decode measures the batch sizes on both sides of it).
constexpr int64_t kGemmMinTokens = 16;
constexpr int64_t kGemmRowChunk = 128;  // Fewest weight rows per sgemm call.

// Weight rows per sgemm call: a share per core of the machine (not per thread of the team: the
// split must not depend on --threads, since OpenBLAS's results depend on how the columns are
// split into calls), at least kGemmRowChunk. Every call packs all of x again, so fewer, larger
// calls pack less of it (bench/decode's f32 prefill shows the difference).
int64_t gemm_chunk(int64_t rows) {
  static const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  const int64_t share = (rows + cores - 1) / cores;
  return std::max(kGemmRowChunk, (share + kRowChunk - 1) / kRowChunk * kRowChunk);
}
// From this many tokens quantized weights go through the AMX bf16 GEMM where the CPU has it:
// one tile holds 16 tokens, and below that the int8 dot kernels waste less.
constexpr int64_t kAmxMinTokens = 16;
constexpr int64_t kAmxPanel = 32;  // Weight rows per AMX work item.
// Tokens per packed-kernel call: the group's codes are unpacked once for all of them (Q4) and
// its scales converted once.
constexpr int64_t kPackTokens = 8;

// Rows per chunk for the dot kernels: about 8 chunks per thread, so a thread the OS parks
// leaves a small share to the others, without paying a shared counter for every 16 rows of a
// 32000-row classifier; and at least kMinChunkBytes of weight bytes x tokens, since every chunk
// costs atomic operations on lines the two cores pass back and forth: small matrices (tens of
// KB) split 8 ways per thread gain nothing from a second thread (bench/decode, 1 vs 2 threads).
// (Each row is one dot whatever the chunking: the bits do not change.)
constexpr int64_t kMinChunkBytes = 64 << 10;
int64_t dot_chunk(int64_t rows, size_t row_bytes, int64_t tokens, const Team& team) {
  const int64_t per = (rows + 8 * team.size() - 1) / (8 * team.size());
  const int64_t bytes_per_row = static_cast<int64_t>(row_bytes) * std::max<int64_t>(1, tokens);
  const int64_t floor = (kMinChunkBytes + bytes_per_row - 1) / bytes_per_row;
  return std::max(kRowChunk, (std::max(per, floor) + kRowChunk - 1) / kRowChunk * kRowChunk);
}

// Rows [r0, r1) of y = x W^T with a dot kernel taking up to 4 tokens per weight row.
template <class Dot, class Row, class Act>
void dot_rows(Dot dot, Row row, Act act, int64_t n, int64_t rows, int64_t r0, int64_t r1,
              float* y) {
  float out[4];
  for (int64_t t = 0; t < n; t += 4) {
    const int na = static_cast<int>(std::min<int64_t>(4, n - t));
    for (int64_t r = r0; r < r1; ++r) {
      dot(row(r), act(t), na, out);
      for (int k = 0; k < na; ++k) y[(t + k) * rows + r] = out[k];
    }
  }
}
// Packed F32 (sllm/quant/packed.h): work items of two 16-row groups; each runs its tiles of
// 12 tokens over the whole of x, so the groups' 32 x cols weights stay in L1/L2 for all tokens.
int64_t f32_pairs(const Weight& w) {
  return (w.rows / kPackRows + 1) / 2;
}
void f32_pair(const Weight& w, F32GroupsFn kernel, const float* x, int64_t n, int64_t p, float* y) {
  const auto* W = reinterpret_cast<const float*>(w.data);
  const int64_t g = 2 * p;
  const int ng = static_cast<int>(std::min<int64_t>(2, w.rows / kPackRows - g));
  for (int64_t t = 0; t < n; t += kF32TileTokens)
    kernel(W + g * kPackRows * w.cols, ng, x + t * w.cols, static_cast<size_t>(w.cols),
           static_cast<int>(std::min<int64_t>(kF32TileTokens, n - t)), w.cols,
           y + t * w.rows + g * kPackRows, static_cast<size_t>(w.rows));
}

// One 16-row group of packed quantized weights with every token, up to 8 per kernel call.
void quantized_group(const Weight& w, QDot16Fn dot16, const QuantizedActs& acts, int64_t g,
                     float* y) {
  const int64_t nb = w.cols / kQBlock;
  const uint8_t* group = w.data + static_cast<size_t>(g) * kPackRows * w.row_bytes();
  for (int64_t t = 0; t < acts.n; t += kPackTokens)
    dot16(group, acts.blocks.data() + t * nb, static_cast<size_t>(nb),
          static_cast<int>(std::min<int64_t>(kPackTokens, acts.n - t)), nb,
          y + t * w.rows + g * kPackRows, static_cast<size_t>(w.rows));
}

QDot16Fn packed_kernel(const Weight& w) {
  const QDot16Fn dot16 = qdot16_for(dot_kernels(), w.type);
  if (!dot16) fail("internal: packed {} weights without a packed kernel", ggml_type_name(w.type));
  return dot16;
}

// Packed weights of one kind in one parallel loop, each over all n tokens: items are 16-row
// groups (quantized: acts holds x quantized) or pairs of groups (F32: x itself), weight after
// weight, so several weights reading the same input share one hand-out of work and one wait.
void packed_matmuls(std::span<const MatmulOut> outs, const float* x, const QuantizedActs* acts,
                    int64_t n, Team& team) {
  const bool quantized = acts != nullptr;
  std::array<int64_t, 8> items{};
  std::array<QDot16Fn, 8> dot16{};
  if (outs.size() > items.size()) fail("matmul_many: at most {} weights", items.size());
  const F32GroupsFn f32_kernel = dot_kernels().f32_x16;
  if (!quantized && !f32_kernel) fail("internal: packed F32 weights without a packed kernel");
  int64_t total = 0, total_rows = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    const Weight& w = *outs[i].w;
    items[i] = quantized ? w.rows / kPackRows : f32_pairs(w);
    if (quantized) dot16[i] = packed_kernel(w);
    total += items[i];
    total_rows += w.rows;
  }
  const int64_t rows_per_item = quantized ? kPackRows : 2 * kPackRows;
  const int64_t chunk =
      std::max<int64_t>(1, dot_chunk(total_rows, outs[0].w->row_bytes(), n, team) / rows_per_item);
  team.parallel_for(total, chunk, [&](int64_t b, int64_t e) {
    size_t i = 0;
    int64_t base = 0;
    for (int64_t item = b; item < e; ++item) {
      while (item >= base + items[i]) base += items[i++];
      const MatmulOut& o = outs[i];
      if (quantized)
        quantized_group(*o.w, dot16[i], *acts, item - base, o.y);
      else
        f32_pair(*o.w, f32_kernel, x, n, item - base, o.y);
    }
  });
}
}  // namespace

bool runs_natively(GGMLType t) {
  return t == GGMLType::F32 || is_quantized(t) || has_kdot(t);
}

void Weight::copy_row(int64_t r, uint8_t* dst) const {
  if (packed)
    unpack_row(type, data, cols, r, dst);
  else
    std::memcpy(dst, row(r), row_bytes());
}

bool pack_for_kernels(Weight& w, std::vector<uint8_t>& storage) {
  if (w.packed || !packable(w.type, w.rows, w.cols)) return false;
  if (w.type == GGMLType::F32 ? !dot_kernels().f32_x16 : !qdot16_for(dot_kernels(), w.type))
    return false;
  storage.resize(w.nbytes());
  pack_rows(w.type, w.data, w.rows, w.cols, storage.data());
  w.data = storage.data();
  w.packed = true;
  return true;
}

void QuantizedActs::quantize(const float* x, int64_t rows, int64_t c, Team& team) {
  if (c % kQBlock != 0) fail("quantized matmul needs a multiple of {} inputs, got {}", kQBlock, c);
  const bool amx_step = rows >= kAmxMinTokens && amx_bf16_available();
  const int64_t nb = c / kQBlock;
  team.single([&] {
    n = rows;
    cols = c;
    use_amx = amx_step;
    if (use_amx)
      amx.resize(rows, c);
    else
      blocks.resize(static_cast<size_t>(rows * nb));
  });
  if (amx_step) {
    team.parallel_for(amx.groups * amx.k_blocks, 4,
                      [&](int64_t b, int64_t e) { amx.pack_tiles(x, b, e); });
    return;
  }
  team.parallel_for(rows, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) quantize_activations(x + t * c, blocks.data() + t * nb, c);
  });
}

void QuantizedActs::quantize_q8k(const float* x, int64_t rows, int64_t c, Team& team) {
  if (c % kQK != 0) fail("k-quant matmul needs a multiple of {} inputs, got {}", kQK, c);
  const int64_t nb = c / kQK;
  team.single([&] {
    kn = rows;
    kcols = c;
    q8k.resize(static_cast<size_t>(rows * nb));
  });
  team.parallel_for(rows, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) quantize_acts_q8_k(x + t * c, q8k.data() + t * nb, c);
  });
}

// Tokens per pass over a chunk of weight rows: a row (a few hundred bytes) stays in L1 while
// the tile's activations (kKTileTokens * cols * 1.14 bytes) stay in L2.
constexpr int64_t kKTileTokens = 8;

void matmul_kquant(const Weight& w, const QuantizedActs& acts, float* y, Team& team) {
  if (acts.kcols != w.cols)
    fail("matmul: Q8_K activations have {} columns, weight has {}", acts.kcols, w.cols);
  const KDotFn dot = kdot_for(w.type);
  const int64_t rows = w.rows, nb = w.cols / kQK, n = acts.kn;
  const BlockQ8K* a = acts.q8k.data();
  team.parallel_for(rows, dot_chunk(rows, w.row_bytes(), n, team), [&](int64_t r0, int64_t r1) {
    for (int64_t t0 = 0; t0 < n; t0 += kKTileTokens) {
      const int64_t t1 = std::min(n, t0 + kKTileTokens);
      for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* wr = w.row(r);
        for (int64_t t = t0; t < t1; ++t) y[t * rows + r] = dot(wr, a + t * nb, nb);
      }
    }
  });
}

void matmul_quantized(const Weight& w, const QuantizedActs& acts, float* y, Team& team) {
  if (acts.cols != w.cols)
    fail("matmul: activations have {} columns, weight has {}", acts.cols, w.cols);
  const int64_t rows = w.rows;
  if (acts.use_amx) {
    const int64_t panels = (rows + kAmxPanel - 1) / kAmxPanel;
    team.parallel_for(panels, 1, [&](int64_t b, int64_t e) {
      amx_matmul_rows(w.type, w.data, w.row_bytes(), acts.amx, y, rows, b * kAmxPanel,
                      std::min(rows, e * kAmxPanel), w.packed);
    });
    return;
  }
  const int64_t nb = w.cols / kQBlock;
  const ActQ8* a = acts.blocks.data();
  if (w.packed) {  // 16 rows per item; a group stays in cache for all the tokens.
    const MatmulOut out{&w, y};
    return packed_matmuls({&out, 1}, nullptr, &acts, acts.n, team);
  }
  const QDotFn dot = qdot_for(dot_kernels(), w.type);
  if (acts.n == 1) {  // Decode: four weight rows at a time.
    const QDot4Fn dot4 = qdot4_for(dot_kernels(), w.type);
    const size_t rb = w.row_bytes();
    team.parallel_for(rows, dot_chunk(rows, rb, 1, team), [&](int64_t r0, int64_t r1) {
      int64_t r = r0;
      for (; r + 4 <= r1; r += 4) dot4(w.row(r), rb, a, nb, y + r);
      for (; r < r1; ++r) dot(w.row(r), a, static_cast<size_t>(nb), 1, nb, y + r);
    });
    return;
  }
  const int64_t chunk = dot_chunk(rows, w.row_bytes(), acts.n, team);
  team.parallel_for(rows, chunk, [&](int64_t r0, int64_t r1) {
    dot_rows([&](const uint8_t* wr, const ActQ8* x, int na,
                 float* out) { dot(wr, x, static_cast<size_t>(nb), na, nb, out); },
             [&](int64_t r) { return w.row(r); }, [&](int64_t t) { return a + t * nb; }, acts.n,
             rows, r0, r1, y);
  });
}

void matmul(const Weight& w, const float* x, int64_t n, float* y, QuantizedActs& scratch,
            Team& team) {
  if (is_quantized(w.type)) {
    scratch.quantize(x, n, w.cols, team);
    return matmul_quantized(w, scratch, y, team);
  }
  if (has_kdot(w.type)) {
    scratch.quantize_q8k(x, n, w.cols, team);
    return matmul_kquant(w, scratch, y, team);
  }
  if (w.type != GGMLType::F32)
    fail("matmul: {} weights must be converted at load", ggml_type_name(w.type));
  const auto* W = reinterpret_cast<const float*>(w.data);
  const int64_t rows = w.rows, cols = w.cols;
  if (w.packed) {
    const MatmulOut out{&w, y};
    return packed_matmuls({&out, 1}, x, nullptr, n, team);
  }
  if (n >= kGemmMinTokens) {
    // Single-threaded OpenBLAS (forward_batch sets it so) on slices of weight rows.
    const int64_t chunk = gemm_chunk(rows);
    team.parallel_for(rows, chunk, [&](int64_t b, int64_t e) {
      // One call per chunk even when a thread gets several (a one-thread team gets them all).
      for (int64_t r0 = b; r0 < e; r0 += chunk) {
        const int64_t r1 = std::min(e, r0 + chunk);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n),
                    static_cast<int>(r1 - r0), static_cast<int>(cols), 1.0f, x,
                    static_cast<int>(cols), W + r0 * cols, static_cast<int>(cols), 0.0f, y + r0,
                    static_cast<int>(rows));
      }
    });
    return;
  }
  const FDotFn dot = dot_kernels().f32;
  team.parallel_for(rows, dot_chunk(rows, w.row_bytes(), n, team), [&](int64_t r0, int64_t r1) {
    dot_rows([&](const float* wr, const float* xt, int na,
                 float* out) { dot(wr, xt, static_cast<size_t>(cols), na, cols, out); },
             [&](int64_t r) { return W + r * cols; }, [&](int64_t t) { return x + t * cols; }, n,
             rows, r0, r1, y);
  });
}

void matmul_many(std::span<const MatmulOut> outs, const float* x, int64_t n, QuantizedActs& scratch,
                 Team& team) {
  if (outs.empty()) return;
  const int64_t cols = outs[0].w->cols;
  bool all_quantized = true, all_f32 = true;
  for (const MatmulOut& o : outs) {
    if (o.w->cols != cols) fail("matmul_many: weights of {} and {} columns", cols, o.w->cols);
    all_quantized &= o.w->packed && is_quantized(o.w->type);
    all_f32 &= o.w->packed && o.w->type == GGMLType::F32;
  }
  if (all_quantized) scratch.quantize(x, n, cols, team);
  if (outs.size() == 1 || (!all_quantized && !all_f32) || (all_quantized && scratch.use_amx)) {
    bool quantized = all_quantized, q8k = false;  // What scratch holds of x.
    for (const MatmulOut& o : outs) {
      if (has_kdot(o.w->type)) {
        if (!q8k) scratch.quantize_q8k(x, n, cols, team);
        q8k = true;
        matmul_kquant(*o.w, scratch, o.y, team);
      } else if (is_quantized(o.w->type)) {
        if (!quantized) scratch.quantize(x, n, cols, team);
        quantized = true;
        matmul_quantized(*o.w, scratch, o.y, team);
      } else {
        matmul(*o.w, x, n, o.y, scratch, team);
        quantized = false;  // matmul may have used scratch for nothing; be safe.
      }
    }
    return;
  }
  packed_matmuls(outs, x, all_quantized ? &scratch : nullptr, n, team);
}

}  // namespace sllm
