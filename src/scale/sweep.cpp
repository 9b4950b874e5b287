#include "sllm/scale/sweep.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/model/presets.h"
#include "sllm/scale/plan.h"

namespace sllm::scale {

using nlohmann::json;

namespace {

std::string compact(double v) {
  return fmt::format("{:.3g}", v);
}

// Runs argv, waits, and returns the exit status (or 128 + signal).
int run_process(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) fail("cannot fork to run {}", args[0]);
  if (pid == 0) {
    execv(argv[0], argv.data());
    std::perror(argv[0]);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail("waitpid failed for {}", args[0]);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// The last validation loss in a run's metrics.jsonl.
double final_val_loss(const std::string& out) {
  const std::string path = out + "/metrics.jsonl";
  std::ifstream f(path);
  if (!f) fail("{}: missing after training", path);
  std::string line;
  double loss = NAN;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    try {
      const json j = json::parse(line);
      if (j.contains("val_loss") && j["val_loss"].is_number()) loss = j["val_loss"].get<double>();
    } catch (const json::exception& e) {
      fail("{}: bad line: {}", path, e.what());
    }
  }
  if (!std::isfinite(loss)) fail("{}: no validation loss recorded", path);
  return loss;
}

}  // namespace

std::vector<SweepRun> plan_sweep(const SweepOptions& opt) {
  if (opt.sizes.empty() || opt.tokens.empty())
    fail("a sweep needs --sizes and --tokens (comma-separated lists)");
  if (opt.block_size < 2 || opt.batch_size < 1)
    fail("sweep block size and batch size must be >= 2 and >= 1");
  std::vector<SweepRun> runs;
  for (double n : opt.sizes) {
    ModelShape s = standard_shape(n, opt.vocab_hint);
    for (double d : opt.tokens) {
      if (!(d > 0)) fail("sweep token budget {} must be positive", d);
      SweepRun r;
      apply_preset(r.model, preset("gpt2"));
      r.model.n_layer = s.n_layer;
      r.model.n_embd = s.d_model;
      const int head_dim = s.d_model <= 256 ? 32 : 64;  // small models want several heads
      r.model.n_head = r.model.n_kv_head = std::max(1, s.d_model / head_dim);
      r.model.block_size = opt.block_size;
      r.model.vocab_size = opt.vocab_hint;
      r.target_params = n;
      r.steps =
          std::max(1, static_cast<int>(std::lround(d / (double(opt.batch_size) * opt.block_size))));
      r.tokens = double(r.steps) * opt.batch_size * opt.block_size;
      r.out = fmt::format("{}/n{}_d{}", opt.out_dir, compact(n), compact(d));
      const int warmup = std::max(1, std::min(100, r.steps / 10));
      r.argv = {opt.sllm_binary,
                "train",
                "--arch",
                "gpt2",
                "--n-layer",
                std::to_string(r.model.n_layer),
                "--n-head",
                std::to_string(r.model.n_head),
                "--n-embd",
                std::to_string(r.model.n_embd),
                "--block-size",
                std::to_string(opt.block_size),
                "--batch-size",
                std::to_string(opt.batch_size),
                "--max-iters",
                std::to_string(r.steps),
                "--warmup-iters",
                std::to_string(warmup),
                "--lr",
                fmt::format("{}", opt.lr),
                "--min-lr",
                fmt::format("{}", opt.lr / 10),
                "--eval-interval",
                std::to_string(r.steps),
                "--eval-iters",
                std::to_string(opt.eval_iters),
                "--sample-tokens",
                "0",
                "--tokenizer",
                opt.tokenizer,
                "--seed",
                std::to_string(opt.seed),
                "--threads",
                std::to_string(opt.threads),
                "--out",
                r.out,
                "--quiet"};
      if (!opt.data.empty()) r.argv.insert(r.argv.end(), {"--data", opt.data});
      r.argv.insert(r.argv.end(), opt.extra_args.begin(), opt.extra_args.end());
      runs.push_back(std::move(r));
    }
  }
  return runs;
}

int run_sweep(const SweepOptions& opt) {
  const auto runs = plan_sweep(opt);
  const std::string results = opt.results.empty() ? opt.out_dir + "/results.jsonl" : opt.results;
  std::string kept;
  std::set<std::string> done;
  if (file_exists(results)) {
    kept = read_file(results);
    std::stringstream ss(kept);
    std::string line;
    while (std::getline(ss, line))
      if (!line.empty()) done.insert(json::parse(line).value("out", ""));
  }
  if (opt.dry_run) {
    for (const auto& r : runs) {
      std::string cmd;
      for (const auto& a : r.argv) cmd += (cmd.empty() ? "" : " ") + a;
      std::printf("%s%s\n", done.count(r.out) ? "# done: " : "", cmd.c_str());
    }
    return 0;
  }
  make_dirs(opt.out_dir);
  int ran = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const SweepRun& r = runs[i];
    if (done.count(r.out)) continue;
    std::printf("[%zu/%zu] %d layers x %d wide, %d steps (%.3g tokens) -> %s\n", i + 1, runs.size(),
                r.model.n_layer, r.model.n_embd, r.steps, r.tokens, r.out.c_str());
    std::fflush(stdout);
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = run_process(r.argv);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rc != 0) fail("sllm train failed (exit {}) for {}; see its output above", rc, r.out);
    const ModelConfig cfg = ModelConfig::from_json(json::parse(read_file(r.out + "/config.json")));
    const double params = double(num_params(cfg));
    const double embed = double(cfg.vocab_size) * cfg.n_embd + double(cfg.block_size) * cfg.n_embd;
    const double loss = final_val_loss(r.out);
    json line = {{"params", params},      {"params_nonembed", params - embed},
                 {"tokens", r.tokens},    {"loss", loss},
                 {"layers", cfg.n_layer}, {"width", cfg.n_embd},
                 {"heads", cfg.n_head},   {"steps", r.steps},
                 {"seconds", secs},       {"out", r.out}};
    kept += line.dump() + "\n";
    write_file_atomic(results, kept);
    std::printf("    N = %.4g, D = %.4g: val loss %.4f in %.1f s\n", params, r.tokens, loss, secs);
    std::fflush(stdout);
    ++ran;
  }
  return ran;
}

}  // namespace sllm::scale
