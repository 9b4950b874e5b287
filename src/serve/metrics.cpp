#include "sllm/serve/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace sllm::serve {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i]++;
  sum_ += v;
  count_++;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out +=
        fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, bounds_[i], cumulative);
  }
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, count_);
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, sum_, name, braces, count_);
}

Metrics::ModelStats& Metrics::model(const std::string& name) {
  return models_[name];
}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mu_);
  requests_[{endpoint, status}]++;
}

void Metrics::add_tokens(const std::string& name, int64_t prompt, int64_t completion) {
  std::lock_guard lock(mu_);
  auto& m = model(name);
  m.prompt_tokens += prompt;
  m.completion_tokens += completion;
}

void Metrics::observe_ttft(const std::string& name, double seconds) {
  std::lock_guard lock(mu_);
  model(name).ttft.observe(seconds);
}

void Metrics::observe_token_latency(const std::string& name, double seconds) {
  std::lock_guard lock(mu_);
  model(name).token_latency.observe(seconds);
}

void Metrics::observe_batch(const std::string& name, int sequences, int tokens) {
  std::lock_guard lock(mu_);
  auto& m = model(name);
  m.batch_sequences.observe(sequences);
  m.batch_tokens.observe(tokens);
}

void Metrics::set_queue(const std::string& name, int waiting, int running) {
  std::lock_guard lock(mu_);
  auto& m = model(name);
  m.waiting = waiting;
  m.running = running;
}

void Metrics::count_finish(const std::string& name, const std::string& reason) {
  std::lock_guard lock(mu_);
  model(name).finishes[reason]++;
}

namespace {
std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
}  // namespace

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out +=
      "# HELP sllm_requests_total HTTP requests by endpoint and status code.\n# TYPE "
      "sllm_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += fmt::format("sllm_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n",
                       escape_label(key.first), key.second, n);

  auto per_model = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (const auto& [m, s] : models_)
      out += fmt::format("{}{{model=\"{}\"}} {}\n", name, escape_label(m), value(s));
  };
  per_model("sllm_prompt_tokens_total", "counter", "Prompt tokens processed.",
            [](const ModelStats& s) { return s.prompt_tokens; });
  per_model("sllm_completion_tokens_total", "counter", "Completion tokens generated.",
            [](const ModelStats& s) { return s.completion_tokens; });
  per_model("sllm_queue_depth", "gauge", "Requests waiting to join the running batch.",
            [](const ModelStats& s) { return s.waiting; });
  per_model("sllm_running_sequences", "gauge", "Sequences in the running batch.",
            [](const ModelStats& s) { return s.running; });

  out +=
      "# HELP sllm_finished_requests_total Generations by finish reason.\n# TYPE "
      "sllm_finished_requests_total counter\n";
  for (const auto& [m, s] : models_)
    for (const auto& [reason, n] : s.finishes)
      out += fmt::format("sllm_finished_requests_total{{model=\"{}\",reason=\"{}\"}} {}\n",
                         escape_label(m), escape_label(reason), n);

  auto hist = [&](const char* name, const char* help, auto pick) {
    out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
    for (const auto& [m, s] : models_)
      pick(s).render(out, name, fmt::format("model=\"{}\"", escape_label(m)));
  };
  hist("sllm_time_to_first_token_seconds",
       "Time from request arrival to its first generated token.",
       [](const ModelStats& s) -> const Histogram& { return s.ttft; });
  hist("sllm_time_per_output_token_seconds",
       "Time between consecutive generated tokens of one request.",
       [](const ModelStats& s) -> const Histogram& { return s.token_latency; });
  hist("sllm_batch_size", "Sequences in each forward step.",
       [](const ModelStats& s) -> const Histogram& { return s.batch_sequences; });
  hist("sllm_batch_tokens", "Tokens in each forward step (prefill chunks plus decode tokens).",
       [](const ModelStats& s) -> const Histogram& { return s.batch_tokens; });
  return out;
}

}  // namespace sllm::serve
