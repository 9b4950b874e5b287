// Fine-tuning and distillation on the one Trainer (sllm/train/trainer.h): rows of packed
// sequences (or of a teacher cache) as its batches, validation on fixed rows as its evaluation,
// a Learner (sllm/adapt/learner.h) as its backend. Checkpoints, --resume, the schedule, the
// progress line and OUT/metrics.jsonl are the Trainer's.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "sllm/adapt/learner.h"
#include "sllm/adapt/preference_data.h"
#include "sllm/adapt/sft_data.h"
#include "sllm/adapt/teacher_cache.h"
#include "sllm/train/data.h"
#include "sllm/train/rng.h"
#include "sllm/train/trainer.h"

namespace sllm {

// B random rows per batch (with replacement; one draw of the trainer's Rng per row) of packed
// sequences, or of a teacher cache with each row's top-k logits. The sources must outlive it.
class RowBatches final : public BatchSource {
 public:
  RowBatches(const PackedSequences& rows, int B, uint64_t seed);
  RowBatches(const TeacherCache& cache, int B, uint64_t seed);
  // B pairs per batch as 2B rows (chosen rows, then rejected rows), with their reference
  // log-probs when the pairs have them.
  RowBatches(const PreferencePairs& pairs, int B, uint64_t seed);
  void next(Batch& out) override;
  nlohmann::json state() const override;  // {"rows": drawn, "rng": "hex state"}
  void restore(const nlohmann::json& state) override;
  int T() const { return T_; }

 private:
  void fill_row(size_t r, int slot, Batch& out) const;
  const PackedSequences* packed_ = nullptr;
  const TeacherCache* cache_ = nullptr;
  const PreferencePairs* pairs_ = nullptr;
  size_t rows_ = 0;
  int B_ = 0, T_ = 0;
  Rng rng_;
  uint64_t drawn_ = 0;
};

// Mean cross-entropy over the counted targets of the first `max_rows` rows of val, in batches
// of batch_size (the backend's eval_loss, weighted by each batch's counted targets).
double evaluate_rows(TrainBackend& backend, const PackedSequences& val, int max_rows,
                     int batch_size);

// The preference loss and TRL's reward metrics (eval_rewards/...) over the first max_rows
// pairs of val, in batches of batch_size pairs; the backend must be a Learner with a
// preference loss.
double evaluate_pairs(TrainBackend& backend, const PreferencePairs& val, int max_rows,
                      int batch_size, std::map<std::string, double>& metrics);

// What finetune and distill report of their run.
struct AdaptRun {
  int steps = 0;
  double tokens = 0, seconds = 0;  // Trained on; training time without evaluations.
  double initial_val_loss = NAN, final_val_loss = NAN;
};

struct AdaptTraining {
  std::string name;  // "sllm finetune", "sllm distill": progress lines and errors.
  TrainConfig cfg;   // cfg.out: the run folder; cfg.resume continues its checkpoint.
  int eval_rows = 64;
  nlohmann::json settings;  // What a resume must match besides cfg (base, data, ...).
};

// Trains the learner on `train` with the Trainer, validating on val's first eval_rows rows
// every cfg.eval_interval steps (and at the start and the end).
AdaptRun run_adapt_training(const AdaptTraining& t, std::unique_ptr<Learner> learner,
                            std::unique_ptr<BatchSource> train, const PackedSequences& val,
                            std::shared_ptr<Tokenizer> tokenizer);
// The same on preference pairs (the learner has a preference loss): validation is the
// preference loss on val's first eval_rows pairs, logged with eval_rewards/... metrics.
AdaptRun run_adapt_training(const AdaptTraining& t, std::unique_ptr<Learner> learner,
                            std::unique_ptr<BatchSource> train, const PreferencePairs& val,
                            std::shared_ptr<Tokenizer> tokenizer);

}  // namespace sllm
