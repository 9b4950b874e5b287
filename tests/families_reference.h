// The output folder of tests/reference/families.py (tiny HF checkpoints per family, their
// logits, loss and gradients), generated once per script version into the working directory;
// empty when /usr/bin/python3 is missing. Shared by the inference, training, export and
// fine-tuning family tests.
#pragma once
#include <filesystem>
#include <string>

#include "reference_cache.h"
#include "test_util.h"

namespace sllm::test {

inline std::string families_dir() {
  static std::string dir;
  if (!dir.empty()) return dir;
  if (!std::filesystem::exists("/usr/bin/python3")) return "";
  dir = cached_reference_output(source_dir() + "/tests/reference/families.py", "families_ref");
  return dir;
}

}  // namespace sllm::test
