#include "sllm/adapt/lora_model.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/quant/quant.h"

namespace sllm {

namespace {

GGMLType ggml_type(FrozenType t) {
  return t == FrozenType::Q8_0 ? GGMLType::Q8_0 : t == FrozenType::Q4_0 ? GGMLType::Q4_0 : GGMLType::F32;
}

}  // namespace

FrozenType parse_frozen_type(const std::string& s) {
  if (s == "f32") return FrozenType::F32;
  if (s == "q8_0") return FrozenType::Q8_0;
  if (s == "q4_0") return FrozenType::Q4_0;
  fail("unknown frozen base type '{}' (expected f32, q8_0 or q4_0)", s);
}

const char* frozen_type_name(FrozenType t) {
  return t == FrozenType::Q8_0 ? "q8_0" : t == FrozenType::Q4_0 ? "q4_0" : "f32";
}

LoraModel::LoraModel(Model& model, LoraAdapters& adapters, FrozenType frozen)
    : model_(model), adapters_(adapters), frozen_(frozen) {
  if (model.config().to_json() != adapters.base_config().to_json())
    fail("LoRA adapters were made for another model config ({} vs {})",
         adapters.base_config().to_json().dump(), model.config().to_json().dump());
  const GGMLType gt = ggml_type(frozen_);
  for (const auto& t : adapters_.targets()) {
    float* W = model_.param(t.param);
    const int64_t n = static_cast<int64_t>(t.dims.out) * t.dims.in;
    if (gt != GGMLType::F32 && t.dims.in % kQBlock != 0)
      fail("cannot keep {} as {}: its rows of {} are not a multiple of {}", t.param, frozen_type_name(frozen_),
           t.dims.in, kQBlock);
    std::vector<uint8_t> buf(ggml_row_size(gt, t.dims.in) * t.dims.out);
    quantize_row(gt, W, buf.data(), n);
    dequantize_row(gt, buf.data(), W, n);  // Train against exactly what is stored.
    w0_.push_back(std::move(buf));
  }
}

size_t LoraModel::frozen_bytes() const {
  size_t n = 0;
  for (const auto& b : w0_) n += b.size();
  return n;
}

void LoraModel::load_w0(size_t i, float* dst) const {
  const LoraDims& d = adapters_.targets()[i].dims;
  dequantize_row(ggml_type(frozen_), w0_[i].data(), dst, static_cast<int64_t>(d.out) * d.in);
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
