// Training records: OUT/metrics.jsonl (one JSON object per line, appended and flushed as each
// step ends) and the loss curve as an SVG, rewritten atomically.
#pragma once
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sllm {

struct StepRecord {
  int step = 0;                // Optimizer updates done before this step's update.
  std::optional<double> loss;  // Mean train loss of this step's batch (absent on the final eval).
  std::optional<double> val_loss;  // On eval steps.
  double lr = 0, grad_norm = 0, tokens_per_s = 0,
         elapsed_s = 0;  // grad_norm, tokens_per_s: with loss.
  // Before this step's update: tokens trained on, and the time spent in steps (evaluations,
  // samples and checkpoints not counted), both including the run(s) before a resume.
  uint64_t tokens = 0;
  double train_s = 0;
  // Further figures (a preference loss's rewards/..., eval_rewards/...), written as top-level
  // keys; read back are the numeric keys that hold a '/'.
  std::map<std::string, double> extra;
  std::string to_json_line() const;                        // No trailing newline.
  static StepRecord from_json_line(const std::string& s);  // Throws sllm::Error.
};

class MetricsLog {
 public:
  // Opens OUT/metrics.jsonl. With keep_before >= 0 (a resume), keeps the records of steps
  // before it (the rest were written after the checkpoint by the interrupted run) and drops
  // the others; with keep_before < 0 starts a fresh file.
  MetricsLog(const std::string& path, int keep_before);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  void append(const StepRecord& r);
  const std::vector<StepRecord>& records() const { return records_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  std::vector<StepRecord> records_;
};

// Train loss (thin line) and val loss (dots and line) against step, as a standalone SVG.
std::string loss_curve_svg(const std::vector<StepRecord>& records, const std::string& title);
void write_loss_curve(const std::string& path, const std::vector<StepRecord>& records,
                      const std::string& title);

}  // namespace sllm
