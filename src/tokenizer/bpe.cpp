#include "sllm/tokenizer/bpe.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <queue>

#include "flat_map.h"
#include "pretokenizer.h"
#include "sllm/common/error.h"
#include "utf8.h"

namespace sllm {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's space
std::atomic<uint64_t> next_cache_id{1};

bool parse_byte_token(std::string_view s, uint8_t* out) {  // "<0xAB>"
  if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return false;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  int hi = hex(s[3]), lo = hex(s[4]);
  if (hi < 0 || lo < 0) return false;
  *out = static_cast<uint8_t>(hi * 16 + lo);
  return true;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (size_t q; (q = s.find(from, pos)) != std::string_view::npos; pos = q + from.size()) {
    out.append(s.substr(pos, q - pos));
    out.append(to);
  }
  out.append(s.substr(pos));
  return out;
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02X}", c);
  }
  return out;
}

// Per-thread memo of piece -> ids: natural text repeats the same words over and over.
struct PieceCache {
  uint64_t owner = 0;
  struct Slot {
    uint64_t hash;
    uint32_t key_off, key_len, ids_off, ids_len;
  };
  static constexpr size_t kMinSlots = 1 << 14;
  // 4M slots (96 MB, grown only as needed) hold the ~1.5M distinct pieces of a 60 MB Korean
  // corpus at half load; a smaller table thrashed there (bench/tokenizer's Korean BPE training).
  static constexpr size_t kMaxSlots = 1 << 22;
  std::vector<Slot> slots;
  std::string keys;
  std::vector<int32_t> ids;
  size_t entries = 0, mask = 0;

  void reset(uint64_t id, size_t n_slots = kMinSlots) {
    owner = id;
    slots.assign(n_slots, Slot{0, 0, 0, 0, 0});
    mask = n_slots - 1;
    keys.clear();
    ids.clear();
    entries = 0;
  }
  const Slot* find(std::string_view piece, uint64_t h) const {
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots[i];
      if (s.key_len == 0) return nullptr;
      if (s.hash == h && s.key_len == piece.size() &&
          std::memcmp(keys.data() + s.key_off, piece.data(), piece.size()) == 0)
        return &s;
    }
  }
  void insert(std::string_view piece, uint64_t h, const int32_t* v, size_t n) {
    if ((entries + 1) * 2 > slots.size()) {
      if (slots.size() >= kMaxSlots || keys.size() > (256u << 20)) {
        reset(owner, slots.size());
      } else {
        std::vector<Slot> old;
        old.swap(slots);
        slots.assign(old.size() * 2, Slot{0, 0, 0, 0, 0});
        mask = slots.size() - 1;
        for (const Slot& s : old)
          if (s.key_len) place(s);
      }
    }
    place(Slot{h, static_cast<uint32_t>(keys.size()), static_cast<uint32_t>(piece.size()),
               static_cast<uint32_t>(ids.size()), static_cast<uint32_t>(n)});
    keys.append(piece);
    ids.insert(ids.end(), v, v + n);
    ++entries;
  }
  void place(const Slot& s) {
    size_t i = s.hash & mask;
    while (slots[i].key_len != 0) i = (i + 1) & mask;
    slots[i] = s;
  }
};

// Each thread keeps the caches of the last few tokenizers it used.
PieceCache& piece_cache(uint64_t owner) {
  thread_local PieceCache caches[4];
  thread_local uint64_t last_use[4] = {0, 0, 0, 0};
  thread_local uint64_t clock = 0;
  size_t victim = 0;
  for (size_t i = 0; i < 4; ++i) {
    if (caches[i].owner == owner) {
      last_use[i] = ++clock;
      return caches[i];
    }
    if (last_use[i] < last_use[victim]) victim = i;
  }
  caches[victim].reset(owner);
  last_use[victim] = ++clock;
  return caches[victim];
}

}  // namespace

struct BpeTokenizer::Tables {
  PairMap pairs;
  StringIdMap pieces;  // spec-form bytes -> id, for mergeable tokens
  int32_t byte_id[256];
  std::unique_ptr<Pretokenizer> pre;
  bool split_after_newline = false;  // see is_safe_split()

  // Pairs of ids below 256 (the single bytes of tiktoken and GPT-2 vocabularies) come from a
  // dense table that stays in cache; the first merges of every piece are among them.
  std::vector<PairMerge> dense;

  void build_dense() {
    dense.assign(256 * 256, PairMerge{INT_MAX, -1});
    for (int32_t a = 0; a < 256; ++a)
      for (int32_t b = 0; b < 256; ++b)
        if (const PairMerge* m = pairs.find(a, b)) dense[a * 256 + b] = *m;
  }

  int32_t rank(int32_t a, int32_t b, int32_t* result) const {
    if (static_cast<uint32_t>(a) < 256 && static_cast<uint32_t>(b) < 256) {
      const PairMerge& d = dense[a * 256 + b];
      *result = d.result;
      return d.rank;
    }
    const PairMerge* m = pairs.find(a, b);
    if (!m) return INT_MAX;
    *result = m->result;
    return m->rank;
  }

  // Merges syms[0..n) in place; returns the new length. Ties go to the leftmost pair.
  size_t merge(int32_t* s, size_t n) const {
    if (n < 2) return n;
    if (n > 48) return merge_long(s, n);
    int32_t rk[48], res[48];
    for (size_t i = 0; i + 1 < n; ++i) rk[i] = rank(s[i], s[i + 1], &res[i]);
    while (n > 1) {
      size_t best = 0;
      for (size_t i = 1; i + 1 < n; ++i)
        if (rk[i] < rk[best]) best = i;
      if (rk[best] == INT_MAX) break;
      s[best] = res[best];
      for (size_t i = best + 1; i + 1 < n; ++i) s[i] = s[i + 1];
      for (size_t i = best + 1; i + 2 < n; ++i) {
        rk[i] = rk[i + 1];
        res[i] = res[i + 1];
      }
      --n;
      if (best > 0) rk[best - 1] = rank(s[best - 1], s[best], &res[best - 1]);
      if (best + 1 < n) rk[best] = rank(s[best], s[best + 1], &res[best]);
    }
    return n;
  }

  // O(n log n) version for long pieces: a linked list and a heap with lazy invalidation.
  size_t merge_long(int32_t* s, size_t n) const {
    std::vector<int32_t> prev(n), next(n);
    for (size_t i = 0; i < n; ++i) {
      prev[i] = static_cast<int32_t>(i) - 1;
      next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
    }
    using Entry = std::pair<int32_t, int32_t>;  // (rank, left position)
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
    int32_t r;
    for (size_t i = 0; i + 1 < n; ++i) {
      int32_t k = rank(s[i], s[i + 1], &r);
      if (k != INT_MAX) heap.push({k, static_cast<int32_t>(i)});
    }
    std::vector<char> alive(n, 1);
    while (!heap.empty()) {
      auto [k, i] = heap.top();
      heap.pop();
      if (!alive[i] || next[i] < 0) continue;
      int32_t j = next[i];
      if (rank(s[i], s[j], &r) != k) continue;  // stale entry
      s[i] = r;
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) {
        int32_t kk = rank(s[prev[i]], s[i], &r);
        if (kk != INT_MAX) heap.push({kk, prev[i]});
      }
      if (next[i] >= 0) {
        int32_t kk = rank(s[i], s[next[i]], &r);
        if (kk != INT_MAX) heap.push({kk, i});
      }
    }
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) s[m++] = s[i];
    return m;
  }
};

BpeTokenizer::BpeTokenizer(BpeSpec spec) : spec_(std::move(spec)), t_(std::make_unique<Tables>()) {
  const std::string& nm = spec_.name;
  set_name(nm);
  const size_t n = spec_.tokens.size();
  if (n == 0) fail("bpe tokenizer '{}': empty vocabulary", nm);
  if (n > (1u << 30)) fail("bpe tokenizer '{}': vocabulary of {} tokens is too large", nm, n);
  if (spec_.types.empty()) spec_.types.assign(n, TokenType::Normal);
  if (spec_.types.size() != n)
    fail("bpe tokenizer '{}': {} token types for {} tokens", nm, spec_.types.size(), n);
  for (size_t i = 0; i < n; ++i) {
    auto ty = static_cast<uint8_t>(spec_.types[i]);
    if (ty < 1 || ty > 6) fail("bpe tokenizer '{}': token {} has unknown type {}", nm, i, ty);
  }
  for (auto& s : spec_.specials) {
    if (s.id < 0 || static_cast<size_t>(s.id) >= n)
      fail("bpe tokenizer '{}': special token '{}' has id {} outside the vocabulary (size {})", nm,
           s.text, s.id, n);
    if (spec_.tokens[s.id] != s.text)
      fail("bpe tokenizer '{}': special token '{}' does not match token {} '{}'", nm, s.text, s.id,
           printable(spec_.tokens[s.id]));
    if (spec_.types[s.id] == TokenType::Normal) spec_.types[s.id] = TokenType::Control;
  }
  if (spec_.unk_id >= static_cast<int32_t>(n) || spec_.unk_id < -1)
    fail("bpe tokenizer '{}': unk id {} is outside the vocabulary", nm, spec_.unk_id);

  // What token_bytes() returns.
  bytes_.resize(n);
  std::fill(std::begin(t_->byte_id), std::end(t_->byte_id), -1);
  for (size_t i = 0; i < n; ++i) {
    const std::string& tok = spec_.tokens[i];
    if (spec_.sentencepiece && spec_.types[i] == TokenType::Byte) {
      uint8_t b;
      if (!parse_byte_token(tok, &b))
        fail("bpe tokenizer '{}': byte token {} is '{}', expected <0xXX>", nm, i, printable(tok));
      bytes_[i] = std::string(1, static_cast<char>(b));
      if (t_->byte_id[b] < 0) t_->byte_id[b] = static_cast<int32_t>(i);
    } else if (spec_.sentencepiece && spec_.types[i] == TokenType::Normal) {
      bytes_[i] = replace_all(tok, kSpaceMark, " ");
    } else {
      bytes_[i] = tok;
    }
  }

  // Mergeable tokens by their spec-form bytes.
  auto mergeable = [&](size_t i) {
    TokenType ty = spec_.types[i];
    if (spec_.sentencepiece) return ty != TokenType::Byte && ty != TokenType::Unused;
    return ty == TokenType::Normal;
  };
  t_->pieces.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!mergeable(i)) continue;
    if (spec_.tokens[i].empty()) fail("bpe tokenizer '{}': token {} is empty", nm, i);
    int32_t prev = t_->pieces.insert(spec_.tokens[i], static_cast<int32_t>(i));
    if (prev >= 0)
      fail("bpe tokenizer '{}': duplicate token '{}' (ids {} and {})", nm,
           printable(spec_.tokens[i]), prev, i);
  }
  if (!spec_.sentencepiece) {
    for (int b = 0; b < 256; ++b) {
      t_->byte_id[b] = t_->pieces.find(std::string_view(reinterpret_cast<const char*>(&b), 1));
      if (t_->byte_id[b] < 0)
        fail("bpe tokenizer '{}': byte-level vocabulary has no token for byte 0x{:02X}", nm, b);
    }
  }

  // Merge priorities.
  t_->dense.assign(256 * 256, PairMerge{INT_MAX, -1});
  if (spec_.order == MergeOrder::Merges) {
    t_->pairs.reserve(spec_.merges.size());
    std::string cat;
    for (size_t r = 0; r < spec_.merges.size(); ++r) {
      auto [a, b] = spec_.merges[r];
      if (a < 0 || b < 0 || static_cast<size_t>(a) >= n || static_cast<size_t>(b) >= n)
        fail("bpe tokenizer '{}': merge {} ({} {}) refers to a token outside the vocabulary", nm, r,
             a, b);
      cat = spec_.tokens[a] + spec_.tokens[b];
      int32_t res = t_->pieces.find(cat);
      if (res < 0)
        fail("bpe tokenizer '{}': merge {} ('{}' '{}') makes '{}', which is not in the vocabulary",
             nm, r, printable(spec_.tokens[a]), printable(spec_.tokens[b]), printable(cat));
      if (!t_->pairs.insert(a, b, {static_cast<int32_t>(r), res}))
        fail("bpe tokenizer '{}': merge {} ('{}' '{}') is a duplicate", nm, r,
             printable(spec_.tokens[a]), printable(spec_.tokens[b]));
    }
  } else if (spec_.order == MergeOrder::Ranks) {
    // A token can only form from the two parts that merging its own bytes with the lower ranks
    // gives (inside a longer text no merge crosses its span before it forms), so one pair per
    // token suffices: the same table Hugging Face derives when it converts tiktoken files.
    t_->pairs.reserve(n);
    std::vector<int32_t> parts;
    for (size_t i = 0; i < n; ++i) {
      const std::string& tok = spec_.tokens[i];
      if (!mergeable(i) || tok.size() < 2) continue;
      parts.resize(tok.size());
      for (size_t k = 0; k < tok.size(); ++k) parts[k] = t_->byte_id[static_cast<uint8_t>(tok[k])];
      if (t_->merge(parts.data(), parts.size()) == 2) {
        PairMerge m{static_cast<int32_t>(i), static_cast<int32_t>(i)};
        t_->pairs.insert(parts[0], parts[1], m);
        if (static_cast<uint32_t>(parts[0]) < 256 && static_cast<uint32_t>(parts[1]) < 256)
          t_->dense[parts[0] * 256 + parts[1]] = m;  // merge() reads byte pairs from here
      }
    }
  } else {
    if (spec_.scores.size() != n)
      fail("bpe tokenizer '{}': {} scores for {} tokens", nm, spec_.scores.size(), n);
    std::vector<int32_t> rank(n, INT_MAX), order(n);
    for (size_t i = 0; i < n; ++i) order[i] = static_cast<int32_t>(i);
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t x, int32_t y) { return spec_.scores[x] > spec_.scores[y]; });
    for (size_t k = 0, r = 0; k < n; ++k) {
      if (k > 0 && spec_.scores[order[k]] != spec_.scores[order[k - 1]]) r = k;
      rank[order[k]] = static_cast<int32_t>(r);
    }
    // Equal scores share a rank, so any split of a token into two tokens may form it.
    t_->pairs.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
      if (!mergeable(i)) continue;
      std::string_view tok = spec_.tokens[i];
      for (size_t k = 1; k < tok.size(); ++k) {
        int32_t a = t_->pieces.find(tok.substr(0, k));
        if (a < 0) continue;
        int32_t b = t_->pieces.find(tok.substr(k));
        if (b >= 0) t_->pairs.insert(a, b, {rank[i], static_cast<int32_t>(i)});
      }
    }
  }

  t_->build_dense();
  if (!spec_.pattern.empty()) {
    t_->pre = std::make_unique<Pretokenizer>(spec_.pattern);
    for (const char* p : {"gpt2", "cl100k", "o200k"})
      if (spec_.pattern == builtin_pattern(p)) t_->split_after_newline = true;
  }
  cache_id_ = next_cache_id.fetch_add(1);
  set_special_tokens(spec_.specials);
}

BpeTokenizer::~BpeTokenizer() = default;

std::string_view BpeTokenizer::token_bytes(int32_t id) const {
  check_id(id);
  if (spec_.types[id] == TokenType::Unused)
    fail("token id {} is an unused id of tokenizer '{}'", id, name());
  return bytes_[id];
}

int32_t BpeTokenizer::token_id(std::string_view bytes) const {
  if (spec_.sentencepiece) return t_->pieces.find(replace_all(bytes, " ", kSpaceMark));
  return t_->pieces.find(bytes);
}

bool BpeTokenizer::is_safe_split(std::string_view text, size_t p) const {
  return t_->split_after_newline && builtin_pattern_safe_split(text, p);
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  if (spec_.sentencepiece) {
    encode_sentencepiece(text, out);
    return;
  }
  if (t_->pre)
    t_->pre->split(text, [&](std::string_view piece) { encode_piece(piece, out); });
  else
    encode_piece(text, out);
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  const size_t n = piece.size();
  if (n == 0) return;
  if (n == 1) {
    out.push_back(t_->byte_id[static_cast<uint8_t>(piece[0])]);
    return;
  }
  PieceCache& cache = piece_cache(cache_id_);
  const uint64_t h = hash_bytes(piece.data(), n);
  if (const auto* hit = cache.find(piece, h)) {
    out.insert(out.end(), cache.ids.begin() + hit->ids_off,
               cache.ids.begin() + hit->ids_off + hit->ids_len);
    return;
  }
  if (spec_.whole_piece_first) {
    int32_t id = t_->pieces.find(piece, h);
    if (id >= 0) {
      out.push_back(id);
      if (n <= 256) cache.insert(piece, h, &id, 1);
      return;
    }
  }
  int32_t small[64];
  std::vector<int32_t> big;
  int32_t* s = small;
  if (n > 64) {
    big.resize(n);
    s = big.data();
  }
  for (size_t i = 0; i < n; ++i) s[i] = t_->byte_id[static_cast<uint8_t>(piece[i])];
  size_t m = t_->merge(s, n);
  out.insert(out.end(), s, s + m);
  if (n <= 256) cache.insert(piece, h, s, m);
}

// A literal U+2581 in the text would decode as a space, so it is written as its three byte
// tokens (SentencePiece itself would lose it); everything else follows llama.cpp.
void BpeTokenizer::encode_sentencepiece(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  bool first = true;
  while (true) {
    size_t mark = text.find(kSpaceMark);
    encode_sentencepiece_run(text.substr(0, mark), first && spec_.add_space_prefix, out);
    first = false;
    if (mark == std::string_view::npos) return;
    for (char c : kSpaceMark) push_byte(static_cast<uint8_t>(c), out);
    text.remove_prefix(mark + kSpaceMark.size());
  }
}

void BpeTokenizer::push_byte(uint8_t b, std::vector<int32_t>& out) const {
  int32_t id = t_->byte_id[b];
  if (id < 0 && spec_.unk_id < 0)
    fail("tokenizer '{}' has no byte token for byte 0x{:02X} and no unknown token", name(), b);
  out.push_back(id >= 0 ? id : spec_.unk_id);
}

void BpeTokenizer::encode_sentencepiece_run(std::string_view text, bool space_prefix,
                                            std::vector<int32_t>& out) const {
  std::string buf;
  buf.reserve(text.size() + 8);
  if (space_prefix) buf += kSpaceMark;
  for (char c : text) {
    if (c == ' ')
      buf += kSpaceMark;
    else
      buf += c;
  }
  // Characters outside the vocabulary never merge, so the runs between them merge on their own.
  std::vector<int32_t> run;
  auto flush = [&] {
    size_t m = t_->merge(run.data(), run.size());
    out.insert(out.end(), run.begin(), run.begin() + m);
    run.clear();
  };
  const auto* p = reinterpret_cast<const uint8_t*>(buf.data());
  for (size_t i = 0; i < buf.size();) {
    uint32_t cp;
    size_t len = std::max(1, utf8::decode(p + i, buf.size() - i, &cp));  // invalid UTF-8: one byte
    int32_t id = t_->pieces.find(std::string_view(buf).substr(i, len));
    if (id >= 0) {
      run.push_back(id);
    } else {
      flush();
      for (size_t k = 0; k < len; ++k) push_byte(p[i + k], out);
    }
    i += len;
  }
  flush();
}

}  // namespace sllm
