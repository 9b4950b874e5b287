// Shared helpers for the GoogleTest suite.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include "sllm/common/error.h"

namespace sllm::test {

// A fresh temporary folder, removed when the object goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sllm-test-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The message of the sllm::Error that fn throws, or "" when it throws none: bad-input tests
// check that the message names the fault.
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ::sllm::Error& e) {
    return e.what();
  }
  return "";
}

inline std::string source_dir() {
  return SLLM_SOURCE_DIR;
}
inline std::string shared_data() {
  return SLLM_SHARED_DATA;
}
inline std::string sllm_binary() {
  return SLLM_BINARY;
}

struct CliRun {
  int rc;           // exit status
  std::string out;  // stdout, and stderr unless dropped
};

// Runs `sllm ARGS` through the shell (ARGS may quote) and collects what it prints.
inline CliRun run_sllm(const std::string& args, bool with_stderr = true) {
  const std::string cmd = sllm_binary() + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  std::string out;
  char buf[4096];
  while (size_t k = fread(buf, 1, sizeof buf, p)) out.append(buf, k);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

// Skips the calling test with a clear message when ../shared/data is absent.
#define SLLM_REQUIRE_SHARED(relpath)                                                    \
  do {                                                                                  \
    if (!std::filesystem::exists(::sllm::test::shared_data() + "/" + (relpath)))        \
      GTEST_SKIP() << "shared data " << (relpath) << " not found under ../shared/data"; \
  } while (0)

}  // namespace sllm::test
