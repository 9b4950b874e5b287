// `sllm plan`: the compute, time, energy, cost and memory of a training run and of serving
// the trained model, from N (parameters), D (tokens) and an accelerator in the catalog.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "sllm/model/config.h"
#include "sllm/scale/hardware.h"

namespace sllm::scale {

struct ModelShape {
  int n_layer = 0, d_model = 0, n_head = 0, n_kv_head = 0, d_ff = 0, vocab = 0;
  bool derived = false;  // guessed from N rather than given
  int head_dim() const { return d_model / n_head; }
};

// A GPT-style shape whose 12*L*d^2 + V*d is closest to `params`, with d/L near 128 (GPT-3 and
// Llama 7B proportions), d a multiple of 32 and heads of 64 (128 from d = 1024 up).
// A given layers or width (> 0) is kept and the other dimension fitted. With grouped-query
// attention the head count must be a multiple of `head_multiple` (the KV head count).
ModelShape standard_shape(double params, int vocab, int layers = 0, int width = 0,
                          int head_multiple = 1);

// Bytes per weight of the inference formats sllm writes (F32, F16, BF16, Q8_0, Q4_0).
double bytes_per_weight(const std::string& quant);

struct PlanInput {
  double params = 0;  // N; taken from `model` when that is set
  double tokens = 0;  // D
  std::string hardware = "h100";
  int count = 1;
  double mfu = 0;             // 0: the catalog default (GPUs) or the calibrated CPU model
  double pue = 0;             // 0: the catalog default
  double price_per_hour = 0;  // USD per device-hour; 0: not priced
  double usd_per_kwh = -1;    // < 0: the catalog default
  int layers = 0, width = 0, heads = 0, kv_heads = 0, vocab = 32000;
  int ctx = 2048;     // training sequence length and inference context
  int batch = 1;      // sequences per device: training micro-batch and inference batch
  std::string dtype;  // empty: bf16 where the accelerator has it, else fp32
  std::vector<std::string> quants = {"F32", "F16", "Q8_0", "Q4_0"};
  double kv_bytes = 2;               // KV cache element size (f16)
  std::optional<ModelConfig> model;  // an sllm model config: exact N, shape and FLOPs
};

struct TrainMemory {
  double weights = 0, grads = 0, adam = 0;  // whole model, bytes
  double act_full = 0, act_recompute = 0;   // per device for one micro-batch, bytes
  double state() const { return weights + grads + adam; }
};

struct InferMemory {
  std::string quant;
  double weights = 0, kv_cache = 0;
  double total() const { return weights + kv_cache; }
};

struct FitRow {
  std::string id, name;
  double memory_gb = 0;
  int train_devices = 0;           // min devices, ZeRO-3 sharded state + recomputation; 0: never
  std::vector<int> infer_devices;  // per PlanInput::quants; 0: never
  double seconds_at_count = 0;     // the run on `count` of these at the plan's MFU; 0: no peak
};

struct Plan {
  PlanInput in;
  ModelShape shape;
  Accelerator acc;
  std::string dtype;
  double params = 0, matmul_params = 0;
  double flops_dense = 0, flops_attention = 0;
  double flops_total() const { return flops_dense + flops_attention; }
  double mfu = 0;
  std::string mfu_note;  // where the MFU came from
  double seconds = 0, device_hours = 0;
  double pue = 0, usd_per_kwh = 0;
  double energy_mwh = -1;  // < 0: the accelerator's board power is unknown
  TrainMemory train;
  std::vector<InferMemory> infer;
  std::vector<FitRow> fits;
  std::vector<std::string> sources;  // every figure the plan used, with where it comes from

  std::string to_text() const;
  nlohmann::json to_json() const;
};

Plan make_plan(const PlanInput& in, const Catalog& catalog);

// Seconds per optimizer step that a calibrated CPU entry predicts for an sllm model trained
// on `tokens_per_step` tokens of length `seq_len` (the roofline behind CPU plans).
double cpu_step_seconds(const Accelerator& cpu, const ModelConfig& cfg, int seq_len,
                        double tokens_per_step);

}  // namespace sllm::scale
