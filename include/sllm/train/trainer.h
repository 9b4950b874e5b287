// The training loop as a library. `sllm train` (CPU, data parallel under mpirun, and
// `--device cuda`), `sllm finetune` (full and LoRA) and `sllm distill` all run this Trainer with
// their own TrainConfig (defaults per mode: TrainConfig::defaults) and, where they differ, their
// own hooks: the backend that does the arithmetic (sllm/model/train_backend.h: the CPU model,
// LoRA or distillation learners, the CUDA model), the batches, the loss, the evaluation.
//
// One step: zero grads; grad_accum micro-batches of forward + backward (each scaled by
// 1/grad_accum); the gradient-sync hook (data parallel all-reduce); stop on a non-finite loss
// or gradient norm; clip to the global norm; AdamW at the scheduled lr. Eval, samples and
// checkpoints run between steps and never touch the training random streams, so a run resumed
// from its last checkpoint (kill -9 safe, sllm/train/checkpoint.h) repeats an uninterrupted one
// bit for bit.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "sllm/model/config.h"
#include "sllm/model/model.h"
#include "sllm/model/optimizer.h"
#include "sllm/model/train_backend.h"
#include "sllm/tokenizer/tokenizer.h"
#include "sllm/train/data.h"
#include "sllm/train/metrics.h"
#include "sllm/train/schedule.h"

namespace sllm {

// Which command a TrainConfig's defaults are for (TrainConfig::defaults).
enum class TrainMode { Library, Pretrain, Finetune, Distill };

struct TrainConfig {
  // Model (vocab_size comes from the tokenizer; block_size is also the training length T).
  ModelConfig model;
  std::string tokenizer = "byte";  // char | byte | PATH of a saved tokenizer
  std::string data;                // Text file or folder; empty: the default corpus (KJV Bible).
  std::string out = "runs/default";
  std::string init_from;  // Start from this model directory's weights and tokenizer.

  int batch_size = 12, grad_accum = 1, max_iters = 2000;
  double max_seconds = 0;  // > 0: also stop once this much training time (evals not counted).
  int lr_decay_iters = 0;  // 0: max_iters.
  float lr = 1e-3f, min_lr = 1e-4f;
  int warmup_iters = 100;
  float weight_decay = 0.1f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, grad_clip = 1.0f;
  double val_fraction = 0.1;

  int eval_interval = 250, eval_iters = 20;      // eval_iters < 0: the whole validation split.
  int sample_interval = 0, sample_tokens = 200;  // 0: sample only at the end.
  float sample_temperature = 0.8f;
  int sample_top_k = 0;
  std::string sample_prompt = "\n";
  int checkpoint_interval = 0;  // 0: eval_interval.
  int keep_checkpoints = 2;

  uint64_t seed = 1337;
  int threads = 0;  // <= 0: all cores.
  // The matrix products: "float32", or "bfloat16" (bf16 operands, fp32 accumulation; fp32
  // master weights and optimizer). Where oneDNN has no native bf16 kernel for the CPU, bfloat16
  // runs emulated (same arithmetic, slower than float32) and the trainer warns.
  std::string dtype = "float32";
  double peak_gflops = 0;  // For MFU: the machine's fp32 GEMM peak; 0: measured at start.
  bool resume = false;
  // With resume: continue from the newest checkpoint that verifies (a step folder, when the
  // published one is missing or damaged) instead of refusing (`--resume latest-valid`).
  bool resume_latest_valid = false;
  bool quiet = false;  // No progress lines on stdout.

  // The defaults of each command, from one table (src/train/train_config.cpp); its flags
  // override them. Library: the member initializers above.
  static TrainConfig defaults(TrainMode mode);

  nlohmann::json to_json() const;  // Every field but resume, resume_latest_valid and quiet.
  static TrainConfig from_json(const nlohmann::json& j);
  void validate() const;  // Throws sllm::Error naming the bad field.
};

// Pluggable parts. Everything left empty gets the pretraining default.
struct TrainHooks {
  // The trainer's name in progress lines and warnings.
  std::string name = "sllm train";
  // A backend the caller built, weights already set (fine-tuning, distillation): the trainer
  // trains it as it is, or, resuming, loads the checkpoint into it. cfg.model is taken from it.
  std::unique_ptr<TrainBackend> backend;
  // Otherwise the trainer builds and initialises (or loads) the model on the host and hands it
  // to this factory (e.g. the CUDA backend); empty: the CPU model (make_cpu_backend).
  std::function<std::unique_ptr<TrainBackend>(std::unique_ptr<Model>)> make_backend;
  // Called once per step after all micro-batches' backward and before clipping, with the
  // gradients and the step's mean loss: a data-parallel trainer all-reduces both here.
  std::function<void(std::span<float> grads, double& loss)> sync_gradients;
  // Replace the corpus windows (then `tokenizer` must be set too).
  std::unique_ptr<BatchSource> train_data, val_data;
  std::shared_ptr<Tokenizer> tokenizer;
  // Forward + backward of one micro-batch on the CPU model (gradients scaled by loss_scale);
  // returns its loss. Empty: the backend's train_loss.
  std::function<float(Model&, const Batch&, float loss_scale)> train_loss;
  // Loss of one validation batch, forward only. Empty: the backend's eval_loss.
  std::function<float(Model&, const Batch&)> eval_loss;
  // Replaces the whole validation pass (e.g. fixed rows weighted by their counted targets).
  std::function<double(TrainBackend&)> evaluate;
  // Figures of the evaluation that just ran beyond its loss (eval_rewards/...), for its record.
  std::function<std::map<std::string, double>()> eval_metrics;
  // Settings outside TrainConfig that a resumed run must share with the checkpoint's (a
  // fine-tune's base, data and LoRA rank, ...): saved in train_state.json, compared on resume.
  nlohmann::json settings;
  // After every step's record is written; return false to stop (a checkpoint is saved).
  std::function<bool(const StepRecord&)> on_step;
  // Data-parallel ranks: each reads its own data stream; only rank 0 writes files and logs.
  int rank = 0;
};

struct TrainResult {
  int steps = 0;  // Updates done in total (including those before a resume).
  std::optional<double> final_loss, final_val_loss;
  double elapsed_s = 0;
  double train_s = 0;   // Time spent in steps (evals, samples and checkpoints not counted).
  uint64_t tokens = 0;  // Tokens trained on in total.
};

class Trainer {
 public:
  // Prepares data, tokenizer, model and optimizer, or restores them from OUT with cfg.resume.
  // Throws sllm::Error (before allocating the model if it cannot fit in memory).
  explicit Trainer(TrainConfig cfg, TrainHooks hooks = {});
  ~Trainer();

  TrainResult run();

  // The pieces, for callers that drive their own loop.
  double step();  // One update at the current step; returns the (synced) mean loss.
  // Mean val loss over eval_iters batches, always the same batches; with eval_iters < 0, over
  // every window of the validation split.
  double evaluate();
  std::string sample(const std::string& prompt, int max_tokens, uint64_t seed);
  void save_checkpoint();

  const TrainConfig& config() const { return cfg_; }
  Model& model() { return backend_->model(); }  // Host weights (after backend().to_host()).
  TrainBackend& backend() { return *backend_; }
  AdamWState& optimizer_state() { return backend_->optimizer(); }
  const Tokenizer& tokenizer() const { return *tok_; }
  int current_step() const { return step_; }
  // OUT/metrics.jsonl's records so far (those before a resume included); empty off rank 0.
  const std::vector<StepRecord>& metrics_records() const;

 private:
  void prepare_data();
  void log(const std::string& line) const;
  double run_seconds() const;  // Since run() started.

  TrainConfig cfg_;
  TrainHooks hooks_;
  std::shared_ptr<Tokenizer> tok_;
  std::unique_ptr<TrainBackend> backend_;
  AdamWParams hyper_;  // lr is set per step from the schedule.
  std::unique_ptr<BatchSource> train_, val_;
  std::unique_ptr<ConsecutiveWindows> val_all_;  // The whole validation split (eval_iters < 0).
  nlohmann::json
      val_start_;  // Eval rewinds the val source here, so every eval sees the same batches.
  std::unique_ptr<MetricsLog> metrics_;
  LrSchedule sched_;
  Batch batch_;
  int step_ = 0;
  int last_saved_step_ = -1;
  std::optional<std::chrono::steady_clock::time_point> run_started_;
  uint64_t tokens_seen_ = 0;
  double elapsed_before_ = 0;  // Wall time of the run(s) before a resume.
  double train_s_ = 0;         // Time in steps, including the run(s) before a resume.
  double last_grad_norm_ = 0;
  float last_lr_ = 0;
};

// The args the checkpoint a resume of OUT continues from was trained with, with resume (and
// latest_valid: resume_latest_valid) set.
TrainConfig saved_train_config(const std::string& out, bool latest_valid = false);

// Trainer(cfg, hooks).run().
TrainResult train(const TrainConfig& cfg, TrainHooks hooks = {});

// Fails unless the model (parameters, gradients, AdamW state and activations for batch x
// seq_len) fits in the memory available now (MemAvailable): refuse before allocating.
void check_training_memory(const ModelConfig& cfg, int batch, int seq_len, bool bf16 = false);
size_t available_memory_bytes();

}  // namespace sllm
