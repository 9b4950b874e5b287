// What the adaptation loop trains and how: all of a model's parameters (full fine-tuning) or
// only LoRA adapters, on cross-entropy or on a distillation loss against a teacher (a model run
// on the fly, or top-k logits carried by the batch from a cache).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "sllm/adapt/distill_loss.h"
#include "sllm/adapt/lora_model.h"
#include "sllm/model/model.h"
#include "sllm/model/optimizer.h"

namespace sllm {

struct RowBatch {
  int B = 0, T = 0;
  std::vector<int32_t> inputs, targets;  // [B, T]; target -1 is ignored
  int k = 0;                             // > 0: top-k teacher logits below, [B, T, k]
  std::vector<int32_t> topk_ids;
  std::vector<float> topk_logits;
};

class Learner {
 public:
  // lora: train only its adapters (it must wrap `model`); null: train every parameter.
  Learner(Model& model, LoraModel* lora);
  // Switches the objective to distillation: teacher logits from `teacher` (same vocabulary), or,
  // with teacher null, from the batches' top-k.
  void set_distillation(Model* teacher, const DistillOptions& opt);

  // Forward + backward of one micro-batch; gradients accumulate scaled by loss_scale.
  // Returns the objective (CE, or alpha KD + (1 - alpha) CE).
  float micro_step(const RowBatch& b, float loss_scale);
  // Sum of the student's cross-entropy over the batch's counted targets (and their count).
  double eval_ce_sum(const RowBatch& b, size_t& count);

  void zero_grad();
  float clip_grad_norm(float max_norm);  // Returns the norm before clipping.
  void update(const AdamWParams& h);
  size_t trainable_params() const;
  Model& model() { return model_; }

 private:
  float forward(const RowBatch& b, bool with_targets);
  void backward_from_logits_grad(const float* dlogits);

  Model& model_;
  LoraModel* lora_;
  Model* teacher_ = nullptr;
  bool distill_ = false;
  DistillOptions dopt_;
  AdamWState full_opt_;
  std::vector<float> lora_m_, lora_v_;
  int64_t lora_step_ = 0;
  std::vector<float> dlogits_;
};

}  // namespace sllm
