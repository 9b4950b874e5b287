#include "sllm/kernels/linear.h"

#include <cstddef>

#include "gemm_bf16.h"
#include "sllm/kernels/gemm.h"

namespace sllm {

namespace {
void add_bias(float* out, const float* bias, int N, int OUT) {
  if (!bias) return;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    float* o = out + static_cast<size_t>(n) * OUT;
    for (int j = 0; j < OUT; ++j) o[j] += bias[j];
  }
}

void bias_backward(float* dbias, const float* dout, int N, int OUT) {
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
}  // namespace

void linear_forward(float* out, const float* inp, const float* w, const float* bias, int N, int IN,
                    int OUT) {
  detail::sgemm(false, true, N, OUT, IN, 1.0f, inp, IN, w, IN, 0.0f, out, OUT);
  add_bias(out, bias, N, OUT);
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
  bias_backward(dbias, dout, N, OUT);
}

void linear_forward_bf16(float* out, const bf16* inp16, const bf16* w16, const float* bias, int N,
                         int IN, int OUT) {
  detail::bf16_gemm(false, true, N, OUT, IN, 1.0f, inp16, IN, w16, IN, 0.0f, out, OUT);
  add_bias(out, bias, N, OUT);
}

void linear_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout,
                          const bf16* dout16, const bf16* inp16, const bf16* w16, int N, int IN,
                          int OUT, bool accumulate_dinp, bool accumulate_dw) {
  if (dinp) {
    detail::bf16_gemm(false, false, N, IN, OUT, 1.0f, dout16, OUT, w16, IN,
                      accumulate_dinp ? 1.0f : 0.0f, dinp, IN);
  }
  detail::bf16_gemm(true, false, OUT, IN, N, 1.0f, dout16, OUT, inp16, IN,
                    accumulate_dw ? 1.0f : 0.0f, dw, IN);
  bias_backward(dbias, dout, N, OUT);
}

}  // namespace sllm
