// Regex pre-tokenization (PCRE2 with JIT): splits text into the pieces BPE merges within.
// Bytes no alternative matches (invalid UTF-8) become pieces of their own, so every byte of the
// input lands in exactly one piece and byte-level BPE round-trips any byte string.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "sllm/tokenizer/pre_names.h"

namespace sllm {

// True when, under the GPT-2, cl100k and o200k patterns, no piece spans position p: p follows a
// newline that ends a line whose last character is not a space and starts a line beginning
// with a letter or digit (ASCII or Hangul). Both halves then see the same matches, so they can
// be pre-tokenized (and encoded) separately.
bool builtin_pattern_safe_split(std::string_view text, size_t p);

class Pretokenizer {
 public:
  // Throws sllm::Error with PCRE2's message and offset when the pattern does not compile.
  explicit Pretokenizer(const std::string& pattern);
  ~Pretokenizer();
  Pretokenizer(const Pretokenizer&) = delete;
  Pretokenizer& operator=(const Pretokenizer&) = delete;

  const std::string& pattern() const { return pattern_; }

  // Calls fn(piece) for every piece of text, in order. Thread-safe.
  template <typename Fn>
  void split(std::string_view text, Fn&& fn) const {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t start, end;
      if (!next_match(text, pos, &start, &end)) {
        fn(text.substr(pos));
        return;
      }
      if (start > pos) fn(text.substr(pos, start - pos));
      fn(text.substr(start, end - start));
      pos = end;
    }
  }

  // Finds the next non-empty match at or after pos. False when there is none.
  bool next_match(std::string_view text, size_t pos, size_t* start, size_t* end) const;

 private:
  struct Impl;
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sllm
