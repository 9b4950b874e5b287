// Server metrics, rendered in the Prometheus text exposition format (version 0.0.4).
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sllm::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // Appends the _bucket/_sum/_count lines; `labels` is "" or `key="value",...`.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // Per bucket, not cumulative.
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  void count_request(const std::string& endpoint, int status);
  void add_tokens(const std::string& model, int64_t prompt, int64_t completion);
  void observe_ttft(const std::string& model, double seconds);
  void observe_token_latency(const std::string& model, double seconds);
  void observe_batch(const std::string& model, int sequences, int tokens);
  void set_queue(const std::string& model, int waiting, int running);
  void count_finish(const std::string& model, const std::string& reason);
  std::string render() const;

 private:
  struct ModelStats {
    int64_t prompt_tokens = 0, completion_tokens = 0;
    int waiting = 0, running = 0;
    std::map<std::string, int64_t> finishes;
    Histogram ttft{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
    Histogram token_latency{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
    Histogram batch_sequences{{1, 2, 4, 8, 16, 32, 64}};
    Histogram batch_tokens{{1, 4, 16, 64, 128, 256, 512, 1024}};
  };
  ModelStats& model(const std::string& name);
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;  // (endpoint, status) -> count
  std::map<std::string, ModelStats> models_;
};

}  // namespace sllm::serve
