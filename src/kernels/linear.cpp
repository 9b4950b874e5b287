#include "sllm/kernels/linear.h"

#include <cstddef>

#include "gemm.h"

namespace sllm {

void linear_forward(float* out, const float* inp, const float* w, const float* bias, int N, int IN,
                    int OUT) {
  detail::sgemm(false, true, N, OUT, IN, 1.0f, inp, IN, w, IN, 0.0f, out, OUT);
  if (!bias) return;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    float* o = out + static_cast<size_t>(n) * OUT;
    for (int j = 0; j < OUT; ++j) o[j] += bias[j];
  }
}

void linear_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                     const float* w, int N, int IN, int OUT, bool accumulate_dinp,
                     bool accumulate_dw) {
  if (dinp) {
    detail::sgemm(false, false, N, IN, OUT, 1.0f, dout, OUT, w, IN, accumulate_dinp ? 1.0f : 0.0f,
                  dinp, IN);
  }
  detail::sgemm(true, false, OUT, IN, N, 1.0f, dout, OUT, inp, IN, accumulate_dw ? 1.0f : 0.0f, dw,
                IN);
  if (!dbias) return;
  // Column blocks, rows in order: deterministic without per-thread partial sums.
  constexpr int kBlock = 64;
  const int nblocks = (OUT + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < nblocks; ++blk) {
    const int j0 = blk * kBlock, j1 = j0 + kBlock < OUT ? j0 + kBlock : OUT;
    for (int n = 0; n < N; ++n) {
      const float* g = dout + static_cast<size_t>(n) * OUT;
      for (int j = j0; j < j1; ++j) dbias[j] += g[j];
    }
  }
}

}  // namespace sllm
