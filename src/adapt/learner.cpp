#include "sllm/adapt/learner.h"

#include "sllm/common/error.h"
#include "sllm/kernels/adamw.h"
#include "sllm/kernels/grad_norm.h"

namespace sllm {

Learner::Learner(Model& model, LoraModel* lora) : model_(model), lora_(lora) {
  if (lora_ && &lora_->model() != &model_)
    fail("Learner: the LoRA wrapper belongs to another model");
  if (!lora_) return;
  LoraAdapters& a = lora_->adapters();
  for (const LoraTarget& t : a.targets()) {
    const auto r = static_cast<int64_t>(t.dims.r);
    const auto in = static_cast<size_t>(t.dims.in), out = static_cast<size_t>(t.dims.out);
    adapters_.specs.push_back(
        {t.peft_name + ".lora_A.weight", {r, int64_t(in)}, t.a_offset, t.dims.r * in, true});
    adapters_.specs.push_back(
        {t.peft_name + ".lora_B.weight", {int64_t(out), r}, t.b_offset, out * t.dims.r, true});
  }
  adapters_.params = a.params();
}

void Learner::set_distillation(TeacherLogits teacher, const DistillOptions& opt) {
  opt.validate();
  teacher_ = std::move(teacher);
  distill_ = true;
  dopt_ = opt;
}

void Learner::set_preference(const PreferenceOptions& opt) {
  opt.validate();
  popt_ = opt;
}

namespace {

void check_preference_batch(const Batch& b, const PreferenceOptions& opt) {
  if (b.B < 2 || b.B % 2) fail("a preference batch needs chosen and rejected rows, got {}", b.B);
  if (opt.needs_reference() && b.ref_logps.size() != static_cast<size_t>(b.B))
    fail("the {} loss needs the reference log-probs of all {} rows, the batch has {}",
         preference_loss_name(opt.type), b.B, b.ref_logps.size());
}

}  // namespace

PreferenceLoss Learner::preference_eval(const Batch& b) {
  if (!popt_) fail("preference_eval: the learner has no preference loss");
  check_preference_batch(b, *popt_);
  forward(b, true);
  return preference_loss(model_.logits(), b.targets.data(), b.B / 2, b.T,
                         model_.config().vocab_size,
                         b.ref_logps.empty() ? nullptr : b.ref_logps.data(), *popt_, nullptr);
}

void Learner::completion_logps(const Batch& b, bool average, double* out) {
  forward(b, true);
  sllm::completion_logps(model_.logits(), b.targets.data(), b.B, b.T, model_.config().vocab_size,
                         average, out);
}

float Learner::forward(const Batch& b, bool with_targets) {
  const int32_t* tg = with_targets ? b.targets.data() : nullptr;
  return lora_ ? lora_->forward(b.tokens.data(), tg, b.B, b.T)
               : model_.forward(b.tokens.data(), tg, b.B, b.T);
}

void Learner::backward_from_logits_grad(const float* dlogits) {
  if (lora_)
    lora_->backward_from_logits_grad(dlogits);
  else
    model_.backward_from_logits_grad(dlogits);
}

float Learner::micro_step(const Batch& b, float loss_scale) {
  if (popt_) {
    check_preference_batch(b, *popt_);
    forward(b, true);
    const int V = model_.config().vocab_size;
    dlogits_.resize(b.tokens.size() * V);
    const PreferenceLoss L = preference_loss(model_.logits(), b.targets.data(), b.B / 2, b.T, V,
                                             b.ref_logps.empty() ? nullptr : b.ref_logps.data(),
                                             *popt_, dlogits_.data(), loss_scale);
    for (const auto& [k, v] : L.metrics) step_metrics_[k] += v * loss_scale;
    backward_from_logits_grad(dlogits_.data());
    return static_cast<float>(L.loss);
  }
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
    // The student's logits stay valid: the teacher runs in buffers of its own.
    const float* t = teacher_(b.tokens.data(), b.B, b.T);
    L = distill_loss_dense(model_.logits(), t, b.targets.data(), N, V, dopt_, dlogits_.data());
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

double Learner::eval_ce_sum(const Batch& b, size_t& count) {
  const float mean = forward(b, true);
  size_t n = 0;
  for (int32_t t : b.targets) n += t >= 0;
  count = n;
  return static_cast<double>(mean) * n;
}

void Learner::zero_grad() {
  step_metrics_.clear();
  if (lora_)
    lora_->adapters().zero_grad();
  else
    model_.zero_grad();
}

std::span<float> Learner::host_grads() {
  return lora_ ? lora_->adapters().grads() : model_.grads();
}

float Learner::clip_grad_norm(float max_norm) {
  if (!lora_) return sllm::clip_grad_norm(model_, max_norm);
  auto g = lora_->adapters().grads();
  const float norm = global_norm(g.data(), g.size());
  if (max_norm > 0.0f && norm > max_norm)
    scale_inplace(g.data(), g.size(), max_norm / (norm + 1e-6f));
  return norm;
}

void Learner::adamw_step(const AdamWParams& h) {
  if (!lora_) {
    sllm::adamw_step(model_, opt_, h);
    return;
  }
  auto p = lora_->adapters().params();
  auto g = lora_->adapters().grads();
  if (opt_.m.empty()) {
    opt_.m.assign(p.size(), 0.0f);
    opt_.v.assign(p.size(), 0.0f);
  }
  adamw_update(p.data(), g.data(), opt_.m.data(), opt_.v.data(), p.size(), h, ++opt_.step,
               h.weight_decay > 0.0f);
  lora_->adapters_changed();
}

void Learner::to_host() {
  if (lora_) lora_->merge_now();
}

void Learner::from_host() {
  if (lora_) lora_->adapters_changed();
}

size_t Learner::trainable_params() const {
  return lora_ ? lora_->adapters().params().size() : model_.params().size();
}

}  // namespace sllm
