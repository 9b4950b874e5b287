// UTF-8 helpers shared by the tokenizers (strict decoding: no overlong forms, no surrogates).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sllm::utf8 {

// Length of the sequence a lead byte announces (1..4), or 0 for a continuation/invalid byte.
inline int sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xC2) return 0;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF5) return 4;
  return 0;
}

// Decodes one character at p (n bytes available). Returns its length, or 0 when the bytes
// there are not a valid UTF-8 character.
inline int decode(const uint8_t* p, size_t n, uint32_t* cp) {
  int len = sequence_length(p[0]);
  if (len == 0 || static_cast<size_t>(len) > n) return 0;
  if (len == 1) {
    *cp = p[0];
    return 1;
  }
  uint32_t c = p[0] & (0x7F >> len);
  for (int i = 1; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    c = (c << 6) | (p[i] & 0x3F);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  *cp = c;
  return len;
}

inline void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

inline std::string encode(uint32_t cp) {
  std::string s;
  append(s, cp);
  return s;
}

}  // namespace sllm::utf8
