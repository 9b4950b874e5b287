#include "gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstddef>

extern "C" int openblas_get_num_threads(void);
extern "C" void openblas_set_num_threads(int);

namespace sllm::detail {

BlasSingleThreaded::BlasSingleThreaded() : saved_(openblas_get_num_threads()) {
  if (saved_ != 1) openblas_set_num_threads(1);
}

BlasSingleThreaded::~BlasSingleThreaded() {
  if (saved_ != 1) openblas_set_num_threads(saved_);
}

namespace {
void call(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
}
}  // namespace

void sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  const int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  const double work = static_cast<double>(M) * N * K;
  if (nt == 1 || work < (1 << 18)) {
    BlasSingleThreaded single;
    call(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  BlasSingleThreaded single;
  // Split the larger output dimension into one aligned slab per thread.
  const bool split_n = N >= M;
  const int extent = split_n ? N : M;
  const int align = 16;
  const int chunk = ((extent + nt - 1) / nt + align - 1) / align * align;
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int t = 0; t < nt; ++t) {
    const int lo = t * chunk, hi = std::min(extent, lo + chunk);
    if (lo >= hi) continue;
    if (split_n) {
      const float* b = tb ? B + static_cast<size_t>(lo) * ldb : B + lo;
      call(ta, tb, M, hi - lo, K, alpha, A, lda, b, ldb, beta, C + lo, ldc);
    } else {
      const float* a = ta ? A + lo : A + static_cast<size_t>(lo) * lda;
      call(ta, tb, hi - lo, N, K, alpha, a, lda, B, ldb, beta, C + static_cast<size_t>(lo) * ldc,
           ldc);
    }
  }
}

}  // namespace sllm::detail
