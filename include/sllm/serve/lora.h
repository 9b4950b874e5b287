// LoRA adapters for serving: the base model's files with the adapters folded into the
// adapted matrices (W + s B A), so an adapter is served at the base model's speed.
#pragma once
#include <string>

#include "sllm/format/model_files.h"

namespace sllm::serve {

// Loads `base_path` and merges the PEFT-style adapter folder `adapter_dir` (see
// sllm/model/lora_adapter.h) into a private copy of each adapted matrix. Needs F32 matrices;
// throws sllm::Error naming the tensor otherwise, or when the adapter does not fit the base.
ModelFiles files_with_lora(const std::string& base_path, const std::string& adapter_dir);

}  // namespace sllm::serve
