// sllm plan: compute, time, energy, cost and memory of a training run; --calibrate measures
// this CPU into the user's hardware catalog.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "command.h"
#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/model/presets.h"
#include "sllm/scale/calibrate.h"
#include "sllm/scale/plan.h"

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

sllm::ModelConfig read_model_config(const std::string& path) {
  const std::string file = std::filesystem::is_directory(path) ? path + "/config.json" : path;
  try {
    return sllm::ModelConfig::from_json(nlohmann::json::parse(sllm::read_file(file)));
  } catch (const nlohmann::json::exception& e) {
    sllm::fail("{}: not valid JSON: {}", file, e.what());
  }
}

int run_plan(int argc, char** argv) {
  CLI::App app{
      "Plan a training run: FLOPs, wall time, energy, cost, training and inference memory, "
      "and which accelerators fit. `sllm plan --calibrate` measures this CPU first."};
  sllm::scale::PlanInput in;
  std::string catalog_path = sllm::scale::default_user_catalog_path(), quants, config_path;
  bool as_json = false, calibrate = false, list = false;
  sllm::scale::CalibrateOptions cal;
  app.add_option("--params", in.params, "parameters N (e.g. 7e9)");
  app.add_option("--tokens", in.tokens, "training tokens D (e.g. 2e12)");
  app.add_option("--hardware", in.hardware, "accelerator id from the catalog (see --list)")
      ->capture_default_str();
  app.add_option("--count", in.count, "number of accelerators")->capture_default_str();
  app.add_option("--mfu", in.mfu,
                 "model FLOPs utilisation (default: catalog 0.4; calibrated CPUs: modelled)");
  app.add_option("--pue", in.pue, "data-centre power usage effectiveness (default: catalog)");
  app.add_option("--price", in.price_per_hour, "USD per device-hour, to price the run");
  app.add_option("--kwh-price", in.usd_per_kwh, "USD per kWh of electricity (default: catalog)");
  app.add_option("--config", config_path, "an sllm model folder or config.json: exact N and shape");
  app.add_option("--layers", in.layers, "transformer layers (default: derived from N)");
  app.add_option("--width", in.width, "model width d_model (default: derived from N)");
  app.add_option("--heads", in.heads, "attention heads (default: width/64, width/128 from 1024)");
  app.add_option("--kv-heads", in.kv_heads, "key/value heads for grouped-query attention");
  app.add_option("--vocab", in.vocab, "vocabulary size")->capture_default_str();
  app.add_option("--ctx", in.ctx, "sequence length for training and inference context")
      ->capture_default_str();
  app.add_option("--batch", in.batch,
                 "sequences per device (training micro-batch, inference batch)")
      ->capture_default_str();
  app.add_option("--dtype", in.dtype,
                 "training compute type: bf16, fp16, fp8, tf32, fp32 (default: bf16 if the "
                 "device has it, else fp32)");
  app.add_option("--quant", quants,
                 "inference weight formats, comma separated (default F32,F16,Q8_0,Q4_0)");
  app.add_option("--kv-bytes", in.kv_bytes, "bytes per KV-cache element")->capture_default_str();
  app.add_option("--catalog", catalog_path,
                 "user hardware catalog (read, and written by --calibrate)")
      ->capture_default_str();
  app.add_flag("--json", as_json, "print the plan as JSON");
  app.add_flag("--list", list, "list the catalog's accelerators with their sources");
  app.add_flag("--calibrate", calibrate,
               "measure this CPU (GEMM GFLOP/s, memory bandwidth, sllm training steps) into the "
               "catalog; with --config or --layers/--width/--vocab/--ctx/--batch also that exact "
               "model's training step, which plans of that run then use");
  app.add_option("--threads", cal.threads, "threads for --calibrate (default: all cores)");
  app.add_option("--tdp", cal.board_power_w,
                 "this CPU's power in W, stored by --calibrate for energy estimates");
  app.add_option("--probe-seconds", cal.seconds_per_probe, "time per --calibrate probe")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (calibrate) {
    // With a model (--config, or --layers and --width), also time its exact training step.
    if (!config_path.empty()) {
      cal.run_model = read_model_config(config_path);
      cal.run_model->block_size = in.ctx;
    } else if (in.layers > 0 && in.width > 0) {
      sllm::ModelConfig m;
      sllm::apply_preset(m, sllm::preset("gpt2"));
      m.n_layer = in.layers;
      m.n_embd = in.width;
      m.n_head = m.n_kv_head = in.heads > 0 ? in.heads : std::max(1, in.width / 64);
      m.vocab_size = in.vocab;
      m.block_size = in.ctx;
      m.validate();
      cal.run_model = m;
    }
    cal.run_batch = in.batch;
    std::optional<sllm::scale::Accelerator> previous;
    if (sllm::file_exists(catalog_path)) {
      const auto old = sllm::scale::load_catalog(catalog_path);
      for (const auto& a : old.accelerators)
        if (a.id == "cpu") previous = a;
    }
    const auto cpu = sllm::scale::calibrate_this_cpu(cal, previous ? &*previous : nullptr);
    sllm::scale::save_to_user_catalog(catalog_path, cpu);
    std::printf("calibrated '%s'\n  %s\n", cpu.id.c_str(), cpu.name.c_str());
    std::printf("  fp32 GEMM 2048^3: %.1f GFLOP/s\n", cpu.peak_tflops.at("fp32") * 1e3);
    for (const auto& r : cpu.gemm_gflops)
      std::printf("  training GEMMs at width %4d: %.1f GFLOP/s\n", r.width, r.gflops);
    for (const auto& r : cpu.train_gflops)
      std::printf("  sllm training step at width %4d: %.2f GFLOP/s (MFU %.3f)\n", r.width, r.gflops,
                  r.gflops / (cpu.peak_tflops.at("fp32") * 1e3));
    if (cal.run_model) {
      const auto& p = cpu.train_probes.back();
      std::printf(
          "  sllm training step of %s %d x %d (%d heads, vocab %d), batch %d x %d: %.2f GFLOP/s "
          "(MFU %.3f)\n",
          p.arch.c_str(), p.layers, p.width, p.heads, p.vocab, p.batch, p.ctx, p.gflops,
          p.gflops / (cpu.peak_tflops.at("fp32") * 1e3));
    }
    std::printf("  memory bandwidth (triad): %.1f GB/s, memory %.1f GB\n", cpu.memory_bandwidth_gbs,
                cpu.memory_gb);
    std::printf("written to %s (use --hardware cpu)\n", catalog_path.c_str());
    if (in.tokens <= 0) return 0;
  }

  const auto catalog = sllm::scale::load_catalog(catalog_path);
  if (list) {
    for (const auto& a : catalog.accelerators) {
      std::printf("%-8s %s: %.0f GB, %.0f GB/s", a.id.c_str(), a.name.c_str(), a.memory_gb,
                  a.memory_bandwidth_gbs);
      for (const auto& [k, v] : a.peak_tflops) std::printf(", %s %.4g TFLOP/s", k.c_str(), v);
      if (a.board_power_w > 0) std::printf(", %.0f W", a.board_power_w);
      std::printf("\n         source: %s%s%s\n", a.source.title.c_str(),
                  a.source.url.empty() ? "" : " <",
                  a.source.url.empty() ? "" : (a.source.url + ">").c_str());
    }
    return 0;
  }
  if (!config_path.empty()) in.model = read_model_config(config_path);
  if (!in.model && in.params <= 0) sllm::fail("give --params N (or --config MODEL) and --tokens D");
  if (in.tokens <= 0) sllm::fail("give --tokens D (training tokens)");
  if (!quants.empty()) in.quants = split_list(quants);
  const auto plan = sllm::scale::make_plan(in, catalog);
  if (as_json)
    std::printf("%s\n", plan.to_json().dump(2).c_str());
  else
    std::fputs(plan.to_text().c_str(), stdout);
  return 0;
}

sllm::cli::Registrar reg("plan",
                         "plan a run: FLOPs, time, energy, cost, memory, which accelerators fit",
                         run_plan);

}  // namespace
