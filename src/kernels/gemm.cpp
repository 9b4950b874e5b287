#include "sllm/kernels/gemm.h"

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
  // Tiles of the larger output dimension, a few per thread, dealt out dynamically: on a shared
  // machine a thread the OS preempts holds the others up by one tile, not by half the product.
  // Tiles never cut K, so each output is one call's work whatever the schedule.
  const bool split_n = N >= M;
  const int extent = split_n ? N : M;
  constexpr int kAlign = 16, kMinTile = 256, kMaxTilesPerThread = 2;
  const int per_thread = std::clamp(extent / (nt * kMinTile), 1, kMaxTilesPerThread);
  const int chunk =
      ((extent + nt * per_thread - 1) / (nt * per_thread) + kAlign - 1) / kAlign * kAlign;
  const int tiles = (extent + chunk - 1) / chunk;
#pragma omp parallel for schedule(dynamic) num_threads(nt)
  for (int t = 0; t < tiles; ++t) {
    const int lo = t * chunk, hi = std::min(extent, lo + chunk);
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
