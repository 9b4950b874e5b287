// Text generation on top of InferenceModel: one Generation per sequence holds what decoding
// needs besides the KV cache (sampler, stop strings, constraint, streaming detokenizer), so a
// server can step many of them with one forward_batch(); generate() runs a single one.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/infer/model.h"
#include "sllm/model/sampler.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

// Restricts generated text to a language (JSON, a JSON schema). Works on bytes: the sampler
// asks whether a token's bytes may come next.
class Constraint {
 public:
  virtual ~Constraint() = default;
  virtual bool accepts(std::string_view bytes) const = 0;  // Is text + bytes still a valid prefix?
  virtual void advance(std::string_view bytes) = 0;        // Appends (must be accepted).
  virtual bool complete() const = 0;           // Is the text so far a complete sentence?
  virtual bool can_continue() const = 0;       // Could more bytes follow?
  virtual std::string completion() const = 0;  // Shortest bytes that complete the text.
  virtual std::unique_ptr<Constraint> clone() const = 0;
};

// One token's log-probability under the model's own distribution (log-softmax of the raw
// logits, before bias, penalties and temperature: what OpenAI's logprobs report).
struct TokenChoice {
  int32_t id = 0;
  std::string bytes;  // The token's bytes (a byte-level token may be part of a UTF-8 character).
  double logprob = 0;
};
struct TokenLogprob {
  TokenChoice chosen;
  std::vector<TokenChoice> top;  // The most likely tokens, most likely first.
};
// `id`'s log-probability and the `top` most likely tokens under softmax(logits).
TokenLogprob token_logprob(const Tokenizer& tok, std::span<const float> logits, int32_t id,
                           int top);

struct GenerateOptions {
  int max_tokens = 256;
  int logprobs = -1;  // >= 0: record each sampled token's logprob and this many alternatives.
  SamplingParams sampling;
  std::vector<std::string> stop;  // Generation ends before the first occurrence of any.
  bool stop_at_eos = true;
  std::shared_ptr<const Constraint> constraint;  // Copied per generation; null = free text.
};

class Generation {
 public:
  Generation(const Tokenizer& tok, std::vector<int32_t> prompt, GenerateOptions opt);

  std::span<const int32_t> input() const;  // Tokens the model has not been run on yet.
  void fed(size_t n);                      // The caller ran the model on the first n of them.
  // Once input() is empty: picks the next token from the last position's logits and returns
  // the text that became final (held back while it may still turn into a stop string).
  std::string next(std::span<float> logits);

  bool done() const { return !finish_reason_.empty(); }
  const std::string& finish_reason() const { return finish_reason_; }  // "stop", "length", "eos"
  const std::vector<int32_t>& tokens() const { return generated_; }
  // One per sampled token but a final EOS, when options.logprobs >= 0.
  const std::vector<TokenLogprob>& logprobs() const { return logprobs_; }
  // Continues from another generation's prompt: the caller's KV cache holds all of it but the
  // last token, which input() then returns (n choices sharing one prefill).
  void skip_prompt_prefix() { fed_ = all_.size() - 1; }
  const std::vector<int32_t>& history() const { return all_; }  // Prompt + generated.
  const std::string& text() const { return text_; }             // Everything emitted so far.
  int prompt_tokens() const { return prompt_len_; }
  // For a finished generation, the text still held back (and, when a constraint's text was
  // cut short by max_tokens, the bytes that complete it). Call once, after done().
  std::string finish();

 private:
  std::string emit(std::string s);
  const Tokenizer& tok_;
  GenerateOptions opt_;
  Sampler sampler_;
  std::unique_ptr<Constraint> constraint_;
  TokenStreamDecoder stream_;
  std::vector<int32_t> all_;  // Prompt + generated: the penalties' history.
  std::vector<int32_t> generated_;
  std::vector<TokenLogprob> logprobs_;
  std::vector<float> raw_;  // The logits before sampling changed them (for logprobs).
  size_t fed_ = 0;
  int prompt_len_ = 0;
  std::string held_, text_, finish_reason_;
};

struct GenerateStats {
  int prompt_tokens = 0, generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

// Runs one generation to the end with `cache` (cleared first), calling on_text with each
// piece of streamed text. Throws sllm::Error when the prompt does not fit the cache. When the
// generated text fills the cache, the cache restarts from the last half of the text (as
// nanoGPT crops to its block size), so max_tokens may exceed the context.
std::string generate(InferenceModel& model, const Tokenizer& tok,
                     const std::vector<int32_t>& prompt, const GenerateOptions& opt, KVCache& cache,
                     const std::function<void(std::string_view)>& on_text = {},
                     GenerateStats* stats = nullptr, std::string* finish_reason = nullptr);

}  // namespace sllm
