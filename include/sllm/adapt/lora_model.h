// LoRA training around an unmodified Model. The model's target weights hold the merged
// W_eff = W0 + s B A; its ordinary forward/backward then gives dL/dW_eff, which projects exactly
// onto the adapters (dB = s dW A^T, dA = s B^T dW, see lora.h). The frozen W0 is kept aside,
// in F32 or, QLoRA-style, quantized (Q8_0 / Q4_0), and re-merged after every adapter update.
// Only the adapters have optimizer state, so memory is the model's params + grads + W0.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sllm/model/lora_adapter.h"
#include "sllm/model/model.h"

namespace sllm {

// How the frozen base weights of the adapted linears are stored.
enum class FrozenType { F32, Q8_0, Q4_0 };
FrozenType parse_frozen_type(const std::string& s);  // "f32", "q8_0", "q4_0"
const char* frozen_type_name(FrozenType t);

class LoraModel {
 public:
  // Takes W0 from the model's current weights (quantizing them if asked; the model's copies
  // then become the dequantized values, so training sees exactly the stored base).
  LoraModel(Model& model, LoraAdapters& adapters, FrozenType frozen = FrozenType::F32);

  Model& model() { return model_; }
  LoraAdapters& adapters() { return adapters_; }
  size_t frozen_bytes() const;

  // Call after changing the adapters (an optimizer step, a load): forward re-merges lazily.
  void adapters_changed() { dirty_ = true; }
  // Brings the model's target weights up to date now (before saving or sampling them).
  void merge_now() {
    if (dirty_) merge();
  }
  float forward(const int32_t* tokens, const int32_t* targets, int B, int T);
  // Backward of the last forward; accumulates the adapters' gradients (scaled like the model's).
  void backward(float loss_scale = 1.0f);
  // Backward from a caller's gradient w.r.t. the logits (a distillation loss), [B, T, V].
  void backward_from_logits_grad(const float* dlogits);
  // Puts W0 back into the model (undoing the merge), e.g. before saving the base.
  void restore_base();

 private:
  void merge();
  void project_grads();  // Model's dL/dW_eff -> adapter gradients.
  void load_w0(size_t i, float* dst) const;

  Model& model_;
  LoraAdapters& adapters_;
  FrozenType frozen_;
  std::vector<std::vector<uint8_t>> w0_;  // One buffer per target, in the frozen type.
  bool dirty_ = true;
};

}  // namespace sllm
