// The training loop end to end on tiny models: determinism, bit-exact resume, metrics,
// gradient accumulation, hooks, divergence, memory refusal, damaged checkpoints, kill -9.
#include "sllm/train/trainer.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/format/model_dir.h"
#include "sllm/infer/model.h"
#include "sllm/io/file.h"
#include "sllm/train/checkpoint.h"
#include "sllm/train/checksum.h"
#include "test_arch.h"
#include "test_util.h"

using namespace sllm;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// About 12 KB of text from a small grammar: enough structure for the loss to fall.
std::string write_corpus(const std::string& path) {
  const char* subj[] = {"the cat", "a dog", "my friend", "the old man", "she", "he"};
  const char* verb[] = {"sees", "likes", "finds", "follows", "calls", "keeps"};
  const char* obj[] = {"the ball.", "a red hat.",      "the river.",
                       "her book.", "the small bird.", "it."};
  std::string text;
  Rng r(5);
  while (text.size() < 12000)
    text += fmt::format("{} {} {}\n", subj[r.below(6)], verb[r.below(6)], obj[r.below(6)]);
  write_file_atomic(path, text);
  return path;
}

TrainConfig tiny_config(const test::TempDir& dir, const std::string& out, Arch arch = Arch::GPT2) {
  TrainConfig c;
  set_arch(c.model, arch);
  c.model.n_layer = 1;
  c.model.n_head = 2;
  c.model.n_kv_head = arch == Arch::Llama ? 1 : 2;
  c.model.n_embd = 16;
  c.model.block_size = 16;
  c.tokenizer = "char";
  c.data = dir.file("corpus.txt");
  if (!file_exists(c.data)) write_corpus(c.data);
  c.out = dir.file(out);
  c.batch_size = 4;
  c.max_iters = 6;
  c.lr = 1e-2f;
  c.min_lr = 1e-3f;
  c.warmup_iters = 2;
  c.eval_interval = 3;
  c.eval_iters = 2;
  c.sample_tokens = 0;
  c.threads = 1;
  c.quiet = true;
  return c;
}

std::vector<json> metrics_of(const std::string& out) {
  std::vector<json> v;
  std::ifstream in(out + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) v.push_back(json::parse(line));
  return v;
}

std::vector<double> losses_of(const std::string& out) {
  std::vector<double> v;
  for (const auto& j : metrics_of(out)) {
    v.push_back(j.value("loss", -1.0));
    v.push_back(j.value("val_loss", -1.0));
  }
  return v;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_CONTAINS(hay, needle) \
  EXPECT_NE(std::string(hay).find(needle), std::string::npos) << (hay)

struct CliResult {
  int exit_code = -1;
  bool killed = false;
  std::string output;
};

CliResult run_cli(const std::string& args, const std::string& env = "") {
  test::TempDir tmp;
  const std::string cmd =
      fmt::format("{} exec {} {} > {} 2>&1", env, test::sllm_binary(), args, tmp.file("out"));
  const int st = std::system(cmd.c_str());
  CliResult r;
  r.killed = (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
             (WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.output = file_exists(tmp.file("out")) ? read_file(tmp.file("out")) : "";
  return r;
}

std::string cli_args(const TrainConfig& c, const std::string& out = "") {
  return fmt::format(
      "train --arch {} --n-layer {} --n-head {} --n-kv-head {} --n-embd {} --block-size {} "
      "--batch-size {} "
      "--max-iters {} --lr {} --min-lr {} --warmup-iters {} --eval-interval {} --eval-iters {} "
      "--sample-tokens 0 "
      "--threads 1 --tokenizer {} --data {} --out {} --quiet",
      family_name(c.model), c.model.n_layer, c.model.n_head, c.model.n_kv_head, c.model.n_embd,
      c.model.block_size, c.batch_size, c.max_iters, c.lr, c.min_lr, c.warmup_iters,
      c.eval_interval, c.eval_iters, c.tokenizer, c.data, out.empty() ? c.out : out);
}

}  // namespace

TEST(Trainer, SameSeedAndThreadsGiveIdenticalLosses) {
  test::TempDir dir;
  for (Arch arch : {Arch::GPT2, Arch::Llama}) {
    const std::string a = std::string(arch_name(arch)) + "-a",
                      b = std::string(arch_name(arch)) + "-b";
    const TrainResult ra = train(tiny_config(dir, a, arch));
    train(tiny_config(dir, b, arch));
    EXPECT_EQ(ra.steps, 6);
    ASSERT_TRUE(ra.final_loss && std::isfinite(*ra.final_loss));
    EXPECT_EQ(losses_of(dir.file(a)), losses_of(dir.file(b))) << arch_name(arch);
    TrainConfig other_seed = tiny_config(dir, std::string(arch_name(arch)) + "-c", arch);
    other_seed.seed = 7;
    train(other_seed);
    EXPECT_NE(losses_of(dir.file(a)), losses_of(other_seed.out));
  }
}

TEST(Trainer, ResumeContinuesBitExactly) {
  test::TempDir dir;
  TrainConfig full = tiny_config(dir, "full", Arch::Llama);
  full.max_iters = 8;
  full.grad_accum = 2;
  full.checkpoint_interval = 2;
  train(full);

  TrainConfig first = full;
  first.out = dir.file("resumed");
  first.max_iters = 5;
  first.lr_decay_iters = 8;  // The schedule of the 8-step run.
  train(first);
  EXPECT_EQ(Checkpoint(first.out).step(), 5);
  TrainConfig rest = saved_train_config(first.out);
  rest.max_iters = 8;
  rest.quiet = true;
  const TrainResult r = train(rest);
  EXPECT_EQ(r.steps, 8);
  const auto want = losses_of(full.out), got = losses_of(first.out);
  ASSERT_EQ(want.size(), got.size());
  EXPECT_EQ(want, got);
  // The weights themselves match too.
  EXPECT_EQ(file_checksum_hex(full.out + "/model.safetensors"),
            file_checksum_hex(first.out + "/model.safetensors"));
  EXPECT_EQ(file_checksum_hex(full.out + "/train_state.safetensors"),
            file_checksum_hex(first.out + "/train_state.safetensors"));
}

TEST(Trainer, WritesMetricsCurveSamplesAndAModelDirectory) {
  test::TempDir dir;
  TrainConfig c = tiny_config(dir, "run");
  c.sample_tokens = 20;
  c.sample_interval = 3;
  train(c);
  const auto m = metrics_of(c.out);
  ASSERT_EQ(m.size(), 7u);  // Steps 0..5 and the final evaluation at step 6.
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(m[i]["step"], i);
    for (const char* k : {"loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s"})
      EXPECT_TRUE(m[i].contains(k) && m[i][k].is_number()) << k << " in " << m[i].dump();
    EXPECT_EQ(m[i].contains("val_loss"), i % 3 == 0) << m[i].dump();
  }
  EXPECT_EQ(m[6]["step"], 6);
  EXPECT_TRUE(m[6]["val_loss"].is_number());
  EXPECT_LT(m[6]["val_loss"].get<double>(), m[0]["val_loss"].get<double>());
  EXPECT_GT(m[1]["lr"].get<double>(), m[0]["lr"].get<double>());  // Warmup.
  const std::string svg = read_file(c.out + "/loss.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_CONTAINS(read_file(c.out + "/samples.txt"), "--- sample at step 3 ---");
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.sllmtok", "train_state.json",
                        "train_state.safetensors", "manifest.json"})
    EXPECT_TRUE(file_exists(c.out + "/" + f)) << f;
  TrainableModel md = load_trainable_model(c.out);
  EXPECT_EQ(md.model->config().to_json(), Checkpoint(c.out).model_config().to_json());
  EXPECT_EQ(md.tokenizer->kind(), "char");
}

TEST(Trainer, EvalItersMinusOneUsesTheWholeValidationSplit) {
  test::TempDir dir;
  TrainConfig c = tiny_config(dir, "run");
  c.eval_iters = -1;
  c.max_iters = 0;
  c.quiet = true;
  Trainer t(c);
  const double whole = t.evaluate();
  // The same mean by hand: every window of block_size + 1 tokens at stride block_size.
  auto tokens = std::make_shared<const TokenFile>(c.out + "/data/tokens.bin");
  const DataSplit split = split_tokens(tokens->size(), c.val_fraction, c.model.block_size);
  ConsecutiveWindows w(tokens, split.val, 1, c.model.block_size);
  Batch b;
  double sum = 0;
  for (int i = 0; i < w.num_batches(); ++i) {
    w.batch(i, b);
    sum += t.model().forward(b.tokens.data(), b.targets.data(), b.B, b.T);
  }
  EXPECT_NEAR(whole, sum / w.num_batches(), 1e-5);
  c.eval_iters = -2;
  EXPECT_THROW(c.validate(), Error);
}

TEST(Trainer, Gpt2WithoutBiasesTrainsAndTheInferenceModelAgrees) {
  test::TempDir dir;
  TrainConfig c = tiny_config(dir, "run");
  c.model.set_biases(false);  // nanoGPT's bias=False
  c.quiet = true;
  train(c);
  TrainableModel md = load_trainable_model(c.out);
  ASSERT_FALSE(md.model->config().all_biases());
  const std::vector<int32_t> toks = {1, 2, 3, 4, 5};
  md.model->forward(toks.data(), nullptr, 1, 5);
  const int V = md.model->config().vocab_size;
  auto inf = InferenceModel::load(c.out);
  KVCache kv = inf->new_cache(16);
  const std::vector<float> last = inf->forward(kv, toks);
  ASSERT_EQ(last.size(), static_cast<size_t>(V));
  for (int v = 0; v < V; ++v) EXPECT_NEAR(last[v], md.model->logits()[4 * V + v], 1e-4f) << v;
}

TEST(Trainer, GradientAccumulationMatchesTheLargerBatch) {
  test::TempDir dir;
  TrainConfig big = tiny_config(dir, "big");
  big.batch_size = 8;
  big.max_iters = 3;
  TrainConfig acc = big;
  acc.out = dir.file("acc");
  acc.batch_size = 4;
  acc.grad_accum = 2;  // The same 8 windows per step, in two halves.
  train(big);
  train(acc);
  const auto a = metrics_of(big.out), b = metrics_of(acc.out);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(a[i]["loss"].get<double>(), b[i]["loss"].get<double>(), 1e-4) << i;
    EXPECT_NEAR(a[i]["grad_norm"].get<double>(), b[i]["grad_norm"].get<double>(), 1e-3) << i;
  }
}

TEST(Trainer, HooksSeeGradientsAndLossAndCanStopTheRun) {
  test::TempDir dir;
  TrainConfig c = tiny_config(dir, "hooked");
  c.weight_decay = 0;
  int syncs = 0;
  TrainHooks h;
  h.sync_gradients = [&](std::span<float> g, double& loss) {
    ++syncs;
    double sq = 0;
    for (float x : g) sq += double(x) * x;
    EXPECT_GT(sq, 0.0);
    // Like an all-reduce over ranks whose gradients are all zero but this one's loss doubled.
    std::fill(g.begin(), g.end(), 0.0f);
    loss *= 2;
  };
  int stepped = 0;
  h.on_step = [&](const StepRecord&) { return ++stepped < 4; };
  Trainer t(c, std::move(h));
  const std::vector<float> before(t.model().params().begin(), t.model().params().end());
  const TrainResult r = t.run();
  EXPECT_EQ(syncs, 4);
  EXPECT_EQ(r.steps, 4);
  EXPECT_EQ(Checkpoint(c.out).step(), 4);  // Stopping saves a checkpoint.
  const std::vector<float> after(t.model().params().begin(), t.model().params().end());
  EXPECT_EQ(before, after) << "zero gradients and no decay must leave the weights alone";

  TrainConfig plain = tiny_config(dir, "plain");
  plain.max_iters = 1;
  train(plain);
  EXPECT_DOUBLE_EQ(metrics_of(c.out)[0]["loss"].get<double>(),
                   2 * metrics_of(plain.out)[0]["loss"].get<double>());
}

TEST(Trainer, CustomBatchSourceAndLoss) {
  test::TempDir dir;
  struct Fixed : BatchSource {
    explicit Fixed(int* counter) : calls(*counter) {}
    int& calls;
    void next(Batch& b) override {
      ++calls;
      b.B = 2;
      b.T = 4;
      b.tokens = {1, 2, 3, 4, 4, 3, 2, 1};
      b.targets = {2, 3, 4, -1, 3, 2, 1, -1};  // -1: not scored
    }
    json state() const override { return {{"calls", calls}}; }
    void restore(const json& s) override { calls = s.at("calls").get<int>(); }
  };
  TrainConfig c = tiny_config(dir, "custom");
  c.model.block_size = 4;
  c.max_iters = 20;
  c.eval_interval = 100;
  TrainHooks h;
  int train_calls = 0, val_calls = 0;
  h.train_data = std::make_unique<Fixed>(&train_calls);
  h.val_data = std::make_unique<Fixed>(&val_calls);
  h.tokenizer = std::shared_ptr<Tokenizer>(make_tokenizer("byte", ""));
  int losses = 0;
  h.train_loss = [&](Model& m, const Batch& b, float scale) {
    ++losses;
    const float l = m.forward(b.tokens.data(), b.targets.data(), b.B, b.T);
    m.backward(scale);
    return l;
  };
  const TrainResult r = train(c, std::move(h));
  EXPECT_EQ(losses, 20);
  EXPECT_EQ(train_calls, 20);
  EXPECT_EQ(val_calls, c.eval_iters);  // Every evaluation rewinds the source to the same batches.
  ASSERT_TRUE(r.final_val_loss);
  EXPECT_LT(*r.final_val_loss, 0.6 * metrics_of(c.out)[0]["val_loss"].get<double>())
      << "a fixed batch is learned";
  EXPECT_EQ(Checkpoint(c.out).train_state()["data"]["train"]["calls"], 20);
}

TEST(Trainer, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  test::TempDir dir;
  TrainConfig c = tiny_config(dir, "nan");
  c.max_iters = 10;
  c.checkpoint_interval = 2;
  TrainHooks h;
  int n = 0;
  h.train_loss = [&](Model& m, const Batch& b, float scale) {
    float l = m.forward(b.tokens.data(), b.targets.data(), b.B, b.T);
    m.backward(scale);
    return n++ == 5 ? NAN : l;
  };
  const std::string err = error_of([&] { train(c, std::move(h)); });
  EXPECT_CONTAINS(err, "diverged at step 5");
  EXPECT_CONTAINS(err, "nan");
  EXPECT_CONTAINS(err, "last good checkpoint (step 4)");
  EXPECT_EQ(Checkpoint(c.out).step(), 4);
  const auto m = metrics_of(c.out);
  EXPECT_EQ(m.back()["step"], 4);
  for (const auto& r : m) EXPECT_TRUE(std::isfinite(r["loss"].get<double>()));
  // The run continues from there.
  TrainConfig more = saved_train_config(c.out);
  more.quiet = true;
  EXPECT_EQ(train(more).steps, 10);
}

TEST(Trainer, RefusesAModelThatCannotFitBeforeAllocating) {
  test::TempDir dir;
  TrainConfig c = tiny_config(dir, "huge");
  c.model.n_layer = 1000;
  c.model.n_embd = 32768;
  c.model.n_head = 64;
  c.model.n_kv_head = 64;
  const std::string err = error_of([&] { Trainer t(c); });
  EXPECT_CONTAINS(err, "cannot be trained in the memory available");
  EXPECT_CONTAINS(err, "GiB");
  EXPECT_FALSE(file_exists(c.out + "/manifest.json"));
}

TEST(Trainer, EmptyOrMissingCorpusIsAClearError) {
  test::TempDir dir;
  TrainConfig c = tiny_config(dir, "run");
  c.data = dir.file("nothing.txt");
  EXPECT_CONTAINS(error_of([&] { Trainer t(c); }), "nothing.txt cannot be read");
  write_file_atomic(c.data, "");
  for (const char* tok : {"char", "byte"}) {
    c.tokenizer = tok;
    EXPECT_CONTAINS(error_of([&] { Trainer t(c); }), "is empty");
  }
  write_file_atomic(c.data, "tiny");
  EXPECT_CONTAINS(error_of([&] { Trainer t(c); }), "too few for block size");
}

TEST(TrainCheckpoint, DamagedCheckpointsAreRejectedNamingTheDefect) {
  test::TempDir dir;
  TrainConfig c = tiny_config(dir, "good");
  c.max_iters = 2;
  train(c);
  ASSERT_EQ(Checkpoint(c.out).step(), 2);
  const std::string step_dir = "/checkpoints/step-00000002";
  int n = 0;
  auto damaged = [&](const std::function<void(const std::string&)>& damage) {
    const std::string d = dir.file("bad" + std::to_string(n++));
    fs::copy(c.out, d, fs::copy_options::recursive);
    damage(d);
    return error_of([&] { Checkpoint ck(d); });
  };
  auto edit_json = [](const std::string& path, const std::function<void(json&)>& f) {
    json j = json::parse(read_file(path));
    f(j);
    write_file_atomic(path, j.dump());
  };
  EXPECT_CONTAINS(damaged([&](const std::string& d) {
                    std::fstream f(d + step_dir + "/model.safetensors",
                                   std::ios::in | std::ios::out | std::ios::binary);
                    f.seekp(200);
                    f.put('\x7f');
                  }),
                  "model.safetensors is corrupt");
  EXPECT_CONTAINS(damaged([&](const std::string& d) {
                    ASSERT_EQ(truncate((d + step_dir + "/train_state.safetensors").c_str(), 100),
                              0);
                  }),
                  "train_state.safetensors is truncated");
  EXPECT_CONTAINS(damaged([&](const std::string& d) { fs::remove(d + step_dir + "/config.json"); }),
                  "config.json is missing");
  EXPECT_CONTAINS(damaged([&](const std::string& d) {
                    edit_json(d + "/manifest.json", [](json& j) { j["magic"] = "not-sllm"; });
                  }),
                  "wrong magic 'not-sllm'");
  EXPECT_CONTAINS(damaged([&](const std::string& d) {
                    edit_json(d + "/manifest.json", [](json& j) { j["version"] = 99; });
                  }),
                  "version 99");
  EXPECT_CONTAINS(damaged([&](const std::string& d) {
                    write_file_atomic(d + "/manifest.json", "{\"magic\": ");
                  }),
                  "manifest.json is corrupt");
  EXPECT_CONTAINS(damaged([&](const std::string& d) { fs::remove(d + "/manifest.json"); }),
                  "no training state (manifest.json not found)");
  // A train_state.json with a wrong magic but matching checksums is caught by its own check.
  EXPECT_CONTAINS(damaged([&](const std::string& d) {
                    const std::string sp = d + step_dir + "/train_state.json";
                    edit_json(sp, [](json& j) { j["magic"] = "other"; });
                    edit_json(d + "/manifest.json", [&](json& j) {
                      j["files"]["train_state.json"] = {{"size", fs::file_size(sp)},
                                                        {"xxh64", file_checksum_hex(sp)}};
                    });
                  }),
                  "train_state.json has the wrong magic 'other'");
  EXPECT_CONTAINS(error_of([&] { Checkpoint ck(dir.file("nowhere")); }), "no checkpoint in");
  // Resuming a damaged run fails the same way, before training anything.
  TrainConfig resume = c;
  resume.out = dir.file("bad0");
  resume.resume = true;
  EXPECT_CONTAINS(error_of([&] { Trainer t(resume); }), "is corrupt");
}

TEST(TrainCli, KillNineDuringACheckpointLeavesTheLastOneLoadable) {
  test::TempDir dir;
  TrainConfig c = tiny_config(dir, "ref");
  c.max_iters = 3;
  c.eval_interval = 1;
  ASSERT_EQ(run_cli(cli_args(c) + " --checkpoint-interval 1").exit_code, 0);
  const auto want = losses_of(c.out);
  // Each checkpoint writes 6 files into its step folder and publishes 6; crash at every one of
  // those points of the second checkpoint (step 2).
  for (int k = 13; k <= 24; ++k) {
    const std::string out = dir.file(fmt::format("k{}", k));
    const CliResult r = run_cli(cli_args(c, out) + " --checkpoint-interval 1",
                                fmt::format("SLLM_CRASH_AFTER_CHECKPOINT_WRITES={}", k));
    ASSERT_TRUE(r.killed) << "k=" << k << ": " << r.output;
    int step = -1;
    EXPECT_NO_THROW(step = Checkpoint(out).step()) << "k=" << k;
    EXPECT_EQ(step, k < 24 ? 1 : 2) << "k=" << k;
    if (k % 4 == 0) {  // And the run resumes to the same losses as the uninterrupted one.
      const CliResult again = run_cli(fmt::format("train --out {} --resume --quiet", out));
      ASSERT_EQ(again.exit_code, 0) << again.output;
      EXPECT_EQ(losses_of(out), want) << "k=" << k;
    }
  }
}

TEST(TrainCli, BadInputGetsAClearErrorAndExitCode) {
  test::TempDir dir;
  TrainConfig c = tiny_config(dir, "run");
  CliResult r = run_cli("train --data " + dir.file("missing.txt") + " --out " + c.out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.output, "missing.txt cannot be read");
  r = run_cli("train --resume --out " + dir.file("nothing"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.output, "no checkpoint in");
  c.max_iters = 10;
  c.warmup_iters = 0;
  c.lr = 1e30f;  // Absurd: the weights blow up to inf within a few steps.
  r = run_cli(cli_args(c) + " --checkpoint-interval 1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_CONTAINS(r.output, "training diverged at step");
  const int good = Checkpoint(c.out).step();
  EXPECT_GE(good, 1);
  EXPECT_LT(good, 10);
  r = run_cli("train --resume --n-layer 3 --out " + c.out);
  EXPECT_CONTAINS(r.output, "--n-layer cannot change on --resume");
  r = run_cli("train --arch bert --out " + c.out);
  EXPECT_CONTAINS(r.output, "unknown architecture 'bert'");
}

// The width-scaled default and nanoGPT's --init-std 0.02 land in config.json, a bad value is
// refused naming the flag, and --resume cannot change it.
TEST(TrainCli, InitStdDefaultsToTheWidthScaledValueAndIsRecorded) {
  test::TempDir dir;
  const auto saved_init_std = [](const TrainConfig& c) {
    return ModelConfig::from_json(json::parse(read_file(c.out + "/config.json"))).initializer_range;
  };
  TrainConfig c = tiny_config(dir, "default");
  c.max_iters = 0;
  CliResult r = run_cli(cli_args(c));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(saved_init_std(c), width_scaled_init_std(c.model.n_embd));

  TrainConfig nano = tiny_config(dir, "nanogpt");
  nano.max_iters = 2;
  r = run_cli(cli_args(nano) + " --init-std 0.02");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(saved_init_std(nano), 0.02f);

  for (const char* bad : {"0", "-0.1", "2", "wide"}) {
    r = run_cli(cli_args(c, dir.file("bad")) + " --init-std " + bad);
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_CONTAINS(r.output, "--init-std");
  }
  r = run_cli("train --resume --init-std 0.05 --max-iters 4 --out " + nano.out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_CONTAINS(r.output, "--init-std cannot change on --resume");
}

TEST(Trainer, InitFromStartsWithTheSavedWeights) {
  test::TempDir dir;
  TrainConfig base = tiny_config(dir, "base");
  base.max_iters = 12;
  train(base);
  TrainConfig ft = tiny_config(dir, "ft");
  ft.init_from = base.out;
  ft.model.n_layer = 3;  // Ignored: the model comes from --init-from.
  ft.max_iters = 1;
  Trainer t(ft);
  EXPECT_EQ(t.model().config().to_json(), Checkpoint(base.out).model_config().to_json());
  TrainableModel saved = load_trainable_model(base.out);
  EXPECT_TRUE(std::equal(saved.model->params().begin(), saved.model->params().end(),
                         t.model().params().begin()));
  t.run();
  EXPECT_LT(metrics_of(ft.out)[0]["val_loss"].get<double>(),
            metrics_of(base.out)[0]["val_loss"].get<double>());
  EXPECT_CONTAINS(error_of([&] {
                    TrainConfig bad = ft;
                    bad.init_from = dir.file("nothing");
                    Trainer x(bad);
                  }),
                  "not an sllm model directory");
}
