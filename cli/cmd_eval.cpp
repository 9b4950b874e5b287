// sllm eval --perplexity FILE: perplexity of a model on a text file, and for a quantized model
// the mean KL divergence of its next-token distributions from the f32 model's.
// sllm eval --tasks FILE.jsonl: multiple-choice accuracy as lm-evaluation-harness scores it
// (sllm/infer/multiple_choice.h), optionally written as lm-eval's results.json (--out).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "command.h"
#include "model_flags.h"
#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/infer/multiple_choice.h"
#include "sllm/infer/perplexity.h"
#include "sllm/io/file.h"
#include "sllm/quant/quant.h"

namespace {

int run_tasks(const sllm::cli::ModelFlags& m, const std::vector<std::string>& tasks,
              const sllm::ChoiceOptions& opt, const std::string& out) {
  auto model = m.load();
  const auto tok = sllm::model_tokenizer(model->files());
  nlohmann::json all;
  for (const std::string& path : tasks) {
    const std::string name = std::filesystem::path(path).stem().string();
    const auto items = sllm::read_task_jsonl(path);
    const sllm::ChoiceResult r = sllm::score_choices(*model, items, *tok, opt);
    std::printf("%s: %zu items, %d-shot: acc %.4f +- %.4f, acc_norm %.4f +- %.4f\n", name.c_str(),
                r.n, opt.fewshot, r.acc, r.acc_stderr, r.acc_norm, r.acc_norm_stderr);
    const nlohmann::json j = sllm::lm_eval_results(name, r, opt.fewshot);
    if (all.is_null()) {
      all = j;
      continue;
    }
    for (const char* k : {"results", "n-shot", "n-samples", "higher_is_better"})
      all[k][name] = j[k][name];
  }
  all["config"] = {{"model", m.path}, {"batch_size", opt.batch}};
  if (!out.empty()) sllm::write_file_atomic(out, all.dump(2) + "\n");
  return 0;
}

int run_eval(int argc, char** argv) {
  CLI::App app{"Evaluate a model: perplexity on a text file, KL divergence against f32"};
  sllm::cli::ModelFlags m;
  std::string text_file, reference;
  sllm::PerplexityOptions opt;
  bool json = false;
  m.add_to(app, "quantize the weights at load: q8_0, q4_0, q4_1, q2_k..q6_k or iq4_xs");
  std::vector<std::string> tasks;
  std::string out;
  sllm::ChoiceOptions copt;
  auto* ppl = app.add_option("--perplexity", text_file, "text file to score");
  auto* tk = app.add_option("--tasks", tasks,
                            "multiple-choice task files (.jsonl: context/choices/gold, or "
                            "HellaSwag, ARC, MMLU rows); the task is the file's name");
  ppl->excludes(tk);
  app.add_option("--fewshot", copt.fewshot, "tasks: the first N items are few-shot examples")
      ->capture_default_str();
  app.add_option("--batch", copt.batch, "tasks: sequences per forward")->capture_default_str();
  app.add_option("--out", out, "tasks: write lm-eval's results.json layout here");
  app.add_option("--reference", reference,
                 "f32 model to compare with (default with --quant or --kv-type f16: the same model "
                 "in f32 with an f32 KV cache)");
  app.add_option("--ctx,-c", opt.ctx, "window length (default: the model's context)");
  app.add_option("--max-tokens", opt.max_tokens, "score at most this many tokens (0: all)");
  app.add_flag("--json", json, "print one JSON object");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (tasks.empty() && text_file.empty())
    sllm::fail("eval: give --perplexity FILE or --tasks FILE");
  if (!tasks.empty()) return run_tasks(m, tasks, copt, out);
  auto model = m.load();
  std::unique_ptr<sllm::InferenceModel> ref;
  const sllm::LoadOptions lo = m.load_options();
  // The reference is the exact model: f32 weights and an f32 KV cache.
  if (!reference.empty() || (lo.weight_type && *lo.weight_type != sllm::GGMLType::F32) ||
      lo.kv_type != sllm::KVType::F32) {
    sllm::LoadOptions ro = lo;
    ro.weight_type = sllm::GGMLType::F32;
    ro.kv_type = sllm::KVType::F32;
    ref = sllm::InferenceModel::load(reference.empty() ? m.path : reference, ro);
  }
  const auto tok = sllm::model_tokenizer(model->files());
  const std::vector<int32_t> ids = tok->encode(sllm::read_file(text_file), false);
  const sllm::PerplexityResult r = sllm::evaluate_perplexity(*model, ids, opt, ref.get());
  const std::string type = sllm::weight_type_name(model->weight_type());
  if (json) {
    nlohmann::json j = {{"model", m.path},
                        {"weights", type},
                        {"kv_type", sllm::kv_type_name(model->kv_type())},
                        {"tokens", r.scored},
                        {"nll", r.nll},
                        {"perplexity", r.perplexity},
                        {"peak_rss_bytes", sllm::peak_rss_bytes()}};
    if (r.has_reference) {
      j["reference_perplexity"] = r.ref_perplexity;
      j["perplexity_change"] = r.perplexity / r.ref_perplexity - 1;
      j["mean_kl"] = r.mean_kl;
      j["max_kl"] = r.max_kl;
      j["top1_agreement"] = r.top1_agreement;
    }
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("model %s (%s weights, %s KV cache), %lld tokens scored\n", m.path.c_str(),
              type.c_str(), sllm::kv_type_name(model->kv_type()), static_cast<long long>(r.scored));
  std::printf("perplexity %.4f (nll %.5f nats/token)\n", r.perplexity, r.nll);
  if (r.has_reference) {
    std::printf("f32 reference perplexity %.4f: %+.3f%%\n", r.ref_perplexity,
                100.0 * (r.perplexity / r.ref_perplexity - 1));
    std::printf("mean KL(f32 || model) %.6f nats (max %.4f), top-1 agreement %.2f%%\n", r.mean_kl,
                r.max_kl, 100.0 * r.top1_agreement);
  }
  std::printf("peak RSS %.1f MB\n", sllm::peak_rss_bytes() / 1e6);
  return 0;
}

sllm::cli::Registrar reg("eval",
                         "perplexity and KL against f32 (--perplexity FILE), or multiple-choice "
                         "accuracy (--tasks FILE.jsonl)",
                         run_eval);

}  // namespace
