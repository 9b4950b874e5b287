// The machine's fp32 GEMM peak, for MFU figures.
#pragma once

namespace sllm {

// GFLOP/s of `threads` cores running OpenBLAS SGEMM: one core's best rate on a 1024^3 product,
// per second of that thread's CPU time (so other jobs on a shared machine barely move it), times
// the threads. About 0.1 s.
double measure_sgemm_peak_gflops(int threads);

}  // namespace sllm
