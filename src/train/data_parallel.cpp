#include "sllm/train/data_parallel.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <thread>
#include <vector>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/tokenizer/tokenizer.h"
#include "sllm/train/checkpoint.h"
#include "sllm/train/rng.h"

#if SLLM_HAVE_MPI
// The C API only: Open MPI's and MPICH's deprecated C++ bindings need their own library.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace sllm {

namespace {

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : 0;
}

#if SLLM_HAVE_MPI
void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail("{} failed: {}", what, std::string(msg, static_cast<size_t>(len)));
}
#endif

}  // namespace

bool mpi_built() {
  return SLLM_HAVE_MPI != 0;
}

int launched_world_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"})
    if (int n = env_int(v); n > 0) return n;
  return 1;
}

ShardedBatches::ShardedBatches(std::unique_ptr<BatchSource> global, int rank, int world)
    : inner_(std::move(global)), rank_(rank), world_(world) {
  if (world < 1 || rank < 0 || rank >= world) fail("bad data-parallel rank {} of {}", rank, world);
}

void ShardedBatches::next(Batch& out) {
  inner_->next(global_);
  if (global_.B % world_ != 0)
    fail("global batch {} does not split over {} ranks", global_.B, world_);
  const int b = global_.B / world_;
  const size_t row = static_cast<size_t>(global_.T), first = static_cast<size_t>(rank_) * b * row;
  out.B = b;
  out.T = global_.T;
  out.tokens.assign(global_.tokens.begin() + first, global_.tokens.begin() + first + b * row);
  out.targets.assign(global_.targets.begin() + first, global_.targets.begin() + first + b * row);
}

#if SLLM_HAVE_MPI

MpiSession::MpiSession(int* argc, char*** argv) {
  int ready = 0;
  MPI_Initialized(&ready);
  if (!ready) {
    int provided = 0;
    // Only the main thread calls MPI; OpenMP threads never do.
    check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_size(local, &local_world_);
  MPI_Comm_free(&local);
}

MpiSession::~MpiSession() {
  if (std::uncaught_exceptions() > 0) MPI_Abort(MPI_COMM_WORLD, 1);
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

struct GradientAverager::Requests {
  std::vector<MPI_Request> r;
};

void GradientAverager::start(float* data, size_t n) {
  MPI_Request& req = reqs_->r.emplace_back();
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD, &req),
            "MPI_Iallreduce (gradients)");
  started_floats_ += n;
}

void GradientAverager::flush_pending() {
  if (pending_n_) start(pending_, pending_n_);
  pending_n_ = 0;
}

void GradientAverager::on_grads_ready(std::span<float> ready) {
  if (world_ == 1 || ready.empty()) return;
  // Backward reports slices from the end of the arena down: a slice just below the pending
  // bucket extends it; anything else starts a new bucket.
  if (pending_n_ && ready.data() + ready.size() == pending_) {
    pending_ = ready.data();
    pending_n_ += ready.size();
  } else {
    flush_pending();
    pending_ = ready.data();
    pending_n_ = ready.size();
  }
  if (pending_n_ >= bucket_floats_) flush_pending();
  overlapped_ = static_cast<int>(reqs_->r.size());
  // Open MPI progresses non-blocking collectives only inside MPI calls: poke them between layers.
  if (!reqs_->r.empty()) {
    int done = 0;
    check_mpi(
        MPI_Testall(static_cast<int>(reqs_->r.size()), reqs_->r.data(), &done, MPI_STATUSES_IGNORE),
        "MPI_Testall (gradients)");
  }
}

void GradientAverager::finish(std::span<float> grads, double& loss) {
  if (world_ == 1) return;
  flush_pending();
  if (started_floats_ == 0) {
    // No backward streamed its slices (a custom train step): the whole arena, from the end.
    for (size_t end = grads.size(); end > 0;) {
      const size_t begin = end > bucket_floats_ ? end - bucket_floats_ : 0;
      start(grads.data() + begin, end - begin);
      end = begin;
    }
  } else if (started_floats_ != grads.size()) {
    fail("internal: backward reported {} gradient values ready of {}", started_floats_,
         grads.size());
  }
  double sum = 0;
  check_mpi(MPI_Allreduce(&loss, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce (loss)");
  loss = sum / world_;
  check_mpi(MPI_Waitall(static_cast<int>(reqs_->r.size()), reqs_->r.data(), MPI_STATUSES_IGNORE),
            "MPI_Waitall");
  last_buckets_ = static_cast<int>(reqs_->r.size());
  last_overlapped_ = overlapped_;
  reqs_->r.clear();
  started_floats_ = 0;
  overlapped_ = 0;
  const float inv = 1.0f / static_cast<float>(world_);
  float* g = grads.data();
  const long n = static_cast<long>(grads.size());
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; ++i) g[i] *= inv;
}

double average_over_ranks(double v) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  double sum = 0;
  check_mpi(MPI_Allreduce(&v, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce (eval loss)");
  return sum / world;
}

static void barrier() {
  check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

#else  // built without MPI

MpiSession::MpiSession(int*, char***) {
  fail(
      "this sllm was built without MPI: install libopenmpi-dev and rebuild for mpirun data "
      "parallel");
}
MpiSession::~MpiSession() = default;
struct GradientAverager::Requests {};
void GradientAverager::on_grads_ready(std::span<float>) {}
void GradientAverager::finish(std::span<float>, double&) {
  if (world_ != 1) fail("data parallel needs MPI");
}
double average_over_ranks(double v) {
  return v;
}
static void barrier() {}

#endif

GradientAverager::GradientAverager(int world, size_t bucket_bytes)
    : world_(world),
      bucket_floats_(std::max<size_t>(1024, bucket_bytes / sizeof(float))),
      reqs_(std::make_unique<Requests>()) {}
GradientAverager::~GradientAverager() = default;

void setup_data_parallel(const MpiSession& mpi, TrainConfig& cfg, TrainHooks& hooks) {
  const int rank = mpi.rank(), world = mpi.world();
  if (cfg.batch_size % world != 0)
    fail("--batch-size {} is the global batch and must divide over the {} ranks", cfg.batch_size,
         world);
  if (cfg.threads <= 0)
    cfg.threads = std::max(
        1, static_cast<int>(std::thread::hardware_concurrency()) / std::max(1, mpi.local_world()));
  const int T = cfg.model.block_size;
  const int global_batch = cfg.batch_size;

  // Rank 0 writes the corpus and the token cache; the others wait and then map them.
  std::string corpus =
      cfg.data.empty() ? cfg.out + "/data/kjv.txt" : std::filesystem::absolute(cfg.data).string();
  std::shared_ptr<Tokenizer> tok;
  std::shared_ptr<const TokenFile> tokens;
  auto prepare = [&] {
    if (cfg.data.empty()) write_default_corpus(corpus);
    check_corpus(corpus);
    // A resumed run or a fine-tune keeps its model's tokenizer, as the single-process trainer does.
    if (cfg.resume)
      tok = Checkpoint(cfg.out).tokenizer();
    else if (!cfg.init_from.empty())
      tok = load_tokenizer(cfg.init_from + "/tokenizer.sllmtok");
    else
      tok = make_tokenizer(cfg.tokenizer, corpus);
    tokens = cached_token_file(*tok, corpus, cfg.out + "/data", cfg.threads);
  };
  if (rank == 0) {
    make_dirs(cfg.out + "/data");
    prepare();
  }
  barrier();
  if (rank != 0) prepare();
  cfg.data = corpus;

  const DataSplit split = split_tokens(tokens->size(), cfg.val_fraction, T);
  // The streams the single-process trainer uses (train 1000 + rank 0, validation 1).
  hooks.train_data = std::make_unique<ShardedBatches>(
      std::make_unique<RandomWindows>(tokens, split.train, global_batch, T,
                                      Rng::stream(cfg.seed, 1000)),
      rank, world);
  hooks.val_data = std::make_unique<ShardedBatches>(
      std::make_unique<RandomWindows>(tokens, split.val, global_batch, T, Rng::stream(cfg.seed, 1)),
      rank, world);
  hooks.tokenizer = tok;
  hooks.rank = rank;
  // SLLM_DP_BUCKET_BYTES overrides the all-reduce bucket size (tuning, and tests of many buckets).
  const int bucket = env_int("SLLM_DP_BUCKET_BYTES");
  auto avg = bucket > 0 ? std::make_shared<GradientAverager>(world, static_cast<size_t>(bucket))
                        : std::make_shared<GradientAverager>(world);
  // The step's last micro-batch streams its gradients into the all-reduces while backward runs;
  // the earlier ones only accumulate.
  auto micro = std::make_shared<int>(0);
  hooks.train_loss = [avg, micro, accum = cfg.grad_accum](Model& m, const Batch& b, float scale) {
    const float loss = m.forward(b.tokens.data(), b.targets.data(), b.B, b.T);
    const bool last = ++*micro == accum;
    if (last)
      m.set_grads_ready_callback([avg](std::span<float> ready) { avg->on_grads_ready(ready); });
    m.backward(scale);
    m.set_grads_ready_callback(nullptr);
    return loss;
  };
  hooks.sync_gradients = [avg, micro, rank, world, reported = false](std::span<float> grads,
                                                                     double& loss) mutable {
    *micro = 0;
    avg->finish(grads, loss);
    if (rank == 0 && !reported) {
      std::fprintf(stderr,
                   "sllm: data parallel over %d ranks: %d gradient all-reduces per step, %d "
                   "started during backward\n",
                   world, avg->buckets(), avg->buckets_overlapped());
      reported = true;
    }
  };
  hooks.eval_loss = [](Model& m, const Batch& b) {
    return static_cast<float>(
        average_over_ranks(m.forward(b.tokens.data(), b.targets.data(), b.B, b.T)));
  };
}

}  // namespace sllm
