#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "sllm/common/error.h"
#include "sllm/model/presets.h"
#include "sllm/train/trainer.h"

namespace sllm {

using nlohmann::json;

namespace {
// 0.9f is stored as 0.9, not 0.8999999761581421: the shortest decimal that reads back as the
// same float.
double shortest(float f) {
  return std::stod(fmt::format("{}", f));
}
}  // namespace

// Each command's defaults, one row per mode; a field left out of the table keeps the member
// initializer of trainer.h (TrainMode::Library: those initializers alone). Fine-tuning starts from
// a trained model, so it takes a 10x lower rate; neither it nor distillation decays weights or
// samples text by default.
namespace {
struct ModeDefaults {
  TrainMode mode;
  int batch_size, max_iters, warmup_iters, eval_interval, eval_iters, sample_tokens;
  float lr, min_lr, weight_decay, beta2;
};
// clang-format off
constexpr ModeDefaults kModeDefaults[] = {
  // mode               batch iters warmup eval_int eval_iters samples  lr     min_lr  wd    beta2
  {TrainMode::Pretrain, 16,   1000, 50,    200,     10,        200,     2e-3f, 2e-4f,  0.1f, 0.99f},
  {TrainMode::Finetune, 8,    200,  10,    50,      20,        0,       1e-4f, 1e-5f,  0.0f, 0.95f},
  {TrainMode::Distill,  8,    200,  10,    50,      20,        0,       1e-3f, 1e-4f,  0.0f, 0.95f},
};
// clang-format on
}  // namespace

TrainConfig TrainConfig::defaults(TrainMode mode) {
  TrainConfig c;
  for (const ModeDefaults& d : kModeDefaults) {
    if (d.mode != mode) continue;
    c.batch_size = d.batch_size;
    c.max_iters = d.max_iters;
    c.warmup_iters = d.warmup_iters;
    c.eval_interval = d.eval_interval;
    c.eval_iters = d.eval_iters;
    c.sample_tokens = d.sample_tokens;
    c.lr = d.lr;
    c.min_lr = d.min_lr;
    c.weight_decay = d.weight_decay;
    c.beta2 = d.beta2;
  }
  if (mode == TrainMode::Pretrain) {
    // The demo: a byte-level Llama on the KJV Bible, a few minutes on 2 cores.
    apply_preset(c.model, preset("llama"));
    c.model.n_layer = 4;
    c.model.n_head = 4;
    c.model.n_kv_head = 4;
    c.model.n_embd = 128;
    c.model.block_size = 128;
    c.tokenizer = "byte";
    c.out = "runs/default";
  }
  return c;
}

json TrainConfig::to_json() const {
  return {{"model", model.to_json()},
          {"tokenizer", tokenizer},
          {"data", data},
          {"out", out},
          {"init_from", init_from},
          {"batch_size", batch_size},
          {"grad_accum", grad_accum},
          {"max_iters", max_iters},
          {"max_seconds", max_seconds},
          {"lr_decay_iters", lr_decay_iters},
          {"lr", shortest(lr)},
          {"min_lr", shortest(min_lr)},
          {"warmup_iters", warmup_iters},
          {"weight_decay", shortest(weight_decay)},
          {"beta1", shortest(beta1)},
          {"beta2", shortest(beta2)},
          {"eps", shortest(eps)},
          {"grad_clip", shortest(grad_clip)},
          {"val_fraction", val_fraction},
          {"eval_interval", eval_interval},
          {"eval_iters", eval_iters},
          {"sample_interval", sample_interval},
          {"sample_tokens", sample_tokens},
          {"sample_temperature", shortest(sample_temperature)},
          {"sample_top_k", sample_top_k},
          {"sample_prompt", sample_prompt},
          {"checkpoint_interval", checkpoint_interval},
          {"keep_checkpoints", keep_checkpoints},
          {"seed", seed},
          {"threads", threads},
          {"dtype", dtype},
          {"peak_gflops", peak_gflops}};
}

namespace {
template <typename T>
void read_field(const json& j, const char* key, T& out) {
  if (!j.contains(key)) return;
  const json& v = j[key];
  bool ok;
  if constexpr (std::is_same_v<T, std::string>)
    ok = v.is_string();
  else if constexpr (std::is_same_v<T, bool>)
    ok = v.is_boolean();
  else if constexpr (std::is_integral_v<T>)
    ok = v.is_number_integer();
  else
    ok = v.is_number();
  if (!ok) fail("train args: field '{}' has the wrong type ({})", key, v.dump());
  out = v.get<T>();
}
}  // namespace

TrainConfig TrainConfig::from_json(const json& j) {
  if (!j.is_object()) fail("train args must be a JSON object");
  TrainConfig c;
  if (j.contains("model")) c.model = ModelConfig::from_json(j["model"]);
  read_field(j, "tokenizer", c.tokenizer);
  read_field(j, "data", c.data);
  read_field(j, "out", c.out);
  read_field(j, "init_from", c.init_from);
  read_field(j, "batch_size", c.batch_size);
  read_field(j, "grad_accum", c.grad_accum);
  read_field(j, "max_iters", c.max_iters);
  read_field(j, "max_seconds", c.max_seconds);
  read_field(j, "lr_decay_iters", c.lr_decay_iters);
  read_field(j, "lr", c.lr);
  read_field(j, "min_lr", c.min_lr);
  read_field(j, "warmup_iters", c.warmup_iters);
  read_field(j, "weight_decay", c.weight_decay);
  read_field(j, "beta1", c.beta1);
  read_field(j, "beta2", c.beta2);
  read_field(j, "eps", c.eps);
  read_field(j, "grad_clip", c.grad_clip);
  read_field(j, "val_fraction", c.val_fraction);
  read_field(j, "eval_interval", c.eval_interval);
  read_field(j, "eval_iters", c.eval_iters);
  read_field(j, "sample_interval", c.sample_interval);
  read_field(j, "sample_tokens", c.sample_tokens);
  read_field(j, "sample_temperature", c.sample_temperature);
  read_field(j, "sample_top_k", c.sample_top_k);
  read_field(j, "sample_prompt", c.sample_prompt);
  read_field(j, "checkpoint_interval", c.checkpoint_interval);
  read_field(j, "keep_checkpoints", c.keep_checkpoints);
  read_field(j, "seed", c.seed);
  read_field(j, "threads", c.threads);
  read_field(j, "dtype", c.dtype);
  read_field(j, "peak_gflops", c.peak_gflops);
  c.validate();
  return c;
}

void TrainConfig::validate() const {
  auto need = [](bool ok, const char* flag, auto v, const char* why) {
    if (!ok) fail("invalid training setting {} {}: {}", flag, v, why);
  };
  model.validate();
  need(!out.empty(), "--out", "''", "an output folder is needed");
  need(batch_size >= 1 && batch_size <= 1 << 20, "--batch-size", batch_size,
       "must be in [1, 1048576]");
  need(grad_accum >= 1 && grad_accum <= 1 << 20, "--grad-accum", grad_accum,
       "must be in [1, 1048576]");
  need(max_iters >= 0, "--max-iters", max_iters, "must be >= 0");
  need(std::isfinite(max_seconds) && max_seconds >= 0, "--max-seconds", max_seconds,
       "must be >= 0 (0: no limit)");
  need(lr_decay_iters >= 0, "--lr-decay-iters", lr_decay_iters, "must be >= 0");
  need(std::isfinite(lr) && lr > 0, "--lr", lr, "must be a positive number");
  need(std::isfinite(min_lr) && min_lr >= 0, "--min-lr", min_lr, "must be >= 0");
  need(warmup_iters >= 0, "--warmup-iters", warmup_iters, "must be >= 0");
  need(std::isfinite(weight_decay) && weight_decay >= 0, "--weight-decay", weight_decay,
       "must be >= 0");
  need(beta1 >= 0 && beta1 < 1, "--beta1", beta1, "must be in [0, 1)");
  need(beta2 >= 0 && beta2 < 1, "--beta2", beta2, "must be in [0, 1)");
  need(std::isfinite(eps) && eps > 0, "eps", eps, "must be positive");
  need(std::isfinite(grad_clip) && grad_clip >= 0, "--grad-clip", grad_clip,
       "must be >= 0 (0: off)");
  need(val_fraction > 0 && val_fraction < 1, "--val-fraction", val_fraction, "must be in (0, 1)");
  need(eval_interval >= 1, "--eval-interval", eval_interval, "must be >= 1");
  need(eval_iters >= -1, "--eval-iters", eval_iters,
       "must be >= 0, or -1 for the whole validation split");
  need(sample_interval >= 0, "--sample-interval", sample_interval, "must be >= 0");
  need(sample_tokens >= 0, "--sample-tokens", sample_tokens, "must be >= 0");
  need(std::isfinite(sample_temperature) && sample_temperature >= 0, "--temperature",
       sample_temperature, "must be >= 0");
  need(sample_top_k >= 0, "--top-k", sample_top_k, "must be >= 0");
  need(checkpoint_interval >= 0, "--checkpoint-interval", checkpoint_interval, "must be >= 0");
  need(keep_checkpoints >= 1, "--keep-checkpoints", keep_checkpoints, "must be >= 1");
  need(threads >= 0 && threads <= 4096, "--threads", threads, "must be in [0, 4096]");
  if (dtype != "float32" && dtype != "bfloat16")
    fail("invalid training setting --dtype {}: use float32 or bfloat16{}", dtype,
         dtype == "float16" ? " (there is no fp16 training path on CPU)" : "");
  need(std::isfinite(peak_gflops) && peak_gflops >= 0, "--peak-gflops", peak_gflops,
       "must be positive (or 0: measured)");
}

}  // namespace sllm
