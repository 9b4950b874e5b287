#include "sllm/infer/perplexity.h"

#include <algorithm>
#include <cmath>

#include "sllm/common/error.h"

namespace sllm {

namespace {

// log-softmax of one row of logits, in place, in double for the sums.
void log_softmax(float* row, int v) {
  const float mx = *std::max_element(row, row + v);
  double sum = 0;
  for (int i = 0; i < v; ++i) sum += std::exp(static_cast<double>(row[i] - mx));
  const float lse = mx + static_cast<float>(std::log(sum));
  for (int i = 0; i < v; ++i) row[i] -= lse;
}

}  // namespace

PerplexityResult evaluate_perplexity(InferenceModel& model, std::span<const int32_t> tokens,
                                     const PerplexityOptions& opt, InferenceModel* reference) {
  const int V = model.config().vocab_size;
  if (reference && reference->config().vocab_size != V)
    fail("perplexity: the reference model has {} tokens in its vocabulary, the model {}",
         reference->config().vocab_size, V);
  int ctx = opt.ctx > 0 ? opt.ctx : model.config().block_size;
  ctx = std::min(ctx, model.config().block_size);
  if (reference) ctx = std::min(ctx, reference->config().block_size);
  if (ctx < 2) fail("perplexity: the window must hold at least 2 tokens, got {}", ctx);
  int64_t n = static_cast<int64_t>(tokens.size());
  if (opt.max_tokens > 0) n = std::min(n, opt.max_tokens + 1);
  if (n < 2) fail("perplexity: need at least 2 tokens, got {}", n);

  PerplexityResult r;
  r.has_reference = reference != nullptr;
  double nll = 0, ref_nll = 0, kl = 0;
  int64_t agree = 0;
  KVCache cache = model.new_cache(ctx);
  KVCache ref_cache = reference ? reference->new_cache(ctx) : KVCache();
  std::vector<float> logits, ref_logits;
  for (int64_t start = 0; start + 1 < n; start += ctx) {
    const int64_t len = std::min<int64_t>(ctx, n - start);
    if (len < 2) break;
    std::span<const int32_t> window = tokens.subspan(start, len);
    cache.clear();
    InferenceModel::Seq seq{&cache, window};
    model.forward_batch({&seq, 1}, logits, true);
    if (reference) {
      ref_cache.clear();
      InferenceModel::Seq rs{&ref_cache, window};
      reference->forward_batch({&rs, 1}, ref_logits, true);
    }
    for (int64_t t = 0; t + 1 < len; ++t) {
      float* lp = logits.data() + t * V;
      log_softmax(lp, V);
      const int32_t next = window[t + 1];
      nll -= lp[next];
      if (!reference) continue;
      float* rp = ref_logits.data() + t * V;
      log_softmax(rp, V);
      ref_nll -= rp[next];
      double k = 0;
      for (int i = 0; i < V; ++i) k += std::exp(static_cast<double>(rp[i])) * (rp[i] - lp[i]);
      kl += k;
      r.max_kl = std::max(r.max_kl, k);
      agree += std::max_element(lp, lp + V) - lp == std::max_element(rp, rp + V) - rp;
    }
    r.scored += len - 1;
  }
  r.nll = nll / r.scored;
  r.perplexity = std::exp(r.nll);
  if (reference) {
    r.ref_nll = ref_nll / r.scored;
    r.ref_perplexity = std::exp(r.ref_nll);
    r.mean_kl = kl / r.scored;
    r.top1_agreement = static_cast<double>(agree) / r.scored;
  }
  return r;
}

}  // namespace sllm
