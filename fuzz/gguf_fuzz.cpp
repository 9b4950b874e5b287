// GGUF: the reader on raw bytes, then the model mapping (names, shapes, config) on the file.
#include <cstdio>

#include "fuzz_file.h"
#include "sllm/common/error.h"
#include "sllm/infer/model.h"
#include "sllm/io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    sllm::GGUFReader r(data, size, "fuzz.gguf");
    for (const auto& [k, v] : r.metadata()) (void)v.to_string();
    for (const auto& t : r.tensors())
      if (t.nbytes) (void)t.data[t.nbytes - 1];  // Every tensor lies inside the buffer.
  } catch (const sllm::Error&) {
    return 0;
  }
  const std::string path = sllm::fuzz::write_input(data, size, ".gguf");
  try {
    sllm::InferenceModel m(sllm::load_gguf_model(path));
  } catch (const sllm::Error&) {
  }
  std::remove(path.c_str());
  return 0;
}
