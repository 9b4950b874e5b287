#include "sllm/serve/scheduler.h"

#include <algorithm>
#include <future>

#include "sllm/common/error.h"

namespace sllm::serve {

Job::Job(std::vector<int32_t> prompt, SamplingOptions sampling, int max_tokens,
         std::vector<std::string> stop)
    : prompt_(std::move(prompt)),
      sampling_(std::move(sampling)),
      max_tokens_(max_tokens),
      stop_(std::move(stop)) {}

bool Job::wait(std::string& text, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return finished_ || !pending_.empty(); });
  text = std::move(pending_);
  pending_.clear();
  return finished_;
}

void Job::publish(std::string text, bool finished, std::string reason, std::string error) {
  {
    std::lock_guard lock(mu_);
    pending_ += text;
    completion_tokens_ = int(output_.size());
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
  for (auto& job : running_) job->publish("", true, "cancelled");
  for (auto& job : queued) job->publish("", true, "cancelled");
  running_.clear();
}

void Scheduler::admit() {
  std::vector<std::shared_ptr<Job>> joining;
  {
    std::lock_guard lock(mu_);
    // Cancelled requests leave the queue without ever touching the model.
    for (auto it = queue_.begin(); it != queue_.end();) {
      if ((*it)->cancelled()) {
        (*it)->publish("", true, "cancelled");
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    while (!queue_.empty() && int(running_.size() + joining.size()) < opt_.max_batch) {
      joining.push_back(queue_.front());
      queue_.pop_front();
    }
  }
  for (auto& job : joining) {
    try {
      job->seq_ = backend_.start(job->sampling_);
      running_.push_back(job);
    } catch (const std::exception& e) {
      finish(*job, "error", e.what());
    }
  }
  running_count_ = int(running_.size());
}

void Scheduler::finish(Job& job, const std::string& reason, const std::string& error) {
  job.seq_.reset();  // Frees the KV cache now, not when the HTTP thread lets go.
  job.done_ = true;
  if (metrics_) {
    metrics_->count_finish(name_, reason);
    metrics_->add_tokens(name_, int64_t(job.prefilled_), int64_t(job.output_.size()));
  }
  job.publish("", true, reason, error);
}

// Publishes the newly decoded text, holding back bytes that may still become a stop string
// or that end in an incomplete UTF-8 character. On a stop string, truncates before it.
void Scheduler::publish_text(Job& job, bool final, std::string& text_out, bool& hit_stop) {
  std::string full = backend_.decode(job.output_);
  size_t max_stop = 0;
  for (const auto& s : job.stop_) max_stop = std::max(max_stop, s.size());
  size_t end = full.size();
  size_t search_from = job.text_emitted_ >= max_stop ? job.text_emitted_ - max_stop : 0;
  size_t stop_at = std::string::npos;
  for (const auto& s : job.stop_) {
    size_t p = full.find(s, search_from);
    if (p != std::string::npos) stop_at = std::min(stop_at, p);
  }
  if (stop_at != std::string::npos) {
    hit_stop = true;
    end = stop_at;
  } else if (!final) {
    end = max_stop > 0 ? (full.size() >= max_stop - 1 ? full.size() - (max_stop - 1) : 0)
                       : full.size();
    // Do not split a UTF-8 character: back up to the start of an unfinished one.
    size_t k = full.size();
    int back = 0;
    while (k > 0 && back < 4 && (uint8_t(full[k - 1]) & 0xC0) == 0x80) --k, ++back;
    if (k > 0 && (uint8_t(full[k - 1]) & 0x80)) {
      uint8_t lead = uint8_t(full[k - 1]);
      size_t need = (lead & 0xE0) == 0xC0   ? 2
                    : (lead & 0xF0) == 0xE0 ? 3
                    : (lead & 0xF8) == 0xF0 ? 4
                                            : 1;
      if (size_t(back) + 1 < need) end = std::min(end, k - 1);
    }
  }
  if (end > job.text_emitted_) {
    text_out = full.substr(job.text_emitted_, end - job.text_emitted_);
    job.text_emitted_ = end;
  }
}

void Scheduler::observe_token(Job& job) {
  auto now = Clock::now();
  if (metrics_) {
    if (job.output_.empty())
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
  auto logits_row = [&] { return logits_.data() + batch.size() * size_t(vocab); };
  // Decoding sequences go first, one token each, so a long prompt never stalls them.
  for (auto& job : running_) {
    if (job->prefilled_ < job->prompt_.size()) continue;
    batch.push_back(
        {job->seq_.get(), std::span<const int32_t>(&job->output_.back(), 1), logits_row()});
    rows.push_back(job.get());
    --budget;
  }
  for (auto& job : running_) {
    size_t left = job->prompt_.size() - job->prefilled_;
    if (left == 0 || budget <= 0) continue;
    size_t n = std::min<size_t>({left, size_t(opt_.prefill_chunk), size_t(budget)});
    float* logits =
        n == left ? logits_row() : nullptr;  // Only the chunk that ends the prompt samples.
    batch.push_back({job->seq_.get(),
                     std::span<const int32_t>(job->prompt_.data() + job->prefilled_, n), logits});
    rows.push_back(job.get());
    budget -= int(n);
  }
  int tokens = 0;
  for (const auto& e : batch) tokens += int(e.tokens.size());
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

  int ctx = backend_.context_length();
  for (size_t i = 0; i < batch.size(); ++i) {
    Job& job = *rows[i];
    if (job.prefilled_ < job.prompt_.size()) job.prefilled_ += batch[i].tokens.size();
    if (!batch[i].logits) continue;
    int32_t token = job.seq_->sample(batch[i].logits);
    observe_token(job);
    std::string reason;
    if (backend_.is_end_token(token)) {
      reason = "stop";
    } else {
      job.output_.push_back(token);
      if (job.seq_->grammar_done())
        reason = "stop";
      else if (int(job.output_.size()) >= job.max_tokens_)
        reason = "length";
      else if (int(job.prompt_.size() + job.output_.size()) >= ctx)
        reason = "length";
    }
    std::string text;
    bool hit_stop = false;
    publish_text(job, !reason.empty(), text, hit_stop);
    if (hit_stop) reason = "stop";
    job.publish(std::move(text), false);
    if (!reason.empty()) finish(job, reason);
  }
  std::erase_if(running_, [](const auto& j) { return j->done_; });
  running_count_ = int(running_.size());
  if (metrics_) metrics_->set_queue(name_, waiting(), running_count_);
}

}  // namespace sllm::serve
