// OpenBLAS's thread count, for code that runs GEMMs from inside its own OpenMP regions (the
// training model's batch shards, the inference engine's team). Defined in src/kernels/gemm.cpp.
#pragma once

namespace sllm::detail {

// Makes OpenBLAS single-threaded for its lifetime (restoring the previous count after), so
// calls from inside OpenMP regions run inline on the calling thread.
class BlasSingleThreaded {
 public:
  BlasSingleThreaded();
  ~BlasSingleThreaded();
  BlasSingleThreaded(const BlasSingleThreaded&) = delete;
  BlasSingleThreaded& operator=(const BlasSingleThreaded&) = delete;

 private:
  int saved_;
};

}  // namespace sllm::detail
