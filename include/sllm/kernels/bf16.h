// bfloat16 operands for mixed-precision training: the matrix products read bf16 copies of
// their fp32 inputs and accumulate in fp32 (master weights, gradients and the optimizer stay
// fp32). The rounding is that of AVX512-BF16's VCVTNEPS2BF16 on every CPU: round to nearest
// even, NaN stays a (quiet) NaN, and fp32 denormals become a zero of the same sign, so the
// vector path and the portable fallback give the same bits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sllm {

using bf16 = uint16_t;  // The upper half of an IEEE fp32.

// out[i] = bf16(in[i]). Uses AVX512-BF16 where the CPU has it (unless SLLM_ISA is "portable"
// or "avx2"), OpenMP-parallel over large arrays outside parallel regions.
void to_bf16(bf16* out, const float* in, size_t n);
// Copies rows of `cols` floats from a matrix with row stride `ld` into a dense [rows, cols] one.
void to_bf16_rows(bf16* out, const float* in, size_t rows, size_t cols, size_t ld);
void from_bf16(float* out, const bf16* in, size_t n);  // Exact.

// Which bf16 matrix product this process uses (chosen once, on first use).
struct Bf16MatmulSupport {
  bool fast = false;  // oneDNN found a native bf16 kernel (AVX512-BF16 or AMX).
  // What runs: e.g. "oneDNN brg:avx512_core_amx_bf16", or "emulated: ... (reason)", the
  // fallback that widens the bf16 operands back to fp32 (exactly) and calls OpenBLAS.
  std::string implementation;
};
const Bf16MatmulSupport& bf16_matmul_support();

namespace detail {
// The two conversion paths, for tests (to_bf16 picks one).
void to_bf16_portable(bf16* out, const float* in, size_t n);
bool to_bf16_avx512(bf16* out, const float* in, size_t n);  // False: the CPU lacks AVX512-BF16.
// True when SLLM_ISA asks for the portable code paths ("portable" or "avx2").
bool isa_forced_portable();
}  // namespace detail

}  // namespace sllm
