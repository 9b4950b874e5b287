#include "sllm/cuda/gpu_trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "sllm/common/error.h"
#include "sllm/cuda/cuda_model.h"
#include "sllm/io/file.h"
#include "sllm/model/optimizer.h"
#include "sllm/model/presets.h"
#include "sllm/scale/hardware.h"
#include "sllm/train/checkpoint.h"
#include "sllm/train/data.h"
#include "sllm/train/metrics.h"
#include "sllm/train/rng.h"
#include "sllm/train/schedule.h"

namespace sllm::cuda {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

double catalog_bf16_peak(const std::string& device_name) {
  const std::string name = lower(device_name);
  const scale::Catalog cat = scale::builtin_catalog();
  const scale::Accelerator* best = nullptr;
  for (const scale::Accelerator& a : cat.accelerators)
    if (a.kind == "gpu" && a.has_dtype("bf16") && name.find(lower(a.id)) != std::string::npos &&
        (!best || a.id.size() > best->id.size()))
      best = &a;
  return best ? best->peak_flops("bf16") : 0.0;
}

TrainResult train_on_gpu(TrainConfig cfg) {
  if (cfg.resume) fail("--resume is not supported with --device cuda yet; resume on --device cpu");
  if (!cfg.init_from.empty()) fail("--init-from is not supported with --device cuda yet");
  cfg.validate();
  const std::string gpu = require_device();
  make_dirs(cfg.out);
  if (!cfg.data.empty()) cfg.data = std::filesystem::absolute(cfg.data).string();
  std::string corpus = cfg.data;
  if (corpus.empty()) {
    corpus = cfg.out + "/data/kjv.txt";
    write_default_corpus(corpus);
  }
  check_corpus(corpus);
  std::shared_ptr<Tokenizer> tok = make_tokenizer(cfg.tokenizer, corpus);
  const int T = cfg.model.block_size;
  auto tokens = cached_token_file(*tok, corpus, cfg.out + "/data", cfg.threads);
  const DataSplit split = split_tokens(tokens->size(), cfg.val_fraction, T);
  // The CPU trainer's streams: the same seed draws the same windows.
  RandomWindows train(tokens, split.train, cfg.batch_size, T, Rng::stream(cfg.seed, 1000));
  RandomWindows val(tokens, split.val, cfg.batch_size, T, Rng::stream(cfg.seed, 1));
  const nlohmann::json val_start = val.state();
  cfg.model.vocab_size = tok->vocab_size();
  if (cfg.lr_decay_iters == 0) cfg.lr_decay_iters = cfg.max_iters;
  cfg.model.validate();

  Model host(cfg.model);  // Initialises the weights and receives the trained ones.
  host.init_weights(cfg.seed);
  CudaModel model(cfg.model);
  model.set_params(host.params());
  const LrSchedule sched{cfg.lr, cfg.min_lr, cfg.warmup_iters, cfg.lr_decay_iters};
  AdamWParams hyper{cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay};
  MetricsLog metrics(cfg.out + "/metrics.jsonl", -1);
  const double peak = catalog_bf16_peak(gpu);  // MFU against the GPU's bf16 peak, not --peak-gflops
  const double flops_tok = flops_per_token(cfg.model, T);
  auto log = [&](const std::string& s) {
    if (!cfg.quiet) std::printf("%s\n", s.c_str()), std::fflush(stdout);
  };
  log(fmt::format(
      "sllm train --device cuda on {}: {} {} parameters, batch {} x {} x {} tokens, {} steps -> "
      "{}",
      gpu, family_name(cfg.model), num_params(cfg.model), cfg.batch_size, cfg.grad_accum, T,
      cfg.max_iters, cfg.out));

  Batch batch;
  auto evaluate = [&] {
    if (cfg.eval_iters == 0) return std::nan("");
    val.restore(val_start);
    double sum = 0;
    for (int i = 0; i < cfg.eval_iters; ++i) {
      val.next(batch);
      sum += model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T);
    }
    return sum / cfg.eval_iters;
  };
  TrainResult res;
  const auto started = Clock::now();
  double train_seconds = 0, train_tokens = 0;  // Excluding the first step (cuBLAS warm-up).
  for (int step = 0;; ++step) {
    StepRecord rec;
    rec.step = step;
    const bool last = step >= cfg.max_iters;
    if (step % cfg.eval_interval == 0 || last) {
      const double v = evaluate();
      if (std::isfinite(v)) {
        rec.val_loss = res.final_val_loss = v;
        log(fmt::format("step {}: val loss {:.4f}", step, v));
      }
    }
    if (last) {
      rec.lr = sched.at(step);
      rec.elapsed_s = seconds_since(started);
      if (rec.val_loss) metrics.append(rec);
      break;
    }
    const auto t0 = Clock::now();
    model.zero_grad();
    double loss = 0;
    for (int k = 0; k < cfg.grad_accum; ++k) {
      train.next(batch);
      loss += model.forward(batch.tokens.data(), batch.targets.data(), batch.B, batch.T);
      model.backward(1.0f / static_cast<float>(cfg.grad_accum));
    }
    loss /= cfg.grad_accum;
    if (!std::isfinite(loss))
      fail("training diverged at step {}: the loss is {}; try a lower --lr", step, loss);
    const float norm = model.grad_norm();
    hyper.lr = sched.at(step);
    hyper.grad_scale = clip_scale(norm, cfg.grad_clip);
    model.adamw_step(hyper, step + 1);
    const double dt = seconds_since(t0);
    rec.loss = res.final_loss = loss;
    rec.lr = hyper.lr;
    rec.grad_norm = norm;
    rec.tokens_per_s = double(cfg.batch_size) * cfg.grad_accum * T / dt;
    rec.elapsed_s = seconds_since(started);
    metrics.append(rec);
    if (step > 0) train_seconds += dt, train_tokens += double(cfg.batch_size) * cfg.grad_accum * T;
    log(fmt::format(
        "step {}/{} | loss {:.4f} | lr {:.2e} | grad norm {:.3f} | {:.0f} tok/s | MFU {} | {:.1f} "
        "ms",
        step + 1, cfg.max_iters, loss, rec.lr, norm, rec.tokens_per_s,
        peak > 0 ? fmt::format("{:.1f}%", 100 * flops_tok * rec.tokens_per_s / peak) : "n/a",
        dt * 1000));
  }
  model.get_params(host.params());
  save_model_dir(cfg.out, host, *tok);
  write_loss_curve(cfg.out + "/loss.svg", metrics.records(),
                   fmt::format("{}: {} on {}", cfg.out, family_name(cfg.model), gpu));
  res.steps = cfg.max_iters;
  res.elapsed_s = seconds_since(started);
  if (train_seconds > 0) {
    const double tps = train_tokens / train_seconds;
    log(fmt::format(
        "done: {} steps in {:.1f} s; {:.0f} tok/s after the first step, MFU {} (bf16 peak {:.0f} "
        "TFLOP/s)",
        res.steps, res.elapsed_s, tps,
        peak > 0 ? fmt::format("{:.1f}%", 100 * flops_tok * tps / peak) : "n/a", peak / 1e12));
  }
  log(fmt::format("model saved in {}", cfg.out));
  return res;
}

}  // namespace sllm::cuda
