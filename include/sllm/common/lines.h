// Line-by-line reading of JSONL and other line formats: fn(line, number) for every line of
// `text` that is not blank (numbers from 1, so errors can name FILE:LINE; a trailing '\r' is
// dropped).
#pragma once
#include <string_view>

namespace sllm {

template <class F>
void for_each_line(std::string_view text, F&& fn) {
  int number = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    fn(line, number);
  }
}

}  // namespace sllm
