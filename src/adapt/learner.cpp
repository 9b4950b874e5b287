#include "sllm/adapt/learner.h"

#include "sllm/common/error.h"
#include "sllm/kernels/adamw.h"
#include "sllm/kernels/grad_norm.h"

namespace sllm {

Learner::Learner(Model& model, LoraModel* lora) : model_(model), lora_(lora) {
  if (lora_ && &lora_->model() != &model_)
    fail("Learner: the LoRA wrapper belongs to another model");
}

void Learner::set_distillation(Model* teacher, const DistillOptions& opt) {
  opt.validate();
  if (teacher && teacher->config().vocab_size != model_.config().vocab_size)
    fail("teacher and student vocabularies differ ({} vs {} tokens): they must share the tokenizer",
         teacher->config().vocab_size, model_.config().vocab_size);
  teacher_ = teacher;
  distill_ = true;
  dopt_ = opt;
}

float Learner::forward(const RowBatch& b, bool with_targets) {
  const int32_t* tg = with_targets ? b.targets.data() : nullptr;
  return lora_ ? lora_->forward(b.inputs.data(), tg, b.B, b.T)
               : model_.forward(b.inputs.data(), tg, b.B, b.T);
}

void Learner::backward_from_logits_grad(const float* dlogits) {
  if (lora_)
    lora_->backward_from_logits_grad(dlogits);
  else
    model_.backward_from_logits_grad(dlogits);
}

float Learner::micro_step(const RowBatch& b, float loss_scale) {
  const float ce = forward(b, true);
  if (!distill_) {
    if (lora_)
      lora_->backward(loss_scale);
    else
      model_.backward(loss_scale);
    return ce;
  }
  const int N = b.B * b.T, V = model_.config().vocab_size;
  dlogits_.resize(static_cast<size_t>(N) * V);
  DistillLoss L;
  if (teacher_) {
    // The student's logits stay valid: the teacher is another Model with its own buffers.
    teacher_->forward(b.inputs.data(), nullptr, b.B, b.T);
    L = distill_loss_dense(model_.logits(), teacher_->logits(), b.targets.data(), N, V, dopt_,
                           dlogits_.data());
  } else {
    if (b.k < 1)
      fail("distillation without a teacher model needs batches with top-k teacher logits");
    L = distill_loss_topk(model_.logits(), b.topk_ids.data(), b.topk_logits.data(), b.k,
                          b.targets.data(), N, V, dopt_, dlogits_.data());
  }
  if (loss_scale != 1.0f)
    for (float& g : dlogits_) g *= loss_scale;
  backward_from_logits_grad(dlogits_.data());
  return static_cast<float>(L.total);
}

double Learner::eval_ce_sum(const RowBatch& b, size_t& count) {
  const float mean = forward(b, true);
  size_t n = 0;
  for (int32_t t : b.targets) n += t >= 0;
  count = n;
  return static_cast<double>(mean) * n;
}

void Learner::zero_grad() {
  if (lora_)
    lora_->adapters().zero_grad();
  else
    model_.zero_grad();
}

float Learner::clip_grad_norm(float max_norm) {
  if (!lora_) return sllm::clip_grad_norm(model_, max_norm);
  auto g = lora_->adapters().grads();
  const float norm = global_norm(g.data(), g.size());
  if (max_norm > 0.0f && norm > max_norm)
    scale_inplace(g.data(), g.size(), max_norm / (norm + 1e-6f));
  return norm;
}

void Learner::update(const AdamWParams& h) {
  if (!lora_) {
    adamw_step(model_, full_opt_, h);
    return;
  }
  auto p = lora_->adapters().params();
  auto g = lora_->adapters().grads();
  if (lora_m_.empty()) {
    lora_m_.assign(p.size(), 0.0f);
    lora_v_.assign(p.size(), 0.0f);
  }
  adamw_update(p.data(), g.data(), lora_m_.data(), lora_v_.data(), p.size(), h, ++lora_step_,
               h.weight_decay > 0.0f);
  lora_->adapters_changed();
}

size_t Learner::trainable_params() const {
  return lora_ ? lora_->adapters().params().size() : model_.params().size();
}

}  // namespace sllm
