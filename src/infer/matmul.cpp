#include "sllm/infer/matmul.h"

#include <algorithm>

#include "kernels/gemm.h"
#include "sllm/common/error.h"

namespace sllm {

namespace {
// Rows per work item: enough that a chunk's weights stay in L1/L2 while every token of the
// step streams past them.
constexpr int64_t kRowChunk = 16;
// Below this many tokens the matrix-vector kernel beats sgemm, which repacks the whole weight
// matrix on every call (measured on the stories15M shape: a batch of 8 decodes is ~1.3x faster).
constexpr int64_t kGemmMinTokens = 16;
// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 16;
// From this many tokens quantized weights go through the AMX bf16 GEMM where the CPU has it:
// one tile holds 16 tokens, and below that the int8 dot kernels waste less.
constexpr int64_t kAmxMinTokens = 16;
constexpr int64_t kAmxPanel = 32;  // Weight rows per AMX work item.
}  // namespace

void QuantizedActs::quantize(const float* x, int64_t rows, int64_t c) {
  if (c % kQBlock != 0) fail("quantized matmul needs a multiple of {} inputs, got {}", kQBlock, c);
  n = rows;
  cols = c;
  use_amx = rows >= kAmxMinTokens && amx_bf16_available();
  if (use_amx) return amx.pack(x, rows, c);
  const int64_t nb = c / kQBlock;
  blocks.resize(static_cast<size_t>(rows * nb));
#pragma omp parallel for schedule(static) if (rows * c > kParallelMin)
  for (int64_t t = 0; t < rows; ++t) quantize_activations(x + t * c, blocks.data() + t * nb, c);
}

void matmul_quantized(const Weight& w, const QuantizedActs& acts, float* y) {
  if (acts.cols != w.cols)
    fail("matmul: activations have {} columns, weight has {}", acts.cols, w.cols);
  if (acts.use_amx) {
    const int64_t panels = (w.rows + kAmxPanel - 1) / kAmxPanel;
    // Dynamic: on a shared machine a preempted thread holds the others up by one panel. Each
    // output is computed whole by one thread, so the schedule never changes a result.
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t p = 0; p < panels; ++p)
      amx_matmul_rows(w.type, w.data, w.row_bytes(), acts.amx, y, w.rows, p * kAmxPanel,
                      std::min(w.rows, (p + 1) * kAmxPanel));
    return;
  }
  const QDotFn dot = qdot_for(dot_kernels(), w.type);
  const int64_t nb = w.cols / kQBlock, n = acts.n, rows = w.rows;
  const int64_t chunks = (rows + kRowChunk - 1) / kRowChunk;
#pragma omp parallel for schedule(static) if (n * rows * w.cols > kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t r0 = c * kRowChunk, r1 = std::min(rows, r0 + kRowChunk);
    float out[4];
    for (int64_t t = 0; t < n; t += 4) {
      const int na = static_cast<int>(std::min<int64_t>(4, n - t));
      for (int64_t r = r0; r < r1; ++r) {
        dot(w.row(r), acts.blocks.data() + t * nb, static_cast<size_t>(nb), na, nb, out);
        for (int k = 0; k < na; ++k) y[(t + k) * rows + r] = out[k];
      }
    }
  }
}

void matmul(const Weight& w, const float* x, int64_t n, float* y, QuantizedActs& scratch) {
  if (is_quantized(w.type)) {
    scratch.quantize(x, n, w.cols);
    return matmul_quantized(w, scratch, y);
  }
  if (w.type != GGMLType::F32)
    fail("matmul: {} weights must be converted at load", ggml_type_name(w.type));
  const auto* W = reinterpret_cast<const float*>(w.data);
  const int64_t rows = w.rows, cols = w.cols;
  if (n >= kGemmMinTokens) {
    detail::sgemm(false, true, static_cast<int>(n), static_cast<int>(rows), static_cast<int>(cols),
                  1.0f, x, static_cast<int>(cols), W, static_cast<int>(cols), 0.0f, y,
                  static_cast<int>(rows));
    return;
  }
  const FDotFn dot = dot_kernels().f32;
  const int64_t chunks = (rows + kRowChunk - 1) / kRowChunk;
#pragma omp parallel for schedule(static) if (n * rows * w.cols > kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t r0 = c * kRowChunk, r1 = std::min(rows, r0 + kRowChunk);
    float out[4];
    for (int64_t t = 0; t < n; t += 4) {
      const int na = static_cast<int>(std::min<int64_t>(4, n - t));
      for (int64_t r = r0; r < r1; ++r) {
        dot(W + r * cols, x + t * cols, static_cast<size_t>(cols), na, cols, out);
        for (int k = 0; k < na; ++k) y[(t + k) * rows + r] = out[k];
      }
    }
  }
}

}  // namespace sllm
