#include "sllm/serve/scheduler.h"

#include <algorithm>
#include <future>

#include "sllm/common/error.h"

namespace sllm::serve {

Job::Job(GenerationSpec spec) : spec_(std::move(spec)) {}

bool Job::wait(std::string& text, std::chrono::milliseconds timeout) {
  std::vector<TokenLogprob> ignored;
  return wait(text, ignored, timeout);
}

bool Job::wait(std::string& text, std::vector<TokenLogprob>& logprobs,
               std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout,
               [&] { return finished_ || !pending_.empty() || !pending_logprobs_.empty(); });
  text = std::move(pending_);
  pending_.clear();
  logprobs = std::move(pending_logprobs_);
  pending_logprobs_.clear();
  taken_tokens_ = completion_tokens_;
  return finished_;
}

void Job::end_forks(const std::string& reason, const std::string& error) {
  for (auto& f : forks_) f->publish("", true, reason, error);
  forks_.clear();
}

void Job::publish(std::string text, bool finished, std::string reason, std::string error) {
  {
    std::lock_guard lock(mu_);
    pending_ += text;
    if (seq_) {
      completion_tokens_ = seq_->generated_tokens();
      const auto& lp = seq_->logprobs();
      for (; logprobs_published_ < lp.size(); ++logprobs_published_)
        pending_logprobs_.push_back(lp[logprobs_published_]);
    }
    if (finished) {
      finished_ = true;
      finish_reason_ = std::move(reason);
      error_ = std::move(error);
    }
  }
  cv_.notify_all();
}

Scheduler::Scheduler(std::string model_name, Backend& backend, SchedulerOptions options,
                     Metrics* metrics)
    : name_(std::move(model_name)), backend_(backend), opt_(options), metrics_(metrics) {
  if (opt_.max_batch < 1 || opt_.max_queue < 0 || opt_.prefill_chunk < 1 ||
      opt_.step_token_budget < opt_.max_batch)
    fail(
        "scheduler: bad options (max_batch {}, max_queue {}, prefill_chunk {}, step_token_budget "
        "{})",
        opt_.max_batch, opt_.max_queue, opt_.prefill_chunk, opt_.step_token_budget);
  logits_.resize(size_t(opt_.max_batch) * backend_.vocab_size());
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool Scheduler::submit(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    // The running batch has free slots at the next step; the queue bound counts what waits beyond.
    int free_slots = opt_.max_batch - running_count_;
    if (int(queue_.size()) >= opt_.max_queue + std::max(0, free_slots)) return false;
    queue_.push_back(job);
  }
  cv_.notify_all();
  return true;
}

void Scheduler::run_exclusive(const std::function<void(Backend&)>& fn) {
  std::packaged_task<void()> task([&] { fn(backend_); });
  auto done = task.get_future();
  {
    std::lock_guard lock(mu_);
    if (stopping_) fail("model '{}' is shutting down", name_);
    exclusive_.push_back([&task] { task(); });
  }
  cv_.notify_all();
  done.get();  // Rethrows what fn threw.
}

int Scheduler::waiting() const {
  std::lock_guard lock(mu_);
  return int(queue_.size());
}

int Scheduler::running() const {
  return running_count_;
}

void Scheduler::loop() {
  for (;;) {
    std::deque<std::function<void()>> exclusive;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        return stopping_ || !queue_.empty() || !exclusive_.empty() || !running_.empty();
      });
      if (stopping_) break;
      exclusive.swap(exclusive_);
    }
    for (auto& fn : exclusive) fn();
    admit();
    if (!running_.empty()) step();
  }
  // Shutdown: wake every waiter.
  std::deque<std::shared_ptr<Job>> queued;
  std::deque<std::function<void()>> exclusive;
  {
    std::lock_guard lock(mu_);
    queued.swap(queue_);
    exclusive.swap(exclusive_);
  }
  for (auto& fn : exclusive) fn();
  for (auto& job : running_) {
    job->end_forks("cancelled", "");
    job->publish("", true, "cancelled");
  }
  for (auto& job : queued) {
    job->end_forks("cancelled", "");
    job->publish("", true, "cancelled");
  }
  running_.clear();
}

void Scheduler::admit() {
  std::vector<std::shared_ptr<Job>> joining;
  {
    std::lock_guard lock(mu_);
    // Cancelled requests leave the queue without ever touching the model.
    for (auto it = queue_.begin(); it != queue_.end();) {
      if ((*it)->cancelled()) {
        (*it)->end_forks("cancelled", "");
        (*it)->publish("", true, "cancelled");
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    // A job with n choices takes n slots (its forks join once its prompt is in); one that
    // needs more than the whole batch still runs, alone.
    size_t taken = running_.size();
    for (const auto& j : running_) taken += j->forks_.size();
    while (!queue_.empty()) {
      const size_t need = 1 + queue_.front()->forks_.size();
      if (taken > 0 && int(taken + need) > opt_.max_batch) break;
      taken += need;
      joining.push_back(queue_.front());
      queue_.pop_front();
    }
  }
  for (auto& job : joining) {
    try {
      job->seq_ = backend_.start(job->spec_);
      running_.push_back(job);
    } catch (const std::exception& e) {
      finish(*job, "error", e.what());
    }
  }
  running_count_ = int(running_.size());
}

void Scheduler::finish(Job& job, const std::string& reason, const std::string& error) {
  if (metrics_) {
    metrics_->count_finish(name_, reason);
    metrics_->add_tokens(name_, job.prompt_tokens(), job.seq_ ? job.seq_->generated_tokens() : 0);
  }
  job.end_forks(reason, error);
  job.publish("", true, reason, error);
  job.seq_.reset();  // Frees the KV cache now, not when the HTTP thread lets go.
  job.done_ = true;
}

void Scheduler::observe_token(Job& job) {
  auto now = Clock::now();
  if (metrics_) {
    if (job.seq_->generated_tokens() == 1)
      metrics_->observe_ttft(name_, std::chrono::duration<double>(now - job.submitted_).count());
    else
      metrics_->observe_token_latency(
          name_, std::chrono::duration<double>(now - job.last_token_at_).count());
  }
  job.last_token_at_ = now;
}

void Scheduler::step() {
  // Cancelled sequences leave before the step and free their cache.
  for (auto& job : running_)
    if (job->cancelled()) finish(*job, "cancelled");
  std::erase_if(running_, [](const auto& j) { return j->done_; });
  running_count_ = int(running_.size());
  if (running_.empty()) return;

  std::vector<BatchEntry> batch;
  std::vector<Job*> rows;
  int budget = opt_.step_token_budget;
  int vocab = backend_.vocab_size();
  if (logits_.size() < running_.size() * size_t(vocab)) logits_.resize(running_.size() * vocab);
  auto add_row = [&](Job& job, size_t n) {
    std::span<const int32_t> in = job.seq_->input();
    // Only the row that reaches the end of the input needs logits (a prompt's last chunk).
    float* logits = n == in.size() ? logits_.data() + batch.size() * size_t(vocab) : nullptr;
    batch.push_back({job.seq_.get(), in.first(n), logits});
    rows.push_back(&job);
    budget -= int(n);
  };
  // Decoding sequences go first, one token each, so a long prompt never stalls them.
  for (auto& job : running_)
    if (!job->prefilling_) add_row(*job, 1);
  // Then prompt chunks, within the step's token budget (chunked prefill).
  for (auto& job : running_) {
    if (!job->prefilling_ || budget <= 0) continue;
    add_row(*job, std::min<size_t>(
                      {job->seq_->input().size(), size_t(opt_.prefill_chunk), size_t(budget)}));
  }
  int tokens = opt_.step_token_budget - budget;
  try {
    backend_.forward(batch);
  } catch (const std::exception& e) {
    for (auto& job : running_) finish(*job, "error", e.what());
    running_.clear();
    running_count_ = 0;
    return;
  }
  steps_++;
  max_batch_seen_ = std::max<int>(max_batch_seen_, int(batch.size()));
  if (metrics_) metrics_->observe_batch(name_, int(batch.size()), tokens);

  // Sampling and detokenizing are per sequence and independent: spread them over the
  // threads (with a 32k vocabulary they cost as much as a small model's forward step).
  const int n = int(batch.size());
  std::vector<std::string> texts(n), errors(n);
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < n; ++i) {
    Sequence& seq = *rows[i]->seq_;
    try {
      seq.fed(batch[i].tokens.size());
      if (!batch[i].logits) continue;
      texts[i] = seq.next(std::span<float>(batch[i].logits, size_t(vocab)));
      if (seq.done()) texts[i] += seq.finish();
    } catch (const std::exception& e) {
      errors[i] = e.what();
      if (errors[i].empty()) errors[i] = "generation failed";
    }
  }
  for (int i = 0; i < n; ++i) {
    Job& job = *rows[i];
    if (!errors[i].empty()) {
      finish(job, "error", errors[i]);
      continue;
    }
    if (!batch[i].logits) continue;
    // The prompt is in the cache: the job's other choices start from a copy of it.
    for (auto& f : job.forks_) {
      try {
        f->seq_ = backend_.fork(*job.seq_, f->spec_);
        running_.push_back(f);
      } catch (const std::exception& e) {
        finish(*f, "error", e.what());
      }
    }
    job.forks_.clear();
    job.prefilling_ = false;
    observe_token(job);
    job.publish(std::move(texts[i]), false);
    if (job.seq_->done()) finish(job, job.seq_->finish_reason());
  }
  std::erase_if(running_, [](const auto& j) { return j->done_; });
  running_count_ = int(running_.size());
  if (metrics_) metrics_->set_queue(name_, waiting(), running_count_);
}

}  // namespace sllm::serve
