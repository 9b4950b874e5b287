// y[n, rows] = x[n, cols] * W^T for a weight W [rows, cols] of any supported type: one call per
// weight matrix for all n tokens of a step (prefill chunks and several sequences together).
//   F32 weights: where the CPU has the AVX-512 kernel, packed in 16-row groups at load and
//   multiplied by register tiles of 32 rows x 12 tokens (the same kernel decodes); else a
//   threaded matrix-vector kernel for small n, OpenBLAS sgemm otherwise.
//   Quantized weights: x is quantized to int8 blocks once, then each weight row (each group of
//   16 rows, when packed) is dotted with up to 4 (8) tokens at a time (one unpack per block),
//   rows split across threads; from 16 tokens on a CPU with AMX-BF16, x is packed to bf16 tiles
//   instead and multiplied by transient bf16 panels of the weights (sllm/quant/gemm_amx.h).
//   K-quant weights (those with a kernel in sllm/quant/kdot.h): x is quantized to Q8_K once,
//   as llama.cpp does, and each weight row is dotted with every token, rows split across
//   threads; the weights stay in their blocks.
// Every thread of `team` calls these together (see team.h); results do not depend on the
// thread count.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "sllm/infer/team.h"
#include "sllm/quant/dot.h"
#include "sllm/quant/gemm_amx.h"
#include "sllm/quant/kdot.h"

namespace sllm {

struct Weight {
  GGMLType type = GGMLType::F32;
  int64_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;
  // Rows in 16-row groups (sllm/quant/packed.h), for the kernels that have that layout: then
  // row(r) is not a ggml row; copy_row gives one.
  bool packed = false;
  size_t row_bytes() const { return ggml_row_size(type, cols); }
  size_t nbytes() const { return row_bytes() * static_cast<size_t>(rows); }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes(); }
  // Row r in ggml layout into dst (row_bytes() bytes), packed or not.
  void copy_row(int64_t r, uint8_t* dst) const;
};

// Whether matmul multiplies weights of type t as stored; the others are converted at load.
bool runs_natively(GGMLType t);

// Repacks a weight into 16-row groups when the dot kernels of this CPU read that layout
// (quantized: AVX-512 VNNI, AVX2; F32: AVX-512) and the shape allows it: the packed bytes go to
// `storage`, which must outlive w. Returns whether it packed.
bool pack_for_kernels(Weight& w, std::vector<uint8_t>& storage);

// Activations quantized once and reused by every matrix that reads the same input (q, k, v).
struct QuantizedActs {
  std::vector<ActQ8> blocks;
  AmxActs amx;  // Used instead of blocks when use_amx.
  bool use_amx = false;
  int64_t n = 0, cols = 0;
  void quantize(const float* x, int64_t n, int64_t cols, Team& team);
  // The same input as Q8_K super blocks, for k-quant weights (kn rows of kcols).
  std::vector<BlockQ8K> q8k;
  int64_t kn = 0, kcols = 0;
  void quantize_q8k(const float* x, int64_t n, int64_t cols, Team& team);
};

void matmul(const Weight& w, const float* x, int64_t n, float* y, QuantizedActs& scratch,
            Team& team);
// For quantized weights whose input is already in `acts` (acts.cols == w.cols).
void matmul_quantized(const Weight& w, const QuantizedActs& acts, float* y, Team& team);
// For k-quant weights whose input is already in acts.q8k (acts.kcols == w.cols).
void matmul_kquant(const Weight& w, const QuantizedActs& acts, float* y, Team& team);

// Several weights (at most 8) that read the same input x, such as q, k, v or gate, up: x is
// quantized once, and packed weights of one kind share one hand-out of work and one wait
// instead of one per weight. The same bits as a matmul per weight.
struct MatmulOut {
  const Weight* w;
  float* y;
};
void matmul_many(std::span<const MatmulOut> outs, const float* x, int64_t n, QuantizedActs& scratch,
                 Team& team);

}  // namespace sllm
