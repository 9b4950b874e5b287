// The threads of the forward steps: the caller (the leader) plus helper threads that live as
// long as the model. A decode step of a 12-layer model has ~100 parallel loops; an OpenMP
// region for each would cost a fork and a join apiece, and on a busy machine every barrier is a
// disaster: all threads must reach it, so each loop waits for whichever thread the OS has
// descheduled, while GOMP's waiters spin for milliseconds on the cores that thread needs.
//
// So nothing here waits for a thread to arrive. The leader runs the step; for each parallel
// loop it publishes the chunks and takes them itself alongside the helpers, which take what
// they can, and it waits only for chunks already taken. A helper the OS has parked simply takes
// none. Waiting spins briefly, then yields the core; an idle helper sleeps after a millisecond.
// Chunks must not start OpenMP regions or multi-threaded BLAS (helpers are not OpenMP threads).
//
// Every output element is computed whole by one chunk, and chunk boundaries do not depend on
// the thread count or on who ran what: same inputs, same bits, at any thread count.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace sllm {

class TeamState {
 public:
  explicit TeamState(int threads);  // Starts threads - 1 helpers.
  ~TeamState();
  TeamState(const TeamState&) = delete;
  TeamState& operator=(const TeamState&) = delete;
  int threads() const { return threads_; }
  // Leader: runs fn(ctx, i) for i in [0, chunks) with the helpers; returns when all are done.
  void run(int64_t chunks, void (*fn)(const void*, int64_t), const void* ctx);

 private:
  void help();  // A helper's life: take chunks, sleep when idle, until the destructor.
  struct Job {
    std::atomic<void (*)(const void*, int64_t)> fn{nullptr};
    std::atomic<const void*> ctx{nullptr};
    std::atomic<int64_t> chunks{0};
    alignas(64) std::atomic<int64_t> done{0};
  };
  bool take(uint64_t v);  // Runs chunk (v & 0xffffffff) of job (v >> 32) if v is still current.

  const int threads_;
  uint32_t generation_ = 0;  // Leader only.
  // (generation << 32) | next chunk. Jobs alternate between two slots: the leader refills a
  // slot only after the job that last used it has finished.
  alignas(64) std::atomic<uint64_t> ticket_{0};
  Job jobs_[2];
  alignas(64) std::atomic<bool> exit_{false};
  std::atomic<int> sleepers_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::thread> helpers_;
};

// The leader's view: parallel loops over index ranges.
class Team {
 public:
  // solo: run every loop on the leader (a step too small to share).
  explicit Team(TeamState& s, bool solo = false) : s_(s), solo_(solo) {}
  int size() const { return solo_ ? 1 : s_.threads(); }

  // f(begin, end) over [0, n) in chunks of `chunk`; returns when all have run.
  template <class F>
  void parallel_for(int64_t n, int64_t chunk, F&& f) {
    if (n <= 0) return;
    if (size() == 1 || n <= chunk) return f(int64_t{0}, n);
    struct Ctx {
      F* f;
      int64_t n, chunk;
    } ctx{&f, n, chunk};
    s_.run((n + chunk - 1) / chunk,
           [](const void* p, int64_t i) {
             const Ctx& c = *static_cast<const Ctx*>(p);
             const int64_t b = i * c.chunk;
             (*c.f)(b, b + c.chunk < c.n ? b + c.chunk : c.n);
           },
           &ctx);
  }

  // f() on the leader (the helpers only ever run loop chunks).
  template <class F>
  void single(F&& f) {
    f();
  }

 private:
  TeamState& s_;
  const bool solo_;
};

}  // namespace sllm
