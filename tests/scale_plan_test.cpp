#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/scale/hardware.h"
#include "sllm/scale/plan.h"
#include "test_util.h"

using namespace sllm::scale;

namespace {

PlanInput seven_b() {
  PlanInput in;
  in.params = 7e9;
  in.tokens = 2e12;
  in.hardware = "h100";
  in.count = 1024;
  in.mfu = 0.4;
  in.layers = 32;
  in.width = 4096;
  return in;
}

Accelerator fake_cpu() {
  Accelerator a;
  a.id = "cpu";
  a.name = "test CPU";
  a.kind = "cpu";
  a.memory_gb = 16;
  a.memory_bandwidth_gbs = 20;
  a.peak_tflops["fp32"] = 0.1;
  a.gemm_gflops = {{64, 40}, {256, 70}, {1024, 90}};
  a.source.title = "test";
  return a;
}

}  // namespace

TEST(ScaleCatalog, BuiltinHasTheIssueAcceleratorsEachWithASource) {
  const Catalog c = builtin_catalog();
  for (const char* id : {"a100", "h100", "h200", "gh200", "b200", "b100", "mi300x", "gaudi3"}) {
    const Accelerator& a = c.find(id);
    EXPECT_FALSE(a.source.title.empty()) << id;
    EXPECT_FALSE(a.source.url.empty()) << id;
    EXPECT_GT(a.memory_gb, 0) << id;
    EXPECT_GT(a.board_power_w, 0) << id;
    EXPECT_TRUE(a.has_dtype("bf16")) << id;
  }
  EXPECT_EQ(c.find("H100-SXM").id, "h100");  // aliases, case-insensitive
  EXPECT_DOUBLE_EQ(c.find("h100").peak_flops("bf16"), 989.5e12);
  EXPECT_FALSE(c.pue.source.url.empty());
  EXPECT_FALSE(c.mfu.source.url.empty());
  EXPECT_THROW(c.find("tpu-v9"), sllm::Error);
}

TEST(ScaleCatalog, RejectsAnEntryWithoutASource) {
  nlohmann::json j = {{"accelerators",
                       {{{"id", "x"},
                         {"name", "X"},
                         {"kind", "gpu"},
                         {"memory_gb", 1},
                         {"memory_bandwidth_gbs", 1},
                         {"peak_tflops", {{"bf16", 1}}}}}}};
  EXPECT_THROW(Catalog::parse(j, "test", false), sllm::Error);
  j["accelerators"][0]["source"] = {{"title", "a datasheet"}};
  EXPECT_NO_THROW(Catalog::parse(j, "test", false));
  j["accelerators"][0]["memory_gb"] = -3;
  EXPECT_THROW(Catalog::parse(j, "test", false), sllm::Error);
}

TEST(ScaleCatalog, CalibratedEntryIsSavedAtomicallyAndMerged) {
  sllm::test::TempDir dir;
  const std::string path = dir.file("cfg/sllm/hardware.json");
  save_to_user_catalog(path, fake_cpu());
  Accelerator other = fake_cpu();
  other.id = "other";
  save_to_user_catalog(path, other);
  save_to_user_catalog(path, fake_cpu());  // replaces, keeps "other"
  const Catalog c = load_catalog(path);
  EXPECT_EQ(c.find("cpu").name, "test CPU");
  EXPECT_EQ(c.find("other").id, "other");
  EXPECT_EQ(c.find("h100").id, "h100");
  EXPECT_EQ(nlohmann::json::parse(sllm::read_file(path))["accelerators"].size(), 2u);
  sllm::write_file_atomic(path, "{not json");
  EXPECT_THROW(load_catalog(path), sllm::Error);
  EXPECT_THROW(save_to_user_catalog(path, fake_cpu()), sllm::Error);  // never clobbers a bad file
}

TEST(ScalePlan, ComputeTimeEnergyAndCost) {
  PlanInput in = seven_b();
  in.price_per_hour = 2.0;
  in.pue = 1.2;
  const Plan p = make_plan(in, builtin_catalog());
  EXPECT_DOUBLE_EQ(p.flops_dense, 6 * 7e9 * 2e12);
  EXPECT_DOUBLE_EQ(p.flops_attention, 12.0 * 32 * 4096 * 2048 * 2e12);
  const double seconds = (p.flops_dense + p.flops_attention) / (1024 * 989.5e12 * 0.4);
  EXPECT_NEAR(p.seconds, seconds, seconds * 1e-12);
  EXPECT_NEAR(p.device_hours, seconds / 3600 * 1024, 1e-6);
  EXPECT_NEAR(p.energy_mwh, 700 * p.device_hours * 1.2 / 1e6, 1e-9);
  EXPECT_NEAR(p.to_json()["compute_usd"].get<double>(), p.device_hours * 2.0, 1e-6);
  // Llama 2 7B took 184,320 A100-hours for 2T tokens; the H100 plan must be in that league
  // (H100 peak is 3.2x the A100's).
  EXPECT_GT(p.device_hours, 184320 / 3.2 * 0.5);
  EXPECT_LT(p.device_hours, 184320 / 3.2 * 2.0);
}

TEST(ScalePlan, TrainingAndInferenceMemory) {
  PlanInput in = seven_b();
  in.ctx = 4096;
  in.batch = 2;
  in.kv_heads = 8;
  const Plan p = make_plan(in, builtin_catalog());
  EXPECT_DOUBLE_EQ(p.train.state(), 16 * 7e9);  // ZeRO paper: 2 + 2 + 12 bytes per parameter
  EXPECT_DOUBLE_EQ(p.train.adam, 12 * 7e9);
  EXPECT_LT(p.train.act_recompute, p.train.act_full / 5);
  const double sbh = 4096.0 * 2 * 4096;
  EXPECT_DOUBLE_EQ(p.train.act_full,
                   32 * sbh * (34 + 5.0 * 32 * 4096 / 4096) + 4096.0 * 2 * 32000 * 4);
  ASSERT_EQ(p.infer.size(), 4u);
  EXPECT_EQ(p.infer[3].quant, "Q4_0");
  EXPECT_DOUBLE_EQ(p.infer[3].weights, 7e9 * 18 / 32);
  EXPECT_DOUBLE_EQ(p.infer[1].weights, 7e9 * 2);
  EXPECT_DOUBLE_EQ(p.infer[0].kv_cache, 2.0 * 32 * 4096 * 2 * 8 * 128 * 2);  // K and V, GQA 8 heads

  PlanInput fp32 = seven_b();
  fp32.dtype = "fp32";
  const Plan q = make_plan(fp32, builtin_catalog());
  EXPECT_DOUBLE_EQ(q.train.weights, 4 * 7e9);
  EXPECT_DOUBLE_EQ(q.train.adam, 8 * 7e9);
}

TEST(ScalePlan, WhichAcceleratorsFit) {
  const Plan p = make_plan(seven_b(), builtin_catalog());
  auto row = [&](const std::string& id) {
    for (const auto& r : p.fits)
      if (r.id == id) return r;
    ADD_FAILURE() << id;
    return FitRow{};
  };
  // 112 GB of training state: two 80 GB cards, one 141 GB card. 14 GB of F16 weights: one card.
  EXPECT_EQ(row("h100").train_devices, 2);
  EXPECT_EQ(row("h200").train_devices, 1);
  EXPECT_EQ(row("h100").infer_devices[1], 1);
  PlanInput big = seven_b();
  big.params = 405e9;
  big.layers = 126;
  big.width = 16384;
  const Plan b = make_plan(big, builtin_catalog());
  for (const auto& r : b.fits) {
    if (r.id != "h100") continue;
    EXPECT_EQ(r.infer_devices[0], int(std::ceil((405e9 * 4 + b.infer[0].kv_cache) / 80e9)));
    EXPECT_GE(r.train_devices, 405 * 16 / 80);
  }
}

TEST(ScalePlan, StandardShapeFollowsGpt3Proportions) {
  const ModelShape s = standard_shape(7e9, 32000);
  EXPECT_NEAR(s.n_layer, 32, 2);
  EXPECT_EQ(s.d_model % 128, 0);
  EXPECT_EQ(s.d_model % s.n_head, 0);
  EXPECT_NEAR(12.0 * s.n_layer * s.d_model * s.d_model + 32000.0 * s.d_model, 7e9, 0.1 * 7e9);
  const ModelShape tiny = standard_shape(2e5, 256);
  EXPECT_GE(tiny.n_layer, 1);
  EXPECT_NEAR(12.0 * tiny.n_layer * tiny.d_model * tiny.d_model + 256.0 * tiny.d_model, 2e5,
              0.35 * 2e5);
  EXPECT_EQ(standard_shape(1e9, 32000, 0, 2048).d_model, 2048);
  EXPECT_THROW(standard_shape(-1, 10), sllm::Error);
}

TEST(ScalePlan, CalibratedCpuUsesItsRoofline) {
  Catalog c = builtin_catalog();
  c.accelerators.push_back(fake_cpu());
  sllm::ModelConfig cfg;  // 4 layers, width 128
  PlanInput in;
  in.model = cfg;
  in.tokens = 1e6;
  in.hardware = "cpu";
  in.ctx = 64;
  in.batch = 12;
  const Plan p = make_plan(in, c);
  EXPECT_EQ(p.dtype, "fp32");
  EXPECT_GT(p.mfu, 0.05);
  EXPECT_LT(p.mfu, 1.0);
  EXPECT_LT(p.energy_mwh, 0);  // no board power known
  const double step = cpu_step_seconds(c.find("cpu"), cfg, 64, 12 * 64);
  EXPECT_NEAR(p.seconds, step * 1e6 / (12 * 64), p.seconds * 1e-9);
  // A wider model runs its GEMMs faster per FLOP on this CPU.
  EXPECT_GT(c.find("cpu").gemm_flops_at_width(512), c.find("cpu").gemm_flops_at_width(128));
}

TEST(ScalePlan, CalibratedCpuPrefersItsMeasuredTrainingRate) {
  Catalog c = builtin_catalog();
  Accelerator cpu = fake_cpu();
  cpu.train_gflops = {{64, 10}, {256, 40}};
  c.accelerators.push_back(cpu);
  sllm::ModelConfig cfg;
  cfg.n_embd = 128;
  PlanInput in;
  in.model = cfg;
  in.tokens = 1e6;
  in.hardware = "cpu";
  in.ctx = 64;
  const Plan p = make_plan(in, c);
  const double rate = 20e9;  // log-log halfway between 64 -> 10 and 256 -> 40 GFLOP/s
  EXPECT_NEAR(c.find("cpu").train_flops_at_width(128), rate, 1e-3);
  EXPECT_NEAR(p.seconds, sllm::flops_per_token(cfg, 64) * 1e6 / rate, p.seconds * 1e-9);
  // The measured rates survive a save and load.
  sllm::test::TempDir dir;
  save_to_user_catalog(dir.file("hw.json"), cpu);
  EXPECT_EQ(load_catalog(dir.file("hw.json")).find("cpu").train_gflops.size(), 2u);
}

// A probe of the run's exact model and batch wins over the per-width curve, only for that shape.
TEST(ScalePlan, CalibratedCpuUsesTheProbeOfThisExactRun) {
  Catalog c = builtin_catalog();
  Accelerator cpu = fake_cpu();
  cpu.train_gflops = {{64, 10}, {256, 40}};
  sllm::ModelConfig cfg;  // gpt2, 4 layers, width 128, 4 heads
  cfg.vocab_size = 65;
  cfg.block_size = 64;
  cpu.train_probes = {{"gpt2", 4, 128, 4, 4, 65, 64, 12, 5.0},
                      {"gpt2", 4, 128, 4, 4, 65, 64, 16, 7.0}};
  c.accelerators.push_back(cpu);
  PlanInput in;
  in.model = cfg;
  in.tokens = 1e6;
  in.hardware = "cpu";
  in.ctx = 64;
  in.batch = 12;
  Plan p = make_plan(in, c);
  EXPECT_NEAR(p.seconds, sllm::flops_per_token(cfg, 64) * 1e6 / 5e9, p.seconds * 1e-9);
  in.batch = 8;  // no probe of this batch: the width curve (20 GFLOP/s at 128)
  p = make_plan(in, c);
  EXPECT_NEAR(p.seconds, sllm::flops_per_token(cfg, 64) * 1e6 / 20e9, p.seconds * 1e-9);
  sllm::test::TempDir dir;
  save_to_user_catalog(dir.file("hw.json"), cpu);
  const Accelerator back = load_catalog(dir.file("hw.json")).find("cpu");
  ASSERT_EQ(back.train_probes.size(), 2u);
  ASSERT_NE(back.probe_for("gpt2", 4, 128, 4, 4, 65, 64, 16), nullptr);
  EXPECT_EQ(back.probe_for("gpt2", 4, 128, 4, 4, 65, 64, 16)->gflops, 7.0);
  EXPECT_EQ(back.probe_for("llama", 4, 128, 4, 4, 65, 64, 16), nullptr);
}

TEST(ScalePlan, RejectsBadInput) {
  PlanInput in = seven_b();
  in.tokens = 0;
  EXPECT_THROW(make_plan(in, builtin_catalog()), sllm::Error);
  in = seven_b();
  in.quants = {"Q3_X"};
  EXPECT_THROW(make_plan(in, builtin_catalog()), sllm::Error);
  in = seven_b();
  in.mfu = 1.5;
  EXPECT_THROW(make_plan(in, builtin_catalog()), sllm::Error);
  in = seven_b();
  in.hardware = "gaudi3";
  in.dtype = "fp32";  // Gaudi 3's catalog entry has no fp32 peak
  EXPECT_THROW(make_plan(in, builtin_catalog()), sllm::Error);
}

TEST(ScalePlanCli, PrintsJson) {
  sllm::test::TempDir dir;
  const std::string cmd =
      sllm::test::sllm_binary() +
      " plan --params 7e9 --tokens 2e12 --hardware h100 --count 1024 --mfu 0.4 --json --catalog " +
      dir.file("none.json") + " > " + dir.file("out.json");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const auto j = nlohmann::json::parse(sllm::read_file(dir.file("out.json")));
  EXPECT_DOUBLE_EQ(j["flops"]["dense_6nd"].get<double>(), 8.4e22);
  EXPECT_EQ(j["hardware"], "h100");
  const std::string bad =
      sllm::test::sllm_binary() + " plan --params 7e9 --hardware h100 2>/dev/null";
  EXPECT_NE(std::system(bad.c_str()), 0);
}
