#include "sllm/infer/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sllm/common/error.h"

namespace sllm {

TokenLogprob token_logprob(const Tokenizer& tok, std::span<const float> logits, int32_t id,
                           int top) {
  const float mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(double(l) - mx);
  const double lse = mx + std::log(sum);
  auto choice = [&](int32_t t) {
    std::string b(tok.token_bytes(t));
    return TokenChoice{t, b.empty() ? tok.decode(std::span<const int32_t>(&t, 1)) : b,
                       double(logits[t]) - lse};
  };
  TokenLogprob r{choice(id), {}};
  std::vector<int32_t> idx(logits.size());
  std::iota(idx.begin(), idx.end(), 0);
  const size_t k = std::min<size_t>(size_t(std::max(top, 0)), idx.size());
  std::partial_sort(idx.begin(), idx.begin() + std::ptrdiff_t(k), idx.end(),
                    [&](int32_t a, int32_t b) {
                      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                    });
  for (size_t i = 0; i < k; ++i) r.top.push_back(choice(idx[i]));
  return r;
}

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
  if (opt_.logprobs >= 0) raw_.assign(logits.begin(), logits.end());
  const int32_t id = sampler_.sample(logits, all_, accept);
  if (id < 0) {  // The constraint allows nothing the model can say.
    finish_reason_ = "stop";
    return "";
  }
  if (opt_.logprobs >= 0 && !(id == eos && opt_.stop_at_eos))
    logprobs_.push_back(token_logprob(tok_, raw_, id, opt_.logprobs));
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

}  // namespace sllm
