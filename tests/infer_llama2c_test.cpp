#include <algorithm>
#include <cstdio>
#include <sstream>

#include "sllm/common/error.h"
#include "sllm/infer/model.h"
#include "test_util.h"

namespace sllm {
namespace {

std::vector<int32_t> greedy(InferenceModel& m, int n) {
  KVCache cache = m.new_cache(0);
  std::vector<int32_t> out;
  int32_t tok = 1;  // BOS
  for (int i = 0; i < n; ++i) {
    std::vector<float> logits = m.forward(cache, {&tok, 1});
    tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(tok);
  }
  return out;
}

std::vector<int32_t> run_reference(const std::string& ckpt, int n) {
  const std::string cmd = "/usr/bin/python3 " + test::source_dir() +
                          "/tests/reference/llama2c_greedy.py " + ckpt + " " + std::to_string(n) +
                          " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {};
  std::string out;
  char buf[4096];
  while (size_t k = fread(buf, 1, sizeof buf, p)) out.append(buf, k);
  pclose(p);
  std::istringstream in(out);
  std::vector<int32_t> ids;
  int32_t x;
  while (in >> x) ids.push_back(x);
  return ids;
}

TEST(InferLlama2c, GreedyFromBosMatchesPyTorchReference) {
  SLLM_REQUIRE_SHARED("models/aidreams260K.bin");
  const std::string ckpt = test::shared_data() + "/models/aidreams260K.bin";
  const int n = 100;
  auto m = InferenceModel::load(
      ckpt, {.weight_type = {}, .tokenizer = test::shared_data() + "/models/tok512_aidreamer.bin"});
  EXPECT_EQ(m->config().n_embd, 64);
  EXPECT_EQ(m->config().ffn_dim(), 172);
  EXPECT_EQ(m->config().vocab_size, 512);
  EXPECT_EQ(m->files().vocab.tokens.size(), 512u);
  std::vector<int32_t> ours = greedy(*m, n);
  std::vector<int32_t> ref = run_reference(ckpt, n);
  ASSERT_EQ(ref.size(), static_cast<size_t>(n)) << "the PyTorch reference did not run";
  EXPECT_EQ(ours, ref);
  // With an F16 KV cache the logits move by ~1e-3: the greedy path of this real model keeps
  // every token.
  auto half =
      InferenceModel::load(ckpt, {.weight_type = {},
                                  .tokenizer = test::shared_data() + "/models/tok512_aidreamer.bin",
                                  .kv_type = KVType::F16});
  EXPECT_EQ(greedy(*half, n), ref);
}

TEST(InferLlama2c, PrefillEqualsTokenByToken) {
  SLLM_REQUIRE_SHARED("models/aidreams260K.bin");
  auto m = InferenceModel::load(test::shared_data() + "/models/aidreams260K.bin");
  std::vector<int32_t> prompt = {1, 319, 459, 355, 260, 275, 429, 339, 315, 374, 327};
  KVCache a = m->new_cache(64), b = m->new_cache(64);
  std::vector<float> la = m->forward(a, prompt);
  std::vector<float> lb;
  for (int32_t t : prompt) lb = m->forward(b, {&t, 1});
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-4f);
}

TEST(InferLlama2c, RejectsTruncatedAndCorruptCheckpoints) {
  SLLM_REQUIRE_SHARED("models/aidreams260K.bin");
  test::TempDir dir;
  std::string bytes = read_file(test::shared_data() + "/models/aidreams260K.bin");
  write_file_atomic(dir.file("cut.bin"), bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(load_llama2c(dir.file("cut.bin"), ""), Error);
  std::string bad = bytes;
  int32_t huge = 1 << 30;
  std::memcpy(bad.data(), &huge, 4);
  write_file_atomic(dir.file("bad.bin"), bad);
  try {
    load_llama2c(dir.file("bad.bin"), "");
    FAIL() << "loaded a checkpoint with dim 2^30";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dim"), std::string::npos) << e.what();
  }
  write_file_atomic(dir.file("tiny.bin"), "abc");
  EXPECT_THROW(load_llama2c(dir.file("tiny.bin"), ""), Error);
}

}  // namespace
}  // namespace sllm
