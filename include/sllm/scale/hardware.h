// The accelerator catalog behind `sllm plan`: peak throughput, memory, bandwidth and board
// power per device, each entry with the datasheet it came from. The built-in catalog is
// data/hardware.json compiled into the binary; a user catalog (written by
// `sllm plan --calibrate`) adds or replaces entries by id.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sllm::scale {

struct Source {
  std::string title, url;
};

// A training-shaped fp32 GEMM rate measured on a CPU: tokens x width -> 4*width and its two
// backward GEMMs. Small widths run far below the square-GEMM peak, which is what a CPU plan
// for a small model has to know.
struct GemmRate {
  int width = 0;
  double gflops = 0;
};

// sllm's training step of one exact model and batch, measured by `sllm plan --calibrate` with
// a model shape: the most faithful rate for planning that run (same GEMM shapes, vocabulary,
// context and batch), in model FLOP/s (flops_per_token x tokens/s).
struct TrainProbe {
  std::string arch = "gpt2";
  int layers = 0, width = 0, heads = 0, kv_heads = 0, vocab = 0, ctx = 0, batch = 0;
  double gflops = 0;
};

struct Accelerator {
  std::string id, name, kind;  // kind: "gpu" or "cpu"
  std::vector<std::string> aliases;
  double memory_gb = 0;
  double memory_bandwidth_gbs = 0;
  double board_power_w = 0;                   // 0 when unknown (a CPU calibrated without --tdp)
  std::map<std::string, double> peak_tflops;  // dense, per device, by dtype
  std::vector<GemmRate> gemm_gflops;          // measured entries only, ascending width
  // sllm's own training step (forward, backward, AdamW) measured at each width, in model
  // FLOP/s (flops_per_token x tokens/s): what a CPU plan predicts with when present.
  std::vector<GemmRate> train_gflops;
  std::vector<TrainProbe> train_probes;  // run-shaped probes, newest last
  Source source;
  std::string measured_at;  // ISO time of the calibration, measured entries only
  int threads = 0;          // threads the calibration used, measured entries only

  bool has_dtype(const std::string& dtype) const { return peak_tflops.count(dtype) > 0; }
  double peak_flops(const std::string& dtype) const;  // FLOP/s; throws naming the dtype
  // Interpolated training-GEMM rate in FLOP/s at this model width (log-log, clamped).
  double gemm_flops_at_width(int width) const;
  double train_flops_at_width(int width) const;  // the same over train_gflops
  // The newest probe of exactly this shape, or null.
  const TrainProbe* probe_for(const std::string& arch, int layers, int width, int heads,
                              int kv_heads, int vocab, int ctx, int batch) const;
  bool matches(const std::string& id_or_alias) const;

  nlohmann::json to_json() const;
  static Accelerator from_json(const nlohmann::json& j, const std::string& origin);
};

// A default the plan falls back on, with where the number comes from.
struct Sourced {
  double value = 0;
  Source source;
};

struct Catalog {
  std::vector<Accelerator> accelerators;
  Sourced pue, usd_per_kwh, mfu;

  const Accelerator& find(const std::string& id_or_alias) const;  // Throws listing the ids.
  void merge(const Catalog& overlay);  // Overlay entries replace same-id entries.
  // Every accelerator must name a source; defaults are optional in a user catalog.
  static Catalog parse(const nlohmann::json& j, const std::string& origin, bool need_defaults);
};

Catalog builtin_catalog();

// Peak dense bf16 FLOP/s of the GPU named `device_name` from the built-in catalog (the longest
// catalog id the name contains, e.g. "NVIDIA H100 80GB HBM3" -> h100); 0 when unknown. The CLI
// passes it to `sllm train --device cuda` for MFU.
double catalog_bf16_peak(const std::string& device_name);
// $SLLM_HARDWARE_CATALOG, else $XDG_CONFIG_HOME/sllm/hardware.json, else
// $HOME/.config/sllm/hardware.json.
std::string default_user_catalog_path();
// The built-in catalog merged with the user catalog at `user_path` when that file exists.
Catalog load_catalog(const std::string& user_path);
// Adds or replaces `a` (by id) in the catalog file at `path`, keeping its other entries;
// written atomically, folders created as needed.
void save_to_user_catalog(const std::string& path, const Accelerator& a);

}  // namespace sllm::scale
