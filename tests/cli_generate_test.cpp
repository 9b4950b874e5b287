#include <nlohmann/json.hpp>

#include "infer_test_util.h"
#include "test_arch.h"
#include "test_util.h"

namespace sllm {
namespace {

test::CliRun run(const std::string& args) {
  return test::run_sllm("generate " + args, /*with_stderr=*/false);
}

TEST(CliGenerate, SameSeedSameTextJsonModeAndClearErrors) {
  test::TempDir dir;
  test::write_tiny_model(dir.path(), test::tiny_config(Arch::GPT2));
  const std::string m = "--threads 1 --model " + dir.path();
  test::CliRun a = run(m + " --prompt Hi --max-tokens 20 --temperature 0.8 --seed 1 --ignore-eos");
  test::CliRun b = run(m + " --prompt Hi --max-tokens 20 --temperature 0.8 --seed 1 --ignore-eos");
  EXPECT_EQ(a.rc, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out.rfind("Hi", 0), 0u);
  test::CliRun j = run(m + " --prompt Q --max-tokens 30 --json --seed 2 -q q8_0");
  ASSERT_EQ(j.rc, 0);
  ASSERT_EQ(j.out[0], 'Q');
  EXPECT_TRUE(nlohmann::json::accept(j.out.substr(1))) << j.out;
  EXPECT_EQ(run(m + " --prompt '' --max-tokens 3").rc, 1);  // No tokens and no BOS to start from.
  EXPECT_EQ(run(m + " --prompt Hi --top-p 0").rc, 1);
  EXPECT_EQ(run("--model " + dir.file("missing") + " --prompt Hi").rc, 1);
  std::string long_prompt(100, 'a');
  EXPECT_EQ(run(m + " --prompt " + long_prompt).rc, 1);  // Longer than the context of 64.
}

// Issue 27: `--model model.safetensors` (a bare file name) looked for /config.json.
TEST(CliGenerate, ABareSafetensorsNameIsInTheCurrentFolder) {
  test::TempDir dir;
  test::write_tiny_model(dir.path(), test::tiny_config(Arch::GPT2));
  const std::string cmd = "cd '" + dir.path() + "' && " + test::sllm_binary() +
                          " generate --threads 1 --model model.safetensors --prompt Hi "
                          "--max-tokens 3 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t k = fread(buf, 1, sizeof buf, p)) out.append(buf, k);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_EQ(out.rfind("Hi", 0), 0u) << out;
}

}  // namespace
}  // namespace sllm
