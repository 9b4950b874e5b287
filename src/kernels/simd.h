// Vectorised elementwise math shared by the kernels (Highway, compiled for the build target).
// Each function processes whole arrays so the vector loop and its tail live in one place.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sllm::simd {

float max(const float* x, size_t n);
// out[i] = exp(x[i] - shift); returns the sum. out may alias x.
float exp_shifted(float* out, const float* x, size_t n, float shift);
// Returns sum_i exp(x[i] - shift) without storing.
float sum_exp_shifted(const float* x, size_t n, float shift);
// out[i] = exp(x[i] - shift) * scale. out may alias x.
void exp_shifted_scaled(float* out, const float* x, size_t n, float shift, float scale);

// `queries` queries (rows of hd floats at q, q + hd, ...) against the same n cached keys and
// values (row j at k + j * stride, v + j * stride, hd floats each): out row g = softmax(scale *
// q_g . k_j) . v_j, with the max subtracted. scores holds queries * n floats of scratch. Each
// key/value row is read once for up to 4 queries; a query's result does not depend on how many
// share the call. softcap > 0 caps the scaled scores at softcap * tanh(s / softcap) first.
void attend(float* out, float* scores, const float* q, size_t queries, const float* k,
            const float* v, size_t stride, size_t n, size_t hd, float scale, float softcap = 0.0f);
// The same over IEEE half keys and values (widened exactly to float as they are read).
void attend_f16(float* out, float* scores, const float* q, size_t queries, const uint16_t* k,
                const uint16_t* v, size_t stride, size_t n, size_t hd, float scale,
                float softcap = 0.0f);

// IEEE half <-> float (to_f16 rounds to nearest even; from_f16 is exact).
void to_f16(uint16_t* out, const float* x, size_t n);
void from_f16(float* out, const uint16_t* x, size_t n);

// GELU with the tanh approximation, and its backward (dinp may alias dout).
void gelu(float* out, const float* x, size_t n);
void gelu_backward(float* dinp, const float* x, const float* dout, size_t n);

// out = silu(g) * u and the gradients of both inputs.
void swiglu(float* out, const float* g, const float* u, size_t n);
void swiglu_backward(float* dg, float* du, const float* g, const float* u, const float* dout,
                     size_t n);

}  // namespace sllm::simd
