#include "sllm/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <unordered_map>

#include "sllm/common/error.h"

namespace sllm {

void SamplingParams::validate(int vocab_size) const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    fail("temperature {} must be >= 0", temperature);
  if (top_k < 0) fail("top_k {} must be >= 0", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) fail("top_p {} must be in (0, 1]", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) fail("min_p {} must be in [0, 1]", min_p);
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
    fail("repetition_penalty {} must be > 0", repetition_penalty);
  if (!std::isfinite(presence_penalty)) fail("presence_penalty must be finite");
  if (!std::isfinite(frequency_penalty)) fail("frequency_penalty must be finite");
  if (penalty_last_n < -1) fail("penalty_last_n {} must be >= -1", penalty_last_n);
  for (const auto& [id, b] : logit_bias) {
    if (id < 0 || id >= vocab_size)
      fail("logit_bias token {} is outside the vocabulary [0, {})", id, vocab_size);
    if (std::isnan(b)) fail("logit_bias for token {} is NaN", id);
  }
}

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}
// sum_i exp((logits[i] - maxl) * inv_t) for arguments <= 0: a float polynomial (relative error
// ~1e-7 per term) that the compiler vectorizes, as the vocabulary-wide sum is the costliest part
// of sampling. Terms below exp(-87) are dropped.
double sum_exp(std::span<const float> logits, float maxl, float inv_t) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (size_t i = 0; i < logits.size(); ++i) {
    float x = (logits[i] - maxl) * inv_t;
    x = x > -87.0f ? x : -87.0f;  // Also maps NaN and -inf to the floor.
    const float n = std::nearbyint(x * 1.44269504f);
    const float f = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // x - n ln2, in two parts.
    float p = 1.9875691500e-4f;
    p = p * f + 1.3981999507e-3f;
    p = p * f + 8.3334519073e-3f;
    p = p * f + 4.1665795894e-2f;
    p = p * f + 1.6666665459e-1f;
    p = p * f + 5.0000001201e-1f;
    p = p * f * f + f + 1.0f;
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    sum += x > -87.0f ? p * scale : 0.0f;
  }
  return sum;
}

}  // namespace

Sampler::Sampler(SamplingParams p) : p_(std::move(p)) {
  uint64_t x = p_.seed;
  for (auto& s : s_) s = splitmix64(x);
}

double Sampler::uniform() {
  const uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return static_cast<double>(r >> 11) * 0x1.0p-53;
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history,
                        const std::function<bool(int32_t)>& accept) {
  const int V = static_cast<int>(logits.size());
  for (const auto& [id, b] : p_.logit_bias)
    if (id >= 0 && id < V) logits[id] += b;

  if (p_.repetition_penalty != 1.0f || p_.presence_penalty != 0.0f ||
      p_.frequency_penalty != 0.0f) {
    size_t n = history.size();
    if (p_.penalty_last_n >= 0) n = std::min(n, static_cast<size_t>(p_.penalty_last_n));
    std::unordered_map<int32_t, int> count;
    for (size_t i = history.size() - n; i < history.size(); ++i) ++count[history[i]];
    for (const auto& [id, c] : count) {
      if (id < 0 || id >= V) continue;
      float& l = logits[id];
      l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
      l -= static_cast<float>(c) * p_.frequency_penalty + p_.presence_penalty;
    }
  }

  // Candidates, most likely first. Sorting a 32k vocabulary per token costs more than the
  // model's forward step for a small model, so sort only a prefix that grows until it holds what
  // is needed; each growth first moves the next `need` tokens to the front in one linear pass.
  std::vector<int32_t>& idx = idx_;
  idx.resize(V);
  std::iota(idx.begin(), idx.end(), 0);
  for (float& l : logits)
    if (std::isnan(l)) l = -INFINITY;  // A strict order for the selection below.
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  size_t sorted = 0;
  auto sort_prefix = [&](size_t k) {
    k = std::min(k, idx.size());
    if (k <= sorted) return;
    const auto first = idx.begin() + static_cast<std::ptrdiff_t>(sorted);
    const size_t need = k - sorted;
    if (need * 8 < idx.size() - sorted) {
      // The need-th best of the rest: a bounded buffer of candidates whose floor only rises.
      std::vector<int32_t>& cand = cand_;
      cand.clear();
      float floor = -INFINITY;
      for (auto it = first; it != idx.end(); ++it) {
        if (logits[*it] < floor) continue;
        cand.push_back(*it);
        if (cand.size() == 4 * need + 64) {
          std::nth_element(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(need - 1),
                           cand.end(), by_logit);
          cand.resize(need);
          floor = logits[cand[need - 1]];
        }
      }
      std::nth_element(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(need - 1),
                       cand.end(), by_logit);
      const int32_t last = cand[need - 1];
      std::partition(first, idx.end(),
                     [&](int32_t id) { return id == last || by_logit(id, last); });
      std::sort(first, first + static_cast<std::ptrdiff_t>(need), by_logit);
    } else {
      std::partial_sort(first, first + static_cast<std::ptrdiff_t>(need), idx.end(), by_logit);
    }
    sorted = k;
  };

  auto allowed = [&](int32_t id) {
    return std::isfinite(logits[id]) || logits[id] > 0 ? (!accept || accept(id)) : false;
  };

  if (p_.temperature <= 0.0f) {
    for (size_t k = 64;; k *= 4) {
      const size_t from = sorted;
      sort_prefix(k);
      for (size_t i = from; i < sorted; ++i)
        if (allowed(idx[i])) return idx[i];
      if (sorted == idx.size()) return -1;
    }
  }

  // Probabilities over a sorted prefix big enough for top-k / top-p / min-p.
  const float inv_t = 1.0f / p_.temperature;
  sort_prefix(p_.top_k > 0 ? static_cast<size_t>(p_.top_k) : 64);
  const float maxl = logits[idx[0]];
  const double total = sum_exp(logits, maxl, inv_t);
  auto prob = [&](int32_t id) {
    return std::exp((static_cast<double>(logits[id]) - maxl) * inv_t) / total;
  };

  size_t keep = p_.top_k > 0 ? std::min<size_t>(p_.top_k, V) : static_cast<size_t>(V);
  if (p_.top_p < 1.0f) {
    double cum = 0;
    size_t i = 0;
    for (; i < keep; ++i) {
      if (i >= sorted) sort_prefix(sorted * 4);
      cum += prob(idx[i]);
      if (cum >= p_.top_p) {
        ++i;
        break;
      }
    }
    keep = std::min(keep, i);
  }
  if (p_.min_p > 0.0f) {
    const double floor = p_.min_p * prob(idx[0]);
    size_t i = 0;
    for (; i < keep; ++i) {
      if (i >= sorted) sort_prefix(sorted * 4);
      if (prob(idx[i]) < floor) break;
    }
    keep = std::max<size_t>(1, i);
  }
  if (keep == idx.size() && !accept) {
    // Nothing is cut (plain temperature sampling): draw over the vocabulary in id order, which
    // needs no sort of the whole vocabulary.
    const double u = uniform() * total;
    double cum = 0;
    int32_t last = idx[0];
    for (int i = 0; i < V; ++i) {
      const double p = std::exp((static_cast<double>(logits[i]) - maxl) * inv_t);
      if (p <= 0) continue;
      cum += p;
      last = i;
      if (u < cum) return i;
    }
    return last;  // u fell in the rounding gap between the two sums.
  }
  sort_prefix(keep);

  // Draw; a token the constraint refuses is removed and the draw repeated.
  std::vector<double> p(keep);
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += (p[i] = prob(idx[i]));
  for (size_t tries = 0; tries < keep && mass > 0; ++tries) {
    double u = uniform() * mass;
    size_t pick = keep - 1;
    for (size_t i = 0; i < keep; ++i) {
      if (p[i] <= 0) continue;
      if (u < p[i]) {
        pick = i;
        break;
      }
      u -= p[i];
    }
    while (p[pick] <= 0 && pick > 0) --pick;
    if (allowed(idx[pick])) return idx[pick];
    mass -= p[pick];
    p[pick] = 0;
  }
  // Nothing in the kept set is allowed: fall back to the most likely allowed token.
  for (size_t k = keep * 4 + 64;; k *= 4) {
    sort_prefix(k);
    for (size_t i = keep; i < sorted; ++i)
      if (allowed(idx[i])) return idx[i];
    if (sorted == idx.size()) return -1;
  }
}

}  // namespace sllm
