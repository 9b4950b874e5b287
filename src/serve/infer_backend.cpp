// serve::Backend on sllm's inference engine: InferenceModel (weights, batched forward),
// the model's tokenizer and chat template, and one sllm::Generation + KVCache per sequence.
#include <random>

#include "sllm/common/error.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/infer/generate.h"
#include "sllm/infer/json_grammar.h"
#include "sllm/infer/model.h"
#include "sllm/serve/backend.h"
#include "sllm/serve/lora.h"
#include "sllm/tokenizer/chat.h"

namespace sllm::serve {

namespace {

class InferSequence : public Sequence {
 public:
  InferSequence(KVCache cache, const Tokenizer& tok, std::vector<int32_t> prompt,
                GenerateOptions opt)
      : cache_(std::move(cache)), gen_(tok, std::move(prompt), std::move(opt)) {}
  std::span<const int32_t> input() const override { return gen_.input(); }
  void fed(size_t n) override { gen_.fed(n); }
  std::string next(std::span<float> logits) override { return gen_.next(logits); }
  bool done() const override { return gen_.done(); }
  std::string finish_reason() const override {
    return gen_.finish_reason() == "length" ? "length" : "stop";  // "eos" is OpenAI's "stop".
  }
  std::string finish() override { return gen_.finish(); }
  int generated_tokens() const override { return int(gen_.tokens().size()); }
  const std::vector<TokenLogprob>& logprobs() const override { return gen_.logprobs(); }
  KVCache& cache() { return cache_; }
  Generation& generation() { return gen_; }

 private:
  KVCache cache_;
  Generation gen_;
};

class InferBackend : public Backend {
 public:
  InferBackend(std::unique_ptr<InferenceModel> model, int ctx) : model_(std::move(model)) {
    tok_ = model_tokenizer(model_->files());
    const int block = model_->config().block_size;
    if (ctx > block) fail("--ctx {} exceeds the model's context of {} tokens", ctx, block);
    ctx_ = ctx > 0 ? ctx : block;
    template_ = model_chat_template(model_->files().chat_template, *tok_);
    add_bos_ = model_->files().vocab.add_bos;
  }

  int context_length() const override { return ctx_; }
  int vocab_size() const override { return model_->config().vocab_size; }
  int hidden_size() const override { return model_->config().n_embd; }

  std::vector<int32_t> encode(const std::string& text) const override {
    std::vector<int32_t> ids = encode_prompt(*tok_, text, add_bos_);
    if (ids.empty() && tok_->bos_id() >= 0) ids.push_back(tok_->bos_id());  // Start from BOS.
    return ids;
  }
  std::string decode(std::span<const int32_t> ids) const override { return tok_->decode(ids); }
  std::string render_chat(const std::vector<ChatMessage>& messages,
                          const nlohmann::ordered_json& tools) const override {
    nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
    for (const auto& m : messages) {
      nlohmann::ordered_json j = {{"role", m.role}, {"content", m.content}};
      for (auto it = m.extra.begin(); it != m.extra.end(); ++it) j[it.key()] = it.value();
      msgs.push_back(std::move(j));
    }
    return template_.apply_json(msgs, true, {{"tools", tools}});
  }

  std::string chat_template_source() const override { return template_.source(); }

  std::unique_ptr<Sequence> start(const GenerationSpec& spec) override {
    return std::make_unique<InferSequence>(model_->new_cache(ctx_), *tok_, spec.prompt,
                                           options(spec));
  }

  std::unique_ptr<Sequence> fork(Sequence& parent, const GenerationSpec& spec) override {
    auto& p = static_cast<InferSequence&>(parent);
    const int shared = int(spec.prompt.size()) - 1;
    if (p.cache().size() < shared || p.generation().prompt_tokens() != shared + 1)
      return start(spec);
    KVCache cache = p.cache();
    cache.truncate(shared);
    auto s = std::make_unique<InferSequence>(std::move(cache), *tok_, spec.prompt, options(spec));
    s->generation().skip_prompt_prefix();
    return s;
  }

  std::vector<TokenLogprob> prompt_logprobs(std::span<const int32_t> ids, int top) override {
    if (ids.size() < 2) return {};
    KVCache cache = model_->new_cache(int(ids.size()));
    InferenceModel::Seq s{&cache, ids};
    model_->forward_batch({&s, 1}, logits_, /*all_positions=*/true);
    const size_t V = size_t(vocab_size());
    std::vector<TokenLogprob> out;
    for (size_t t = 0; t + 1 < ids.size(); ++t)
      out.push_back(token_logprob(*tok_, {logits_.data() + t * V, V}, ids[t + 1], top));
    return out;
  }

 private:
  GenerateOptions options(const GenerationSpec& spec) {
    GenerateOptions o;
    o.max_tokens = spec.max_tokens;
    o.stop = spec.stop;
    if (spec.chat)
      for (auto& s : template_.stop_strings()) o.stop.push_back(s);
    o.sampling = spec.sampling;
    if (!spec.seeded) o.sampling.seed = seeds_();
    if (spec.json_mode) o.constraint = json_constraint();
    if (spec.constraint) o.constraint = spec.constraint;
    o.logprobs = spec.logprobs;
    return o;
  }

 public:
  void forward(std::span<BatchEntry> batch) override {
    seqs_.clear();
    for (const auto& e : batch)
      seqs_.push_back({&static_cast<InferSequence*>(e.seq)->cache(), e.tokens});
    model_->forward_batch(seqs_, logits_);
    const size_t V = size_t(vocab_size());
    for (size_t i = 0; i < batch.size(); ++i)
      if (batch[i].logits) std::copy_n(logits_.data() + i * V, V, batch[i].logits);
  }

  std::vector<float> embed(std::span<const int32_t> ids) override {
    if (ids.empty()) fail("embeddings need at least one token");
    KVCache cache = model_->new_cache(int(ids.size()));
    InferenceModel::Seq s{&cache, ids};
    model_->forward_batch({&s, 1}, logits_, /*all_positions=*/true);
    std::span<const float> h = model_->last_hidden();
    const size_t C = size_t(hidden_size()), n = h.size() / C;
    std::vector<float> out(C, 0.0f);
    for (size_t t = 0; t < n; ++t)
      for (size_t c = 0; c < C; ++c) out[c] += h[t * C + c];
    double norm = 0;
    for (float x : out) norm += double(x) * x;
    const float inv = norm > 0 ? float(1.0 / std::sqrt(norm)) : 0.0f;
    for (float& x : out) x *= inv;
    return out;
  }

 private:
  std::unique_ptr<InferenceModel> model_;
  std::unique_ptr<Tokenizer> tok_;
  ChatTemplate template_;
  bool add_bos_ = true;
  int ctx_ = 0;
  std::vector<InferenceModel::Seq> seqs_;
  std::vector<float> logits_;
  std::random_device seeds_;
};

}  // namespace

std::unique_ptr<Backend> load_backend(const std::string& model_path, const std::string& lora_path,
                                      int ctx, KVType kv_type) {
  LoadOptions lo;
  lo.kv_type = kv_type;
  std::unique_ptr<InferenceModel> model;
  if (lora_path.empty()) {
    model = InferenceModel::load(model_path, lo);
  } else {
    model = std::make_unique<InferenceModel>(files_with_lora(model_path, lora_path), lo);
  }
  return std::make_unique<InferBackend>(std::move(model), ctx);
}

}  // namespace sllm::serve
