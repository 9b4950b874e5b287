// Elementwise MLP activations.
#pragma once
#include <cstddef>

namespace sllm {

// GELU, tanh approximation (as GPT-2; torch's gelu(approximate="tanh")).
void gelu_forward(float* out, const float* inp, size_t n);
// dinp = dout * gelu'(inp). dinp may alias dout.
void gelu_backward(float* dinp, const float* inp, const float* dout, size_t n);

// SwiGLU over rows [gate (F) | up (F)] of inp [N, 2F]: out [N, F] = silu(gate) * up.
void swiglu_forward(float* out, const float* inp, int N, int F);
// dinp [N, 2F] = gradient of both halves.
void swiglu_backward(float* dinp, const float* inp, const float* dout, int N, int F);

// GeGLU (Gemma) over rows [gate (F) | up (F)]: out [N, F] = gelu_tanh(gate) * up.
void geglu_forward(float* out, const float* inp, int N, int F);
// dinp [N, 2F] = gradient of both halves.
void geglu_backward(float* dinp, const float* inp, const float* dout, int N, int F);

// Single-threaded forms for callers with their own threads (inference's team): the same
// arithmetic as the forwards above. out may alias an input.
void gelu_span(float* out, const float* inp, size_t n);
void swiglu_span(float* out, const float* gate, const float* up, size_t n);
// GeGLU (Gemma): out = gelu_tanh(gate) * up.
void geglu_span(float* out, const float* gate, const float* up, size_t n);

}  // namespace sllm
