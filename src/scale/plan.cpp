#include "sllm/scale/plan.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sllm/common/error.h"
#include "sllm/model/presets.h"

namespace sllm::scale {

using nlohmann::json;

namespace {

double shape_params(int layers, int d, int vocab) {
  return 12.0 * layers * double(d) * d + double(vocab) * d;
}

int heads_for_width(int d) {
  for (int hd : {128, 64, 32})
    if ((hd == 128) == (d >= 1024) && d % hd == 0) return d / hd;
  return d % 64 == 0 ? d / 64 : d % 32 == 0 ? d / 32 : 1;
}

ModelShape shape_from_config(const ModelConfig& c) {
  ModelShape s;
  s.n_layer = c.n_layer;
  s.d_model = c.n_embd;
  s.n_head = c.n_head;
  s.n_kv_head = c.n_kv_head;
  s.d_ff = c.ffn_dim();
  s.vocab = c.vocab_size;
  return s;
}

// Floats moved through memory per token by the element-wise work of one training step
// (norms, residual adds, activation functions, softmax, cross-entropy), forward and backward.
// The forward touches each of these once and the backward about twice.
double elementwise_floats_per_token(const ModelShape& s, int seq_len) {
  const double C = s.d_model, F = s.d_ff, HT = double(s.n_head) * seq_len;
  const double per_layer = 3.0 * (10.0 * C + 3.0 * F + 2.0 * HT);
  return s.n_layer * per_layer + 4.0 * s.vocab;
}

// The roofline behind CPU plans: training-shaped GEMMs at the rate measured for this width,
// attention GEMMs at the head width, element-wise passes and AdamW at the triad bandwidth.
double cpu_token_seconds(const Accelerator& cpu, const ModelShape& s, double matmul_params,
                         double params, int seq_len, double tokens_per_step) {
  const double gemm = 6.0 * matmul_params / cpu.gemm_flops_at_width(s.d_model);
  const double attn =
      12.0 * s.n_layer * double(s.d_model) * seq_len / cpu.gemm_flops_at_width(s.head_dim());
  const double bw = cpu.memory_bandwidth_gbs * 1e9;
  const double elementwise = elementwise_floats_per_token(s, seq_len) * 4.0 / bw;
  const double adamw =
      8.0 * params * 4.0 / bw / std::max(1.0, tokens_per_step);  // p,g,m,v in; p,m,v,g out
  return gemm + attn + elementwise + adamw;
}

double matmul_params_of(const ModelConfig& c) {
  double n = static_cast<double>(num_params(c));
  if (!c.tie_word_embeddings) n -= double(c.vocab_size) * c.n_embd;
  if (c.positions == Positions::Learned) n -= double(c.block_size) * c.n_embd;
  return n;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (b >= 1000 && u < 5) b /= 1000, ++u;
  return fmt::format("{:.{}f} {}", b, b < 10 && u > 0 ? 2 : 1, units[u]);
}

std::string human_seconds(double s) {
  if (s < 120) return fmt::format("{:.1f} s", s);
  if (s < 7200) return fmt::format("{:.1f} min", s / 60);
  if (s < 3 * 86400) return fmt::format("{:.1f} h", s / 3600);
  return fmt::format("{:.1f} days", s / 86400);
}

std::string human_count(double x) {
  if (x >= 1e15 || (x > 0 && x < 1e-2)) return fmt::format("{:.3g}", x);
  if (x >= 1e12) return fmt::format("{:.2f}T", x / 1e12);
  if (x >= 1e9) return fmt::format("{:.2f}B", x / 1e9);
  if (x >= 1e6) return fmt::format("{:.2f}M", x / 1e6);
  if (x >= 1e3) return fmt::format("{:.1f}K", x / 1e3);
  return fmt::format("{:.3g}", x);
}

std::string source_line(const std::string& what, const Source& s) {
  return s.url.empty() ? fmt::format("{}: {}", what, s.title)
                       : fmt::format("{}: {} <{}>", what, s.title, s.url);
}

int devices_needed(double bytes_total, double bytes_fixed_per_device, double memory_bytes) {
  const double room = memory_bytes - bytes_fixed_per_device;
  if (room <= 0) return 0;
  const double k = std::ceil(bytes_total / room);
  return k > 1e9 ? 0 : std::max(1, static_cast<int>(k));
}

template <typename... Args>
void add_line(std::string& o, fmt::format_string<Args...> f, Args&&... args) {
  o += fmt::format(f, std::forward<Args>(args)...);
  o += '\n';
}

}  // namespace

ModelShape standard_shape(double params, int vocab, int layers, int width, int head_multiple) {
  if (!(params > 0)) fail("--params must be positive (got {})", params);
  if (vocab < 1) fail("--vocab must be positive (got {})", vocab);
  ModelShape best;
  double best_err = std::numeric_limits<double>::infinity();
  auto consider = [&](int L, int d) {
    if (L < 1 || d < 1) return;
    const double err = std::abs(std::log(shape_params(L, d, vocab) / params));
    if (err < best_err) best_err = err, best.n_layer = L, best.d_model = d;
  };
  if (layers > 0 && width > 0) {
    consider(layers, width);
  } else if (width > 0) {
    const double rest = params - double(vocab) * width;
    consider(std::max(1, static_cast<int>(std::lround(rest / (12.0 * width * width)))), width);
  } else {
    if (head_multiple < 1) fail("head multiple {} must be >= 1", head_multiple);
    if (head_multiple == 1) consider(layers > 0 ? layers : 1, 32);
    for (int d = 64 * head_multiple; d <= 65536; d += (d < 1024 ? 64 : 128) * head_multiple)
      consider(layers > 0 ? layers : std::max(1, int(std::lround(d / 128.0))), d);
  }
  best.n_head = heads_for_width(best.d_model);
  best.n_kv_head = best.n_head;
  best.d_ff = 4 * best.d_model;
  best.vocab = vocab;
  best.derived = !(layers > 0 && width > 0);
  return best;
}

double bytes_per_weight(const std::string& q) {
  if (q == "F32") return 4;
  if (q == "F16" || q == "BF16") return 2;
  if (q == "Q8_0") return 34.0 / 32;  // 32 int8 weights + one f16 scale per block
  if (q == "Q4_0") return 18.0 / 32;  // 32 4-bit weights + one f16 scale per block
  fail("unknown quant type '{}' (expected F32, F16, BF16, Q8_0 or Q4_0)", q);
}

double cpu_step_seconds(const Accelerator& cpu, const ModelConfig& cfg, int seq_len,
                        double tokens_per_step) {
  return tokens_per_step * cpu_token_seconds(cpu, shape_from_config(cfg), matmul_params_of(cfg),
                                             double(num_params(cfg)), seq_len, tokens_per_step);
}

Plan make_plan(const PlanInput& in, const Catalog& catalog) {
  Plan p;
  p.in = in;
  if (!(in.tokens > 0)) fail("--tokens must be positive (got {})", in.tokens);
  if (in.count < 1) fail("--count must be >= 1 (got {})", in.count);
  if (in.ctx < 1 || in.batch < 1)
    fail("--ctx and --batch must be >= 1 (got {} and {})", in.ctx, in.batch);
  if (in.mfu < 0 || in.mfu > 1) fail("--mfu must be in (0, 1] (got {})", in.mfu);
  if (in.pue != 0 && in.pue < 1) fail("--pue must be >= 1 (got {})", in.pue);
  if (in.price_per_hour < 0) fail("--price must be >= 0 (got {})", in.price_per_hour);
  for (const auto& q : in.quants) bytes_per_weight(q);
  p.acc = catalog.find(in.hardware);
  const Accelerator& acc = p.acc;

  if (in.model) {
    p.shape = shape_from_config(*in.model);
    p.params = double(num_params(*in.model));
    p.matmul_params = matmul_params_of(*in.model);
  } else {
    p.shape = standard_shape(in.params, in.vocab, in.layers, in.width, std::max(1, in.kv_heads));
    if (in.heads > 0) {
      if (p.shape.d_model % in.heads)
        fail("--heads {} must divide the width {}", in.heads, p.shape.d_model);
      p.shape.n_head = p.shape.n_kv_head = in.heads;
    }
    p.params = in.params;
    p.matmul_params = in.params;
  }
  if (in.kv_heads > 0) {
    if (p.shape.n_head % in.kv_heads)
      fail("--kv-heads {} must divide the {} heads", in.kv_heads, p.shape.n_head);
    p.shape.n_kv_head = in.kv_heads;
  }
  const ModelShape& s = p.shape;

  p.dtype = !in.dtype.empty() ? in.dtype : acc.has_dtype("bf16") ? "bf16" : "fp32";
  const double peak = acc.peak_flops(p.dtype);
  p.flops_dense = 6.0 * p.matmul_params * in.tokens;
  p.flops_attention = 12.0 * s.n_layer * double(s.d_model) * in.ctx * in.tokens;

  const double tokens_per_step = double(in.batch) * in.ctx;
  if (in.mfu > 0) {
    p.mfu = in.mfu;
    p.mfu_note = "given (--mfu)";
  } else if (const TrainProbe* probe =
                 acc.kind == "cpu" && in.model && p.dtype == "fp32"
                     ? acc.probe_for(family_name(*in.model), s.n_layer, s.d_model, s.n_head,
                                     s.n_kv_head, s.vocab, in.ctx, in.batch)
                     : nullptr) {
    p.mfu = probe->gflops * 1e9 / peak;
    p.mfu_note = "sllm's training step of this model and batch measured by --calibrate";
  } else if (acc.kind == "cpu" && !acc.train_gflops.empty() && p.dtype == "fp32") {
    p.mfu = acc.train_flops_at_width(s.d_model) / peak;
    p.mfu_note = "sllm's training step measured at this width by --calibrate";
  } else if (acc.kind == "cpu" && !acc.gemm_gflops.empty() && p.dtype == "fp32") {
    const double tok_s =
        cpu_token_seconds(acc, s, p.matmul_params, p.params, in.ctx, tokens_per_step);
    p.mfu = (p.flops_total() / in.tokens) / tok_s / peak;
    p.mfu_note = "modelled from this CPU's calibration (GEMM rate at this width, triad bandwidth)";
  } else {
    p.mfu = catalog.mfu.value;
    p.mfu_note = "catalog default";
    p.sources.push_back(source_line("default MFU", catalog.mfu.source));
  }
  p.seconds = p.flops_total() / (in.count * peak * p.mfu);
  p.device_hours = p.seconds / 3600 * in.count;
  p.pue = in.pue > 0 ? in.pue : catalog.pue.value;
  if (in.pue <= 0) p.sources.push_back(source_line("default PUE", catalog.pue.source));
  p.usd_per_kwh = in.usd_per_kwh >= 0 ? in.usd_per_kwh : catalog.usd_per_kwh.value;
  if (in.usd_per_kwh < 0)
    p.sources.push_back(source_line("default electricity price", catalog.usd_per_kwh.source));
  if (acc.board_power_w > 0) p.energy_mwh = acc.board_power_w * p.device_hours * p.pue / 1e6;
  p.sources.insert(p.sources.begin(), source_line(acc.id, acc.source));

  // Training memory. Mixed precision keeps 16-bit weights and gradients and an fp32 master
  // copy plus Adam's m and v (16 bytes per parameter, as in the ZeRO paper); fp32 training
  // keeps 4 + 4 + 8. Activations follow Korthikanti et al. 2022 (eq. 1): s*b*h*(34 + 5*a*s/h)
  // bytes per layer with 16-bit activations; full recomputation keeps only each layer's 2*s*b*h
  // input and rebuilds one layer at a time. The fp32 logits come on top in both cases.
  const bool mixed = p.dtype != "fp32" && p.dtype != "tf32";
  p.train.weights = p.params * (mixed ? 2 : 4);
  p.train.grads = p.params * (mixed ? 2 : 4);
  p.train.adam = p.params * (mixed ? 12 : 8);
  const double act_scale = mixed ? 1.0 : 2.0;
  const double sbh = double(in.ctx) * in.batch * s.d_model;
  const double layer_act = sbh * (34.0 + 5.0 * s.n_head * double(in.ctx) / s.d_model) * act_scale;
  const double logits = double(in.ctx) * in.batch * s.vocab * 4.0;
  p.train.act_full = s.n_layer * layer_act + logits;
  p.train.act_recompute = s.n_layer * 2.0 * sbh * act_scale + layer_act + logits;

  const double kv =
      2.0 * s.n_layer * double(in.ctx) * in.batch * s.n_kv_head * s.head_dim() * in.kv_bytes;
  for (const auto& q : in.quants) p.infer.push_back({q, p.params * bytes_per_weight(q), kv});

  for (const auto& a : catalog.accelerators) {
    FitRow r;
    r.id = a.id;
    r.name = a.name;
    r.memory_gb = a.memory_gb;
    const double mem = a.memory_gb * 1e9;
    r.train_devices = devices_needed(p.train.state(), p.train.act_recompute, mem);
    for (const auto& m : p.infer) r.infer_devices.push_back(devices_needed(m.total(), 0, mem));
    const std::string dt = a.has_dtype(p.dtype) ? p.dtype : a.has_dtype("bf16") ? "bf16" : "";
    if (!dt.empty()) r.seconds_at_count = p.flops_total() / (in.count * a.peak_flops(dt) * p.mfu);
    p.fits.push_back(r);
  }
  return p;
}

std::string Plan::to_text() const {
  const ModelShape& s = shape;
  std::string o;
  add_line(o, "plan: {} parameters, {} tokens ({:.1f} tokens/parameter) on {} x {}",
           human_count(params), human_count(in.tokens), in.tokens / params, in.count, acc.name);
  add_line(
      o, "model shape{}: {} layers, width {}, {} heads ({} KV) of {}, MLP {}, vocab {}, context {}",
      s.derived ? " (derived from N; set --layers/--width to override)" : "", s.n_layer, s.d_model,
      s.n_head, s.n_kv_head, s.head_dim(), s.d_ff, s.vocab, in.ctx);
  add_line(o, "");
  add_line(o, "compute");
  add_line(o, "  FLOPs 6ND                 {:.3e}", flops_dense);
  add_line(o, "  FLOPs attention 12LdTD    {:.3e}", flops_attention);
  add_line(o, "  FLOPs total               {:.3e}  ({:.3g} PFLOP/s-days)", flops_total(),
           flops_total() / 1e15 / 86400);
  add_line(o, "  peak per device           {:.4g} TFLOP/s {}", acc.peak_flops(dtype) / 1e12, dtype);
  add_line(o, "  MFU                       {:.3f}  ({})", mfu, mfu_note);
  add_line(o, "  wall time                 {}  ({:.4g} s)", human_seconds(seconds), seconds);
  add_line(o, "  device-hours              {:.4g}", device_hours);
  add_line(o, "");
  add_line(o, "energy and cost");
  if (energy_mwh >= 0) {
    add_line(o,
             "  energy                    {:.4g} MWh  ({} x {:.0f} W board power x {:.4g} h x PUE "
             "{:.2f})",
             energy_mwh, in.count, acc.board_power_w, seconds / 3600, pue);
    add_line(o, "  electricity               ${:.4g}  at ${:.3f}/kWh",
             energy_mwh * 1000 * usd_per_kwh, usd_per_kwh);
  } else {
    add_line(o,
             "  energy                    unknown: the catalog has no board power for {} "
             "(calibrate with --tdp W)",
             acc.id);
  }
  if (in.price_per_hour > 0)
    add_line(o, "  compute cost              ${:.4g}  at ${:.2f} per device-hour",
             device_hours * in.price_per_hour, in.price_per_hour);
  else
    add_line(
        o,
        "  compute cost              pass --price USD per device-hour to price the device-hours");
  add_line(o, "");
  add_line(o, "training memory ({})",
           dtype == "fp32" || dtype == "tf32" ? "fp32 weights, gradients and Adam"
                                              : "16-bit weights and gradients, fp32 master + Adam");
  add_line(o, "  weights                   {}", human_bytes(train.weights));
  add_line(o, "  gradients                 {}", human_bytes(train.grads));
  add_line(o, "  Adam state                {}", human_bytes(train.adam));
  add_line(o,
           "  activations, per device   {} without recomputation, {} with full recomputation "
           "(batch {} x {})",
           human_bytes(train.act_full), human_bytes(train.act_recompute), in.batch, in.ctx);
  add_line(o, "  per device, replicated    {} (+ activations)", human_bytes(train.state()));
  add_line(o, "  per device, ZeRO-3 / {:<4} {} (+ activations)", in.count,
           human_bytes(train.state() / in.count));
  add_line(o, "");
  add_line(o, "inference memory (batch {}, context {}, KV cache {} bytes/element)", in.batch,
           in.ctx, in.kv_bytes);
  add_line(o, "  {:<6} {:>12} {:>12} {:>12}", "quant", "weights", "KV cache", "total");
  for (const auto& m : infer)
    add_line(o, "  {:<6} {:>12} {:>12} {:>12}", m.quant, human_bytes(m.weights),
             human_bytes(m.kv_cache), human_bytes(m.total()));
  add_line(o, "");
  add_line(o,
           "which accelerators fit (devices needed; training: ZeRO-3 sharded state + full "
           "recomputation)");
  std::string head = fmt::format("  {:<10} {:>8} {:>7}", "device", "memory", "train");
  for (const auto& m : infer) head += fmt::format(" {:>6}", m.quant);
  head += fmt::format("  {:>14}", fmt::format("time on {}", in.count));
  add_line(o, "{}", head);
  for (const auto& r : fits) {
    auto dev = [](int k) { return k == 0 ? std::string("-") : std::to_string(k); };
    std::string row =
        fmt::format("  {:<10} {:>6.0f}GB {:>7}", r.id, r.memory_gb, dev(r.train_devices));
    for (int k : r.infer_devices) row += fmt::format(" {:>6}", dev(k));
    row +=
        fmt::format("  {:>14}", r.seconds_at_count > 0 ? human_seconds(r.seconds_at_count) : "-");
    add_line(o, "{}", row);
  }
  add_line(o, "");
  add_line(o, "sources");
  for (const auto& src : sources) add_line(o, "  {}", src);
  return o;
}

json Plan::to_json() const {
  json j;
  j["params"] = params;
  j["matmul_params"] = matmul_params;
  j["tokens"] = in.tokens;
  j["hardware"] = acc.id;
  j["hardware_name"] = acc.name;
  j["count"] = in.count;
  j["dtype"] = dtype;
  j["shape"] = {{"layers", shape.n_layer}, {"width", shape.d_model},
                {"heads", shape.n_head},   {"kv_heads", shape.n_kv_head},
                {"ffn", shape.d_ff},       {"vocab", shape.vocab},
                {"ctx", in.ctx},           {"batch", in.batch},
                {"derived", shape.derived}};
  j["flops"] = {
      {"dense_6nd", flops_dense}, {"attention", flops_attention}, {"total", flops_total()}};
  j["mfu"] = mfu;
  j["mfu_note"] = mfu_note;
  j["seconds"] = seconds;
  j["device_hours"] = device_hours;
  j["pue"] = pue;
  j["energy_mwh"] = energy_mwh >= 0 ? json(energy_mwh) : json(nullptr);
  j["electricity_usd"] = energy_mwh >= 0 ? json(energy_mwh * 1000 * usd_per_kwh) : json(nullptr);
  j["compute_usd"] = in.price_per_hour > 0 ? json(device_hours * in.price_per_hour) : json(nullptr);
  j["train_memory_bytes"] = {{"weights", train.weights},
                             {"grads", train.grads},
                             {"adam", train.adam},
                             {"activations", train.act_full},
                             {"activations_recompute", train.act_recompute}};
  json inf = json::array();
  for (const auto& m : infer)
    inf.push_back({{"quant", m.quant},
                   {"weights", m.weights},
                   {"kv_cache", m.kv_cache},
                   {"total", m.total()}});
  j["inference_memory_bytes"] = inf;
  json fit = json::array();
  for (const auto& r : fits) {
    json row{{"id", r.id},
             {"memory_gb", r.memory_gb},
             {"train_devices", r.train_devices},
             {"seconds_at_count", r.seconds_at_count}};
    json inf_dev = json::object();
    for (size_t i = 0; i < infer.size(); ++i) inf_dev[infer[i].quant] = r.infer_devices[i];
    row["infer_devices"] = inf_dev;
    fit.push_back(row);
  }
  j["fits"] = fit;
  j["sources"] = sources;
  return j;
}

}  // namespace sllm::scale
