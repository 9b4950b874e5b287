// IEEE half (F16) and bfloat16 conversions, bit exact both ways for every finite value, inf
// and NaN (float -> half rounds to nearest even, as numpy, torch and ggml do).
#pragma once
#include <cstddef>
#include <cstdint>

namespace sllm {

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);  // Round to nearest even; NaN stays NaN.

void f16_to_f32(const uint16_t* src, float* dst, size_t n);
void bf16_to_f32(const uint16_t* src, float* dst, size_t n);

}  // namespace sllm
