// Row-major SGEMM, C[M,N] = alpha op(A) op(B) + beta C, split across the OpenMP threads with
// single-threaded OpenBLAS calls. One thread pool for the whole step: OpenBLAS's own pthread
// pool and OpenMP's would otherwise fight over the cores (each spins while the other works).
// Deterministic for a fixed thread count: the split never cuts the K dimension.
#pragma once
#include "sllm/kernels/blas_threads.h"

namespace sllm::detail {

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace sllm::detail
