// `sllm finetune` (full and LoRA) and `sllm distill` --resume, through the built CLI: a run
// killed with SIGKILL at a seeded random point of its checkpoint writes, then resumed, logs the
// same losses in metrics.jsonl as an uninterrupted run, bit for bit.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "adapt_test_util.h"
#include "sllm/io/file.h"
#include "sllm/train/checkpoint.h"

using namespace sllm;

namespace {

struct Run {
  int exit_code = -1;
  bool killed = false;
  std::string output;
};

Run run_cli(const std::string& args, const std::string& env = "") {
  test::TempDir tmp;
  const std::string cmd =
      env + " exec " + test::sllm_binary() + " " + args + " > " + tmp.file("out") + " 2>&1";
  const int st = std::system(cmd.c_str());
  Run r;
  r.killed = (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
             (WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.output = file_exists(tmp.file("out")) ? read_file(tmp.file("out")) : "";
  return r;
}

// (step, loss, val loss, preference rewards) of every record, as the JSON numbers were written.
std::vector<std::string> losses_of(const std::string& out) {
  std::vector<std::string> v;
  std::ifstream in(out + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    std::string s = j["step"].dump() + " " + (j.contains("loss") ? j["loss"].dump() : "-") + " " +
                    (j.contains("val_loss") ? j["val_loss"].dump() : "-");
    for (const auto& [k, x] : j.items())
      if (k.find("rewards/") != std::string::npos) s += " " + k + "=" + x.dump();
    v.push_back(s);
  }
  return v;
}

// 10 steps, a checkpoint every 2: each checkpoint writes 6 files into its step folder and
// publishes 6, so crash points 13..59 fall inside checkpoints 2 to 5, after steps the resumed
// run must redo.
void expect_kill_and_resume(const std::string& args, const std::string& out_dir, uint64_t seed) {
  const std::string common = args + " --max-iters 10 --eval-interval 2 --threads 1";
  const Run full = run_cli(common + " --out " + out_dir + "/full");
  ASSERT_EQ(full.exit_code, 0) << full.output;
  const auto want = losses_of(out_dir + "/full");
  ASSERT_EQ(want.size(), 11u);

  std::mt19937_64 rng(seed);
  const int k = 13 + static_cast<int>(rng() % 47);
  const std::string out = out_dir + "/killed";
  const Run killed =
      run_cli(common + " --out " + out, "SLLM_CRASH_AFTER_CHECKPOINT_WRITES=" + std::to_string(k));
  ASSERT_TRUE(killed.killed) << "k=" << k << ": " << killed.output;
  const int at = Checkpoint(out).step();
  EXPECT_GE(at, 2) << "k=" << k;
  EXPECT_LT(at, 10) << "k=" << k;

  const Run resumed = run_cli(common + " --out " + out + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(losses_of(out), want) << "killed at checkpoint write " << k << ", resumed at " << at;

  // A resume with other settings is refused, naming the setting.
  const Run other = run_cli(common + " --warmup-iters 3 --out " + out + " --resume");
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.output.find("'warmup_iters'"), std::string::npos) << other.output;

  // More steps continue the finished run on the schedule it started with.
  const Run more =
      run_cli(args + " --max-iters 12 --eval-interval 2 --threads 1 --out " + out + " --resume");
  ASSERT_EQ(more.exit_code, 0) << more.output;
  const auto longer = losses_of(out);
  ASSERT_EQ(longer.size(), 13u);
  EXPECT_EQ(std::vector<std::string>(longer.begin(), longer.begin() + 10),
            std::vector<std::string>(want.begin(), want.begin() + 10));
}

struct Fixture {
  test::TempDir dir;
  std::string base, data;
  Fixture() {
    base = test::make_adapt_model(dir, "base", 1, 16, Arch::Llama, 3);
    data = dir.file("data.txt");
    write_file_atomic(data, test::adapt_corpus(12));
  }
};

}  // namespace

TEST(AdaptResume, FullFinetuneKilledAndResumedIsBitExact) {
  Fixture f;
  expect_kill_and_resume(
      "finetune --base " + f.base + " --data " + f.data + " --batch-size 4 --lr 3e-3 --eval-rows 8",
      f.dir.file("full_ft"), 1);
}

TEST(AdaptResume, LoraFinetuneKilledAndResumedIsBitExact) {
  Fixture f;
  expect_kill_and_resume("finetune --base " + f.base + " --data " + f.data +
                             " --lora-r 2 --batch-size 4 --lr 3e-2 --eval-rows 8",
                         f.dir.file("lora_ft"), 2);
}

TEST(AdaptResume, LoraDpoKilledAndResumedIsBitExact) {
  Fixture f;
  std::string rows;
  for (int i = 0; i < 12; ++i)
    rows += nlohmann::json{{"prompt", i % 2 ? "the dog sat on the " : "the cat sat on the "},
                           {"chosen", i % 2 ? "log." : "mat."},
                           {"rejected", i % 3 ? "dog." : "cat."}}
                .dump() +
            "\n";
  const std::string data = f.dir.file("pref.jsonl");
  write_file_atomic(data, rows);
  expect_kill_and_resume("finetune --method dpo --beta 0.5 --base " + f.base + " --data " + data +
                             " --lora-r 2 --batch-size 2 --lr 3e-2 --eval-rows 4",
                         f.dir.file("dpo"), 4);
}

TEST(AdaptResume, DistillKilledAndResumedIsBitExact) {
  Fixture f;
  expect_kill_and_resume("distill --teacher " + f.base +
                             " --student-shape layers=1,embd=8 --data " + f.data +
                             " --batch-size 4 --eval-rows 8",
                         f.dir.file("kd"), 3);
}

// A damaged newest checkpoint: `--resume` refuses and names the fallback, `--resume
// latest-valid` continues from the step folder before it, to the same losses.
TEST(AdaptResume, LatestValidSkipsADamagedNewestCheckpoint) {
  Fixture f;
  const std::string common = "finetune --base " + f.base + " --data " + f.data +
                             " --lora-r 2 --batch-size 4 --lr 3e-2 --eval-rows 8 --max-iters 6 "
                             "--eval-interval 2 --threads 1";
  const std::string full = f.dir.file("full"), out = f.dir.file("damaged");
  const auto ref = run_cli(common + " --out " + full);
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  std::filesystem::copy(full, out, std::filesystem::copy_options::recursive);
  ASSERT_EQ(truncate((out + "/checkpoints/step-00000006/train_state.safetensors").c_str(), 64), 0);

  const auto refused = run_cli(common + " --out " + out + " --resume");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.output.find("train_state.safetensors is truncated"), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("continue from the newest intact one (step 4) with --resume "
                                "latest-valid"),
            std::string::npos)
      << refused.output;
  const auto resumed = run_cli(common + " --out " + out + " --resume latest-valid");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(losses_of(out), losses_of(full));
  EXPECT_EQ(Checkpoint(out).step(), 6);
}
