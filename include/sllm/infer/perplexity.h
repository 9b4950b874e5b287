// Perplexity of a model on a token sequence, and how far a quantized model's predictions are
// from a reference (f32) model's: mean KL(P_ref || P_model) over the same positions.
//
// The tokens are cut into consecutive windows of `ctx` tokens; each window starts with an
// empty KV cache and every position but its first is scored (predicting token t+1 from the
// window's tokens up to t).
#pragma once
#include <cstdint>
#include <span>

#include "sllm/infer/model.h"

namespace sllm {

struct PerplexityOptions {
  int ctx = 0;             // Window length; <= 0: the model's block_size.
  int64_t max_tokens = 0;  // Score at most this many tokens (0: all).
};

struct PerplexityResult {
  int64_t scored = 0;     // Positions scored.
  double nll = 0;         // Mean negative log-likelihood (nats/token).
  double perplexity = 0;  // exp(nll).
  bool has_reference = false;
  double ref_nll = 0, ref_perplexity = 0;
  double mean_kl = 0;  // Mean KL(P_ref || P_model), nats.
  double max_kl = 0;
  double top1_agreement = 0;  // Fraction of positions where both models' argmax agree.
};

// `reference` may be null. Both models must share the vocabulary.
PerplexityResult evaluate_perplexity(InferenceModel& model, std::span<const int32_t> tokens,
                                     const PerplexityOptions& opt = {},
                                     InferenceModel* reference = nullptr);

}  // namespace sllm
