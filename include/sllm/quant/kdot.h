// Dot products of k-quant weight rows with activations quantized to Q8_K: ggml's vec_dot for the
// types whose vec_dot_type is Q8_K, so that k-quant weights stay in their blocks in memory and
// the products use the same quantized activations as llama.cpp (the same integer sums per
// block; only the float accumulation across blocks may round differently).
//
// One row per weight type (ggml's type_traits_cpu): the portable kernel, which is the
// reference every vector kernel is tested against, and the vector kernels where written. A
// vector kernel computes each block's integer sums and combines them with the same float
// operations as the portable one, so both give the same bits.
#pragma once
#include <cstdint>

#include "sllm/io/gguf.h"
#include "sllm/quant/kquant.h"

namespace sllm {

// dot(weight row w of nb super blocks, activations a[0..nb)).
using KDotFn = float (*)(const void* w, const BlockQ8K* a, int64_t nb);

struct KDotKernels {
  GGMLType type;
  KDotFn portable;
  KDotFn avx2;  // AVX2 (+FMA, F16C); null where there is none.
};

// Whether weights of type t run natively (kept in their blocks) against Q8_K activations.
bool has_kdot(GGMLType t);
// The best kernel for this CPU; SLLM_ISA=portable forces the portable one (as for dot.h's).
// Throws naming the type when t has none.
KDotFn kdot_for(GGMLType t);
KDotFn kdot_portable(GGMLType t);

// Activations to Q8_K (n a multiple of 256): ggml's quantize_row_q8_K bytes for finite input;
// a block with a NaN or infinity gets d = NaN, so the products say so instead of being wrong.
void quantize_acts_q8_k(const float* x, BlockQ8K* y, int64_t n);

}  // namespace sllm
