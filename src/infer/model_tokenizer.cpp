#include "sllm/infer/model_tokenizer.h"

#include "sllm/common/error.h"

namespace sllm {

std::unique_ptr<Tokenizer> model_tokenizer(const ModelFiles& files) {
  if (!files.tokenizer_path.empty()) return load_tokenizer(files.tokenizer_path);
  fail("{}: the model has no tokenizer sllm can read here (pass --tokenizer FILE)", files.source);
}

}  // namespace sllm
