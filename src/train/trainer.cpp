#include "sllm/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
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

float default_train_loss(Model& m, const Batch& b, float scale) {
  const float loss = m.forward(b.tokens.data(), b.targets.data(), b.B, b.T);
  m.backward(scale);
  return loss;
}

float default_eval_loss(Model& m, const Batch& b) {
  return m.forward(b.tokens.data(), b.targets.data(), b.B, b.T);
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

TrainConfig saved_train_config(const std::string& out) {
  Checkpoint c(out);
  const json& st = c.train_state();
  if (!st.contains("args")) fail("{}/train_state.json has no 'args'", c.dir());
  TrainConfig cfg = TrainConfig::from_json(st["args"]);
  cfg.out = out;
  cfg.resume = true;
  return cfg;
}

Trainer::Trainer(TrainConfig cfg, TrainHooks hooks)
    : cfg_(std::move(cfg)), hooks_(std::move(hooks)) {
  cfg_.validate();
  set_num_threads(cfg_.threads);
  const bool writer = hooks_.rank == 0;
  if (writer) make_dirs(cfg_.out);
  if (!cfg_.data.empty() && !hooks_.train_data)
    cfg_.data = std::filesystem::absolute(cfg_.data).string();

  std::optional<Checkpoint> ck;
  if (cfg_.resume) {
    ck.emplace(writer ? reopen_for_resume(cfg_.out) : Checkpoint(cfg_.out));
    tok_ = ck->tokenizer();
    cfg_.model = ck->model_config();
  } else if (!cfg_.init_from.empty()) {
    if (!file_exists(cfg_.init_from + "/config.json"))
      fail("--init-from {}: not an sllm model directory (config.json not found)", cfg_.init_from);
    cfg_.model = ModelConfig::from_json(json::parse(read_file(cfg_.init_from + "/config.json")));
    tok_ = load_tokenizer(cfg_.init_from + "/tokenizer.sllmtok");
  }
  if (hooks_.tokenizer) tok_ = hooks_.tokenizer;
  prepare_data();
  if (!cfg_.resume && cfg_.init_from.empty()) cfg_.model.vocab_size = tok_->vocab_size();
  if (tok_->vocab_size() > cfg_.model.vocab_size)
    fail("the tokenizer has {} tokens but the model's vocabulary only {}", tok_->vocab_size(),
         cfg_.model.vocab_size);
  if (cfg_.lr_decay_iters == 0) cfg_.lr_decay_iters = cfg_.max_iters;
  if (cfg_.checkpoint_interval == 0) cfg_.checkpoint_interval = cfg_.eval_interval;
  cfg_.model.validate();

  check_training_memory(cfg_.model, cfg_.batch_size, cfg_.model.block_size,
                        cfg_.dtype == "bfloat16");
  model_ = std::make_unique<Model>(cfg_.model);
  model_->set_compute_dtype(parse_compute_dtype(cfg_.dtype));
  if (model_->compute_dtype() == ComputeDtype::BFloat16 && !bf16_matmul_support().fast && writer)
    std::fprintf(stderr,
                 "sllm train: warning: --dtype bfloat16 without a native bf16 matrix kernel on "
                 "this CPU: %s. The arithmetic is the same, but it is slower than --dtype "
                 "float32.\n",
                 bf16_matmul_support().implementation.c_str());
  hyper_ = AdamWParams{cfg_.lr, cfg_.beta1, cfg_.beta2, cfg_.eps, cfg_.weight_decay};
  sched_ = LrSchedule{cfg_.lr, cfg_.min_lr, cfg_.warmup_iters, cfg_.lr_decay_iters};

  if (ck) {
    ck->load_model(*model_);
    ck->load_optimizer(*model_, opt_);
    const json& st = ck->train_state();
    step_ = ck->step();
    tokens_seen_ = st.value("tokens_seen", uint64_t{0});
    elapsed_before_ = st.value("elapsed_s", 0.0);
    if (!st.contains("data") || !st["data"].contains("train"))
      fail("{}/train_state.json has no data position", ck->dir());
    train_->restore(st["data"]["train"]);
    last_saved_step_ = step_;
  } else if (!cfg_.init_from.empty()) {
    load_model_params(*model_, cfg_.init_from + "/model.safetensors");
  } else {
    model_->init_weights(cfg_.seed);
  }
  if (writer)
    metrics_ = std::make_unique<MetricsLog>(cfg_.out + "/metrics.jsonl", cfg_.resume ? step_ : -1);
}

Trainer::~Trainer() = default;

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
  const auto& train_loss = hooks_.train_loss ? hooks_.train_loss : default_train_loss;
  model_->zero_grad();
  double loss = 0;
  for (int k = 0; k < accum; ++k) {
    train_->next(batch_);
    loss += train_loss(*model_, batch_, 1.0f / static_cast<float>(accum));
    tokens_seen_ += static_cast<uint64_t>(batch_.B) * batch_.T;
  }
  loss /= accum;
  if (hooks_.sync_gradients) hooks_.sync_gradients(model_->grads(), loss);
  const std::string kept = last_saved_step_ >= 0
                               ? fmt::format("the last good checkpoint (step {}) is kept in {}",
                                             last_saved_step_, cfg_.out)
                               : std::string("no checkpoint had been written yet");
  if (!std::isfinite(loss))
    fail(
        "training diverged at step {}: the loss is {} (lr {:.3g}); stopped, {}. Try a lower --lr "
        "or --grad-clip",
        step_, loss, sched_.at(step_), kept);
  last_grad_norm_ = clip_grad_norm(*model_, cfg_.grad_clip);
  if (!std::isfinite(last_grad_norm_))
    fail(
        "training diverged at step {}: the gradient norm is {} (loss {:.4f}); stopped, {}. Try a "
        "lower --lr",
        step_, last_grad_norm_, loss, kept);
  last_lr_ = sched_.at(step_);
  hyper_.lr = last_lr_;
  adamw_step(*model_, opt_, hyper_);
  ++step_;
  return loss;
}

double Trainer::evaluate() {
  if (!val_ || cfg_.eval_iters == 0) return NAN;
  const auto& eval_loss = hooks_.eval_loss ? hooks_.eval_loss : default_eval_loss;
  if (cfg_.eval_iters < 0) {
    if (!val_all_)
      fail("--eval-iters {} (the whole validation split) needs the trainer's own corpus data",
           cfg_.eval_iters);
    // Weighted by windows: the last batch may be short.
    double sum = 0;
    for (int i = 0; i < val_all_->num_batches(); ++i) {
      val_all_->batch(i, batch_);
      sum += static_cast<double>(eval_loss(*model_, batch_)) * batch_.B;
    }
    return sum / static_cast<double>(val_all_->num_windows());
  }
  val_->restore(val_start_);
  double sum = 0;
  for (int i = 0; i < cfg_.eval_iters; ++i) {
    val_->next(batch_);
    sum += eval_loss(*model_, batch_);
  }
  return sum / cfg_.eval_iters;
}

std::string Trainer::sample(const std::string& prompt, int max_tokens, uint64_t seed) {
  SamplingOptions o;
  o.max_tokens = max_tokens;
  o.temperature = cfg_.sample_temperature;
  o.top_k = cfg_.sample_top_k;
  o.seed = seed;
  return sample_text(*model_, *tok_, prompt, o);
}

void Trainer::save_checkpoint() {
  if (hooks_.rank != 0 || step_ == last_saved_step_) return;
  json extra;
  extra["args"] = cfg_.to_json();
  extra["data"] = {{"train", train_->state()}};
  extra["tokens_seen"] = tokens_seen_;
  extra["elapsed_s"] = elapsed_before_ + run_seconds();
  sllm::save_checkpoint(cfg_.out, step_, *model_, *tok_, opt_, hyper_, extra,
                        cfg_.keep_checkpoints);
  last_saved_step_ = step_;
}

double Trainer::run_seconds() const {
  return run_started_ ? seconds_since(*run_started_) : 0.0;
}

TrainResult Trainer::run() {
  run_started_ = Clock::now();
  const int start = step_, T = cfg_.model.block_size;
  const double flops_tok = flops_per_token(cfg_.model, T);
  const double peak_gflops =
      cfg_.peak_gflops > 0 ? cfg_.peak_gflops : measure_sgemm_peak_gflops(num_threads());
  log(fmt::format(
      "sllm train: {} {} parameters ({} layers, {} heads, {} wide, vocab {}), batch {} x {} x {} "
      "tokens, {} steps{}, {} -> {}; MFU against {:.0f} GFLOP/s ({})",
      family_name(cfg_.model), num_params(cfg_.model), cfg_.model.n_layer, cfg_.model.n_head,
      cfg_.model.n_embd, cfg_.model.vocab_size, cfg_.batch_size, cfg_.grad_accum, T, cfg_.max_iters,
      start > 0 ? fmt::format(", resuming at step {}", start) : "",
      cfg_.dtype == "bfloat16"
          ? "bfloat16 matrix products (" + bf16_matmul_support().implementation + ")"
          : std::string("float32"),
      cfg_.out, peak_gflops,
      cfg_.peak_gflops > 0 ? "--peak-gflops"
                           : fmt::format("measured SGEMM peak, {} threads", num_threads())));
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
    const bool last = step_ >= cfg_.max_iters;
    if (step_ % cfg_.eval_interval == 0 || last) {
      const double v = evaluate();
      if (std::isfinite(v)) {
        rec.val_loss = v;
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
    rec.loss = loss;
    rec.lr = last_lr_;
    rec.grad_norm = last_grad_norm_;
    rec.tokens_per_s = static_cast<double>(cfg_.batch_size) * cfg_.grad_accum * T / dt;
    rec.elapsed_s = elapsed_before_ + run_seconds();
    res.final_loss = loss;
    if (metrics_) metrics_->append(rec);
    const double mfu = flops_tok * rec.tokens_per_s / (peak_gflops * 1e9);
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
  log(fmt::format("done: {} steps in {}{}; model saved in {}", step_, human_duration(res.elapsed_s),
                  res.final_val_loss ? fmt::format(", val loss {:.4f}", *res.final_val_loss) : "",
                  cfg_.out));
  return res;
}

TrainResult train(const TrainConfig& cfg, TrainHooks hooks) {
  return Trainer(cfg, std::move(hooks)).run();
}

}  // namespace sllm
