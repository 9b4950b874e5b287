// Picks the next token from a model's logits. The order is llama.cpp's:
//   logit bias -> repetition / presence / frequency penalties (over the last penalty_last_n
//   tokens) -> constraint mask -> greedy if temperature <= 0, else temperature -> top-k ->
//   top-p -> min-p -> a draw from the remaining distribution.
// The random stream is sllm's own (splitmix64 seeded, then xoshiro256**), so the same seed,
// logits and history give the same token on every platform.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <vector>

namespace sllm {

struct SamplingParams {
  float temperature = 1.0f;             // <= 0: greedy (argmax).
  int top_k = 0;                        // Keep the k most likely tokens; 0 = all.
  float top_p = 1.0f;                   // Keep the smallest set whose probability reaches top_p.
  float min_p = 0.0f;                   // Drop tokens below min_p * the largest probability.
  float repetition_penalty = 1.0f;      // CTRL style: positive logits / r, negative * r.
  float presence_penalty = 0.0f;        // Subtracted once from every token seen.
  float frequency_penalty = 0.0f;       // Subtracted per occurrence.
  int penalty_last_n = 64;              // Window for the penalties; -1 = whole history.
  std::map<int32_t, float> logit_bias;  // Added to the logits (-inf bans a token).
  uint64_t seed = 0;

  void validate(int vocab_size) const;  // Throws sllm::Error naming the bad field.
};

class Sampler {
 public:
  explicit Sampler(SamplingParams p);
  const SamplingParams& params() const { return p_; }

  // `accept(id)` (optional) says whether a token is allowed (constrained decoding). Tokens are
  // tried from the most likely down, so the check runs for a few tokens, not the vocabulary.
  // Returns -1 when no token is allowed. logits are modified in place.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history,
                 const std::function<bool(int32_t)>& accept = {});

  double uniform();  // Next draw in [0, 1) (exposed for tests).

 private:
  SamplingParams p_;
  uint64_t s_[4];
  std::vector<int32_t> idx_, cand_;  // Scratch reused across calls.
};

}  // namespace sllm
