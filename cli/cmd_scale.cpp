// sllm scale fit | sweep: measure scaling laws on your own data.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>

#include "command.h"
#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/scale/scaling_law.h"
#include "sllm/scale/sweep.h"

namespace {

std::vector<double> parse_list(const std::string& s, const char* flag) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      size_t used = 0;
      out.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      sllm::fail("{}: '{}' is not a number", flag, item);
    }
  }
  return out;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) sllm::fail("cannot find the sllm executable (/proc/self/exe)");
  return std::string(buf, static_cast<size_t>(n));
}

int run_scale(int argc, char** argv) {
  CLI::App app{
      "Scaling laws: `sweep` trains a grid of model sizes x token budgets and records final "
      "validation losses; `fit` fits L(N, D) = E + A/N^alpha + B/D^beta (Chinchilla approach 3) "
      "and Kaplan's L(N), L(D) with bootstrap intervals, and plots them."};
  app.require_subcommand(1);

  auto* fit = app.add_subcommand(
      "fit", "fit scaling laws to sweep results (JSONL or CSV: params, tokens, loss)");
  std::string input, svg, json_out;
  sllm::scale::ScalingReportOptions fo;
  fit->add_option("input", input, "results file (.jsonl from sweep, or .csv)")->required();
  fit->add_option("--budget", fo.budget,
                  "FLOPs budget C for the compute-optimal N and D (C = 6ND)");
  fit->add_option("--bootstrap", fo.bootstrap, "bootstrap resamples for the intervals")
      ->capture_default_str();
  fit->add_option("--confidence", fo.confidence, "interval coverage")->capture_default_str();
  fit->add_option("--huber-delta", fo.fit.huber_delta, "Huber delta on log loss")
      ->capture_default_str();
  fit->add_option("--seed", fo.seed, "bootstrap seed")->capture_default_str();
  fit->add_option("--svg", svg, "write the plot (points and fitted curves) to this SVG file");
  fit->add_option("--json", json_out, "write the fit as JSON to this file");

  auto* sweep =
      app.add_subcommand("sweep", "train a grid of model sizes x token budgets with sllm train");
  sllm::scale::SweepOptions so;
  std::string sizes, tokens;
  sweep
      ->add_option("--sizes", sizes,
                   "target parameter counts, comma separated (e.g. 1e5,4e5,1.6e6)")
      ->required();
  sweep
      ->add_option("--tokens", tokens,
                   "training tokens per run, comma separated (e.g. 2e5,8e5,3.2e6)")
      ->required();
  sweep->add_option("--data", so.data, "corpus (default: sllm train's default corpus)");
  sweep->add_option("--tokenizer", so.tokenizer, "tokenizer for every run")->capture_default_str();
  sweep->add_option("--vocab-hint", so.vocab_hint, "vocabulary size assumed when choosing shapes")
      ->capture_default_str();
  sweep->add_option("--out", so.out_dir, "folder for the runs")->capture_default_str();
  sweep->add_option("--results", so.results,
                    "results JSONL (default OUT/results.jsonl); finished points are skipped");
  sweep->add_option("--block-size", so.block_size, "sequence length")->capture_default_str();
  sweep->add_option("--batch-size", so.batch_size, "sequences per step")->capture_default_str();
  sweep->add_option("--lr", so.lr, "peak learning rate (cosine to lr/10 over each run)")
      ->capture_default_str();
  sweep->add_option("--eval-iters", so.eval_iters, "validation batches for the final loss")
      ->capture_default_str();
  sweep->add_option("--threads", so.threads, "threads per run (0: all cores)")
      ->capture_default_str();
  sweep->add_option("--seed", so.seed, "seed of every run")->capture_default_str();
  sweep->add_flag("--dry-run", so.dry_run, "print the sllm train commands without running them");
  sweep->add_option("--train-args", so.extra_args, "extra arguments for sllm train (after --)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (fit->parsed()) {
    const auto pts = sllm::scale::read_scale_points(input);
    const auto report = sllm::scale::fit_scaling_laws(pts, fo);
    std::printf("%zu points from %s\n%s", pts.size(), input.c_str(), report.to_text().c_str());
    if (!svg.empty()) {
      sllm::write_file_atomic(svg, sllm::scale::scaling_plot_svg(pts, report));
      std::printf("plot: %s\n", svg.c_str());
    }
    if (!json_out.empty()) sllm::write_file_atomic(json_out, report.to_json() + "\n");
    return 0;
  }
  so.sizes = parse_list(sizes, "--sizes");
  so.tokens = parse_list(tokens, "--tokens");
  so.sllm_binary = self_exe();
  const int ran = sllm::scale::run_sweep(so);
  if (!so.dry_run)
    std::printf("%d runs done; results in %s\n", ran,
                (so.results.empty() ? so.out_dir + "/results.jsonl" : so.results).c_str());
  return 0;
}

sllm::cli::Registrar reg("scale", "scaling laws: sweep model sizes x tokens, fit L(N, D), plot",
                         run_scale);

}  // namespace
