// The seam between the server and the inference engine. The scheduler only needs a batched
// forward step over many sequences, a per-sequence sampler and the tokenizer; everything
// else (HTTP, accounting, batching policy) stays on the serve side. `load_backend` connects
// it to sllm's inference engine (src/serve/infer_backend.cpp).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace sllm::serve {

// The sampling parameters of an OpenAI request, already validated.
struct SamplingOptions {
  float temperature = 1.0f;  // 0 means greedy.
  int top_k = 0;             // 0 means off.
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;
  std::optional<uint64_t> seed;
  bool json_mode = false;  // Constrain the output to one JSON value.
};

struct ChatMessage {
  std::string role;
  std::string content;
};

// One generation in flight: owns its KV cache and its sampler state (RNG, penalties, grammar).
class Sequence {
 public:
  virtual ~Sequence() = default;
  // Picks the next token from the logits after the last forward and records it.
  virtual int32_t sample(const float* logits) = 0;
  // True once a constrained (JSON-mode) output is complete and nothing more may follow.
  virtual bool grammar_done() const { return false; }
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
  virtual bool is_end_token(int32_t id) const = 0;

  // Text to ids, with the BOS token when the model expects one.
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  // The prompt text for a conversation in the model's chat template, ending where the
  // assistant's answer starts.
  virtual std::string render_chat(const std::vector<ChatMessage>& messages) const = 0;

  virtual std::unique_ptr<Sequence> start(const SamplingOptions& options) = 0;
  // One forward step for all entries: one GEMM per weight matrix for the whole batch.
  virtual void forward(std::span<BatchEntry> batch) = 0;
  // Mean of the final hidden states over the tokens (before the LM head), L2-normalised.
  virtual std::vector<float> embed(std::span<const int32_t> ids) = 0;
};

// Loads a model folder (or any path the inference engine accepts), with an optional LoRA
// adapter applied. Threads are shared process-wide (sllm::set_num_threads).
std::unique_ptr<Backend> load_backend(const std::string& model_path, const std::string& lora_path,
                                      int context_length);

}  // namespace sllm::serve
