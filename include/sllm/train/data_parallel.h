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

namespace sllm {

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

// Averages gradients across ranks in buckets that overlap with backward. Wired to
// Model::set_grads_ready_callback during a step's last backward, on_grads_ready() gathers the
// slices backward finishes (last layers first) into buckets of about `bucket_bytes` and starts
// a non-blocking all-reduce for each as soon as it is full, while backward computes the earlier
// layers. finish() starts what is left, averages the loss, waits for every bucket and divides
// by the world size. Without on_grads_ready() calls, finish() all-reduces the whole arena.
// Same buckets on every rank, in the same order: the sums are identical across ranks.
class GradientAverager {
 public:
  explicit GradientAverager(int world, size_t bucket_bytes = size_t(4) << 20);
  ~GradientAverager();
  GradientAverager(const GradientAverager&) = delete;
  GradientAverager& operator=(const GradientAverager&) = delete;

  void on_grads_ready(std::span<float> ready);
  void finish(std::span<float> grads, double& loss);

  // Of the last finished step: buckets in all, and those started during backward.
  int buckets() const { return last_buckets_; }
  int buckets_overlapped() const { return last_overlapped_; }

 private:
  void start(float* data, size_t n);  // One bucket's all-reduce.
  void flush_pending();

  int world_;
  size_t bucket_floats_;
  float* pending_ = nullptr;  // Ready, not yet started: [pending_, pending_ + pending_n_).
  size_t pending_n_ = 0, started_floats_ = 0;
  int overlapped_ = 0, last_buckets_ = 0, last_overlapped_ = 0;
  struct Requests;
  std::unique_ptr<Requests> reqs_;  // MPI_Request handles (mpi.h stays out of this header).
};

// Mean of one value over ranks (the validation loss).
double average_over_ranks(double v);

// Makes rank `mpi.rank()` train its share of a single-process TrainConfig: cfg.batch_size stays
// the global batch (it must divide over the ranks; checkpoints keep it, so a run can resume on
// another world size), threads default to the cores per local rank, and the hooks get
// the sharded train and validation batches, the tokenizer, a train step whose last micro-batch
// streams its gradients into the averager while backward runs, the averager's finish as the
// gradient sync, and an evaluation loss averaged over ranks. Rank 0 prepares the corpus and token
// cache first.
void setup_data_parallel(const MpiSession& mpi, TrainConfig& cfg, TrainHooks& hooks);

}  // namespace sllm
