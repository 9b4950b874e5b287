// The seam between the server and the inference engine. The scheduler needs only a batched
// forward step over many sequences, per-sequence generation state and the tokenizer;
// everything else (HTTP, accounting, batching policy) stays on the serve side.
// `load_backend` connects it to sllm's inference engine (src/serve/infer_backend.cpp).
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sllm/infer/generate.h"
#include "sllm/infer/model.h"
#include "sllm/model/sampler.h"

namespace sllm::serve {

struct ChatMessage {
  std::string role;
  std::string content;
  // What else the template sees: an assistant's "tool_calls" (arguments as objects, as
  // transformers passes them), a tool result's "tool_call_id" and "name".
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

// What a request asks to generate, validated (prompt non-empty and within the context,
// prompt + max_tokens <= context).
struct GenerationSpec {
  std::vector<int32_t> prompt;
  SamplingParams sampling;  // Validated; its seed counts only when `seeded`.
  int max_tokens = 16;
  std::vector<std::string> stop;
  bool chat = false;       // The prompt is a rendered conversation: also stop at the end of a turn.
  bool seeded = false;     // The request gave a seed; otherwise each generation draws one.
  bool json_mode = false;  // Constrain the output to one JSON value.
  std::shared_ptr<const Constraint> constraint;  // A grammar or JSON schema (over json_mode).
  int logprobs = -1;  // >= 0: report each token's logprob with this many alternatives.
};

// One generation in flight: its KV cache, sampler state (RNG, penalties, JSON grammar), stop
// strings and streaming detokenizer. The scheduler feeds it tokens and logits.
class Sequence {
 public:
  virtual ~Sequence() = default;
  // Tokens the model has not been run on yet: the rest of the prompt, or the last sampled token.
  virtual std::span<const int32_t> input() const = 0;
  virtual void fed(size_t n) = 0;  // The first n of input() are now in the KV cache.
  // Once input() is empty: samples from the logits after the last token and returns the text
  // that became final (text that may still turn into a stop string is held back).
  virtual std::string next(std::span<float> logits) = 0;
  virtual bool done() const = 0;
  virtual std::string finish_reason() const = 0;  // OpenAI's: "stop" or "length".
  virtual std::string finish() = 0;               // Held-back text, once done (or cut short).
  virtual int generated_tokens() const = 0;
  // One per generated token (but a final EOS) when the spec asked for logprobs.
  virtual const std::vector<TokenLogprob>& logprobs() const {
    static const std::vector<TokenLogprob> none;
    return none;
  }
};

// One row of a batched forward step: `tokens` are appended to `seq`'s cache. When `logits` is
// non-null the step writes there the vocab_size() logits that follow the last token.
struct BatchEntry {
  Sequence* seq = nullptr;
  std::span<const int32_t> tokens;
  float* logits = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual int context_length() const = 0;
  virtual int vocab_size() const = 0;
  virtual int hidden_size() const = 0;

  // Text to ids, with the BOS token when the model expects one.
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  // The prompt text for a conversation in the model's chat template, ending where the
  // assistant's answer starts.
  // `tools` is the request's tool list (null when none) as the template's `tools` variable.
  virtual std::string render_chat(const std::vector<ChatMessage>& messages,
                                  const nlohmann::ordered_json& tools) const = 0;

  // The chat template's source (tool-call markers are read from it); empty when unknown.
  virtual std::string chat_template_source() const { return ""; }

  // Throws sllm::Error for options the engine refuses.
  virtual std::unique_ptr<Sequence> start(const GenerationSpec& spec) = 0;
  // Another choice for the same prompt, once `parent` has its prompt in the cache: the new
  // sequence starts from a copy of that cache, so n choices share one prefill. A backend that
  // cannot share runs the prompt again.
  virtual std::unique_ptr<Sequence> fork(Sequence& parent, const GenerationSpec& spec) {
    (void)parent;
    return start(spec);
  }
  // Log-probabilities of ids[1..] given the tokens before each (echo with logprobs).
  virtual std::vector<TokenLogprob> prompt_logprobs(std::span<const int32_t> ids, int top) = 0;
  // One forward step for all entries: one GEMM per weight matrix for the whole batch.
  virtual void forward(std::span<BatchEntry> batch) = 0;
  // Mean of the final hidden states over the tokens (before the LM head), L2-normalised.
  virtual std::vector<float> embed(std::span<const int32_t> ids) = 0;
};

// Loads a model folder (or any path the inference engine accepts), with an optional LoRA
// adapter applied, its sequences' KV caches of kv_type. Threads are shared process-wide
// (sllm::set_num_threads).
std::unique_ptr<Backend> load_backend(const std::string& model_path, const std::string& lora_path,
                                      int context_length, KVType kv_type = KVType::F32);

}  // namespace sllm::serve
