#include "chunking.h"

#include <algorithm>
#include <exception>
#include <mutex>

namespace sllm {

namespace {

bool inside_special(const Tokenizer& t, std::string_view text, size_t p) {
  for (const auto& s : t.special_tokens()) {
    size_t len = s.text.size();
    if (len < 2) continue;
    size_t from = p >= len - 1 ? p - (len - 1) : 0;
    std::string_view window = text.substr(from, std::min(text.size() - from, p - from + len - 1));
    for (size_t q = window.find(s.text); q != std::string_view::npos;
         q = window.find(s.text, q + 1))
      if (from + q < p && p < from + q + len) return true;
  }
  return false;
}

}  // namespace

std::vector<size_t> split_points(const Tokenizer& t, std::string_view text, size_t target,
                                 bool allow_special) {
  std::vector<size_t> points{0};
  size_t pos = target;
  while (pos < text.size()) {
    while (pos < text.size() &&
           !(t.is_safe_split(text, pos) && !(allow_special && inside_special(t, text, pos))))
      ++pos;
    if (pos >= text.size()) break;
    points.push_back(pos);
    pos += target;
  }
  points.push_back(text.size());
  return points;
}

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

void parallel_for(size_t n, int threads, const std::function<void(size_t)>& fn) {
  threads = std::min<int>(resolve_threads(threads), static_cast<int>(std::max<size_t>(n, 1)));
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mu;
  // OpenMP's worker threads live on between calls, so the per-thread piece caches of the
  // encoders stay warm from one batch to the next (fresh std::threads start cold every call).
#pragma omp parallel num_threads(threads)
  {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
        next = n;  // stop handing out work
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

std::vector<int32_t> encode_parallel(const Tokenizer& tokenizer, std::string_view text, int threads,
                                     bool allow_special) {
  threads = resolve_threads(threads);
  constexpr size_t kMinChunk = 64 << 10;  // enough chunks to balance 2 threads on 1 MB
  if (threads == 1 || text.size() < 2 * kMinChunk) return tokenizer.encode(text, allow_special);
  size_t target = std::max(kMinChunk, text.size() / (static_cast<size_t>(threads) * 8));
  auto points = split_points(tokenizer, text, target, allow_special);
  std::vector<std::vector<int32_t>> parts(points.size() - 1);
  parallel_for(parts.size(), threads, [&](size_t i) {
    parts[i] = tokenizer.encode(text.substr(points[i], points[i + 1] - points[i]), allow_special);
  });
  size_t total = 0;
  for (const auto& p : parts) total += p.size();
  std::vector<int32_t> out;
  out.reserve(total);
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace sllm
