#include "sllm/model/lora_adapter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"

namespace sllm {

using nlohmann::json;

namespace {

struct ModuleInfo {
  const char* name;
  const char* sllm;  // Parameter suffix after layers.{i}.
  const char* peft;  // Module path after model.layers.{i}.
};
constexpr ModuleInfo kModules[] = {
    {"q", "attn.q.weight", "self_attn.q_proj"},   {"k", "attn.k.weight", "self_attn.k_proj"},
    {"v", "attn.v.weight", "self_attn.v_proj"},   {"o", "attn.o.weight", "self_attn.o_proj"},
    {"gate", "mlp.gate.weight", "mlp.gate_proj"}, {"up", "mlp.up.weight", "mlp.up_proj"},
    {"down", "mlp.down.weight", "mlp.down_proj"},
};

const ModuleInfo* find_module(const std::string& n) {
  for (const auto& m : kModules) {
    std::string peft_leaf = std::string(m.peft).substr(std::string(m.peft).find('.') + 1);
    if (n == m.name || n == peft_leaf) return &m;
  }
  return nullptr;
}

std::string peft_leaf(const ModuleInfo& m) {
  std::string p = m.peft;
  return p.substr(p.find('.') + 1);
}

const ParamSpec& spec_named(const std::vector<ParamSpec>& specs, const std::string& name) {
  for (const auto& s : specs)
    if (s.name == name) return s;
  fail("base model has no parameter '{}'", name);
}

}  // namespace

float LoraConfig::scale() const {
  return rslora ? alpha / std::sqrt(static_cast<float>(r)) : alpha / static_cast<float>(r);
}

std::vector<std::string> LoraConfig::parse_targets(const std::string& csv) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= csv.size()) {
    size_t end = csv.find(',', pos);
    if (end == std::string::npos) end = csv.size();
    std::string n = csv.substr(pos, end - pos);
    n.erase(0, n.find_first_not_of(' '));
    n.erase(n.find_last_not_of(' ') + 1);
    pos = end + 1;
    if (n.empty()) continue;
    const ModuleInfo* m = find_module(n);
    if (!m) fail("unknown LoRA target '{}' (expected q, k, v, o, gate, up, down)", n);
    if (std::find(out.begin(), out.end(), m->name) == out.end()) out.push_back(m->name);
  }
  if (out.empty()) fail("no LoRA targets given in '{}'", csv);
  return out;
}

void LoraConfig::validate(const ModelConfig& base) const {
  if (r < 1 || r > 4096) fail("LoRA rank r = {} must be in [1, 4096]", r);
  if (!(alpha > 0.0f) || !std::isfinite(alpha)) fail("LoRA alpha {} must be positive", alpha);
  if (targets.empty()) fail("no LoRA targets");
  for (const auto& t : targets) {
    const ModuleInfo* m = find_module(t);
    if (!m) fail("unknown LoRA target '{}' (expected q, k, v, o, gate, up, down)", t);
    if (!base.gated_mlp && t == "gate")
      fail(
          "LoRA target 'gate': a plain (ungated) MLP has no gate projection (use q, k, v, o, up, "
          "down)");
  }
}

LoraAdapters::LoraAdapters(const ModelConfig& base, const LoraConfig& cfg)
    : base_(base), cfg_(cfg) {
  base_.validate();
  cfg_.validate(base_);
  cfg_.targets = LoraConfig::parse_targets(fmt::format("{}", fmt::join(cfg_.targets, ",")));
  const auto specs = param_specs(base_);
  size_t off = 0;
  for (int i = 0; i < base_.n_layer; ++i) {
    for (const auto& m : kModules) {
      if (std::find(cfg_.targets.begin(), cfg_.targets.end(), m.name) == cfg_.targets.end())
        continue;
      LoraTarget t;
      t.module = m.name;
      t.layer = i;
      t.param = fmt::format("layers.{}.{}", i, m.sllm);
      t.peft_name = fmt::format("base_model.model.model.layers.{}.{}", i, m.peft);
      const ParamSpec& s = spec_named(specs, t.param);
      t.dims = LoraDims{static_cast<int>(s.shape[0]), static_cast<int>(s.shape[1]), cfg_.r,
                        cfg_.scale()};
      t.a_offset = off;
      off += static_cast<size_t>(t.dims.r) * t.dims.in;
      t.b_offset = off;
      off += static_cast<size_t>(t.dims.out) * t.dims.r;
      targets_.push_back(std::move(t));
    }
  }
  params_.assign(off, 0.0f);
  grads_.assign(off, 0.0f);
}

void LoraAdapters::init(uint64_t seed) {
  for (size_t i = 0; i < targets_.size(); ++i)
    lora_init(targets_[i].dims, A(targets_[i]), B(targets_[i]), seed + i);
}

void LoraAdapters::zero_grad() {
  std::fill(grads_.begin(), grads_.end(), 0.0f);
}

void LoraAdapters::save(const std::string& dir, const std::string& base_name) const {
  make_dirs(dir);
  std::vector<TensorToWrite> tensors;
  for (const auto& t : targets_) {
    const auto& d = t.dims;
    tensors.push_back({t.peft_name + ".lora_A.weight",
                       DType::F32,
                       {d.r, d.in},
                       A(t),
                       sizeof(float) * d.r * d.in});
    tensors.push_back({t.peft_name + ".lora_B.weight",
                       DType::F32,
                       {d.out, d.r},
                       B(t),
                       sizeof(float) * d.out * d.r});
  }
  write_safetensors(dir + "/adapter_model.safetensors", tensors,
                    {{"format", "pt"}, {"sllm_base_config", base_.to_json().dump()}});
  json modules = json::array();
  for (const auto& m : kModules)
    if (std::find(cfg_.targets.begin(), cfg_.targets.end(), m.name) != cfg_.targets.end())
      modules.push_back(peft_leaf(m));
  json c = {{"peft_type", "LORA"},
            {"task_type", "CAUSAL_LM"},
            {"base_model_name_or_path", base_name},
            {"r", cfg_.r},
            {"lora_alpha", cfg_.alpha},
            {"use_rslora", cfg_.rslora},
            {"target_modules", modules},
            {"lora_dropout", 0.0},
            {"bias", "none"},
            {"fan_in_fan_out", false},
            {"inference_mode", true}};
  write_file_atomic(dir + "/adapter_config.json", c.dump(2) + "\n");
}

LoraAdapters LoraAdapters::load(const std::string& dir, const ModelConfig& base) {
  const std::string cfg_path = dir + "/adapter_config.json",
                    st_path = dir + "/adapter_model.safetensors";
  json j;
  try {
    j = json::parse(read_file(cfg_path));
  } catch (const json::exception& e) {  // out_of_range too: a number past double.
    fail("{}: invalid JSON: {}", cfg_path, e.what());
  }
  if (!j.is_object() || j.value("peft_type", "") != "LORA")
    fail("{}: not a LoRA adapter (peft_type must be LORA)", cfg_path);
  LoraConfig cfg;
  try {
    cfg.r = j.at("r").get<int>();
    cfg.alpha = j.at("lora_alpha").get<float>();
    cfg.rslora = j.value("use_rslora", false);
    if (j.value("fan_in_fan_out", false))
      fail("{}: fan_in_fan_out adapters (GPT-2 Conv1D layout) are not supported", cfg_path);
    const json& tm = j.at("target_modules");
    if (tm.is_string())
      fail("{}: target_modules as a regular expression is not supported; list the modules",
           cfg_path);
    cfg.targets.clear();
    for (const auto& m : tm) cfg.targets.push_back(m.get<std::string>());
  } catch (const json::exception& e) {
    fail("{}: bad or missing field: {}", cfg_path, e.what());
  }
  cfg.targets = LoraConfig::parse_targets(fmt::format("{}", fmt::join(cfg.targets, ",")));
  cfg.validate(base);

  SafetensorsReader r(st_path);
  auto bc = r.metadata().find("sllm_base_config");
  if (bc != r.metadata().end()) {
    ModelConfig trained_on;
    try {
      trained_on = ModelConfig::from_json(json::parse(bc->second));
    } catch (const std::exception& e) {
      fail("{}: metadata sllm_base_config is invalid: {}", st_path, e.what());
    }
    if (trained_on.to_json() != base.to_json())
      fail("adapter {} was trained for a different base model: adapter base config {} vs base {}",
           dir, trained_on.to_json().dump(), base.to_json().dump());
  }
  LoraAdapters a(base, cfg);
  std::set<std::string> expected;
  for (const auto& t : a.targets_) {
    for (bool is_a : {true, false}) {
      const std::string name = t.peft_name + (is_a ? ".lora_A.weight" : ".lora_B.weight");
      expected.insert(name);
      const TensorView* v = r.find(name);
      if (!v) fail("adapter {} does not match its base: tensor {} is missing", st_path, name);
      std::vector<int64_t> want = is_a ? std::vector<int64_t>{t.dims.r, t.dims.in}
                                       : std::vector<int64_t>{t.dims.out, t.dims.r};
      if (v->shape != want)
        fail("adapter {} does not match its base: {} has shape [{}], the base needs [{}]", st_path,
             name, fmt::join(v->shape, ", "), fmt::join(want, ", "));
      if (v->dtype != DType::F32)
        fail("adapter {}: {} is {}, only F32 adapters are supported", st_path, name,
             dtype_name(v->dtype));
      float* dst = is_a ? a.A(t) : a.B(t);
      std::memcpy(dst, v->data, v->nbytes);
      for (int64_t k = 0; k < v->numel(); ++k)
        if (!std::isfinite(dst[k])) fail("adapter {}: {} holds a non-finite value", st_path, name);
    }
  }
  for (const auto& v : r.tensors())
    if (!expected.count(v.name))
      fail(
          "adapter {} does not match its base: tensor {} belongs to no LoRA target of this "
          "{}-layer base",
          st_path, v.name, base.n_layer);
  return a;
}

void LoraAdapters::merge_into(const std::vector<ParamSpec>& specs, float* params,
                              float sign) const {
  for (const auto& t : targets_) {
    float* W = params + spec_named(specs, t.param).offset;
    lora_merge(t.dims, W, A(t), B(t), W, sign);
  }
}

}  // namespace sllm
