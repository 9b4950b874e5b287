// Token (+ optional learned position) embedding lookup.
#pragma once
#include <cstdint>

namespace sllm {

// out[b,t,:] = wte[tokens[b,t],:] (+ wpe[t,:] when wpe is non-null). Tokens must be in [0, V).
void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                       int T, int C);
// Accumulates into dwte (and dwpe when non-null). Deterministic: rows are summed in order.
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                        int T, int C);

}  // namespace sllm
