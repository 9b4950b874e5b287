// Importance-matrix files (llama.cpp's legacy imatrix.dat and its GGUF form) on arbitrary
// bytes: either a clean sllm::Error or entries whose weights are finite and non-negative.
#include <cmath>
#include <cstdlib>

#include "sllm/common/error.h"
#include "sllm/format/imatrix_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const sllm::Imatrix m = sllm::parse_imatrix(data, size, "fuzz");
    for (const auto& [name, e] : m.entries)
      for (float w : m.weights(name))
        if (!(w >= 0.0f) || !std::isfinite(w)) std::abort();
  } catch (const sllm::Error&) {
  }
  return 0;
}
