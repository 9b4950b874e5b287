// The preference losses (DPO, cDPO, IPO, ORPO; src/adapt/preference_loss.cpp) through the
// Learner on a tiny Llama model against the PyTorch reference (tests/reference/preference_ref.py,
// float64): the loss and TRL's reward metrics within 1e-4 relative, d(loss)/d(logits) and every
// parameter gradient within 1e-4 relative (elementwise against 1e-4 of the tensor's largest
// entry, and in L2 norm over the tensor).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "reference_cache.h"
#include "sllm/adapt/learner.h"
#include "sllm/adapt/preference_loss.h"
#include "sllm/io/safetensors.h"
#include "sllm/model/model.h"
#include "test_util.h"

using namespace sllm;

namespace {

std::string reference_dir() {
  static const std::string dir = test::cached_reference_output(
      test::source_dir() + "/tests/reference/preference_ref.py", "preference_ref_vectors");
  return dir;
}

std::span<const float> f32(const TensorView& t) {
  return {reinterpret_cast<const float*>(t.data), static_cast<size_t>(t.numel())};
}
std::span<const int32_t> i32(const TensorView& t) {
  return {reinterpret_cast<const int32_t*>(t.data), static_cast<size_t>(t.numel())};
}

// Elementwise |got - ref| <= 1e-4 (|ref| + max|ref|), and ||got - ref|| <= 1e-4 ||ref||.
void expect_close(const std::string& what, const float* got, std::span<const float> ref) {
  double mx = 0, num = 0, den = 0;
  for (float r : ref) mx = std::max(mx, std::fabs(static_cast<double>(r)));
  size_t bad = 0, worst = 0;
  double worst_err = -1;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    num += err * err;
    den += static_cast<double>(ref[i]) * ref[i];
    if (err > 1e-4 * (std::fabs(ref[i]) + mx)) ++bad;
    if (err > worst_err) worst_err = err, worst = i;
  }
  EXPECT_EQ(bad, 0u) << what << ": worst at " << worst << ": sllm " << got[worst] << " vs torch "
                     << ref[worst];
  EXPECT_LE(std::sqrt(num), 1e-4 * std::sqrt(den)) << what << " (relative L2)";
}

class PreferenceVsTorch : public ::testing::TestWithParam<std::string> {};

TEST_P(PreferenceVsTorch, LossRewardsAndEveryGradient) {
  SafetensorsReader f(reference_dir() + "/" + GetParam() + ".safetensors");
  const auto& meta = f.metadata();
  const ModelConfig cfg = ModelConfig::from_json(nlohmann::json::parse(meta.at("config")));
  const int P = std::stoi(meta.at("P")), T = std::stoi(meta.at("T")), V = cfg.vocab_size;
  PreferenceOptions opt;
  opt.type = parse_preference_loss(meta.at("loss_type"));
  opt.beta = std::stof(meta.at("beta"));
  opt.label_smoothing = std::stof(meta.at("label_smoothing"));

  Model m(cfg);
  for (const ParamSpec& s : m.specs()) {
    auto ref = f32(f.get("param." + s.name));
    ASSERT_EQ(ref.size(), s.numel) << s.name;
    std::copy(ref.begin(), ref.end(), m.param(s.name));
  }
  Batch b;
  b.B = 2 * P;
  b.T = T;
  auto tok = i32(f.get("tokens")), tg = i32(f.get("targets"));
  b.tokens.assign(tok.begin(), tok.end());
  b.targets.assign(tg.begin(), tg.end());
  auto ref = f32(f.get(opt.averages_logps() ? "ref_mean" : "ref_sum"));
  if (opt.needs_reference()) b.ref_logps.assign(ref.begin(), ref.end());  // float32 -> double

  m.forward(b.tokens.data(), b.targets.data(), b.B, T);
  std::vector<float> dlogits(b.tokens.size() * V);
  const PreferenceLoss L =
      preference_loss(m.logits(), b.targets.data(), P, T, V,
                      opt.needs_reference() ? b.ref_logps.data() : nullptr, opt, dlogits.data());
  const float ref_loss = f32(f.get("loss"))[0];
  EXPECT_NEAR(L.loss, ref_loss, 1e-4 * std::fabs(ref_loss));
  const auto want = nlohmann::json::parse(meta.at("metrics"));
  for (const auto& [k, v] : want.items()) {
    ASSERT_TRUE(L.metrics.count(k)) << k;
    EXPECT_NEAR(L.metrics.at(k), v.get<double>(), 1e-4 * (std::fabs(v.get<double>()) + 1e-3)) << k;
  }
  EXPECT_EQ(L.metrics.size(), want.size());
  expect_close("dlogits", dlogits.data(), f32(f.get("dlogits")));

  Learner learner(m, nullptr);
  learner.set_preference(opt);
  learner.zero_grad();
  EXPECT_NEAR(learner.train_loss(b, 1.0f), ref_loss, 1e-4 * std::fabs(ref_loss));
  for (const ParamSpec& s : m.specs())
    expect_close("grad " + s.name, m.grad(s.name), f32(f.get("grad." + s.name)));
  EXPECT_EQ(learner.step_metrics().at("rewards/accuracies"),
            want.at("rewards/accuracies").get<double>());
}

INSTANTIATE_TEST_SUITE_P(Reference, PreferenceVsTorch,
                         ::testing::Values("dpo", "cdpo", "ipo", "orpo"));

TEST(PreferenceLoss, RefusesBadOptionsAndBatches) {
  PreferenceOptions o;
  o.beta = 0;
  EXPECT_NE(test::error_of([&] { o.validate(); }).find("beta"), std::string::npos);
  o.beta = 0.1f;
  o.type = PreferenceLossType::Orpo;
  o.label_smoothing = 0.1f;
  EXPECT_NE(test::error_of([&] { o.validate(); }).find("dpo loss only"), std::string::npos);
  EXPECT_NE(test::error_of([] { parse_preference_loss("kto"); }).find("'kto'"), std::string::npos);
  const float logits[2 * 2 * 3] = {};
  const int32_t targets[4] = {-1, 1, -1, -1};  // the rejected row has no completion
  PreferenceOptions dpo;
  const double ref[2] = {0, 0};
  EXPECT_NE(test::error_of([&] {
              preference_loss(logits, targets, 1, 2, 3, ref, dpo, nullptr);
            }).find("no completion"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              preference_loss(logits, targets, 1, 2, 3, nullptr, dpo, nullptr);
            }).find("reference"),
            std::string::npos);
}

}  // namespace
