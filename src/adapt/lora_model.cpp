#include "sllm/adapt/lora_model.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"

namespace sllm {

FrozenType parse_frozen_type(const std::string& s) {
  if (s == "f32") return FrozenType::F32;
  fail("unknown frozen base type '{}' (expected f32)", s);
}

const char* frozen_type_name(FrozenType t) {
  return "f32";
}

LoraModel::LoraModel(Model& model, LoraAdapters& adapters, FrozenType frozen)
    : model_(model), adapters_(adapters), frozen_(frozen) {
  if (model.config().to_json() != adapters.base_config().to_json())
    fail("LoRA adapters were made for another model config ({} vs {})",
         adapters.base_config().to_json().dump(), model.config().to_json().dump());
  for (const auto& t : adapters_.targets()) {
    const float* W = model_.param(t.param);
    const size_t n = static_cast<size_t>(t.dims.out) * t.dims.in;
    std::vector<uint8_t> buf(n * sizeof(float));
    std::memcpy(buf.data(), W, buf.size());
    w0_.push_back(std::move(buf));
  }
}

size_t LoraModel::frozen_bytes() const {
  size_t n = 0;
  for (const auto& b : w0_) n += b.size();
  return n;
}

void LoraModel::load_w0(size_t i, float* dst) const {
  std::memcpy(dst, w0_[i].data(), w0_[i].size());
}

void LoraModel::merge() {
  const auto& targets = adapters_.targets();
  for (size_t i = 0; i < targets.size(); ++i) {
    float* W = model_.param(targets[i].param);
    load_w0(i, W);
    lora_merge(targets[i].dims, W, adapters_.A(targets[i]), adapters_.B(targets[i]), W);
  }
  dirty_ = false;
}

float LoraModel::forward(const int32_t* tokens, const int32_t* targets, int B, int T) {
  if (dirty_) merge();
  return model_.forward(tokens, targets, B, T);
}

void LoraModel::backward(float loss_scale) {
  model_.zero_grad();
  model_.backward(loss_scale);
  project_grads();
}

void LoraModel::backward_from_logits_grad(const float* dlogits) {
  model_.zero_grad();
  model_.backward_from_logits_grad(dlogits);
  project_grads();
}

void LoraModel::project_grads() {
  for (const auto& t : adapters_.targets())
    lora_grads_from_weight_grad(t.dims, model_.grad(t.param), adapters_.A(t), adapters_.B(t),
                                adapters_.dA(t), adapters_.dB(t));
}

void LoraModel::restore_base() {
  const auto& targets = adapters_.targets();
  for (size_t i = 0; i < targets.size(); ++i) load_w0(i, model_.param(targets[i].param));
  dirty_ = true;
}

}  // namespace sllm
