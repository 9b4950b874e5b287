// safetensors + config.json (Hugging Face folder): the reader, then the Llama/GPT-2 mapping.
#include <filesystem>

#include "fuzz_file.h"
#include "sllm/common/error.h"
#include "sllm/infer/model.h"
#include "sllm/io/file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = "/tmp/sllm-fuzz-st-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  // A fixed tiny Llama config; the fuzzer controls the weights file.
  sllm::write_file_atomic(dir + "/config.json",
                          R"({"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1,
                              "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 4,
                              "max_position_embeddings": 8})");
  FILE* f = std::fopen((dir + "/model.safetensors").c_str(), "wb");
  if (f) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  try {
    sllm::InferenceModel m(sllm::load_hf_dir(dir));
    sllm::KVCache c = m.new_cache(4);
    int32_t tok = 1;
    (void)m.forward(c, {&tok, 1});
  } catch (const sllm::Error&) {
  }
  std::filesystem::remove_all(dir);
  return 0;
}
