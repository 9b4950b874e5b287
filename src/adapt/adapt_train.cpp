#include "sllm/adapt/adapt_train.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "sllm/common/error.h"

namespace sllm {

RowBatches::RowBatches(const PackedSequences& rows, int B, uint64_t seed)
    : packed_(&rows), rows_(rows.rows), B_(B), T_(rows.T), rng_(seed) {
  if (rows_ == 0) fail("no training rows");
}

RowBatches::RowBatches(const TeacherCache& cache, int B, uint64_t seed)
    : cache_(&cache), rows_(cache.rows), B_(B), T_(cache.T), rng_(seed) {
  if (rows_ == 0) fail("teacher cache holds no rows");
}

RowBatches::RowBatches(const PreferencePairs& pairs, int B, uint64_t seed)
    : pairs_(&pairs), rows_(pairs.pairs), B_(B), T_(pairs.T), rng_(seed) {
  if (rows_ == 0) fail("no training pairs");
}

void RowBatches::fill_row(size_t r, int slot, Batch& out) const {
  const size_t T = T_, dst = static_cast<size_t>(slot) * T;
  const int32_t* in = packed_ ? packed_->row_inputs(r) : cache_->inputs.data() + r * T;
  const int32_t* tg = packed_ ? packed_->row_targets(r) : cache_->targets.data() + r * T;
  std::copy(in, in + T, out.tokens.begin() + dst);
  std::copy(tg, tg + T, out.targets.begin() + dst);
  if (cache_) {
    const size_t k = cache_->k;
    std::copy(cache_->ids.begin() + r * T * k, cache_->ids.begin() + (r + 1) * T * k,
              out.topk_ids.begin() + dst * k);
    std::copy(cache_->logits.begin() + r * T * k, cache_->logits.begin() + (r + 1) * T * k,
              out.topk_logits.begin() + dst * k);
  }
}

namespace {

// Pairs [first, first + P) of `pairs` as a batch of 2P rows.
void fill_pair(const PreferencePairs& pairs, size_t pair, int slot, int P, Batch& out) {
  const size_t T = pairs.T;
  for (int which = 0; which < 2; ++which) {
    const size_t dst = (static_cast<size_t>(which) * P + slot) * T;
    std::copy(pairs.row_inputs(pair, which), pairs.row_inputs(pair, which) + T,
              out.tokens.begin() + dst);
    std::copy(pairs.row_targets(pair, which), pairs.row_targets(pair, which) + T,
              out.targets.begin() + dst);
    if (!pairs.ref_logps.empty())
      out.ref_logps[static_cast<size_t>(which) * P + slot] = pairs.ref_logps[pair * 2 + which];
  }
}

void size_pair_batch(const PreferencePairs& pairs, int P, Batch& out) {
  out.B = 2 * P;
  out.T = pairs.T;
  out.tokens.resize(static_cast<size_t>(out.B) * out.T);
  out.targets.resize(out.tokens.size());
  out.k = 0;
  out.ref_logps.resize(pairs.ref_logps.empty() ? 0 : out.B);
}

}  // namespace

void RowBatches::next(Batch& out) {
  if (pairs_) {
    size_pair_batch(*pairs_, B_, out);
    for (int b = 0; b < B_; ++b) fill_pair(*pairs_, rng_.next_u64() % rows_, b, B_, out);
    drawn_ += static_cast<uint64_t>(B_);
    return;
  }
  out.B = B_;
  out.T = T_;
  out.tokens.resize(static_cast<size_t>(B_) * T_);
  out.targets.resize(out.tokens.size());
  out.k = cache_ ? cache_->k : 0;
  out.topk_ids.resize(out.tokens.size() * out.k);
  out.topk_logits.resize(out.tokens.size() * out.k);
  // Modulo rather than Rng::below: the row order fine-tuning and distillation drew before they
  // ran on the Trainer (the same SplitMix64 stream), so their results carry over.
  for (int b = 0; b < B_; ++b) fill_row(rng_.next_u64() % rows_, b, out);
  drawn_ += static_cast<uint64_t>(B_);
}

nlohmann::json RowBatches::state() const {
  return {{"rows", drawn_}, {"rng", fmt::format("{:016x}", rng_.state())}};
}

void RowBatches::restore(const nlohmann::json& s) {
  if (!s.is_object() || !s.contains("rows") || !s["rows"].is_number_unsigned() ||
      !s.contains("rng") || !s["rng"].is_string())
    fail("training row position {} is malformed: expected {{\"rows\": n, \"rng\": \"hex\"}}",
         s.dump());
  const std::string hex = s["rng"].get<std::string>();
  size_t used = 0;
  uint64_t st = 0;
  try {
    st = std::stoull(hex, &used, 16);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (used != hex.size() || hex.empty())
    fail("training row position: rng state '{}' is not a hex number", hex);
  rng_.set_state(st);
  drawn_ = s["rows"].get<uint64_t>();
}

double evaluate_rows(TrainBackend& backend, const PackedSequences& val, int max_rows,
                     int batch_size) {
  const size_t n = std::min(val.rows, static_cast<size_t>(max_rows));
  if (n == 0) return NAN;
  double sum = 0;
  size_t count = 0;
  Batch b;
  for (size_t r = 0; r < n; r += batch_size) {
    const int B = static_cast<int>(std::min<size_t>(batch_size, n - r));
    b.B = B;
    b.T = val.T;
    b.tokens.assign(val.row_inputs(r), val.row_inputs(r) + static_cast<size_t>(B) * val.T);
    b.targets.assign(val.row_targets(r), val.row_targets(r) + static_cast<size_t>(B) * val.T);
    size_t c = 0;
    for (int32_t t : b.targets) c += t >= 0;
    sum += static_cast<double>(backend.eval_loss(b)) * c;
    count += c;
  }
  return count ? sum / count : NAN;
}

double evaluate_pairs(TrainBackend& backend, const PreferencePairs& val, int max_rows,
                      int batch_size, std::map<std::string, double>& metrics) {
  auto* learner = dynamic_cast<Learner*>(&backend);
  if (!learner) fail("preference evaluation needs the fine-tuning learner");
  const size_t n = std::min(val.pairs, static_cast<size_t>(max_rows));
  metrics.clear();
  if (n == 0) return NAN;
  double loss = 0;
  Batch b;
  for (size_t r = 0; r < n; r += batch_size) {
    const int P = static_cast<int>(std::min<size_t>(batch_size, n - r));
    size_pair_batch(val, P, b);
    for (int i = 0; i < P; ++i) fill_pair(val, r + i, i, P, b);
    const PreferenceLoss L = learner->preference_eval(b);
    loss += L.loss * P / n;
    for (const auto& [k, v] : L.metrics) metrics["eval_" + k] += v * P / n;
  }
  return loss;
}

namespace {

AdaptRun run_with_hooks(const AdaptTraining& t, TrainHooks hooks, std::unique_ptr<Learner> learner,
                        std::unique_ptr<BatchSource> train, std::shared_ptr<Tokenizer> tokenizer) {
  if (t.eval_rows < 1) fail("invalid setting --eval-rows {}: must be >= 1", t.eval_rows);
  hooks.name = t.name;
  hooks.backend = std::move(learner);
  hooks.train_data = std::move(train);
  hooks.tokenizer = std::move(tokenizer);
  hooks.settings = t.settings;
  hooks.settings["eval_rows"] = t.eval_rows;
  Trainer trainer(t.cfg, std::move(hooks));
  const TrainResult r = trainer.run();
  AdaptRun run;
  run.steps = r.steps;
  run.tokens = static_cast<double>(r.tokens);
  run.seconds = r.train_s;
  if (r.final_val_loss) run.final_val_loss = *r.final_val_loss;
  for (const StepRecord& rec : trainer.metrics_records())
    if (rec.val_loss) {
      run.initial_val_loss = *rec.val_loss;
      break;
    }
  return run;
}

}  // namespace

AdaptRun run_adapt_training(const AdaptTraining& t, std::unique_ptr<Learner> learner,
                            std::unique_ptr<BatchSource> train, const PackedSequences& val,
                            std::shared_ptr<Tokenizer> tokenizer) {
  TrainHooks hooks;
  if (val.rows > 0)
    hooks.evaluate = [&val, rows = t.eval_rows, B = t.cfg.batch_size](TrainBackend& b) {
      return evaluate_rows(b, val, rows, B);
    };
  return run_with_hooks(t, std::move(hooks), std::move(learner), std::move(train),
                        std::move(tokenizer));
}

AdaptRun run_adapt_training(const AdaptTraining& t, std::unique_ptr<Learner> learner,
                            std::unique_ptr<BatchSource> train, const PreferencePairs& val,
                            std::shared_ptr<Tokenizer> tokenizer) {
  TrainHooks hooks;
  auto metrics = std::make_shared<std::map<std::string, double>>();
  if (val.pairs > 0) {
    hooks.evaluate = [&val, metrics, rows = t.eval_rows, B = t.cfg.batch_size](TrainBackend& b) {
      return evaluate_pairs(b, val, rows, B, *metrics);
    };
    hooks.eval_metrics = [metrics] { return *metrics; };
  }
  return run_with_hooks(t, std::move(hooks), std::move(learner), std::move(train),
                        std::move(tokenizer));
}

}  // namespace sllm
