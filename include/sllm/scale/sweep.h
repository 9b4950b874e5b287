// `sllm scale sweep`: trains a grid of model sizes x token budgets with `sllm train` (one
// subprocess per run, so a crash or an out-of-memory kill costs one point, not the sweep) and
// records each run's final validation loss as a JSONL line that `sllm scale fit` reads.
#pragma once
#include <string>
#include <vector>

#include "sllm/model/config.h"

namespace sllm::scale {

struct SweepOptions {
  std::string sllm_binary;  // the sllm executable to run `train` with
  std::string data;         // corpus; empty: sllm train's default corpus
  std::string tokenizer = "char";
  std::string out_dir = "runs/sweep";  // one run folder per grid point
  std::string results;                 // JSONL; default OUT_DIR/results.jsonl
  std::vector<double> sizes;           // target parameter counts
  std::vector<double> tokens;          // training tokens per run
  int vocab_hint = 96;  // vocabulary size assumed when picking shapes (the real N is recorded)
  int block_size = 64, batch_size = 16;
  float lr = 2e-3f;
  int eval_iters = 20;
  int threads = 0;
  uint64_t seed = 1337;
  std::vector<std::string> extra_args;  // passed through to sllm train
  bool dry_run = false;                 // print the commands only
};

struct SweepRun {
  ModelConfig model;
  double target_params = 0, tokens = 0;
  int steps = 0;
  std::string out;
  std::vector<std::string> argv;  // the `sllm train` command
};

// The grid's runs with their shapes (standard_shape at the target size) and step counts
// (tokens / (batch x block), at least 1).
std::vector<SweepRun> plan_sweep(const SweepOptions& opt);

// Runs every grid point not already in the results file, appending one line per run:
// {"params", "params_nonembed", "tokens", "loss", "layers", "width", "heads", "steps",
//  "seconds", "out"}. Returns the number of runs done now.
int run_sweep(const SweepOptions& opt);

}  // namespace sllm::scale
