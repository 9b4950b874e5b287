#include "sllm/infer/generate.h"

#include <algorithm>
#include <chrono>

#include "sllm/common/error.h"

namespace sllm {

Generation::Generation(const Tokenizer& tok, std::vector<int32_t> prompt, GenerateOptions opt)
    : tok_(tok),
      opt_(std::move(opt)),
      sampler_(opt_.sampling),
      stream_(tok),
      all_(std::move(prompt)) {
  if (all_.empty()) fail("the prompt is empty (no tokens to start from)");
  if (opt_.max_tokens < 0) fail("max_tokens {} must be >= 0", opt_.max_tokens);
  opt_.sampling.validate(tok.vocab_size());
  for (const auto& s : opt_.stop)
    if (s.empty()) fail("stop strings must not be empty");
  if (opt_.constraint) constraint_ = opt_.constraint->clone();
  prompt_len_ = static_cast<int>(all_.size());
  if (opt_.max_tokens == 0) finish_reason_ = "length";
}

std::span<const int32_t> Generation::input() const {
  return std::span<const int32_t>(all_).subspan(std::min(fed_, all_.size()));
}

void Generation::fed(size_t n) {
  if (n > all_.size() - fed_)
    fail("Generation::fed({}) but only {} tokens are pending", n, all_.size() - fed_);
  fed_ += n;
}

// Emits text up to the point where a stop string could still begin; stops at a full match.
std::string Generation::emit(std::string s) {
  held_ += s;
  size_t cut = std::string::npos;
  for (const auto& stop : opt_.stop) {
    const size_t at = held_.find(stop);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    std::string out = held_.substr(0, cut);
    held_.clear();
    finish_reason_ = "stop";
    text_ += out;
    return out;
  }
  // Hold back the longest suffix that is a prefix of some stop string.
  size_t keep = 0;
  for (const auto& stop : opt_.stop)
    for (size_t k = std::min(stop.size() - 1, held_.size()); k > keep; --k)
      if (held_.compare(held_.size() - k, k, stop, 0, k) == 0) {
        keep = k;
        break;
      }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  text_ += out;
  return out;
}

std::string Generation::next(std::span<float> logits) {
  if (done()) fail("Generation::next after the generation finished ({})", finish_reason_);
  if (!input().empty()) fail("Generation::next with {} prompt tokens not yet fed", input().size());
  const int32_t eos = tok_.eos_id();
  std::function<bool(int32_t)> accept;
  if (constraint_) {
    accept = [&](int32_t id) {
      if (id == eos) return constraint_->complete();
      const std::string_view b = tok_.token_bytes(id);
      return !b.empty() && constraint_->accepts(b);
    };
  }
  const int32_t id = sampler_.sample(logits, all_, accept);
  if (id < 0) {  // The constraint allows nothing the model can say.
    finish_reason_ = "stop";
    return "";
  }
  all_.push_back(id);
  generated_.push_back(id);
  if (id == eos && opt_.stop_at_eos) {
    finish_reason_ = "eos";
    return emit(stream_.flush());
  }
  if (constraint_) constraint_->advance(tok_.token_bytes(id));
  std::string out = emit(stream_.push(id));
  if (done()) return out;
  if (constraint_ && !constraint_->can_continue()) {
    finish_reason_ = "stop";
    out += emit(stream_.flush());
  } else if (static_cast<int>(generated_.size()) >= opt_.max_tokens) {
    finish_reason_ = "length";
  }
  return out;
}

std::string Generation::finish() {
  std::string out;
  if (finish_reason_ != "stop") {
    out = stream_.flush();
    if (constraint_ && !constraint_->complete()) out += constraint_->completion();
    out = held_ + out;
    held_.clear();
  }
  text_ += out;
  return out;
}

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
