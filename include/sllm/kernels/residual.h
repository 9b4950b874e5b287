// Residual connection: out = a + b (out may alias a or b). Its backward is the identity on
// both inputs, so callers just route the gradient.
#pragma once
#include <cstddef>

namespace sllm {

void residual_forward(float* out, const float* a, const float* b, size_t n);
// y += r + bias over one row of n (bias may be null): the inference engine's residual, with the
// bias of the layer that produced r.
void residual_add_row(float* y, const float* r, const float* bias, size_t n);

}  // namespace sllm
