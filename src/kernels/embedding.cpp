#include "sllm/kernels/embedding.h"

#include <cstddef>

namespace sllm {

void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                       int T, int C) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < B * T; ++n) {
    const float* e = wte + static_cast<size_t>(tokens[n]) * C;
    float* o = out + static_cast<size_t>(n) * C;
    if (wpe) {
      const float* p = wpe + static_cast<size_t>(n % T) * C;
      for (int c = 0; c < C; ++c) o[c] = e[c] + p[c];
    } else {
      for (int c = 0; c < C; ++c) o[c] = e[c];
    }
  }
}

void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                        int T, int C) {
  // Repeated tokens hit the same row, so split the work by columns, never by rows: each
  // thread owns a column block and adds the rows in order.
  constexpr int kBlock = 64;
  const int nblocks = (C + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < nblocks; ++blk) {
    const int c0 = blk * kBlock, c1 = c0 + kBlock < C ? c0 + kBlock : C;
    for (int n = 0; n < B * T; ++n) {
      float* d = dwte + static_cast<size_t>(tokens[n]) * C;
      const float* g = dout + static_cast<size_t>(n) * C;
      for (int c = c0; c < c1; ++c) d[c] += g[c];
    }
    if (dwpe) {
      for (int b = 0; b < B; ++b) {
        for (int t = 0; t < T; ++t) {
          float* d = dwpe + static_cast<size_t>(t) * C;
          const float* g = dout + (static_cast<size_t>(b) * T + t) * C;
          for (int c = c0; c < c1; ++c) d[c] += g[c];
        }
      }
    }
  }
}

}  // namespace sllm
