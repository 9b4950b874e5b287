#include "sllm/model/optimizer.h"

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
  for (const ParamSpec& s : model.specs())
    adamw_update(p + s.offset, g + s.offset, state.m.data() + s.offset, state.v.data() + s.offset,
                 s.numel, h, state.step, s.decay);
}

float clip_grad_norm(Model& model, float max_norm) {
  auto g = model.grads();
  const float norm = global_norm(g.data(), g.size());
  // torch adds 1e-6 to the norm in the clip coefficient.
  if (max_norm > 0.0f && norm > max_norm)
    scale_inplace(g.data(), g.size(), max_norm / (norm + 1e-6f));
  return norm;
}

}  // namespace sllm
