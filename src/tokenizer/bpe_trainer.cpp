#include "sllm/tokenizer/bpe_trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <queue>
#include <thread>

#include "chunking.h"
#include "flat_map.h"
#include "pretokenizer.h"
#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/tokenizer/token_file.h"

namespace sllm {

namespace {

// Counts of distinct pieces, keyed by views into the training text (which outlives the map).
class PieceCounts {
 public:
  PieceCounts() { rehash(1 << 16); }
  void add(std::string_view s, int64_t n) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    uint64_t h = hash_bytes(s.data(), s.size());
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& sl = slots_[i];
      if (sl.count == 0) {
        sl = Slot{h, s.data(), static_cast<uint32_t>(s.size()), n};
        ++size_;
        return;
      }
      if (sl.hash == h && sl.len == s.size() && std::memcmp(sl.p, s.data(), s.size()) == 0) {
        sl.count += n;
        return;
      }
    }
  }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const auto& sl : slots_)
      if (sl.count) fn(std::string_view(sl.p, sl.len), sl.count);
  }
  size_t size() const { return size_; }
  void release() {
    std::vector<Slot>().swap(slots_);
    size_ = 0;
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    const char* p = nullptr;
    uint32_t len = 0;
    int64_t count = 0;
  };
  void rehash(size_t cap) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    size_ = 0;
    for (const auto& sl : old)
      if (sl.count) add(std::string_view(sl.p, sl.len), sl.count);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

// Pair (left, right) -> dense pair index, growable.
class PairIndex {
 public:
  PairIndex() { rehash(1 << 16); }
  // Returns the index, adding the pair with index `next` if absent.
  int32_t get_or_add(uint64_t key, int32_t next, bool* added) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].idx < 0) {
        slots_[i] = {key, next};
        ++size_;
        *added = true;
        return next;
      }
      if (slots_[i].key == key) {
        *added = false;
        return slots_[i].idx;
      }
    }
  }

 private:
  struct Slot {
    uint64_t key = 0;
    int32_t idx = -1;
  };
  void rehash(size_t cap) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    size_ = 0;
    bool added;
    for (const auto& s : old)
      if (s.idx >= 0) get_or_add(s.key, s.idx, &added);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
}

// Splits texts at special tokens and then into pieces of about 1 MB that pre-tokenize
// independently (only for the built-in patterns; other patterns keep whole segments).
std::vector<std::string_view> work_chunks(std::span<const std::string_view> texts,
                                          const std::vector<std::string>& specials,
                                          bool splittable) {
  std::vector<std::string_view> segments;
  for (std::string_view text : texts) {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t best = std::string_view::npos, len = 0;
      for (const auto& s : specials) {
        size_t q = text.find(s, pos);
        if (q < best || (q == best && s.size() > len)) {
          best = q;
          len = s.size();
        }
      }
      size_t end = std::min(best, text.size());
      if (end > pos) segments.push_back(text.substr(pos, end - pos));
      if (best == std::string_view::npos) break;
      pos = best + len;
    }
  }
  std::vector<std::string_view> chunks;
  constexpr size_t kTarget = 1 << 20;
  for (std::string_view seg : segments) {
    size_t start = 0, p = kTarget;
    while (splittable && p < seg.size()) {
      while (p < seg.size() && !builtin_pattern_safe_split(seg, p)) ++p;
      if (p >= seg.size()) break;
      chunks.push_back(seg.substr(start, p - start));
      start = p;
      p += kTarget;
    }
    chunks.push_back(seg.substr(start));
  }
  return chunks;
}

class Trainer {
 public:
  Trainer(const BpeTrainOptions& o) : opt_(o) {}

  std::unique_ptr<BpeTokenizer> run(std::span<const std::string_view> texts, BpeTrainStats* stats) {
    std::string pattern = builtin_pattern(opt_.pattern);
    bool builtin = !pattern.empty();
    if (!builtin) pattern = opt_.pattern;
    const int32_t n_specials = static_cast<int32_t>(opt_.specials.size());
    const int32_t wanted = opt_.vocab_size - 256 - n_specials;
    if (wanted < 0)
      fail("bpe training: vocab size {} is smaller than 256 bytes + {} special tokens",
           opt_.vocab_size, n_specials);
    for (size_t i = 0; i < opt_.specials.size(); ++i) {
      if (opt_.specials[i].empty()) fail("bpe training: empty special token");
      for (size_t j = 0; j < i; ++j)
        if (opt_.specials[i] == opt_.specials[j])
          fail("bpe training: special token '{}' given twice", opt_.specials[i]);
    }
    Pretokenizer pre(pattern);
    auto t0 = std::chrono::steady_clock::now();
    count_pieces(texts, pre, builtin);
    auto t1 = std::chrono::steady_clock::now();
    init_pairs();
    merge_loop(wanted);
    auto t2 = std::chrono::steady_clock::now();
    if (stats) {
      stats->bytes = 0;
      for (auto t : texts) stats->bytes += t.size();
      stats->pretokens = total_pieces_;
      stats->unique_pretokens = word_count_.size();
      stats->merges = static_cast<int32_t>(merges_.size());
      stats->count_seconds = std::chrono::duration<double>(t1 - t0).count();
      stats->merge_seconds = std::chrono::duration<double>(t2 - t1).count();
    }
    BpeSpec spec;
    spec.name = opt_.name;
    spec.pattern = pattern;
    spec.order = MergeOrder::Merges;
    spec.tokens = std::move(tok_);
    spec.merges = std::move(merges_);
    for (const auto& s : opt_.specials) {
      spec.specials.push_back({s, static_cast<int32_t>(spec.tokens.size())});
      spec.tokens.push_back(s);
    }
    spec.types.assign(spec.tokens.size(), TokenType::Normal);
    for (const auto& s : spec.specials) spec.types[s.id] = TokenType::Control;
    return std::make_unique<BpeTokenizer>(std::move(spec));
  }

 private:
  void count_pieces(std::span<const std::string_view> texts, const Pretokenizer& pre,
                    bool splittable) {
    auto chunks = work_chunks(texts, opt_.specials, splittable);
    int threads = std::min<int>(resolve_threads(opt_.threads),
                                static_cast<int>(std::max<size_t>(chunks.size(), 1)));
    std::vector<PieceCounts> local(threads);
    std::vector<size_t> pieces(threads, 0);
    std::atomic<size_t> next{0};
    auto worker = [&](int t) {
      for (size_t i; (i = next.fetch_add(1)) < chunks.size();)
        pre.split(chunks[i], [&](std::string_view piece) {
          local[t].add(piece, 1);
          ++pieces[t];
        });
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(worker, t);
    worker(0);
    for (auto& th : pool) th.join();
    for (int t = 1; t < threads; ++t) {
      local[t].for_each([&](std::string_view s, int64_t n) { local[0].add(s, n); });
      local[t].release();
    }
    for (size_t p : pieces) total_pieces_ += p;
    size_t total_bytes = 0;
    local[0].for_each([&](std::string_view s, int64_t) { total_bytes += s.size(); });
    syms_.reserve(total_bytes);
    local[0].for_each([&](std::string_view s, int64_t n) {
      word_start_.push_back(syms_.size());
      word_len_.push_back(static_cast<uint32_t>(s.size()));
      word_count_.push_back(n);
      for (unsigned char c : s) syms_.push_back(c);
    });
    tok_.resize(256);
    for (int b = 0; b < 256; ++b) tok_[b] = std::string(1, static_cast<char>(b));
  }

  int32_t pair_of(int32_t a, int32_t b) {
    bool added;
    int32_t idx =
        index_.get_or_add(pair_key(a, b), static_cast<int32_t>(pair_count_.size()), &added);
    if (added) {
      pair_count_.push_back(0);
      pair_left_.push_back(a);
      pair_right_.push_back(b);
      where_.emplace_back();
      stamp_.push_back(-1);
    }
    return idx;
  }

  void init_pairs() {
    for (size_t w = 0; w < word_count_.size(); ++w) {
      const int32_t* s = &syms_[word_start_[w]];
      for (uint32_t i = 0; i + 1 < word_len_[w]; ++i) {
        int32_t p = pair_of(s[i], s[i + 1]);
        pair_count_[p] += word_count_[w];
        if (where_[p].empty() || where_[p].back() != static_cast<int32_t>(w))
          where_[p].push_back(static_cast<int32_t>(w));
      }
    }
    for (size_t p = 0; p < pair_count_.size(); ++p)
      heap_.push({pair_count_[p], static_cast<int32_t>(p)});
  }

  // Heap order: higher count first, then the lexicographically greater (left, right) bytes.
  struct Entry {
    int64_t count;
    int32_t pair;
  };
  struct Less {
    const Trainer* t;
    bool operator()(const Entry& x, const Entry& y) const {
      if (x.count != y.count) return x.count < y.count;
      int c = t->tok_[t->pair_left_[x.pair]].compare(t->tok_[t->pair_left_[y.pair]]);
      if (c != 0) return c < 0;
      return t->tok_[t->pair_right_[x.pair]] < t->tok_[t->pair_right_[y.pair]];
    }
  };

  void change(int32_t a, int32_t b, int64_t delta, int32_t word) {
    int32_t p = pair_of(a, b);
    pair_count_[p] += delta;
    if (delta > 0) {
      if (where_[p].empty() || where_[p].back() != word) where_[p].push_back(word);
      if (stamp_[p] != step_) {
        stamp_[p] = step_;
        dirty_.push_back(p);
      }
    }
  }

  void merge_loop(int32_t wanted) {
    std::vector<int32_t> word_stamp(word_count_.size(), -1);
    while (static_cast<int32_t>(merges_.size()) < wanted && !heap_.empty()) {
      Entry top = heap_.top();
      heap_.pop();
      int64_t actual = pair_count_[top.pair];
      if (top.count != actual) {
        if (top.count > actual && actual > 0) heap_.push({actual, top.pair});
        continue;
      }
      if (actual < opt_.min_frequency || actual <= 0) break;
      const int32_t a = pair_left_[top.pair], b = pair_right_[top.pair];
      const int32_t c = static_cast<int32_t>(tok_.size());
      tok_.push_back(tok_[a] + tok_[b]);
      merges_.push_back({a, b});
      step_ = static_cast<int32_t>(merges_.size());
      dirty_.clear();
      std::vector<int32_t> words;
      words.swap(where_[top.pair]);
      for (int32_t w : words) {
        if (word_stamp[w] == step_) continue;
        word_stamp[w] = step_;
        int32_t* s = &syms_[word_start_[w]];
        uint32_t n = word_len_[w];
        const int64_t f = word_count_[w];
        for (uint32_t i = 0; i + 1 < n;) {
          if (s[i] != a || s[i + 1] != b) {
            ++i;
            continue;
          }
          if (i > 0) {
            change(s[i - 1], a, -f, w);
            change(s[i - 1], c, f, w);
          }
          if (i + 2 < n) {
            change(b, s[i + 2], -f, w);
            change(c, s[i + 2], f, w);
          }
          s[i] = c;
          std::copy(s + i + 2, s + n, s + i + 1);
          --n;
          ++i;
        }
        word_len_[w] = n;
      }
      pair_count_[top.pair] = 0;
      for (int32_t p : dirty_)
        if (pair_count_[p] > 0) heap_.push({pair_count_[p], p});
      if (opt_.progress && merges_.size() % 1000 == 0)
        opt_.progress(static_cast<int32_t>(merges_.size()), wanted);
    }
    if (opt_.progress) opt_.progress(static_cast<int32_t>(merges_.size()), wanted);
  }

  const BpeTrainOptions& opt_;
  size_t total_pieces_ = 0;
  std::vector<int32_t> syms_;
  std::vector<size_t> word_start_;
  std::vector<uint32_t> word_len_;
  std::vector<int64_t> word_count_;
  std::vector<std::string> tok_;
  std::vector<std::pair<int32_t, int32_t>> merges_;
  PairIndex index_;
  std::vector<int64_t> pair_count_;
  std::vector<int32_t> pair_left_, pair_right_, stamp_;
  std::vector<std::vector<int32_t>> where_;
  std::vector<int32_t> dirty_;
  int32_t step_ = 0;
  std::priority_queue<Entry, std::vector<Entry>, Less> heap_{Less{this}};
};

}  // namespace

std::unique_ptr<BpeTokenizer> train_bpe(std::span<const std::string_view> texts,
                                        const BpeTrainOptions& options, BpeTrainStats* stats) {
  Trainer t(options);
  return t.run(texts, stats);
}

std::unique_ptr<BpeTokenizer> train_bpe_on_files(const std::string& input,
                                                 const BpeTrainOptions& options,
                                                 BpeTrainStats* stats) {
  std::vector<MappedFile> maps;
  std::vector<std::string_view> texts;
  for (const auto& f : list_text_files(input)) {
    maps.emplace_back(f);
    texts.emplace_back(reinterpret_cast<const char*>(maps.back().data()), maps.back().size());
  }
  return train_bpe(texts, options, stats);
}

}  // namespace sllm
