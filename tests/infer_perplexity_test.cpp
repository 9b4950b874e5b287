#include <cmath>
#include <nlohmann/json.hpp>

#include "infer_test_util.h"
#include "sllm/common/error.h"
#include "sllm/infer/perplexity.h"
#include "test_arch.h"
#include "test_util.h"

namespace sllm {
namespace {

std::vector<int32_t> some_tokens(int n) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + 11) % 250);
  return t;
}

TEST(Perplexity, IsExpOfTheMeanNllOverWindows) {
  test::TempDir dir;
  test::write_tiny_model(dir.path(), test::tiny_config(Arch::Llama));
  auto m = InferenceModel::load(dir.path());
  const auto toks = some_tokens(20);
  PerplexityOptions opt;
  opt.ctx = 8;
  const PerplexityResult r = evaluate_perplexity(*m, toks, opt);
  EXPECT_EQ(r.scored, 7 + 7 + 3);  // Windows [0,8), [8,16), [16,20): all but their first token.
  // The same by feeding one token at a time.
  double nll = 0;
  for (size_t start = 0; start < toks.size(); start += 8) {
    KVCache c = m->new_cache(8);
    for (size_t t = start; t + 1 < std::min(toks.size(), start + 8); ++t) {
      auto logits = m->forward(c, {&toks[t], 1});
      double mx = *std::max_element(logits.begin(), logits.end()), sum = 0;
      for (float l : logits) sum += std::exp(l - mx);
      nll -= logits[toks[t + 1]] - mx - std::log(sum);
    }
  }
  EXPECT_NEAR(r.nll, nll / 17, 1e-5);
  EXPECT_NEAR(r.perplexity, std::exp(nll / 17), 1e-3);
  EXPECT_FALSE(r.has_reference);
  EXPECT_THROW(evaluate_perplexity(*m, std::vector<int32_t>{1}), Error);
}

TEST(Perplexity, KlIsZeroAgainstItselfAndSmallForQ8) {
  test::TempDir dir;
  test::write_tiny_model(dir.path(), test::tiny_config(Arch::GPT2));
  auto f32 = InferenceModel::load(dir.path());
  auto same = InferenceModel::load(dir.path());
  LoadOptions lo;
  lo.weight_type = GGMLType::Q8_0;
  auto q8 = InferenceModel::load(dir.path(), lo);
  lo.weight_type = GGMLType::Q4_0;
  auto q4 = InferenceModel::load(dir.path(), lo);
  const auto toks = some_tokens(40);
  const auto self = evaluate_perplexity(*same, toks, {}, f32.get());
  EXPECT_NEAR(self.mean_kl, 0.0, 1e-9);
  EXPECT_EQ(self.top1_agreement, 1.0);
  EXPECT_EQ(self.perplexity, self.ref_perplexity);
  const auto r8 = evaluate_perplexity(*q8, toks, {}, f32.get());
  const auto r4 = evaluate_perplexity(*q4, toks, {}, f32.get());
  EXPECT_GT(r8.mean_kl, 0.0);
  EXPECT_LT(r8.mean_kl, r4.mean_kl);  // 8 bits are closer to f32 than 4.
  EXPECT_NEAR(r8.ref_perplexity, self.perplexity, 1e-9);
}

TEST(Perplexity, CliReportsJson) {
  test::TempDir dir;
  test::write_tiny_model(dir.file("m"), test::tiny_config(Arch::Llama));
  write_file_atomic(dir.file("text.txt"), "To be, or not to be, that is the question.\n");
  const std::string out = dir.file("out.json");
  ASSERT_EQ(std::system((test::sllm_binary() + " eval -m " + dir.file("m") + " --perplexity " +
                         dir.file("text.txt") + " -q q4_1 --json > " + out + " 2>/dev/null")
                            .c_str()),
            0);
  const auto j = nlohmann::json::parse(read_file(out));
  EXPECT_EQ(j["weights"], "q4_1");
  EXPECT_EQ(j["tokens"], 42);  // 43 bytes, all but the first scored.
  EXPECT_GT(j["mean_kl"].get<double>(), 0.0);
  EXPECT_GT(j["perplexity"].get<double>(), 1.0);
  EXPECT_NE(std::system((test::sllm_binary() + " eval -m " + dir.file("m") +
                         " --perplexity /nonexistent 2>/dev/null")
                            .c_str()),
            0);
}

}  // namespace
}  // namespace sllm
