// Quantization mixes: llama.cpp's file types (q4_k_m, q5_k_m, q3_k_m, q6_k, ...), which choose a
// ggml type per tensor by llama.cpp's rules (llama_tensor_get_type): the output matrix gets Q6_K,
// attn_v and ffn_down get more bits in the first and last eighth of the layers and every third
// layer between (the _M mixes), and so on. The plain types f32, q8_0, q4_0 and q4_1 stay uniform
// (every matrix in that type), as sllm has always written them.
#pragma once
#include <cstdint>
#include <string>

#include "sllm/format/model_files.h"
#include "sllm/io/gguf.h"

namespace sllm {

struct QuantMix {
  std::string name;  // "q4_k_m", ..., or a plain type name.
  GGMLType base;     // The type of the matrices no rule singles out.
  uint32_t ftype;    // llama.cpp's llama_ftype (general.file_type).
  bool rules;        // llama.cpp's per-tensor rules apply (false: uniform).
};

// Throws naming the accepted names.
QuantMix parse_quant_mix(const std::string& name);
const char* quant_mix_names();  // For help texts and errors.

// The type a parameter (sllm name, e.g. "layers.3.attn.v.weight") is stored in under `mix`:
// llama.cpp's choice, except that llama.cpp's fallbacks for rows that are not whole 256-blocks
// (Q5_0/Q5_1, which sllm does not run) become Q8_0. Norms, biases and 1-D tensors stay F32.
// has_imatrix: llama.cpp drops two of its IQ4 rules when an importance matrix is given.
GGMLType mix_tensor_type(const QuantMix& mix, const std::string& name, const WeightTensor& t,
                         const ModelConfig& c, bool has_imatrix = false);

}  // namespace sllm
