#include "sllm/adapt/adapt_loop.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/io/file.h"
#include <numbers>

namespace sllm {

namespace {

// Linear warmup, then cosine decay to min_lr at max_iters (nanoGPT's schedule).
float lr_at(const LoopConfig& c, int step) {
  if (step < c.warmup_iters) return c.lr * static_cast<float>(step + 1) / static_cast<float>(c.warmup_iters + 1);
  if (step >= c.max_iters) return c.min_lr;
  const double ratio = static_cast<double>(step - c.warmup_iters) / std::max(1, c.max_iters - c.warmup_iters);
  return static_cast<float>(c.min_lr + 0.5 * (1.0 + std::cos(std::numbers::pi * ratio)) * (c.lr - c.min_lr));
}

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace

RowSampler::RowSampler(const PackedSequences& rows, uint64_t seed)
    : packed_(&rows), rows_(rows.rows), T_(rows.T), state_(seed) {
  if (rows_ == 0) fail("no training rows");
}

RowSampler::RowSampler(const TeacherCache& cache, uint64_t seed)
    : cache_(&cache), rows_(cache.rows), T_(cache.T), state_(seed) {
  if (rows_ == 0) fail("teacher cache holds no rows");
}

void RowSampler::fill_row(size_t r, int slot, RowBatch& out) const {
  const size_t T = T_, dst = static_cast<size_t>(slot) * T;
  const int32_t* in = packed_ ? packed_->row_inputs(r) : cache_->inputs.data() + r * T;
  const int32_t* tg = packed_ ? packed_->row_targets(r) : cache_->targets.data() + r * T;
  std::copy(in, in + T, out.inputs.begin() + dst);
  std::copy(tg, tg + T, out.targets.begin() + dst);
  if (cache_) {
    const size_t k = cache_->k;
    std::copy(cache_->ids.begin() + r * T * k, cache_->ids.begin() + (r + 1) * T * k,
              out.topk_ids.begin() + dst * k);
    std::copy(cache_->logits.begin() + r * T * k, cache_->logits.begin() + (r + 1) * T * k,
              out.topk_logits.begin() + dst * k);
  }
}

void RowSampler::next(int B, RowBatch& out) {
  out.B = B;
  out.T = T_;
  out.inputs.resize(static_cast<size_t>(B) * T_);
  out.targets.resize(out.inputs.size());
  out.k = cache_ ? cache_->k : 0;
  out.topk_ids.resize(out.inputs.size() * out.k);
  out.topk_logits.resize(out.inputs.size() * out.k);
  for (int b = 0; b < B; ++b) fill_row(splitmix(state_) % rows_, b, out);
}

void LoopConfig::validate() const {
  if (batch_size < 1 || grad_accum < 1)
    fail("batch size {} and grad accumulation {} must be >= 1", batch_size, grad_accum);
  if (max_iters < 1) fail("max iterations {} must be >= 1", max_iters);
  if (!(lr > 0.0f) || min_lr < 0.0f || min_lr > lr)
    fail("learning rate {} / min {} are invalid", lr, min_lr);
  if (warmup_iters < 0 || eval_interval < 1 || eval_rows < 1)
    fail("warmup, eval interval and eval rows must be positive");
}

double evaluate_rows(Learner& learner, const PackedSequences& val, int max_rows, int batch_size) {
  const size_t n = std::min(val.rows, static_cast<size_t>(max_rows));
  if (n == 0) return NAN;
  double sum = 0;
  size_t count = 0;
  RowBatch b;
  for (size_t r = 0; r < n; r += batch_size) {
    const int B = static_cast<int>(std::min<size_t>(batch_size, n - r));
    b.B = B;
    b.T = val.T;
    b.inputs.assign(val.row_inputs(r), val.row_inputs(r) + static_cast<size_t>(B) * val.T);
    b.targets.assign(val.row_targets(r), val.row_targets(r) + static_cast<size_t>(B) * val.T);
    size_t c = 0;
    sum += learner.eval_ce_sum(b, c);
    count += c;
  }
  return count ? sum / count : NAN;
}

LoopResult run_adapt_loop(Learner& learner, RowSampler& train, const PackedSequences& val,
                          const LoopConfig& cfg) {
  cfg.validate();
  if (val.rows > 0 && val.T != train.T())
    fail("validation rows have length {} but training rows {}", val.T, train.T());
  AdamWParams h;
  h.beta1 = cfg.beta1;
  h.beta2 = cfg.beta2;
  h.weight_decay = cfg.weight_decay;
  std::FILE* metrics = nullptr;
  if (!cfg.metrics_path.empty()) {
    metrics = std::fopen(cfg.metrics_path.c_str(), "w");
    if (!metrics) fail("cannot write metrics to {}", cfg.metrics_path);
  }
  LoopResult res;
  auto record = [&](const CurvePoint& p) {
    res.curve.push_back(p);
    if (metrics) {
      nlohmann::json j = {{"step", p.step}, {"tokens", p.tokens}, {"seconds", p.seconds}};
      if (p.loss) j["loss"] = *p.loss;
      if (p.val_loss) j["val_loss"] = *p.val_loss;
      std::fprintf(metrics, "%s\n", j.dump().c_str());
      std::fflush(metrics);
    }
    if (!cfg.label.empty())
      std::printf("%s step %d  tokens %.0f  %.1fs  loss %s  val %s\n", cfg.label.c_str(), p.step,
                  p.tokens, p.seconds, p.loss ? fmt::format("{:.4f}", *p.loss).c_str() : "-",
                  p.val_loss ? fmt::format("{:.4f}", *p.val_loss).c_str() : "-");
  };
  auto eval = [&]() { return evaluate_rows(learner, val, cfg.eval_rows, cfg.batch_size); };
  if (val.rows) record({0, 0, 0, std::nullopt, eval()});

  RowBatch b;
  double train_seconds = 0, tokens = 0;
  int step = 0;
  for (; step < cfg.max_iters; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    learner.zero_grad();
    double loss = 0;
    for (int m = 0; m < cfg.grad_accum; ++m) {
      train.next(cfg.batch_size, b);
      loss += learner.micro_step(b, 1.0f / cfg.grad_accum) / cfg.grad_accum;
    }
    if (!std::isfinite(loss)) fail("training diverged at step {}: loss is {}", step, loss);
    learner.clip_grad_norm(cfg.grad_clip);
    h.lr = lr_at(cfg, step);
    learner.update(h);
    train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tokens += static_cast<double>(cfg.batch_size) * cfg.grad_accum * train.T();
    const bool last =
        step + 1 == cfg.max_iters || (cfg.max_seconds > 0 && train_seconds >= cfg.max_seconds);
    CurvePoint p{step + 1, tokens, train_seconds, loss, std::nullopt};
    if (val.rows && (last || (step + 1) % cfg.eval_interval == 0)) p.val_loss = eval();
    record(p);
    if (last) {
      ++step;
      break;
    }
  }
  if (metrics) std::fclose(metrics);
  res.steps = step;
  res.seconds = train_seconds;
  res.tokens = tokens;
  res.final_val_loss = res.curve.back().val_loss.value_or(NAN);
  res.peak_rss = peak_rss_bytes();
  return res;
}

}  // namespace sllm
