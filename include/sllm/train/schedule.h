// The learning-rate schedule, nanoGPT's get_lr().
#pragma once

namespace sllm {

// Linear warmup over warmup_iters, then cosine decay from lr to min_lr at decay_iters, then
// min_lr. Step s of warmup uses lr * (s+1) / (warmup+1), as nanoGPT does.
struct LrSchedule {
  float lr = 1e-3f;
  float min_lr = 1e-4f;
  int warmup_iters = 100;
  int decay_iters = 2000;
  float at(int step) const;
};

}  // namespace sllm
