// Row-major bf16 GEMM with fp32 accumulation and output, C[M,N] = alpha op(A) op(B) + beta C,
// for mixed-precision training. Two implementations with the same arithmetic (products of
// bf16 values are exact in fp32, sums are fp32; only the order of the sums differs):
//  - oneDNN's matmul where oneDNN has a native bf16 kernel for this CPU (AMX or AVX512-BF16),
//    one primitive per shape, created on first use and cached;
//  - otherwise (or with SLLM_ISA=portable|avx2) the operands widened back to fp32, exactly,
//    and OpenBLAS's SGEMM (detail::sgemm).
// Deterministic for a fixed thread count, like detail::sgemm.
#pragma once
#include "sllm/kernels/bf16.h"

namespace sllm::detail {

void bf16_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const bf16* A, int lda,
               const bf16* B, int ldb, float beta, float* C, int ldc);

// The implementations behind bf16_gemm, for tests. onednn returns false (and computes
// nothing) where oneDNN has no native bf16 kernel.
bool bf16_gemm_onednn(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const bf16* A,
                      int lda, const bf16* B, int ldb, float beta, float* C, int ldc);
void bf16_gemm_emulated(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const bf16* A,
                        int lda, const bf16* B, int ldb, float beta, float* C, int ldc);

}  // namespace sllm::detail
