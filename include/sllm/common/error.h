// The one exception type sllm throws for bad input and failed I/O. Messages name the
// file, field or value at fault so a user can act on them without a debugger.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace sllm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace sllm
