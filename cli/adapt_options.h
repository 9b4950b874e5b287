// Options shared by `sllm finetune` and `sllm distill`: the Trainer's settings they expose.
// Their defaults are TrainConfig::defaults(TrainMode::Finetune / Distill).
#pragma once
#include <CLI/CLI.hpp>

#include "sllm/train/trainer.h"

namespace sllm::cli {

inline void add_loop_options(CLI::App& app, TrainConfig& c, int& eval_rows) {
  app.add_option("--batch-size", c.batch_size, "Sequences per micro-batch")->capture_default_str();
  app.add_option("--grad-accum", c.grad_accum, "Micro-batches per optimizer step")
      ->capture_default_str();
  app.add_option("--max-iters", c.max_iters, "Optimizer steps (the cosine decay ends here)")
      ->capture_default_str();
  app.add_option("--max-seconds", c.max_seconds, "Stop after this much training time (0: no limit)")
      ->capture_default_str();
  app.add_option("--lr", c.lr, "Peak learning rate")->capture_default_str();
  app.add_option("--min-lr", c.min_lr, "Learning rate at the end of the decay")
      ->capture_default_str();
  app.add_option("--warmup-iters", c.warmup_iters, "Linear warmup steps")->capture_default_str();
  app.add_option("--weight-decay", c.weight_decay, "AdamW decoupled weight decay")
      ->capture_default_str();
  app.add_option("--grad-clip", c.grad_clip, "Global gradient-norm clip (0: off)")
      ->capture_default_str();
  app.add_option("--eval-interval", c.eval_interval, "Steps between validations")
      ->capture_default_str();
  app.add_option("--eval-rows", eval_rows, "Validation rows (always the same ones)")
      ->capture_default_str();
  app.add_option("--seed", c.seed, "Random seed (adapter init, batch order)")
      ->capture_default_str();
  app.add_option("--threads", c.threads, "Threads (0: all cores)")->capture_default_str();
  app.add_flag("--resume", c.resume,
               "Continue the run in --out from its last checkpoint, bit-exactly (same settings)");
}

}  // namespace sllm::cli
