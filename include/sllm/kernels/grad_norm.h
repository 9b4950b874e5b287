// Global L2 norm of a gradient buffer, summed in double over fixed chunks, so the result does
// not depend on the thread count.
#pragma once
#include <cstddef>

namespace sllm {

float global_norm(const float* x, size_t n);
// Multiplies x by scale (for gradient clipping).
void scale_inplace(float* x, size_t n, float scale);

}  // namespace sllm
