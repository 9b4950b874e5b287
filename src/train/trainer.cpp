#include "sllm/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/format/model_dir.h"
#include "sllm/io/file.h"
#include "sllm/kernels/bf16.h"
#include "sllm/kernels/peak.h"
#include "sllm/model/presets.h"
#include "sllm/train/checkpoint.h"
#include "sllm/train/sampling.h"

namespace sllm {

using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string human_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t / 60) % 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

std::string gib(double bytes) {
  return fmt::format("{:.2f} GiB", bytes / (1024.0 * 1024 * 1024));
}

}  // namespace

size_t available_memory_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  size_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return SIZE_MAX;  // Unknown: do not refuse.
}

void check_training_memory(const ModelConfig& cfg, int batch, int seq_len, bool bf16) {
  const MemoryEstimate m = estimate_training_memory(cfg, batch, seq_len, bf16);
  const size_t avail = available_memory_bytes();
  if (m.total() > avail)
    fail(
        "this model cannot be trained in the memory available: it needs about {} ({} parameters: "
        "{} weights, {} "
        "gradients, {} AdamW state, {} activations for batch {} x {} tokens) but only {} is "
        "available; use a "
        "smaller model, --batch-size or --block-size",
        gib(double(m.total())), num_params(cfg), gib(double(m.params)), gib(double(m.grads)),
        gib(double(m.optimizer)), gib(double(m.activations)), batch, seq_len, gib(double(avail)));
}

namespace {

ResumeFrom resume_from(const TrainConfig& cfg) {
  return cfg.resume_latest_valid ? ResumeFrom::LatestValid : ResumeFrom::Published;
}

}  // namespace

TrainConfig saved_train_config(const std::string& out, bool latest_valid) {
  const Checkpoint c =
      open_for_resume(out, latest_valid ? ResumeFrom::LatestValid : ResumeFrom::Published);
  const json& st = c.train_state();
  if (!st.contains("args")) fail("{}/train_state.json has no 'args'", c.dir());
  TrainConfig cfg = TrainConfig::from_json(st["args"]);
  cfg.out = out;
  cfg.resume = true;
  cfg.resume_latest_valid = latest_valid;
  return cfg;
}

namespace {

// Flags a resumed fine-tune or distillation may change (as `sllm train --resume` allows).
bool may_change_on_resume(const std::string& key) {
  static const char* const keys[] = {"max_iters",        "max_seconds",
                                     "eval_interval",    "eval_iters",
                                     "sample_interval",  "sample_tokens",
                                     "sample_prompt",    "sample_temperature",
                                     "sample_top_k",     "checkpoint_interval",
                                     "keep_checkpoints", "threads",
                                     "peak_gflops",      "out"};
  for (const char* k : keys)
    if (key == k) return true;
  return false;
}

void check_same_run(const json& saved, const json& now, const std::string& what,
                    const std::string& dir) {
  for (const auto& [key, value] : now.items()) {
    if (may_change_on_resume(key)) continue;
    if (!saved.contains(key) || saved[key] != value)
      fail("--resume: {} '{}' is {} but the checkpoint in {} was trained with {}", what, key,
           value.dump(), dir, saved.contains(key) ? saved[key].dump() : "none");
  }
}

}  // namespace

Trainer::Trainer(TrainConfig cfg, TrainHooks hooks)
    : cfg_(std::move(cfg)), hooks_(std::move(hooks)) {
  cfg_.validate();
  const bool decay_at_max_iters = cfg_.lr_decay_iters == 0;
  if (cfg_.lr_decay_iters == 0) cfg_.lr_decay_iters = cfg_.max_iters;
  if (cfg_.checkpoint_interval == 0) cfg_.checkpoint_interval = cfg_.eval_interval;
  set_num_threads(cfg_.threads);
  const bool writer = hooks_.rank == 0;
  const bool prebuilt = hooks_.backend != nullptr;
  if (writer) make_dirs(cfg_.out);
  if (!cfg_.data.empty() && !hooks_.train_data)
    cfg_.data = std::filesystem::absolute(cfg_.data).string();
  if (prebuilt) cfg_.model = hooks_.backend->model().config();

  std::optional<Checkpoint> ck;
  if (cfg_.resume) {
    std::string passed_over;
    ck.emplace(writer ? reopen_for_resume(cfg_.out, resume_from(cfg_), &passed_over)
                      : open_for_resume(cfg_.out, resume_from(cfg_)));
    if (!passed_over.empty())
      std::fprintf(stderr,
                   "%s: --resume latest-valid: continuing from step %d (%s); passed over: %s\n",
                   hooks_.name.c_str(), ck->step(), ck->dir().c_str(), passed_over.c_str());
    if (prebuilt) {
      const json& st = ck->train_state();
      // A new --max-iters keeps the schedule the run started with (as `sllm train --resume`).
      const json saved_decay = st.value("args", json::object()).value("lr_decay_iters", json());
      if (decay_at_max_iters && saved_decay.is_number_integer())
        cfg_.lr_decay_iters = saved_decay.get<int>();
      check_same_run(st.value("args", json::object()), cfg_.to_json(), "setting", ck->dir());
      check_same_run(st.value("settings", json::object()), hooks_.settings, "setting", ck->dir());
    }
    tok_ = ck->tokenizer();
    cfg_.model = ck->model_config();
  } else if (!cfg_.init_from.empty()) {
    if (prebuilt) fail("--init-from cannot be combined with a model the caller built");
    if (!file_exists(cfg_.init_from + "/config.json"))
      fail("--init-from {}: not an sllm model directory (config.json not found)", cfg_.init_from);
    cfg_.model = ModelConfig::from_json(json::parse(read_file(cfg_.init_from + "/config.json")));
    tok_ = load_tokenizer(cfg_.init_from + "/tokenizer.sllmtok");
  }
  if (hooks_.tokenizer) tok_ = hooks_.tokenizer;
  prepare_data();
  if (!prebuilt && !cfg_.resume && cfg_.init_from.empty())
    cfg_.model.vocab_size = tok_->vocab_size();
  if (tok_->vocab_size() > cfg_.model.vocab_size)
    fail("the tokenizer has {} tokens but the model's vocabulary only {}", tok_->vocab_size(),
         cfg_.model.vocab_size);
  cfg_.model.validate();

  std::unique_ptr<Model> model;
  // A device backend trains in its own memory; the host model only holds the weights.
  const bool on_cpu = !prebuilt && !hooks_.make_backend;
  if (!prebuilt) {
    if (on_cpu)
      check_training_memory(cfg_.model, cfg_.batch_size, cfg_.model.block_size,
                            cfg_.dtype == "bfloat16");
    model = std::make_unique<Model>(cfg_.model);
    model->set_compute_dtype(parse_compute_dtype(cfg_.dtype));
    if (on_cpu && model->compute_dtype() == ComputeDtype::BFloat16 && !bf16_matmul_support().fast &&
        writer)
      std::fprintf(stderr,
                   "%s: warning: --dtype bfloat16 without a native bf16 matrix kernel on "
                   "this CPU: %s. The arithmetic is the same, but it is slower than --dtype "
                   "float32.\n",
                   hooks_.name.c_str(), bf16_matmul_support().implementation.c_str());
  }
  hyper_ = AdamWParams{cfg_.lr, cfg_.beta1, cfg_.beta2, cfg_.eps, cfg_.weight_decay};
  sched_ = LrSchedule{cfg_.lr, cfg_.min_lr, cfg_.warmup_iters, cfg_.lr_decay_iters};

  if (prebuilt) {
    backend_ = std::move(hooks_.backend);
  } else {
    if (ck)
      ck->load_model(*model);
    else if (!cfg_.init_from.empty())
      load_model_params(*model, cfg_.init_from + "/model.safetensors");
    else
      model->init_weights(cfg_.seed);
    backend_ = hooks_.make_backend ? hooks_.make_backend(std::move(model))
                                   : make_cpu_backend(std::move(model));
  }
  if (ck) {
    if (prebuilt) ck->load_model(backend_->model());
    if (TrainedTensors* t = backend_->trained())
      ck->load_trained(*t, backend_->optimizer());
    else
      ck->load_optimizer(backend_->model(), backend_->optimizer());
    const json& st = ck->train_state();
    step_ = ck->step();
    tokens_seen_ = st.value("tokens_seen", uint64_t{0});
    elapsed_before_ = st.value("elapsed_s", 0.0);
    train_s_ = st.value("train_s", 0.0);
    if (!st.contains("data") || !st["data"].contains("train"))
      fail("{}/train_state.json has no data position", ck->dir());
    train_->restore(st["data"]["train"]);
    last_saved_step_ = step_;
  }
  if (ck || !prebuilt) backend_->from_host();
  if (writer)
    metrics_ = std::make_unique<MetricsLog>(cfg_.out + "/metrics.jsonl", cfg_.resume ? step_ : -1);
}

Trainer::~Trainer() = default;

const std::vector<StepRecord>& Trainer::metrics_records() const {
  static const std::vector<StepRecord> none;
  return metrics_ ? metrics_->records() : none;
}

void Trainer::prepare_data() {
  const int T = cfg_.model.block_size;
  if (hooks_.train_data) {
    if (!tok_) fail("a custom batch source needs a tokenizer in TrainHooks");
    train_ = std::move(hooks_.train_data);
    val_ = std::move(hooks_.val_data);
  } else {
    std::string corpus = cfg_.data;
    if (corpus.empty()) {
      corpus = cfg_.out + "/data/kjv.txt";
      write_default_corpus(corpus);
    }
    check_corpus(corpus);
    if (!tok_) tok_ = make_tokenizer(cfg_.tokenizer, corpus);
    auto tokens = cached_token_file(*tok_, corpus, cfg_.out + "/data", cfg_.threads);
    const DataSplit split = split_tokens(tokens->size(), cfg_.val_fraction, T);
    train_ = std::make_unique<RandomWindows>(
        tokens, split.train, cfg_.batch_size, T,
        Rng::stream(cfg_.seed, 1000 + static_cast<uint64_t>(hooks_.rank)));
    val_ = std::make_unique<RandomWindows>(tokens, split.val, cfg_.batch_size, T,
                                           Rng::stream(cfg_.seed, 1));
    val_all_ = std::make_unique<ConsecutiveWindows>(tokens, split.val, cfg_.batch_size, T);
  }
  if (val_) val_start_ = val_->state();
}

void Trainer::log(const std::string& line) const {
  if (cfg_.quiet || hooks_.rank != 0) return;
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

double Trainer::step() {
  const int accum = cfg_.grad_accum;
  backend_->zero_grad();
  double loss = 0;
  for (int k = 0; k < accum; ++k) {
    train_->next(batch_);
    const float scale = 1.0f / static_cast<float>(accum);
    loss += hooks_.train_loss ? hooks_.train_loss(backend_->model(), batch_, scale)
                              : backend_->train_loss(batch_, scale);
    tokens_seen_ += static_cast<uint64_t>(batch_.B) * batch_.T;
  }
  loss /= accum;
  if (hooks_.sync_gradients) hooks_.sync_gradients(backend_->host_grads(), loss);
  const std::string kept = last_saved_step_ >= 0
                               ? fmt::format("the last good checkpoint (step {}) is kept in {}",
                                             last_saved_step_, cfg_.out)
                               : std::string("no checkpoint had been written yet");
  if (!std::isfinite(loss))
    fail(
        "training diverged at step {}: the loss is {} (lr {:.3g}); stopped, {}. Try a lower --lr "
        "or --grad-clip",
        step_, loss, sched_.at(step_), kept);
  last_grad_norm_ = backend_->clip_grad_norm(cfg_.grad_clip);
  if (!std::isfinite(last_grad_norm_))
    fail(
        "training diverged at step {}: the gradient norm is {} (loss {:.4f}); stopped, {}. Try a "
        "lower --lr",
        step_, last_grad_norm_, loss, kept);
  last_lr_ = sched_.at(step_);
  hyper_.lr = last_lr_;
  backend_->adamw_step(hyper_);
  ++step_;
  return loss;
}

double Trainer::evaluate() {
  if (hooks_.evaluate) return hooks_.evaluate(*backend_);
  if (!val_ || cfg_.eval_iters == 0) return NAN;
  auto eval_loss = [&](Batch& b) {
    return hooks_.eval_loss ? hooks_.eval_loss(backend_->model(), b) : backend_->eval_loss(b);
  };
  if (cfg_.eval_iters < 0) {
    if (!val_all_)
      fail("--eval-iters {} (the whole validation split) needs the trainer's own corpus data",
           cfg_.eval_iters);
    // Weighted by windows: the last batch may be short.
    double sum = 0;
    for (int i = 0; i < val_all_->num_batches(); ++i) {
      val_all_->batch(i, batch_);
      sum += static_cast<double>(eval_loss(batch_)) * batch_.B;
    }
    return sum / static_cast<double>(val_all_->num_windows());
  }
  val_->restore(val_start_);
  double sum = 0;
  for (int i = 0; i < cfg_.eval_iters; ++i) {
    val_->next(batch_);
    sum += eval_loss(batch_);
  }
  return sum / cfg_.eval_iters;
}

std::string Trainer::sample(const std::string& prompt, int max_tokens, uint64_t seed) {
  SamplingParams p;
  p.temperature = cfg_.sample_temperature;
  p.top_k = cfg_.sample_top_k;
  p.seed = seed;
  backend_->to_host();
  return sample_text(backend_->model(), *tok_, prompt, p, max_tokens);
}

void Trainer::save_checkpoint() {
  if (hooks_.rank != 0 || step_ == last_saved_step_) return;
  json extra;
  extra["args"] = cfg_.to_json();
  extra["data"] = {{"train", train_->state()}};
  extra["tokens_seen"] = tokens_seen_;
  extra["elapsed_s"] = elapsed_before_ + run_seconds();
  extra["train_s"] = train_s_;
  if (!hooks_.settings.is_null()) extra["settings"] = hooks_.settings;
  backend_->to_host();
  sllm::save_checkpoint(cfg_.out, step_, backend_->model(), *tok_, backend_->optimizer(), hyper_,
                        extra, cfg_.keep_checkpoints, backend_->trained());
  last_saved_step_ = step_;
}

double Trainer::run_seconds() const {
  return run_started_ ? seconds_since(*run_started_) : 0.0;
}

TrainResult Trainer::run() {
  run_started_ = Clock::now();
  const int start = step_, T = cfg_.model.block_size;
  // A device backend's peak comes from the caller (cfg.peak_gflops); this CPU's is measured.
  const std::string device = backend_->device();
  const double peak_gflops = cfg_.peak_gflops > 0 ? cfg_.peak_gflops
                             : device.empty()     ? measure_sgemm_peak_gflops(num_threads())
                                                  : 0.0;
  const std::string peak_source =
      cfg_.peak_gflops > 0
          ? (device.empty() ? std::string("--peak-gflops") : "the bf16 peak of " + device)
      : device.empty() ? fmt::format("measured SGEMM peak, {} threads", num_threads())
                       : "unknown for " + device;
  log(fmt::format(
      "{}: {} {} parameters ({} layers, {} heads, {} wide, vocab {}), batch {} x {} x {} "
      "tokens, {} steps{}, {} -> {}; MFU against {:.0f} GFLOP/s ({})",
      hooks_.name, family_name(cfg_.model), num_params(cfg_.model), cfg_.model.n_layer,
      cfg_.model.n_head, cfg_.model.n_embd, cfg_.model.vocab_size, cfg_.batch_size, cfg_.grad_accum,
      T, cfg_.max_iters, start > 0 ? fmt::format(", resuming at step {}", start) : "",
      !device.empty() ? "bfloat16 on " + device
      : cfg_.dtype == "bfloat16"
          ? "bfloat16 matrix products (" + bf16_matmul_support().implementation + ")"
          : std::string("float32"),
      cfg_.out, peak_gflops, peak_source));
  const std::string title =
      fmt::format("{}: {} {} params", cfg_.out, family_name(cfg_.model), num_params(cfg_.model));
  TrainResult res;
  auto write_curve = [&] {
    if (metrics_) write_loss_curve(cfg_.out + "/loss.svg", metrics_->records(), title);
  };
  auto show_sample = [&](int at) {
    if (cfg_.sample_tokens == 0 || hooks_.rank != 0) return;
    const std::string text =
        sample(cfg_.sample_prompt, cfg_.sample_tokens, cfg_.seed + static_cast<uint64_t>(at));
    const std::string block = fmt::format("--- sample at step {} ---\n{}\n---", at, text);
    log(block);
    std::ofstream(cfg_.out + "/samples.txt", std::ios::app) << block << "\n";
  };
  for (;;) {
    StepRecord rec;
    rec.step = step_;
    rec.tokens = tokens_seen_;
    rec.train_s = train_s_;
    const bool last =
        step_ >= cfg_.max_iters || (cfg_.max_seconds > 0 && train_s_ >= cfg_.max_seconds);
    if (step_ % cfg_.eval_interval == 0 || last) {
      const double v = evaluate();
      if (std::isfinite(v)) {
        rec.val_loss = v;
        if (hooks_.eval_metrics) rec.extra = hooks_.eval_metrics();
        res.final_val_loss = v;
        log(fmt::format("step {}: val loss {:.4f}", step_, v));
      }
    }
    if (!last && cfg_.sample_interval > 0 && step_ > start && step_ % cfg_.sample_interval == 0)
      show_sample(step_);
    if (!last && step_ > start && step_ % cfg_.checkpoint_interval == 0) save_checkpoint();
    if (last) {
      rec.lr = sched_.at(step_);
      rec.elapsed_s = elapsed_before_ + run_seconds();
      if (metrics_ && rec.val_loss) metrics_->append(rec);
      break;
    }
    const auto t0 = Clock::now();
    const double loss = step();
    const double dt = seconds_since(t0);
    train_s_ += dt;
    rec.loss = loss;
    for (const auto& [k, v] : backend_->step_metrics()) rec.extra[k] = v;
    rec.lr = last_lr_;
    rec.grad_norm = last_grad_norm_;
    rec.tokens_per_s = static_cast<double>(cfg_.batch_size) * cfg_.grad_accum * batch_.T / dt;
    rec.elapsed_s = elapsed_before_ + run_seconds();
    res.final_loss = loss;
    if (metrics_) metrics_->append(rec);
    // Per token of this step's sequence length (fine-tuning may train shorter than the block).
    const double flops_tok = flops_per_token(cfg_.model, batch_.T);
    const double mfu = peak_gflops > 0 ? flops_tok * rec.tokens_per_s / (peak_gflops * 1e9) : NAN;
    const double eta = run_seconds() / (step_ - start) * (cfg_.max_iters - step_);
    log(
        fmt::format("step {}/{} | loss {:.4f} | lr {:.2e} | grad norm {:.3f} | {:.0f} tok/s | MFU "
                    "{:.1f}% | {:.0f} ms "
                    "| ETA {}",
                    rec.step + 1, cfg_.max_iters, loss, rec.lr, rec.grad_norm, rec.tokens_per_s,
                    100 * mfu, dt * 1000, human_duration(eta)));
    if (rec.val_loss) write_curve();
    if (hooks_.on_step && !hooks_.on_step(rec)) break;
  }
  save_checkpoint();
  write_curve();
  show_sample(step_);
  res.steps = step_;
  res.elapsed_s = elapsed_before_ + run_seconds();
  res.train_s = train_s_;
  res.tokens = tokens_seen_;
  log(fmt::format("done: {} steps in {}{}; model saved in {}", step_, human_duration(res.elapsed_s),
                  res.final_val_loss ? fmt::format(", val loss {:.4f}", *res.final_val_loss) : "",
                  cfg_.out));
  return res;
}

TrainResult train(const TrainConfig& cfg, TrainHooks hooks) {
  return Trainer(cfg, std::move(hooks)).run();
}

}  // namespace sllm
