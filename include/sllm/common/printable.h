// Strings that come from files (GGUF keys, tensor names, ...) quoted in messages: control
// bytes are shown as \xNN, so a file cannot send escape sequences to the terminal (clear the
// screen, recolour it) or cut a message short with a NUL.
#pragma once
#include <fmt/format.h>

#include <string>
#include <string_view>

namespace sllm {

inline std::string printable(std::string_view s, bool keep_newlines = false) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c < 0x20 && !(keep_newlines && c == '\n')) || c == 0x7F)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

}  // namespace sllm
