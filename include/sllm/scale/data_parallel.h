// Data-parallel training over MPI: `mpirun -np N sllm train ...` runs N ranks that each take
// 1/N of every global batch and average their gradients with bucketed all-reduces before the
// optimizer step. With the same --batch-size (the global batch) the losses equal the
// single-process run's to fp32 rounding: rank r trains on rows [r*B/N, (r+1)*B/N) of exactly
// the windows the single process would draw. Built without MPI, sllm trains single-process.
#pragma once
#include <cstddef>
#include <memory>
#include <span>

#include "sllm/train/data.h"
#include "sllm/train/trainer.h"

namespace sllm::scale {

// True when this sllm was built against MPI.
bool mpi_built();
// The world size mpirun announced in the environment (Open MPI, PMI or PMIx); 1 when not
// launched by mpirun.
int launched_world_size();

// Rows [rank*B/world, (rank+1)*B/world) of each global batch of B windows drawn by `inner`.
// Its state is the inner source's, so a checkpoint does not depend on the world size.
class ShardedBatches final : public BatchSource {
 public:
  ShardedBatches(std::unique_ptr<BatchSource> global, int rank, int world);
  void next(Batch& out) override;
  nlohmann::json state() const override { return inner_->state(); }
  void restore(const nlohmann::json& s) override { inner_->restore(s); }

 private:
  std::unique_ptr<BatchSource> inner_;
  int rank_, world_;
  Batch global_;
};

// MPI for the process's lifetime: MPI_Init_thread on construction, MPI_Finalize on
// destruction, or MPI_Abort when an exception is unwinding (so the other ranks do not wait
// forever in a collective). Throws sllm::Error when sllm was built without MPI.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int world() const { return world_; }
  int local_world() const { return local_world_; }  // ranks on this node

 private:
  int rank_ = 0, world_ = 1, local_world_ = 1;
};

// Averages gradients across ranks in place: buckets of `bucket_bytes`, issued as non-blocking
// all-reduces from the end of the arena (the last layers, whose gradients backward finishes
// first) and completed together, so the network pipelines them.
class GradientAverager {
 public:
  explicit GradientAverager(int world, size_t bucket_bytes = size_t(4) << 20);
  void operator()(std::span<float> grads, double& loss) const;

 private:
  int world_;
  size_t bucket_floats_;
};

// Mean of one value over ranks (the validation loss).
double average_over_ranks(double v);

// Makes rank `mpi.rank()` train its share of a single-process TrainConfig: cfg.batch_size stays
// the global batch (it must divide over the ranks; checkpoints keep it, so a run can resume on
// another world size), threads default to the cores per local rank, and the hooks get
// the sharded train and validation batches, the tokenizer, the gradient averager and an
// evaluation loss averaged over ranks. Rank 0 prepares the corpus and token cache first.
void setup_data_parallel(const MpiSession& mpi, TrainConfig& cfg, TrainHooks& hooks);

}  // namespace sllm::scale
