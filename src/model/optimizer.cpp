#include "sllm/model/optimizer.h"

#include <vector>

#include "sllm/common/error.h"
#include "sllm/kernels/grad_norm.h"

namespace sllm {

void adamw_step(Model& model, AdamWState& state, const AdamWParams& h) {
  const size_t n = model.params().size();
  if (state.m.empty() && state.v.empty()) {
    state.m.assign(n, 0.0f);
    state.v.assign(n, 0.0f);
  }
  if (state.m.size() != n || state.v.size() != n)
    fail("AdamW state holds {} / {} values but the model has {} parameters", state.m.size(),
         state.v.size(), n);
  ++state.step;
  float* p = model.params().data();
  const float* g = model.grads().data();
  std::vector<AdamWTensor> tensors;
  tensors.reserve(model.specs().size());
  for (const ParamSpec& s : model.specs())
    tensors.push_back({s.offset, s.numel, s.decay, model.bf16_weight_copy(s)});
  adamw_update_tensors(p, g, state.m.data(), state.v.data(), tensors, h, state.step);
  model.bf16_weight_copies_written();
}

float grad_norm(Model& model) {
  auto g = model.grads();
  return global_norm(g.data(), g.size());
}

float clip_scale(float norm, float max_norm) {
  // torch adds 1e-6 to the norm in the clip coefficient.
  return max_norm > 0.0f && norm > max_norm ? max_norm / (norm + 1e-6f) : 1.0f;
}

float clip_grad_norm(Model& model, float max_norm) {
  const float norm = grad_norm(model);
  const float scale = clip_scale(norm, max_norm);
  if (scale != 1.0f) {
    auto g = model.grads();
    scale_inplace(g.data(), g.size(), scale);
  }
  return norm;
}

}  // namespace sllm
