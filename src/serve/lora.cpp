#include "sllm/serve/lora.h"

#include <cstring>

#include "sllm/common/error.h"
#include "sllm/model/lora_adapter.h"

namespace sllm::serve {

ModelFiles files_with_lora(const std::string& base_path, const std::string& adapter_dir) {
  ModelFiles files = load_model_files(base_path);
  LoraAdapters adapters = LoraAdapters::load(adapter_dir, files.config);
  for (const LoraTarget& t : adapters.targets()) {
    auto it = files.tensors.find(t.param);
    if (it == files.tensors.end())
      fail("LoRA adapter {}: the base model {} has no tensor {}", adapter_dir, base_path, t.param);
    WeightTensor& w = it->second;
    if (w.type != GGMLType::F32)
      fail(
          "LoRA adapter {}: tensor {} of {} is not F32; serve adapters on an F32 base (or merge "
          "them with `sllm merge`)",
          adapter_dir, t.param, base_path);
    if (w.numel() != int64_t(t.dims.out) * t.dims.in)
      fail("LoRA adapter {}: tensor {} has {} elements, the adapter expects {}x{}", adapter_dir,
           t.param, w.numel(), t.dims.out, t.dims.in);
    std::vector<uint8_t> merged(w.nbytes);
    const float* base = reinterpret_cast<const float*>(w.data);
    lora_merge(t.dims, base, adapters.A(t), adapters.B(t), reinterpret_cast<float*>(merged.data()));
    w.data = files.own(std::move(merged));
  }
  return files;
}

}  // namespace sllm::serve
