// llama2.c checkpoints: header, sizes and the model built from them. Inputs whose header asks
// for more than 64 MB of weights are rejected by the size check before anything is read.
#include <cstdio>

#include "fuzz_file.h"
#include "sllm/common/error.h"
#include "sllm/infer/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sllm::fuzz::write_input(data, size, ".bin");
  try {
    sllm::InferenceModel m(sllm::load_llama2c(path, ""));
    sllm::KVCache c = m.new_cache(2);
    int32_t tok = 0;
    (void)m.forward(c, {&tok, 1});
  } catch (const sllm::Error&) {
  }
  const std::string tok_path = sllm::fuzz::write_input(data, size, ".tok");
  try {
    (void)sllm::read_llama2c_tokenizer(tok_path, 16);
  } catch (const sllm::Error&) {
  }
  std::remove(path.c_str());
  std::remove(tok_path.c_str());
  return 0;
}
