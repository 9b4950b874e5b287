// AdamW over a Model's parameter arena, with weight decay only where ParamSpec::decay is set,
// and global-norm gradient clipping. The optimizer state is plain data so trainers can save
// and restore it (checkpoints, resume).
#pragma once
#include <cstdint>
#include <vector>

#include "sllm/kernels/adamw.h"
#include "sllm/model/model.h"

namespace sllm {

struct AdamWState {
  std::vector<float> m, v;  // Same layout as Model::params(); empty until the first step.
  int64_t step = 0;         // Updates done so far.
};

// One AdamW update of every parameter from model.grads(). Increments state.step first.
void adamw_step(Model& model, AdamWState& state, const AdamWParams& h);

// Returns the global L2 norm of the gradients; if max_norm > 0 and the norm exceeds it,
// scales the gradients down to max_norm (torch.nn.utils.clip_grad_norm_).
float clip_grad_norm(Model& model, float max_norm);

// The global L2 norm of the gradients, without touching them. To clip in the same pass as the
// update, set AdamWParams::grad_scale = clip_scale(norm, max_norm) before adamw_step().
float grad_norm(Model& model);
float clip_scale(float norm, float max_norm);

}  // namespace sllm
