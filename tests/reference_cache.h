// The output folder of a PyTorch reference script (tests/reference/*.py), generated once per
// script version: ctest runs each test in its own process, so the folder is cached in the
// working directory under a name derived from the script's contents, and a concurrent generator
// loses the rename race harmlessly.
#pragma once
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace sllm::test {

// Runs `/usr/bin/python3 SCRIPT OUT` into a fresh folder named PREFIX-<hash of the script> and
// returns its absolute path (the existing one when the script has not changed). oneDNN's ISA
// caps are unset, so the reference does not depend on which test generated the cache first.
inline std::string cached_reference_output(const std::string& script, const std::string& prefix) {
  std::ifstream in(script, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + script);
  std::stringstream text;
  text << in.rdbuf();
  const std::string cached =
      std::filesystem::absolute(prefix + "-" + std::to_string(std::hash<std::string>{}(text.str())))
          .string();
  if (std::filesystem::exists(cached)) return cached;
  std::string tmp = cached + ".tmp-XXXXXX";
  if (!mkdtemp(tmp.data())) throw std::runtime_error("mkdtemp failed for " + tmp);
  const std::string cmd = "env -u DNNL_MAX_CPU_ISA -u ONEDNN_MAX_CPU_ISA /usr/bin/python3 " +
                          script + " " + tmp + " > /dev/null";
  std::error_code ec;
  if (std::system(cmd.c_str()) != 0) {
    std::filesystem::remove_all(tmp, ec);
    throw std::runtime_error("reference script failed: " + cmd);
  }
  std::filesystem::rename(tmp, cached, ec);
  if (ec) std::filesystem::remove_all(tmp, ec);
  return cached;
}

}  // namespace sllm::test
