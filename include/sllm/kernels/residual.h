// Residual connection: out = a + b (out may alias a or b). Its backward is the identity on
// both inputs, so callers just route the gradient.
#pragma once
#include <cstddef>

namespace sllm {

void residual_forward(float* out, const float* a, const float* b, size_t n);

}  // namespace sllm
