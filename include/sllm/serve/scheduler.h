// Continuous batching for one model. A single engine thread runs forward steps; at every step
// finished or cancelled sequences leave, queued requests join, and each running sequence
// contributes either its next decode token or a chunk of its prompt (chunked prefill), all in
// one batched forward. HTTP threads submit jobs and wait on them.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sllm/serve/backend.h"
#include "sllm/serve/metrics.h"

namespace sllm::serve {

struct SchedulerOptions {
  int max_batch = 16;           // Sequences in the running batch.
  int max_queue = 64;           // Waiting requests beyond the batch; more get 429.
  int prefill_chunk = 128;      // Prompt tokens one sequence feeds per step.
  int step_token_budget = 512;  // Prompt + decode tokens per step, so decodes are not stalled.
};

using Clock = std::chrono::steady_clock;

// One generation request, shared by the HTTP thread that waits on it and the engine thread.
class Job {
 public:
  explicit Job(GenerationSpec spec);

  // Blocks until new text is available, the job ends, or `timeout` passes. Moves the new text
  // into `text`; returns true once the job has finished (and all its text was taken).
  bool wait(std::string& text, std::chrono::milliseconds timeout);
  // The same, also moving out the logprobs of the tokens generated since the last call.
  bool wait(std::string& text, std::vector<TokenLogprob>& logprobs,
            std::chrono::milliseconds timeout);
  // Another choice for this job's prompt (n > 1): it starts from a copy of this job's KV cache
  // once the prompt is in it, sharing the prefill, and ends with this job if that fails first.
  // Call before submit().
  void add_fork(std::shared_ptr<Job> choice) { forks_.push_back(std::move(choice)); }
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

  // Valid once wait() returned true.
  const std::string& finish_reason() const {
    return finish_reason_;
  }  // stop, length, cancelled, error
  const std::string& error() const { return error_; }
  int prompt_tokens() const { return int(spec_.prompt.size()); }
  int completion_tokens() const { return completion_tokens_; }
  // Tokens whose text wait() has handed out so far: what a client that hangs up mid-response
  // was sent (or was being sent), and so what it is billed.
  int taken_tokens() const {
    std::lock_guard lock(mu_);
    return taken_tokens_;
  }

 private:
  friend class Scheduler;
  void publish(std::string text, bool finished, std::string reason = "", std::string error = "");
  void end_forks(const std::string& reason, const std::string& error);

  GenerationSpec spec_;
  Clock::time_point submitted_ = Clock::now();
  std::atomic<bool> cancelled_{false};

  // Engine-thread state.
  std::unique_ptr<Sequence> seq_;
  std::vector<std::shared_ptr<Job>> forks_;  // Choices waiting for this job's prefill.
  size_t logprobs_published_ = 0;
  bool prefilling_ = true;
  bool done_ = false;
  Clock::time_point last_token_at_;

  // Shared with the waiting thread.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;
  std::vector<TokenLogprob> pending_logprobs_;
  bool finished_ = false;
  std::string finish_reason_, error_;
  int completion_tokens_ = 0;
  int taken_tokens_ = 0;
};

class Scheduler {
 public:
  Scheduler(std::string model_name, Backend& backend, SchedulerOptions options, Metrics* metrics);
  ~Scheduler();  // Stops the engine thread; unfinished jobs end with reason "cancelled".
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job; returns false when the queue is full.
  bool submit(const std::shared_ptr<Job>& job);
  // Runs `fn` on the engine thread between steps (the backend is not thread-safe) and waits.
  void run_exclusive(const std::function<void(Backend&)>& fn);

  int waiting() const;
  int running() const;
  int64_t steps() const { return steps_; }
  int max_batch_seen() const { return max_batch_seen_; }
  const std::string& model_name() const { return name_; }
  Backend& backend() { return backend_; }

 private:
  void loop();
  void admit();
  void step();
  void observe_token(Job& job);
  void finish(Job& job, const std::string& reason, const std::string& error = "");

  std::string name_;
  Backend& backend_;
  SchedulerOptions opt_;
  Metrics* metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::deque<std::function<void()>> exclusive_;
  bool stopping_ = false;
  std::vector<std::shared_ptr<Job>> running_;  // Engine thread only (size mirrored below).
  std::atomic<int> running_count_{0};
  std::atomic<int64_t> steps_{0};
  std::atomic<int> max_batch_seen_{0};
  std::vector<float> logits_;
  std::thread thread_;
};

}  // namespace sllm::serve
