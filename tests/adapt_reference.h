// Loads tests/reference/adapt_reference.json (written by tests/reference/adapt_reference.py).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sllm/io/file.h"
#include "test_util.h"

namespace sllm::test {

inline const nlohmann::json& adapt_reference() {
  static const nlohmann::json j =
      nlohmann::json::parse(read_file(source_dir() + "/tests/reference/adapt_reference.json"));
  return j;
}

inline std::vector<float> floats(const nlohmann::json& a) {
  return a.get<std::vector<float>>();
}

inline void expect_near_all(const std::vector<float>& got, const std::vector<float>& want,
                            float tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1.0f + std::abs(want[i]))) << what << "[" << i << "]";
}

}  // namespace sllm::test
