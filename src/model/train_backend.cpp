#include "sllm/model/train_backend.h"

namespace sllm {

namespace {

class CpuBackend final : public TrainBackend {
 public:
  explicit CpuBackend(std::unique_ptr<Model> m) : model_(std::move(m)) {}
  Model& model() override { return *model_; }
  float train_loss(const Batch& b, float loss_scale) override {
    const float loss = model_->forward(b.tokens.data(), b.targets.data(), b.B, b.T);
    model_->backward(loss_scale);
    return loss;
  }
  float eval_loss(const Batch& b) override {
    return model_->forward(b.tokens.data(), b.targets.data(), b.B, b.T);
  }
  void zero_grad() override { model_->zero_grad(); }
  std::span<float> host_grads() override { return model_->grads(); }
  float clip_grad_norm(float max_norm) override { return sllm::clip_grad_norm(*model_, max_norm); }
  void adamw_step(const AdamWParams& h) override { sllm::adamw_step(*model_, opt_, h); }
  AdamWState& optimizer() override { return opt_; }

 private:
  std::unique_ptr<Model> model_;
  AdamWState opt_;
};

}  // namespace

std::unique_ptr<TrainBackend> make_cpu_backend(std::unique_ptr<Model> model) {
  return std::make_unique<CpuBackend>(std::move(model));
}

}  // namespace sllm
