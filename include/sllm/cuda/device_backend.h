// The Trainer's backend (sllm/model/train_backend.h) for a model whose weights, gradients and
// AdamW state live on a device: CudaModel (sllm/cuda/cuda_model.h), or in the tests a CPU
// stand-in with the same interface, so the checkpoint and resume logic (to_host/from_host and
// the optimizer state's round trip) is tested without a GPU. The host Model holds the fp32
// master weights in the same arena layout; they move between the two unchanged.
//
// Dev needs: forward(tokens, targets, B, T) -> loss, backward(scale), zero_grad(),
// grad_norm(), adamw_step(AdamWParams, t), set_params/get_params(span),
// get_adam_state(m, v) and set_adam_state(m, v).
#pragma once
#include <memory>
#include <string>
#include <utility>

#include "sllm/common/error.h"
#include "sllm/model/optimizer.h"
#include "sllm/model/train_backend.h"

namespace sllm::cuda {

template <class Dev>
class DeviceBackend final : public TrainBackend {
 public:
  // Uploads the host model's weights.
  DeviceBackend(std::unique_ptr<Model> host, std::unique_ptr<Dev> dev, std::string device)
      : host_(std::move(host)), dev_(std::move(dev)), device_(std::move(device)) {
    dev_->set_params(host_->params());
  }

  Model& model() override { return *host_; }
  float train_loss(const Batch& b, float loss_scale) override {
    const float loss = dev_->forward(b.tokens.data(), b.targets.data(), b.B, b.T);
    dev_->backward(loss_scale);
    return loss;
  }
  float eval_loss(const Batch& b) override {
    return dev_->forward(b.tokens.data(), b.targets.data(), b.B, b.T);
  }
  void zero_grad() override { dev_->zero_grad(); }
  std::span<float> host_grads() override {
    fail("{}: the gradients live on the device; data-parallel training runs on the CPU", device_);
  }
  // The clip is folded into the update (AdamWParams::grad_scale): no extra pass on the device.
  float clip_grad_norm(float max_norm) override {
    const float norm = dev_->grad_norm();
    grad_scale_ = clip_scale(norm, max_norm);
    return norm;
  }
  void adamw_step(const AdamWParams& h) override {
    AdamWParams scaled = h;
    scaled.grad_scale = grad_scale_;
    dev_->adamw_step(scaled, ++opt_.step);
  }
  AdamWState& optimizer() override { return opt_; }
  void to_host() override {
    dev_->get_params(host_->params());
    dev_->get_adam_state(opt_.m, opt_.v);
  }
  void from_host() override {
    dev_->set_params(host_->params());
    if (!opt_.m.empty()) dev_->set_adam_state(opt_.m, opt_.v);
  }
  std::string device() const override { return device_; }

 private:
  std::unique_ptr<Model> host_;
  std::unique_ptr<Dev> dev_;
  std::string device_;
  AdamWState opt_;  // On the host: the step count always, the moments after to_host().
  float grad_scale_ = 1.0f;
};

}  // namespace sllm::cuda
