// `sllm plan --calibrate`: measures this machine so the planner can predict CPU runs.
#pragma once
#include <optional>

#include "sllm/model/config.h"
#include "sllm/scale/hardware.h"

namespace sllm::scale {

struct CalibrateOptions {
  int threads = 0;                 // <= 0: all cores
  double seconds_per_probe = 0.4;  // each GEMM/bandwidth probe repeats until this much time passed
  double board_power_w = 0;        // the CPU's TDP if the user knows it (not measurable in a VM)
  std::vector<int> widths = {64, 128, 256, 512, 1024};
  std::vector<int> train_widths = {64, 128, 256, 512};  // sllm training-step probes
  // A run to plan: also time sllm's training step of exactly this model at this batch
  // (block_size is the context), stored as a TrainProbe the plan uses for that shape.
  std::optional<ModelConfig> run_model;
  int run_batch = 1;
};

// Measures fp32 GEMM throughput through OpenBLAS (a square 2048 GEMM for the peak, plus
// training-shaped GEMMs per model width), memory bandwidth (a STREAM-style triad) and sllm's
// own training step per model width (and of opt.run_model), and returns the "cpu" catalog
// entry. `previous` (the catalog's old "cpu" entry, if any) keeps its run-shaped probes.
Accelerator calibrate_this_cpu(const CalibrateOptions& opt, const Accelerator* previous = nullptr);

// Mean model FLOP/s (GFLOP/s) of sllm's training step (forward, backward, clipping, AdamW) of
// `model` on `batch` x block_size tokens, over about `seconds` and at least 5 steps.
double training_step_gflops(const ModelConfig& model, int batch, double seconds);

}  // namespace sllm::scale
