// IEEE half copies of fp32 arrays, for the F16 KV cache: to_f16 rounds to nearest even (inf
// beyond the half range, NaN stays NaN), from_f16 is exact. Single-threaded, vectorised.
#pragma once
#include <cstddef>
#include <cstdint>

namespace sllm {

void to_f16(uint16_t* out, const float* in, size_t n);
void from_f16(float* out, const uint16_t* in, size_t n);

}  // namespace sllm
