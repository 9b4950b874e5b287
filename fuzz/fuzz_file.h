// Helper for loaders that take a path: writes the fuzz input to a per-process temp file.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace sllm::fuzz {

inline std::string write_input(const uint8_t* data, size_t size, const char* suffix) {
  const std::string path = "/tmp/sllm-fuzz-" + std::to_string(getpid()) + suffix;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return path;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

}  // namespace sllm::fuzz
