// Process-wide runtime settings: thread count and the BLAS core type.
#pragma once

namespace sllm {

// Debian's OpenBLAS 0.3.21 mistakes Zen 4/5 for Haswell and runs its GEMM at half speed.
// OpenBLAS reads OPENBLAS_CORETYPE once, in a constructor that runs before main(), so the
// only reliable fix from inside the program is to set it and re-exec. Call first in main().
// Does nothing if the variable is already set or SLLM_NO_REEXEC=1.
void ensure_blas_coretype(int argc, char** argv);

// Sets the OpenMP and OpenBLAS thread counts. n <= 0 means all cores.
void set_num_threads(int n);
int num_threads();

// Peak resident set size of this process so far, in bytes.
long peak_rss_bytes();

}  // namespace sllm
