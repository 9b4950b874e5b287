// Splitting text into pieces that encode independently, for multi-threaded encoding.
#pragma once
#include <atomic>
#include <cstddef>
#include <functional>
#include <string_view>
#include <thread>
#include <vector>

#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

// Boundaries [0, b1, ..., text.size()] of pieces of about `target` bytes, each boundary a
// place where Tokenizer::is_safe_split() holds and no special token straddles.
std::vector<size_t> split_points(const Tokenizer& t, std::string_view text, size_t target,
                                 bool allow_special);

int resolve_threads(int threads);

// Runs fn(i) for i in [0, n) on up to `threads` threads (the caller and persistent workers),
// items handed out in order. Rethrows the first exception once every thread has stopped.
void parallel_for(size_t n, int threads, const std::function<void(size_t)>& fn);

}  // namespace sllm
