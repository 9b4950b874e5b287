#include "chunking.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>

#include "sllm/common/error.h"

namespace sllm {

namespace {

bool inside_special(const Tokenizer& t, std::string_view text, size_t p) {
  for (const auto& s : t.special_tokens()) {
    size_t len = s.text.size();
    if (len < 2) continue;
    size_t from = p >= len - 1 ? p - (len - 1) : 0;
    std::string_view window = text.substr(from, std::min(text.size() - from, p - from + len - 1));
    for (size_t q = window.find(s.text); q != std::string_view::npos;
         q = window.find(s.text, q + 1))
      if (from + q < p && p < from + q + len) return true;
  }
  return false;
}

}  // namespace

std::vector<size_t> split_points(const Tokenizer& t, std::string_view text, size_t target,
                                 bool allow_special) {
  std::vector<size_t> points{0};
  size_t pos = target;
  while (pos < text.size()) {
    while (pos < text.size() &&
           !(t.is_safe_split(text, pos) && !(allow_special && inside_special(t, text, pos))))
      ++pos;
    if (pos >= text.size()) break;
    points.push_back(pos);
    pos += target;
  }
  points.push_back(text.size());
  return points;
}

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

namespace {

// Worker threads that live for the whole process: the encoders' per-thread piece caches stay
// warm from one batch to the next (fresh threads start cold), and idle workers sleep on a
// condition variable instead of spinning, which matters on a shared, oversubscribed machine.
class WorkerPool {
 public:
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // Runs fn(i) for i in [0, n) on the calling thread plus `helpers` workers. False (nothing
  // run) when another thread is using the pool, or when called from one of its workers.
  bool run(size_t n, int helpers, const std::function<void(size_t)>& fn) {
    if (in_worker_) return false;
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (static_cast<int>(workers_.size()) < helpers)
        workers_.emplace_back([this, id = static_cast<int>(workers_.size())] { loop(id); });
      fn_ = &fn;
      n_ = n;
      next_ = 0;
      helpers_ = helpers;
      running_ = helpers;
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return running_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  void loop(int id) {
    in_worker_ = true;
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      wake_.wait(lock, [&] { return stop_ || (generation_ != seen && id < helpers_); });
      if (stop_) return;
      seen = generation_;
      lock.unlock();
      work();
      lock.lock();
      if (--running_ == 0) done_.notify_one();
    }
  }

  void work() {
    for (size_t i; (i = next_.fetch_add(1)) < n_;) {
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
        next_ = n_;  // stop handing out work
      }
    }
  }

  static thread_local bool in_worker_;
  std::mutex run_mu_;  // one batch at a time
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
  int helpers_ = 0, running_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

thread_local bool WorkerPool::in_worker_ = false;

}  // namespace

void parallel_for(size_t n, int threads, const std::function<void(size_t)>& fn) {
  threads = std::min<int>(resolve_threads(threads), static_cast<int>(std::max<size_t>(n, 1)));
  if (threads > 1) {
    static WorkerPool pool;
    if (pool.run(n, threads - 1, fn)) return;
  }
  for (size_t i = 0; i < n; ++i) fn(i);  // one thread, or the pool is busy: the caller alone
}

std::vector<int32_t> encode_parallel(const Tokenizer& tokenizer, std::string_view text, int threads,
                                     bool allow_special) {
  threads = resolve_threads(threads);
  constexpr size_t kMinChunk = 64 << 10;  // enough chunks to balance 2 threads on 1 MB
  if (threads == 1 || text.size() < 2 * kMinChunk) return tokenizer.encode(text, allow_special);
  size_t target = std::max(kMinChunk, text.size() / (static_cast<size_t>(threads) * 8));
  auto points = split_points(tokenizer, text, target, allow_special);
  std::vector<std::vector<int32_t>> parts(points.size() - 1);
  parallel_for(parts.size(), threads, [&](size_t i) {
    try {
      parts[i] = tokenizer.encode(text.substr(points[i], points[i + 1] - points[i]), allow_special);
    } catch (const Error& e) {  // its byte offsets count from the start of this part
      fail("{} (in the part of the text that starts at byte {})", e.what(), points[i]);
    }
  });
  size_t total = 0;
  for (const auto& p : parts) total += p.size();
  std::vector<int32_t> out;
  out.reserve(total);
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace sllm
