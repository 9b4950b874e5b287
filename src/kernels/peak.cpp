#include "sllm/kernels/peak.h"

#include <cblas.h>
#include <time.h>

#include <algorithm>
#include <vector>

#include "sllm/kernels/gemm.h"

namespace sllm {

namespace {
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
}  // namespace

double measure_sgemm_peak_gflops(int threads) {
  constexpr int n = 1024;
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a), c(a.size());
  detail::BlasSingleThreaded single;
  double best = 0.0;
  for (int rep = 0; rep < 4; ++rep) {  // The first run also warms the caches and OpenBLAS.
    const double t0 = thread_cpu_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
    const double dt = thread_cpu_s() - t0;
    if (rep > 0 && dt > 0) best = std::max(best, 2.0 * n * n * n / dt / 1e9);
  }
  return best * std::max(1, threads);
}

}  // namespace sllm
