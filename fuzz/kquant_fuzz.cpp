// The k-quant and IQ4 block decoders on arbitrary bytes (every scale, mask and code pattern,
// including NaN and infinite f16 scales), then the quantizers on the decoded floats: neither may
// read or write outside its row, and a non-finite input must be refused, not quantized.
#include <cstring>
#include <vector>

#include "sllm/common/error.h"
#include "sllm/quant/kquant.h"
#include "sllm/quant/quant.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sllm::GGMLType;
  static const GGMLType types[] = {GGMLType::Q2_K,   GGMLType::Q3_K,  GGMLType::Q4_K,
                                   GGMLType::Q5_K,   GGMLType::Q6_K,  GGMLType::Q8_K,
                                   GGMLType::IQ4_NL, GGMLType::IQ4_XS};
  if (size < 2) return 0;
  const GGMLType t = types[data[0] % std::size(types)];
  const bool imatrix = data[1] & 1;
  data += 2;
  size -= 2;
  const auto tr = sllm::ggml_type_traits(static_cast<uint32_t>(t));
  const size_t blocks = size / tr.type_size;
  if (blocks == 0) return 0;
  // An exact-size heap copy, so that AddressSanitizer sees any read past the last block.
  std::vector<uint8_t> q(data, data + blocks * tr.type_size);
  const int64_t n = static_cast<int64_t>(blocks) * tr.block_size;
  std::vector<float> x(static_cast<size_t>(n));
  sllm::dequantize_row(t, q.data(), x.data(), n);
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[i] = x[i] == x[i] ? std::abs(x[i]) : 1.0f;
  std::vector<uint8_t> out(q.size());
  try {
    sllm::quantize_row_kquant(t, x.data(), out.data(), n,
                              imatrix && t != GGMLType::Q8_K ? w.data() : nullptr);
  } catch (const sllm::Error&) {
  }
  return 0;
}
