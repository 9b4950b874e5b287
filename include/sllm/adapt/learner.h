// What fine-tuning and distillation train and how, as the Trainer's backend
// (sllm/model/train_backend.h): all of a model's parameters (full fine-tuning) or only LoRA
// adapters, on cross-entropy or on a distillation loss against a teacher (logits from a
// callback, or top-k logits carried by the batch from a cache).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "sllm/adapt/distill_loss.h"
#include "sllm/adapt/lora_model.h"
#include "sllm/adapt/preference_loss.h"
#include "sllm/model/model.h"
#include "sllm/model/optimizer.h"
#include "sllm/model/train_backend.h"

namespace sllm {

// The teacher's logits [B, T, V] for tokens [B, T], valid until the next call. The caller wires
// it to whatever runs the teacher (run_distill: a Model of its own).
using TeacherLogits = std::function<const float*(const int32_t* tokens, int B, int T)>;

class Learner final : public TrainBackend {
 public:
  // lora: train only its adapters (it must wrap `model`); null: train every parameter.
  Learner(Model& model, LoraModel* lora);
  // Switches the objective to distillation: teacher logits from `teacher` (same vocabulary), or,
  // with teacher empty, from the batches' top-k.
  void set_distillation(TeacherLogits teacher, const DistillOptions& opt);
  // Switches the objective to a preference loss: batches of 2P rows (chosen, then rejected)
  // carrying the reference's log-probs when the loss needs them.
  void set_preference(const PreferenceOptions& opt);
  // The preference loss of a batch and its rewards, forward only.
  PreferenceLoss preference_eval(const Batch& b);
  // Each row's completion log-prob under the model as it is now (sum, or mean with average),
  // forward only: a DPO reference before training starts.
  void completion_logps(const Batch& b, bool average, double* out);

  // Forward + backward of one micro-batch; gradients accumulate scaled by loss_scale.
  // Returns the objective (CE, or alpha KD + (1 - alpha) CE).
  float micro_step(const Batch& b, float loss_scale);
  // Sum of the student's cross-entropy over the batch's counted targets (and their count).
  double eval_ce_sum(const Batch& b, size_t& count);
  size_t trainable_params() const;

  // TrainBackend.
  Model& model() override { return model_; }
  float train_loss(const Batch& b, float loss_scale) override { return micro_step(b, loss_scale); }
  float eval_loss(const Batch& b) override { return forward(b, true); }
  void zero_grad() override;
  std::span<float> host_grads() override;
  float clip_grad_norm(float max_norm) override;
  void adamw_step(const AdamWParams& h) override;
  TrainedTensors* trained() override { return lora_ ? &adapters_ : nullptr; }
  AdamWState& optimizer() override { return opt_; }
  std::map<std::string, double> step_metrics() const override { return step_metrics_; }
  void to_host() override;    // LoRA: the model's weights become W0 + s B A of the adapters now.
  void from_host() override;  // LoRA: the adapters changed (a checkpoint was loaded).

 private:
  float forward(const Batch& b, bool with_targets);
  void backward_from_logits_grad(const float* dlogits);

  Model& model_;
  LoraModel* lora_;
  TrainedTensors adapters_;  // LoRA: the adapter arena, named as PEFT names its tensors.
  TeacherLogits teacher_;
  bool distill_ = false;
  DistillOptions dopt_;
  std::optional<PreferenceOptions> popt_;
  std::map<std::string, double> step_metrics_;  // Summed over the step's micro-batches, scaled.
  AdamWState opt_;  // Of the model's parameters, or of the adapters with LoRA.
  std::vector<float> dlogits_;
};

}  // namespace sllm
