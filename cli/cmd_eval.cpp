// sllm eval --perplexity FILE: perplexity of a model on a text file, and for a quantized model
// the mean KL divergence of its next-token distributions from the f32 model's.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "model_flags.h"
#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/infer/perplexity.h"
#include "sllm/io/file.h"
#include "sllm/quant/quant.h"

namespace {

int run_eval(int argc, char** argv) {
  CLI::App app{"Evaluate a model: perplexity on a text file, KL divergence against f32"};
  sllm::cli::ModelFlags m;
  std::string text_file, reference;
  sllm::PerplexityOptions opt;
  bool json = false;
  m.add_to(app, "quantize the weights at load: q8_0, q4_0, q4_1, q2_k..q6_k or iq4_xs");
  app.add_option("--perplexity", text_file, "text file to score")->required();
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

sllm::cli::Registrar reg("eval", "perplexity and KL divergence against f32 (--perplexity FILE)",
                         run_eval);

}  // namespace
