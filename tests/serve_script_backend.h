// A scripted serve::Backend for the server's own tests: byte tokens, and a "model" that always
// predicts the next byte of a fixed script, then EOS. It makes outputs exact (stop strings,
// token counts) and lets tests slow steps down or watch batch sizes and live KV caches. The
// real engine is covered by serve_engine_test.cpp.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "sllm/serve/backend.h"

namespace sllm::test {

class ScriptBackend : public serve::Backend {
 public:
  static constexpr int32_t kBos = 256, kEos = 257;
  explicit ScriptBackend(std::string script, int ctx = 512)
      : script_(std::move(script)), ctx_(ctx) {}

  int context_length() const override { return ctx_; }
  int vocab_size() const override { return 258; }
  int hidden_size() const override { return 4; }
  bool is_end_token(int32_t id) const override { return id == kEos; }
  std::vector<int32_t> encode(const std::string& text) const override {
    std::vector<int32_t> ids{kBos};
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string decode(std::span<const int32_t> ids) const override {
    std::string s;
    for (int32_t id : ids)
      if (id < 256) s += char(id);
    return s;
  }
  std::string render_chat(const std::vector<serve::ChatMessage>& messages) const override {
    std::string s;
    for (const auto& m : messages) s += "<" + m.role + ">" + m.content + "\n";
    return s + "<assistant>";
  }

  struct Seq : serve::Sequence {
    explicit Seq(ScriptBackend& b) : b(b) { b.live++; }
    ~Seq() override { b.live--; }
    int32_t sample(const float* logits) override {
      generated++;
      return int32_t(std::max_element(logits, logits + 258) - logits);
    }
    ScriptBackend& b;
    int position = 0, generated = 0;
  };
  std::unique_ptr<serve::Sequence> start(const serve::SamplingOptions&) override {
    return std::make_unique<Seq>(*this);
  }
  void forward(std::span<serve::BatchEntry> batch) override {
    if (step_delay.count() > 0) std::this_thread::sleep_for(step_delay);
    max_rows = std::max<int>(max_rows, int(batch.size()));
    forwards++;
    for (auto& e : batch) {
      auto* s = static_cast<Seq*>(e.seq);
      s->position += int(e.tokens.size());
      if (!e.logits) continue;
      std::fill(e.logits, e.logits + 258, 0.0f);
      e.logits[size_t(s->generated) < script_.size() ? uint8_t(script_[s->generated]) : kEos] =
          1.0f;
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
  std::chrono::milliseconds step_delay{0};
  std::atomic<int> live{0};      // Sequences (KV caches) alive now.
  std::atomic<int> max_rows{0};  // Largest batch seen by forward().
  std::atomic<int> forwards{0};
};

}  // namespace sllm::test
