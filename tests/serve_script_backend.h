// A scripted serve::Backend for the server's own tests: a byte tokenizer and a "model" whose
// logits always point at the next byte of a fixed script, then at EOS. Generation itself
// (sampling, stop strings, streaming text, max_tokens) is sllm's real sllm::Generation, so
// outputs are exact and the HTTP layer is tested against the real decoding logic. Tests can
// slow steps down and watch batch sizes and live KV caches. The real model runs in
// serve_engine_test.cpp.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "sllm/infer/generate.h"
#include "sllm/serve/backend.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm::test {

class ScriptBackend : public serve::Backend {
 public:
  explicit ScriptBackend(std::string script, int ctx = 512)
      : script_(std::move(script)), ctx_(ctx), tok_(std::vector<std::string>{"<s>", "</s>"}) {}

  int context_length() const override { return ctx_; }
  int vocab_size() const override { return tok_.vocab_size(); }
  int hidden_size() const override { return 4; }
  std::vector<int32_t> encode(const std::string& text) const override {
    std::vector<int32_t> ids{tok_.bos_id()};
    tok_.encode_append(text, ids, false);
    return ids;
  }
  std::string decode(std::span<const int32_t> ids) const override { return tok_.decode(ids); }
  std::string render_chat(const std::vector<serve::ChatMessage>& messages,
                          const nlohmann::ordered_json& tools) const override {
    std::string s = tools.is_null() ? "" : "<tools>" + tools.dump() + "\n";
    for (const auto& m : messages)
      s += "<" + m.role + ">" + m.content + (m.extra.empty() ? "" : m.extra.dump()) + "\n";
    return s + "<assistant>";
  }
  // The script "model" has no opinion about prompts: every token is equally likely.
  std::vector<TokenLogprob> prompt_logprobs(std::span<const int32_t> ids, int top) override {
    std::vector<float> flat(size_t(vocab_size()), 0.0f);
    std::vector<TokenLogprob> out;
    for (size_t t = 1; t < ids.size(); ++t) out.push_back(token_logprob(tok_, flat, ids[t], top));
    return out;
  }

  struct Seq : serve::Sequence {
    Seq(ScriptBackend& b, const serve::GenerationSpec& spec)
        : b(b), gen(b.tok_, spec.prompt, options(spec)) {
      b.live++;
    }
    ~Seq() override { b.live--; }
    static GenerateOptions options(const serve::GenerationSpec& spec) {
      GenerateOptions o;
      o.max_tokens = spec.max_tokens;
      o.stop = spec.stop;
      o.sampling.temperature = 0.0f;
      o.logprobs = spec.logprobs;
      o.constraint = spec.constraint;
      return o;
    }
    std::span<const int32_t> input() const override { return gen.input(); }
    void fed(size_t n) override { gen.fed(n); }
    std::string next(std::span<float> logits) override { return gen.next(logits); }
    bool done() const override { return gen.done(); }
    std::string finish_reason() const override {
      return gen.finish_reason() == "eos" ? "stop" : gen.finish_reason();
    }
    std::string finish() override { return gen.finish(); }
    int generated_tokens() const override { return int(gen.tokens().size()); }
    const std::vector<TokenLogprob>& logprobs() const override { return gen.logprobs(); }
    ScriptBackend& b;
    Generation gen;
  };
  std::unique_ptr<serve::Sequence> start(const serve::GenerationSpec& spec) override {
    return std::make_unique<Seq>(*this, spec);
  }
  void forward(std::span<serve::BatchEntry> batch) override {
    if (step_delay.count() > 0) std::this_thread::sleep_for(step_delay);
    max_rows = std::max<int>(max_rows, int(batch.size()));
    for (auto& e : batch) {
      if (!e.logits) continue;
      size_t k = static_cast<Seq*>(e.seq)->gen.tokens().size();
      std::fill(e.logits, e.logits + vocab_size(), 0.0f);
      e.logits[k < script_.size() ? uint8_t(script_[k]) : tok_.eos_id()] = 1.0f;
    }
  }
  std::vector<float> embed(std::span<const int32_t> ids) override {
    std::vector<float> v(4, 0.0f);
    for (int32_t id : ids) v[size_t(id) % 4] += 1.0f;
    float n = 0;
    for (float x : v) n += x * x;
    for (float& x : v) x /= std::sqrt(n);
    return v;
  }

  std::string script_;
  int ctx_;
  ByteTokenizer tok_;
  std::chrono::milliseconds step_delay{0};
  std::atomic<int> live{0};      // Sequences (KV caches) alive now.
  std::atomic<int> max_rows{0};  // Largest batch seen by forward().
};

}  // namespace sllm::test
