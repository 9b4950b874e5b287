// `sllm plan --calibrate`: measures this machine so the planner can predict CPU runs.
#pragma once
#include "sllm/scale/hardware.h"

namespace sllm::scale {

struct CalibrateOptions {
  int threads = 0;                 // <= 0: all cores
  double seconds_per_probe = 0.4;  // each GEMM/bandwidth probe repeats until this much time passed
  double board_power_w = 0;        // the CPU's TDP if the user knows it (not measurable in a VM)
  std::vector<int> widths = {64, 128, 256, 512, 1024};
  std::vector<int> train_widths = {64, 128, 256, 512};  // sllm training-step probes
};

// Measures fp32 GEMM throughput through OpenBLAS (a square 2048 GEMM for the peak, plus
// training-shaped GEMMs per model width), memory bandwidth (a STREAM-style triad) and sllm's
// own training step per model width, and returns the "cpu" catalog entry.
Accelerator calibrate_this_cpu(const CalibrateOptions& opt);

}  // namespace sllm::scale
