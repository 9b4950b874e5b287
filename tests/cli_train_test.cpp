// `sllm train`'s initialisation flags, through the binary: the width-scaled default and
// nanoGPT's --init-std 0.02 land in config.json, a bad value is refused before any work, and
// --resume cannot change it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "sllm/io/file.h"
#include "sllm/model/config.h"
#include "test_util.h"

namespace sllm {
namespace {

test::CliRun run_train(const std::string& args) {
  return test::run_sllm("train " + args);
}

float saved_init_std(const std::string& run_dir) {
  const auto j = nlohmann::json::parse(read_file(run_dir + "/config.json"));
  return ModelConfig::from_json(j).initializer_range;
}

TEST(CliTrain, InitStdDefaultsToTheWidthScaledValueAndIsRecorded) {
  test::TempDir dir;
  std::string text;
  for (int i = 0; i < 400; ++i) text += "To be, or not to be, that is the question. ";
  write_file_atomic(dir.file("corpus.txt"), text);
  const std::string base = "--arch gpt2 --tokenizer char --data " + dir.file("corpus.txt") +
                           " --n-layer 1 --n-head 2 --block-size 16 --batch-size 2 --threads 1 "
                           "--eval-iters 1 --sample-tokens 0 --quiet ";
  test::CliRun def = run_train(base + "--n-embd 32 --max-iters 0 --out " + dir.file("default"));
  ASSERT_EQ(def.rc, 0) << def.out;
  EXPECT_EQ(saved_init_std(dir.file("default")), width_scaled_init_std(32));

  test::CliRun nano =
      run_train(base + "--n-embd 32 --max-iters 2 --init-std 0.02 --out " + dir.file("nanogpt"));
  ASSERT_EQ(nano.rc, 0) << nano.out;
  EXPECT_EQ(saved_init_std(dir.file("nanogpt")), 0.02f);

  for (const char* bad : {"0", "-0.1", "2", "wide"}) {
    test::CliRun r = run_train(base + "--init-std " + bad + " --out " + dir.file("bad"));
    EXPECT_NE(r.rc, 0) << bad;
    EXPECT_NE(r.out.find("--init-std"), std::string::npos) << r.out;
  }
  test::CliRun resumed =
      run_train("--resume --init-std 0.05 --max-iters 4 --out " + dir.file("nanogpt"));
  EXPECT_NE(resumed.rc, 0);
  EXPECT_NE(resumed.out.find("--init-std cannot change on --resume"), std::string::npos)
      << resumed.out;
}

}  // namespace
}  // namespace sllm
