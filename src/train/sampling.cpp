#include "sllm/train/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "sllm/common/error.h"

namespace sllm {

namespace {

// Byte-level models early in training emit broken UTF-8; show U+FFFD instead of raw bytes.
std::string valid_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
    if (ok && len > 1) {
      // Overlong forms, surrogates and code points past U+10FFFF are not valid UTF-8 either.
      uint32_t cp = c & (0x7F >> len);
      for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      ok = cp >= (len == 2   ? 0x80u
                  : len == 3 ? 0x800u
                             : 0x10000u) &&
           cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok) {
      out.append(s, i, static_cast<size_t>(len));
      i += static_cast<size_t>(len);
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace

std::string sample_text(Model& model, const Tokenizer& tok, const std::string& prompt,
                        const SamplingParams& sampling, int max_tokens) {
  const int V = std::min(model.config().vocab_size, tok.vocab_size());
  const int ctx_max = model.config().block_size;
  const int32_t eos = tok.eos_id();
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(prompt);
  } catch (const Error&) {
    ids.clear();
  }
  if (ids.empty()) ids.push_back(eos >= 0 ? eos : 0);
  Sampler sampler(sampling);
  std::vector<float> logits(static_cast<size_t>(V));
  for (int i = 0; i < max_tokens; ++i) {
    const int T = std::min<int>(static_cast<int>(ids.size()), ctx_max);
    const int32_t* ctx = ids.data() + ids.size() - T;
    model.forward(ctx, nullptr, 1, T);
    const float* last = model.logits() + static_cast<size_t>(T - 1) * model.config().vocab_size;
    std::copy_n(last, V, logits.data());
    const int32_t next = sampler.sample(logits, ids);
    if (next == eos) break;
    ids.push_back(next);
  }
  // A start token stood in for an empty or unencodable prompt: leave it out of the text.
  if (!ids.empty() && ids[0] == eos && eos >= 0) ids.erase(ids.begin());
  return valid_utf8(tok.decode(ids));
}

}  // namespace sllm
