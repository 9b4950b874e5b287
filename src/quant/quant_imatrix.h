// ggml's Q4_0 and Q4_1 quantizers with an importance matrix (quantize_row_q4_{0,1}_impl, what
// llama.cpp's quantize runs when given one): the k-quants' weighted searches per block of 32,
// each weight's importance scaled by sqrt(sigma^2 + x^2) over the row. Defined in kquant.cpp
// beside those searches. n: the row length (a multiple of 32); qw: n weights.
#pragma once
#include <cstdint>

#include "sllm/quant/quant.h"

namespace sllm {

void quantize_q4_0_imatrix(const float* x, BlockQ4_0* y, int64_t n, const float* qw);
void quantize_q4_1_imatrix(const float* x, BlockQ4_1* y, int64_t n, const float* qw);

}  // namespace sllm
