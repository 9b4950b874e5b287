// What the Trainer (sllm/train/trainer.h) trains, wherever it runs. The Trainer owns the loop:
// data, schedule, clipping threshold, checkpoints, metrics and logs; a backend owns the model's
// arithmetic: forward/backward of micro-batches, the gradient norm and AdamW. The CPU model
// (make_cpu_backend below), LoRA adapters and distillation (sllm/adapt/learner.h) and the CUDA
// model (sllm/cuda/gpu_trainer.h) implement it, so `sllm train`, `sllm finetune`,
// `sllm distill` and `--device cuda` all run the one loop. It lives below train/ so that a
// backend need not depend on the trainer.
//
// The host side is what checkpoints save and samples read: model() holds the weights,
// trained() the tensors AdamW updates when they are not the model's own (LoRA adapters), and
// optimizer() AdamW's moments and step. A backend that keeps them elsewhere (a GPU) copies them
// in to_host() and back in from_host().
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sllm/model/model.h"
#include "sllm/model/optimizer.h"

namespace sllm {

// One batch: B rows of T token ids and, per position, the id to predict (-1: ignore); with
// k > 0 also a teacher's top-k logits per position ([B, T, k], from a distillation cache).
struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> tokens, targets;
  int k = 0;
  std::vector<int32_t> topk_ids;
  std::vector<float> topk_logits;
  // Preference batches (B = 2P rows, chosen then rejected): the reference model's completion
  // log-prob per row, when the loss needs one.
  std::vector<double> ref_logps;
};

// Tensors the optimizer updates in place of the model's parameters (LoRA adapters).
struct TrainedTensors {
  std::vector<ParamSpec> specs;  // Offsets into params.
  std::span<float> params;
};

class TrainBackend {
 public:
  virtual ~TrainBackend() = default;

  virtual Model& model() = 0;  // The host model: init, checkpoints, samples.
  // Forward + backward of one micro-batch; gradients accumulate scaled by loss_scale. Returns
  // the batch's loss.
  virtual float train_loss(const Batch& b, float loss_scale) = 0;
  // The mean cross-entropy of a batch, forward only.
  virtual float eval_loss(const Batch& b) = 0;
  virtual void zero_grad() = 0;
  // The trained gradients in host memory, for a data-parallel all-reduce; a backend whose
  // gradients live elsewhere throws.
  virtual std::span<float> host_grads() = 0;
  // Returns the global gradient norm and, with max_norm > 0, clips to it (the update then
  // applies the clipped gradients).
  virtual float clip_grad_norm(float max_norm) = 0;
  virtual void adamw_step(const AdamWParams& h) = 0;  // Increments optimizer().step.

  // Null: AdamW updates model()'s parameters.
  virtual TrainedTensors* trained() { return nullptr; }
  virtual AdamWState& optimizer() = 0;
  virtual void to_host() {}
  virtual void from_host() {}
  // Where it runs, for the progress header ("" on the CPU).
  virtual std::string device() const { return ""; }
  // Figures of the last step beyond its loss (a preference loss's rewards), for metrics.jsonl:
  // means over the step's micro-batches, under the names they are logged with.
  virtual std::map<std::string, double> step_metrics() const { return {}; }
};

// The CPU model itself: Model::forward/backward, sllm::clip_grad_norm and sllm::adamw_step.
std::unique_ptr<TrainBackend> make_cpu_backend(std::unique_ptr<Model> model);

}  // namespace sllm
