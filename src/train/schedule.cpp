#include "sllm/train/schedule.h"

#include <cmath>
#include <numbers>

namespace sllm {

float LrSchedule::at(int step) const {
  if (step < warmup_iters)
    return lr * static_cast<float>(step + 1) / static_cast<float>(warmup_iters + 1);
  if (step >= decay_iters) return min_lr;
  const double ratio =
      static_cast<double>(step - warmup_iters) / static_cast<double>(decay_iters - warmup_iters);
  const double coeff = 0.5 * (1.0 + std::cos(std::numbers::pi * ratio));
  return static_cast<float>(min_lr + coeff * (static_cast<double>(lr) - min_lr));
}

}  // namespace sllm
