// Fully connected layer y = x W^T + b with W stored [OUT, IN] row-major (torch.nn.Linear).
// The matrix products go to OpenBLAS (cblas_sgemm); bias work is OpenMP-parallel by column.
#pragma once
#include "sllm/kernels/bf16.h"

namespace sllm {

// out [N, OUT] = inp [N, IN] @ w^T (+ bias [OUT] when non-null).
void linear_forward(float* out, const float* inp, const float* w, const float* bias, int N, int IN,
                    int OUT);

// dw [OUT, IN] += dout^T @ inp (= when !accumulate_dw, which saves zeroing it first);
// dbias [OUT] += column sums of dout (when non-null).
// dinp [N, IN] = dout @ w, or += when accumulate_dinp; skipped when dinp is null.
void linear_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                     const float* w, int N, int IN, int OUT, bool accumulate_dinp = false,
                     bool accumulate_dw = true);

// The same layer in mixed precision (sllm/kernels/bf16.h): the products read bf16 copies of
// the input, weight and output gradient and accumulate in fp32; outputs, gradients and the
// bias stay fp32. dout16 is dout rounded to bf16 (the bias gradient sums the fp32 dout).
// Inside an OpenMP parallel region they run on the calling thread.
void linear_forward_bf16(float* out, const bf16* inp16, const bf16* w16, const float* bias, int N,
                         int IN, int OUT);
void linear_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout,
                          const bf16* dout16, const bf16* inp16, const bf16* w16, int N, int IN,
                          int OUT, bool accumulate_dinp = false, bool accumulate_dw = true);

}  // namespace sllm
