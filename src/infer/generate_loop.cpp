// sllm::generate: one sequence on an InferenceModel, start to finish (what `sllm generate`
// runs). Kept apart from Generation (generate.cpp), which the server uses without this loop.
#include <algorithm>
#include <chrono>

#include "sllm/common/error.h"
#include "sllm/infer/generate.h"

namespace sllm {

std::string generate(InferenceModel& model, const Tokenizer& tok,
                     const std::vector<int32_t>& prompt, const GenerateOptions& opt, KVCache& cache,
                     const std::function<void(std::string_view)>& on_text, GenerateStats* stats,
                     std::string* finish_reason) {
  using clock = std::chrono::steady_clock;
  cache.clear();
  if (static_cast<int>(prompt.size()) > cache.capacity())
    fail("the prompt has {} tokens but the context holds {} (raise --ctx)", prompt.size(),
         cache.capacity());
  Generation g(tok, prompt, opt);
  auto t0 = clock::now();
  std::vector<float> logits;
  bool first = true;
  double prefill = 0;
  while (!g.done()) {
    std::span<const int32_t> in = g.input();
    std::span<const int32_t> run = in;
    if (cache.size() + static_cast<int>(in.size()) > cache.capacity()) {
      const size_t keep = std::max(in.size(), static_cast<size_t>(cache.capacity() / 2));
      const auto& h = g.history();
      run = std::span<const int32_t>(h).subspan(h.size() - keep);
      cache.clear();
    }
    InferenceModel::Seq s{&cache, run};
    model.forward_batch({&s, 1}, logits);
    g.fed(in.size());
    if (first) {
      prefill = std::chrono::duration<double>(clock::now() - t0).count();
      first = false;
    }
    std::string piece = g.next(logits);
    if (on_text && !piece.empty()) on_text(piece);
  }
  std::string rest = g.finish();
  if (on_text && !rest.empty()) on_text(rest);
  if (stats) {
    stats->prompt_tokens = g.prompt_tokens();
    stats->generated_tokens = static_cast<int>(g.tokens().size());
    stats->prefill_seconds = prefill;
    stats->decode_seconds = std::chrono::duration<double>(clock::now() - t0).count() - prefill;
  }
  if (finish_reason) *finish_reason = g.done() ? g.finish_reason() : "length";
  return g.text();
}

}  // namespace sllm
