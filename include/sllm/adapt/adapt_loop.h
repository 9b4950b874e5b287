// The training loop of fine-tuning and distillation: AdamW with warmup + cosine decay, gradient
// accumulation and clipping, periodic validation on fixed rows, a wall-time or token budget,
// and a learning curve (step, tokens, seconds, loss, val loss) as JSON lines, flushed per step.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sllm/adapt/learner.h"
#include "sllm/adapt/sft_data.h"
#include "sllm/adapt/teacher_cache.h"

namespace sllm {

// Random rows (with replacement, seeded) of packed sequences, optionally with their top-k
// teacher logits from a cache.
class RowSampler {
 public:
  RowSampler(const PackedSequences& rows, uint64_t seed);
  RowSampler(const TeacherCache& cache, uint64_t seed);
  void next(int B, RowBatch& out);
  int T() const { return T_; }
  size_t rows() const { return rows_; }

 private:
  void fill_row(size_t r, int slot, RowBatch& out) const;
  const PackedSequences* packed_ = nullptr;
  const TeacherCache* cache_ = nullptr;
  size_t rows_ = 0;
  int T_ = 0;
  uint64_t state_;
};

struct LoopConfig {
  int batch_size = 8, grad_accum = 1, max_iters = 200;
  double max_seconds = 0;  // > 0: stop after this much training time (evals not counted).
  float lr = 1e-3f, min_lr = 1e-4f;
  int warmup_iters = 10;
  float weight_decay = 0.0f, beta1 = 0.9f, beta2 = 0.95f, grad_clip = 1.0f;
  int eval_interval = 50;  // Steps between validations (and one at the start and the end).
  int eval_rows = 64;      // Validation rows (the first ones of the val set, always the same).
  uint64_t seed = 1337;
  std::string metrics_path;  // JSON lines; empty: none.
  std::string label;         // Prefix of progress lines; empty: quiet.
  void validate() const;
};

struct CurvePoint {
  int step = 0;
  double tokens = 0, seconds = 0;
  std::optional<double> loss, val_loss;
};

struct LoopResult {
  std::vector<CurvePoint> curve;
  int steps = 0;
  double seconds = 0, tokens = 0;
  double final_val_loss = 0;
  long peak_rss = 0;
};

// Mean cross-entropy of the learner's model over the first `max_rows` rows of val.
double evaluate_rows(Learner& learner, const PackedSequences& val, int max_rows, int batch_size);

LoopResult run_adapt_loop(Learner& learner, RowSampler& train, const PackedSequences& val,
                          const LoopConfig& cfg);

}  // namespace sllm
