#include <cstdio>
#include <nlohmann/json.hpp>

#include "infer_test_util.h"
#include "test_util.h"

namespace sllm {
namespace {

struct CliRun {
  int rc;
  std::string out;
};

CliRun run(const std::string& args) {
  const std::string cmd = test::sllm_binary() + " generate " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t k = fread(buf, 1, sizeof buf, p)) out.append(buf, k);
  const int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

TEST(CliGenerate, SameSeedSameTextJsonModeAndClearErrors) {
  test::TempDir dir;
  test::write_tiny_model(dir.path(), test::tiny_config(Arch::GPT2));
  const std::string m = "--threads 1 --model " + dir.path();
  CliRun a = run(m + " --prompt Hi --max-tokens 20 --temperature 0.8 --seed 1 --ignore-eos");
  CliRun b = run(m + " --prompt Hi --max-tokens 20 --temperature 0.8 --seed 1 --ignore-eos");
  EXPECT_EQ(a.rc, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out.rfind("Hi", 0), 0u);
  CliRun j = run(m + " --prompt Q --max-tokens 30 --json --seed 2 -q q8_0");
  ASSERT_EQ(j.rc, 0);
  ASSERT_EQ(j.out[0], 'Q');
  EXPECT_NO_THROW((void)nlohmann::json::parse(j.out.substr(1))) << j.out;
  EXPECT_EQ(run(m + " --prompt '' --max-tokens 3").rc, 1);  // No tokens and no BOS to start from.
  EXPECT_EQ(run(m + " --prompt Hi --top-p 0").rc, 1);
  EXPECT_EQ(run("--model " + dir.file("missing") + " --prompt Hi").rc, 1);
  std::string long_prompt(100, 'a');
  EXPECT_EQ(run(m + " --prompt " + long_prompt).rc, 1);  // Longer than the context of 64.
}

}  // namespace
}  // namespace sllm
