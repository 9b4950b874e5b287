// The trainer's building blocks: generator, schedule, checksum, metrics, data.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/tokenizer/token_file.h"
#include "sllm/train/checksum.h"
#include "sllm/train/data.h"
#include "sllm/train/metrics.h"
#include "sllm/train/rng.h"
#include "sllm/train/schedule.h"
#include "test_util.h"

using namespace sllm;

TEST(TrainRng, DeterministicSeekableAndInRange) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a.next_u64(), b.next_u64());
  Rng c(42);
  c.skip(100);
  EXPECT_EQ(c.state(), a.state());
  EXPECT_EQ(c.next_u64(), a.next_u64());
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t v = a.below(7);
    ASSERT_LT(v, 7u);
    seen.insert(v);
    const float u = a.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
  }
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_NE(Rng::stream(1, 0).next_u64(), Rng::stream(1, 1).next_u64());
  EXPECT_NE(Rng::stream(1, 0).next_u64(), Rng::stream(2, 0).next_u64());
}

TEST(TrainSchedule, MatchesNanoGptGetLr) {
  const LrSchedule s{1e-3f, 1e-4f, 100, 2000};
  auto ref = [](int it) {  // nanoGPT's get_lr, in double
    if (it < 100) return 1e-3 * (it + 1) / 101.0;
    if (it > 2000) return 1e-4;
    const double r = (it - 100) / 1900.0;
    return 1e-4 + 0.5 * (1.0 + std::cos(M_PI * r)) * (1e-3 - 1e-4);
  };
  for (int it : {0, 1, 50, 99, 100, 101, 500, 1050, 1999, 2000, 2500})
    EXPECT_NEAR(s.at(it), ref(it), 1e-9) << it;
  EXPECT_FLOAT_EQ(s.at(100), 1e-3f);
  const LrSchedule no_warmup{1e-3f, 0.0f, 0, 10};
  EXPECT_FLOAT_EQ(no_warmup.at(0), 1e-3f);
  EXPECT_FLOAT_EQ(no_warmup.at(10), 0.0f);
}

TEST(TrainChecksum, MatchesReferenceXxh64) {
  // Values from libxxhash 0.8.1 (XXH64, seed 0).
  EXPECT_EQ(checksum_hex("", 0), "ef46db3751d8e999");
  EXPECT_EQ(checksum_hex("a", 1), "d24ec4f1a98c6e5b");
  EXPECT_EQ(checksum_hex("abc", 3), "44bc2cf5ad770999");
  const std::string s42 = "0123456789abcdef0123456789abcdef0123456789";
  EXPECT_EQ(checksum_hex(s42.data(), s42.size()), "a76190c3acf08a1c");
  std::string big;
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 256; ++i) big += static_cast<char>(i);
  big += "xyz1234";
  EXPECT_EQ(checksum_hex(big.data(), big.size()), "559ea82afe8f46c9");
  test::TempDir dir;
  write_file_atomic(dir.file("f"), big);
  EXPECT_EQ(file_checksum_hex(dir.file("f")), "559ea82afe8f46c9");
}

TEST(TrainMetrics, AppendsAndKeepsRecordsBeforeResumeStep) {
  test::TempDir dir;
  const std::string p = dir.file("metrics.jsonl");
  {
    MetricsLog log(p, -1);
    for (int s = 0; s < 5; ++s) {
      StepRecord r;
      r.step = s;
      r.loss = 4.0 - s * 0.25;
      if (s % 2 == 0) r.val_loss = 4.1 - s * 0.2;
      r.lr = 1e-3;
      r.grad_norm = 0.5;
      r.tokens_per_s = 1000;
      r.elapsed_s = s;
      log.append(r);
    }
  }
  std::ofstream(p, std::ios::app) << "{\"step\": 5, \"loss\": 3.";  // torn by a kill -9
  MetricsLog log(p, 3);
  ASSERT_EQ(log.records().size(), 3u);
  EXPECT_EQ(log.records().back().step, 2);
  EXPECT_DOUBLE_EQ(*log.records()[2].val_loss, 4.1 - 0.4);
  const std::string text = read_file(p);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  const StepRecord r0 = StepRecord::from_json_line(text.substr(0, text.find('\n')));
  EXPECT_EQ(r0.step, 0);
  EXPECT_DOUBLE_EQ(*r0.loss, 4.0);
  EXPECT_THROW(StepRecord::from_json_line("[1,2]"), Error);

  const std::string svg = loss_curve_svg(log.records(), "run <x>");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_NE(svg.find("run &lt;x&gt;"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

namespace {
std::shared_ptr<const TokenFile> token_file_0_to(int n, const std::string& path) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[i] = i % 1000;
  write_token_file(path, t, 1000);
  return std::make_shared<const TokenFile>(path);
}
}  // namespace

TEST(TrainData, SplitIsNanoGptsAndRefusesTinyCorpora) {
  const DataSplit s = split_tokens(1000, 0.1, 16);
  EXPECT_EQ(s.train.begin, 0u);
  EXPECT_EQ(s.train.end, 900u);
  EXPECT_EQ(s.val.begin, 900u);
  EXPECT_EQ(s.val.end, 1000u);
  try {
    split_tokens(100, 0.1, 16);
    FAIL() << "a 10-token validation part cannot hold a 17-token window";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too few for block size 16"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(split_tokens(1000, 0.0, 16), Error);
}

TEST(TrainData, RandomWindowsShiftTargetsStayInRangeAndResume) {
  test::TempDir dir;
  auto tf = token_file_0_to(5000, dir.file("t.bin"));
  const TokenRange range{1000, 2000};
  RandomWindows a(tf, range, 4, 8, Rng::stream(7, 1));
  Batch b;
  for (int step = 0; step < 50; ++step) {
    a.next(b);
    ASSERT_EQ(b.tokens.size(), 32u);
    for (int r = 0; r < 4; ++r) {
      // Token i of the file is i % 1000, so range [1000, 2000) holds 0..999 in order.
      ASSERT_LE(b.tokens[r * 8], 1000 - 9) << "the window must end inside the range";
      for (int t = 0; t < 8; ++t) {
        // Tokens are their own positions (mod 1000): windows are contiguous, targets shifted by
        // one.
        ASSERT_EQ(b.targets[r * 8 + t], (b.tokens[r * 8 + t] + 1) % 1000);
        if (t > 0) {
          ASSERT_EQ(b.tokens[r * 8 + t], b.tokens[r * 8 + t - 1] + 1);
        }
      }
    }
  }
  EXPECT_EQ(a.windows_drawn(), 200u);
  // A source restored to a saved position continues exactly like the original.
  const nlohmann::json st = a.state();
  Batch next_a, next_b;
  a.next(next_a);
  RandomWindows c(tf, range, 4, 8, Rng::stream(7, 1));
  c.restore(st);
  c.next(next_b);
  EXPECT_EQ(next_a.tokens, next_b.tokens);
  // Another stream (another data-parallel rank) seeks to the same count without complaint.
  RandomWindows other(tf, range, 4, 8, Rng::stream(7, 2));
  other.restore(st);
  EXPECT_EQ(other.windows_drawn(), 200u);
  nlohmann::json bad = st;
  bad["rng"] = "0000000000000001";
  EXPECT_THROW(c.restore(bad), Error);
  EXPECT_THROW(RandomWindows(tf, {0, 5}, 1, 8, Rng(1)), Error);
}

TEST(TrainData, ConsecutiveWindowsCoverTheRangeOnceInOrder) {
  test::TempDir dir;
  auto tf = token_file_0_to(5000, dir.file("t.bin"));
  // Range [1000, 1100) holds 0..99: windows of 9 tokens at stride 8 start at 0, 8, ..., 88
  // (the last one ends at 96, the next would need 105 tokens): 12 windows, batches 5+5+2.
  ConsecutiveWindows w(tf, {1000, 1100}, 5, 8);
  EXPECT_EQ(w.num_windows(), 12u);
  ASSERT_EQ(w.num_batches(), 3);
  Batch b;
  int window = 0;
  for (int i = 0; i < w.num_batches(); ++i) {
    w.batch(i, b);
    ASSERT_EQ(b.B, i < 2 ? 5 : 2);
    ASSERT_EQ(b.tokens.size(), static_cast<size_t>(b.B) * 8);
    for (int r = 0; r < b.B; ++r, ++window)
      for (int t = 0; t < 8; ++t) {
        ASSERT_EQ(b.tokens[r * 8 + t], window * 8 + t);
        ASSERT_EQ(b.targets[r * 8 + t], window * 8 + t + 1);
      }
  }
  EXPECT_THROW(w.batch(3, b), Error);
  EXPECT_THROW(ConsecutiveWindows(tf, {0, 8}, 1, 8), Error);
}

TEST(TrainData, CorpusErrorsNameTheProblem) {
  test::TempDir dir;
  auto expect_error = [](const std::string& path, const std::string& needle) {
    try {
      check_corpus(path);
      ADD_FAILURE() << path << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(dir.file("missing.txt"), "cannot be read");
  write_file_atomic(dir.file("empty.txt"), "");
  expect_error(dir.file("empty.txt"), "is empty");
  make_dirs(dir.file("empty_folder"));
  expect_error(dir.file("empty_folder"), "no text files");
  make_dirs(dir.file("folder"));
  write_file_atomic(dir.file("folder/a.txt"), "");
  write_file_atomic(dir.file("folder/b.txt"), "");
  expect_error(dir.file("folder"), "is empty");
  if (geteuid() != 0) {
    write_file_atomic(dir.file("secret.txt"), "text");
    chmod(dir.file("secret.txt").c_str(), 0);
    expect_error(dir.file("secret.txt"), "cannot be read");
  }
  write_file_atomic(dir.file("folder/c.txt"), "hello");
  EXPECT_EQ(check_corpus(dir.file("folder")).size(), 3u);
}

TEST(TrainData, TokenFileIsCachedUntilTheCorpusChanges) {
  test::TempDir dir;
  write_file_atomic(dir.file("c.txt"), "hello world, hello training\n");
  auto tok = make_tokenizer("byte", dir.file("c.txt"));
  auto a = cached_token_file(*tok, dir.file("c.txt"), dir.file("data"), 1);
  ASSERT_EQ(a->size(), 28u + 1);  // + the end-of-text separator
  EXPECT_EQ((*a)[0], 'h');
  struct stat before {};
  stat(dir.file("data/tokens.bin").c_str(), &before);
  auto b = cached_token_file(*tok, dir.file("c.txt"), dir.file("data"), 1);
  struct stat after {};
  stat(dir.file("data/tokens.bin").c_str(), &after);
  EXPECT_EQ(before.st_ino, after.st_ino) << "an unchanged corpus must not be tokenized again";
  write_file_atomic(dir.file("c.txt"), "changed text\n");
  auto c = cached_token_file(*tok, dir.file("c.txt"), dir.file("data"), 1);
  EXPECT_EQ(c->size(), 13u + 1);
}

TEST(TrainData, DefaultCorpusIsTheBibleWithoutVerseNumbers) {
  if (system("command -v bible >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "Debian package bible-kjv not installed";
  test::TempDir dir;
  write_default_corpus(dir.file("kjv.txt"));
  const std::string text = read_file(dir.file("kjv.txt"));
  EXPECT_GT(text.size(), 4'000'000u);
  EXPECT_EQ(text.rfind("Genesis 1\n\nIn the beginning God created the heaven and the earth.\n", 0),
            0u)
      << text.substr(0, 100);
  EXPECT_EQ(text.find("\n  2 "), std::string::npos);
  EXPECT_NE(text.find("The grace of our Lord Jesus Christ be with you all. Amen.\n"),
            std::string::npos);
}
