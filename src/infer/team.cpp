#include "sllm/infer/team.h"

#include <sched.h>

namespace sllm {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
// Pauses before each yield: about 10 us on current x86 cores (a pause is ~40-140 cycles),
// longer than a loop's chunks take to drain on an idle machine, far shorter than a time slice.
constexpr int kSpins = 256;
// Yields before an idle helper sleeps (each is a pass through the scheduler, ~1-5 us).
constexpr int kYieldsBeforeSleep = 500;

// Returns the number of yields so far.
inline int back_off(int& spins) {
  if (++spins < kSpins) {
    cpu_relax();
    return 0;
  }
  sched_yield();
  return spins - kSpins + 1;
}
}  // namespace

bool TeamState::take(uint64_t v) {
  const uint32_t gen = static_cast<uint32_t>(v >> 32);
  const int64_t idx = static_cast<int64_t>(v & 0xffffffffu);
  Job& j = jobs_[gen & 1];
  // A stale v (an older job) may read fields the leader is rewriting, but then the exchange
  // below fails and nothing read is used.
  if (gen == 0 || idx >= j.chunks.load(std::memory_order_relaxed)) return false;
  if (!ticket_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) return false;
  j.fn.load(std::memory_order_relaxed)(j.ctx.load(std::memory_order_relaxed), idx);
  j.done.fetch_add(1, std::memory_order_release);
  return true;
}

TeamState::TeamState(int threads) : threads_(threads < 1 ? 1 : threads) {
  for (int i = 1; i < threads_; ++i) helpers_.emplace_back([this] { help(); });
}

TeamState::~TeamState() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    exit_.store(true, std::memory_order_seq_cst);
  }
  wake_.notify_all();
  for (auto& t : helpers_) t.join();
}

void TeamState::run(int64_t chunks, void (*fn)(const void*, int64_t), const void* ctx) {
  const uint32_t gen = ++generation_;
  Job& j = jobs_[gen & 1];
  j.fn.store(fn, std::memory_order_relaxed);
  j.ctx.store(ctx, std::memory_order_relaxed);
  j.chunks.store(chunks, std::memory_order_relaxed);
  j.done.store(0, std::memory_order_relaxed);
  ticket_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  for (;;) {
    const uint64_t v = ticket_.load(std::memory_order_acquire);
    if (static_cast<int64_t>(v & 0xffffffffu) >= chunks) break;
    take(v);
  }
  for (int spins = 0; j.done.load(std::memory_order_acquire) < chunks;) back_off(spins);
}

void TeamState::help() {
  for (int spins = 0;;) {
    const uint64_t seen = ticket_.load(std::memory_order_acquire);
    if (take(seen)) {
      spins = 0;
      continue;
    }
    if (exit_.load(std::memory_order_acquire)) return;
    if (back_off(spins) < kYieldsBeforeSleep) continue;
    // Idle for a while: sleep until the leader publishes a job. The leader stores the ticket
    // before it reads sleepers_, and we count ourselves in before reading the ticket, so one of
    // us sees the other (all seq_cst) and no wake-up is lost.
    std::unique_lock<std::mutex> lock(mutex_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    wake_.wait(lock, [&] {
      return exit_.load(std::memory_order_seq_cst) ||
             ticket_.load(std::memory_order_seq_cst) != seen;
    });
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    spins = 0;
  }
}

}  // namespace sllm
