// Open-addressing hash tables for the BPE hot paths: (left, right) pair -> merge, and
// byte string -> token id. Linear probing over a power-of-two table, built once, read-only after.
#pragma once
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace sllm {

inline uint64_t mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

inline uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xbf58476d1ce4e5b9ULL);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0x94d049bb133111ebULL;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x94d049bb133111ebULL;
  }
  return mix64(h);
}

inline size_t table_capacity(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  return cap;
}

struct PairMerge {
  int32_t rank;
  int32_t result;
};

class PairMap {
 public:
  void reserve(size_t n) {
    slots_.assign(table_capacity(n), Slot{kEmpty, {0, 0}});
    mask_ = slots_.size() - 1;
    size_ = 0;
  }
  // False (and no change) when the pair is already present.
  bool insert(int32_t a, int32_t b, PairMerge v) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    uint64_t key = make_key(a, b);
    for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return false;
      if (slots_[i].key == kEmpty) {
        slots_[i] = Slot{key, v};
        ++size_;
        return true;
      }
    }
  }
  const PairMerge* find(int32_t a, int32_t b) const {
    if (a < 0 || b < 0 || slots_.empty()) return nullptr;
    uint64_t key = make_key(a, b);
    for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return &slots_[i].v;
      if (slots_[i].key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~0ULL;
  struct Slot {
    uint64_t key;
    PairMerge v;
  };
  static uint64_t make_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    reserve(old.empty() ? 8 : old.size());
    for (const auto& s : old)
      if (s.key != kEmpty)
        insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFF), s.v);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

// Maps byte strings (owned elsewhere, must outlive the map) to ids.
class StringIdMap {
 public:
  void reserve(size_t n) {
    slots_.assign(table_capacity(n), Slot{});
    mask_ = slots_.size() - 1;
  }
  // Returns the id already stored for s, or -1 after inserting it.
  int32_t insert(std::string_view s, int32_t id) {
    uint64_t h = hash_bytes(s.data(), s.size());
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& sl = slots_[i];
      if (sl.id < 0) {
        sl = Slot{h, s.data(), static_cast<uint32_t>(s.size()), id};
        return -1;
      }
      if (sl.hash == h && sl.len == s.size() && std::memcmp(sl.p, s.data(), s.size()) == 0)
        return sl.id;
    }
  }
  int32_t find(std::string_view s) const { return find(s, hash_bytes(s.data(), s.size())); }
  // With h == hash_bytes(s): lets callers hash a string once for several tables.
  int32_t find(std::string_view s, uint64_t h) const {
    if (slots_.empty()) return -1;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& sl = slots_[i];
      if (sl.id < 0) return -1;
      if (sl.hash == h && sl.len == s.size() && std::memcmp(sl.p, s.data(), s.size()) == 0)
        return sl.id;
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    const char* p = nullptr;
    uint32_t len = 0;
    int32_t id = -1;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace sllm
