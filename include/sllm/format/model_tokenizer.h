// The tokenizer that goes with a loaded model: sllm's own tokenizer file in a model
// directory, or one built from the vocabulary inside the model file (GGUF, llama2.c).
#pragma once
#include <memory>

#include "sllm/format/model_files.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

// Throws sllm::Error saying how to supply one when the model carries no tokenizer.
std::unique_ptr<Tokenizer> model_tokenizer(const ModelFiles& files);

}  // namespace sllm
