#include "sllm/kernels/f16.h"

#include "simd.h"

namespace sllm {

void to_f16(uint16_t* out, const float* in, size_t n) {
  simd::to_f16(out, in, n);
}
void from_f16(float* out, const uint16_t* in, size_t n) {
  simd::from_f16(out, in, n);
}

}  // namespace sllm
