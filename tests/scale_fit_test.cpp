#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "sllm/common/error.h"
#include "sllm/scale/lbfgs.h"
#include "sllm/scale/scaling_law.h"
#include "test_util.h"

using namespace sllm::scale;

namespace {

// Hoffmann et al. 2022's fitted values.
const ChinchillaParams kTruth{1.69, 406.4, 410.7, 0.34, 0.28};

std::vector<ScalePoint> synthetic(double noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> eps(0.0, noise);
  std::vector<ScalePoint> pts;
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 7; ++j) {
      const double n = 1e5 * std::pow(10.0, i * 4.0 / 6), d = 1e7 * std::pow(10.0, j * 4.0 / 6);
      pts.push_back({n, d, kTruth.loss(n, d) * std::exp(noise > 0 ? eps(rng) : 0.0)});
    }
  return pts;
}

ChinchillaFitOptions small_grid() {
  ChinchillaFitOptions o;
  o.alpha_grid = {0, 1}, o.beta_grid = {0, 1}, o.e_grid = {-1, 1}, o.a_grid = {0, 10, 20},
  o.b_grid = {0, 10, 20};
  return o;
}

}  // namespace

TEST(ScaleLbfgs, MinimisesRosenbrock) {
  Objective f = [](const std::vector<double>& x, std::vector<double>& g) {
    const double a = 1 - x[0], b = x[1] - x[0] * x[0];
    g[0] = -2 * a - 400 * x[0] * b;
    g[1] = 200 * b;
    return a * a + 100 * b * b;
  };
  const LbfgsResult r = lbfgs_minimize(f, {-1.2, 1.0});
  EXPECT_TRUE(r.converged);
  EXPECT_NEAR(r.x[0], 1.0, 1e-6);
  EXPECT_NEAR(r.x[1], 1.0, 1e-6);
  EXPECT_LT(r.iterations, 200);
}

TEST(ScaleLbfgs, MinimisesAnIllConditionedQuadratic) {
  Objective f = [](const std::vector<double>& x, std::vector<double>& g) {
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double c = std::pow(10.0, double(i)), d = x[i] - double(i);
      s += 0.5 * c * d * d;
      g[i] = c * d;
    }
    return s;
  };
  const LbfgsResult r = lbfgs_minimize(f, std::vector<double>(5, 3.0));
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(r.x[i], i, 1e-5);
}

TEST(ScaleFit, RecoversChinchillaParametersFromExactData) {
  const ChinchillaFit fit = fit_chinchilla(synthetic(0, 1), small_grid());
  EXPECT_NEAR(fit.p.E, kTruth.E, 1e-3);
  EXPECT_NEAR(fit.p.alpha, kTruth.alpha, 1e-3);
  EXPECT_NEAR(fit.p.beta, kTruth.beta, 1e-3);
  EXPECT_NEAR(std::log(fit.p.A), std::log(kTruth.A), 1e-2);
  EXPECT_NEAR(std::log(fit.p.B), std::log(kTruth.B), 1e-2);
  EXPECT_LT(fit.objective, 1e-8);
}

TEST(ScaleFit, RecoversParametersFromNoisyDataWithBootstrapIntervals) {
  const auto pts = synthetic(0.004, 7);
  ScalingReportOptions opt;
  opt.fit = small_grid();
  opt.bootstrap = 30;
  opt.budget = 5.76e23;  // Chinchilla's budget: 70B params x 1.4T tokens
  const ScalingReport r = fit_scaling_laws(pts, opt);
  EXPECT_NEAR(r.alpha.value, kTruth.alpha, 0.04);
  EXPECT_NEAR(r.beta.value, kTruth.beta, 0.04);
  EXPECT_NEAR(r.E.value, kTruth.E, 0.08);
  EXPECT_LE(r.alpha.lo, r.alpha.value);
  EXPECT_GE(r.alpha.hi, r.alpha.value);
  EXPECT_LT(r.alpha.lo, r.alpha.hi);
  EXPECT_LT(r.alpha.lo, kTruth.alpha + 0.01);
  EXPECT_GT(r.alpha.hi, kTruth.alpha - 0.01);
  // The truth's compute-optimal split for this budget, and the fit's, within a factor of 2.
  double n = 0, d = 0;
  kTruth.compute_optimal(opt.budget, n, d);
  EXPECT_NEAR(6 * n * d, opt.budget, opt.budget * 1e-9);
  EXPECT_NEAR(std::log(r.n_opt.value), std::log(n), std::log(2.0));
  EXPECT_NEAR(std::log(r.d_opt.value), std::log(d), std::log(2.0));
  EXPECT_TRUE(r.has_kaplan_n);
  EXPECT_GT(r.kaplan_n_exponent.value, 0);
  EXPECT_NE(r.to_text().find("alpha"), std::string::npos);
  const std::string svg = scaling_plot_svg(pts, r);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("polyline"), std::string::npos);
}

TEST(ScaleFit, ComputeOptimalMinimisesLossAlongTheIsoFlopCurve) {
  const double C = 1e21;
  double n = 0, d = 0;
  kTruth.compute_optimal(C, n, d);
  const double best = kTruth.loss(n, d);
  for (double f : {0.5, 0.8, 1.25, 2.0}) EXPECT_GT(kTruth.loss(n * f, C / 6 / (n * f)), best);
}

TEST(ScaleFit, KaplanPowerLawIsExactOnPowerLawData) {
  std::vector<ScalePoint> pts;
  for (double n : {1e5, 1e6, 1e7, 1e8}) pts.push_back({n, 1e9, std::pow(8.8e13 / n, 0.076)});
  const PowerLaw k = fit_kaplan_n(pts);
  EXPECT_NEAR(k.exponent, 0.076, 1e-9);
  EXPECT_NEAR(std::log(k.scale), std::log(8.8e13), 1e-6);
  EXPECT_THROW(fit_kaplan_d(pts), sllm::Error);  // one D only
}

TEST(ScaleFit, ReadsJsonlAndCsvAndRejectsBadRows) {
  sllm::test::TempDir dir;
  {
    std::ofstream(dir.file("a.jsonl"))
        << "{\"params\": 1e6, \"tokens\": 2e7, \"loss\": 2.5, \"extra\": 1}\n\n"
        << "{\"params\": 2e6, \"tokens\": 2e7, \"loss\": 2.3}\n";
    std::ofstream(dir.file("b.csv")) << "name,loss,params,tokens\nx,2.5,1e6,2e7\ny,2.25,2e6,4e7\n";
    std::ofstream(dir.file("bad.jsonl")) << "{\"params\": 1e6, \"tokens\": 2e7, \"loss\": -1}\n";
    std::ofstream(dir.file("bad.csv")) << "params,tokens,loss\n1e6,abc,2\n";
  }
  auto a = read_scale_points(dir.file("a.jsonl"));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_DOUBLE_EQ(a[1].params, 2e6);
  auto b = read_scale_points(dir.file("b.csv"));
  ASSERT_EQ(b.size(), 2u);
  EXPECT_DOUBLE_EQ(b[1].loss, 2.25);
  EXPECT_DOUBLE_EQ(b[1].tokens, 4e7);
  EXPECT_THROW(read_scale_points(dir.file("bad.jsonl")), sllm::Error);
  EXPECT_THROW(read_scale_points(dir.file("bad.csv")), sllm::Error);
  EXPECT_THROW(fit_chinchilla({{1, 1, 1}}), sllm::Error);
}

#include "sllm/scale/sweep.h"

TEST(ScaleSweep, PlansOneTrainRunPerGridPoint) {
  SweepOptions o;
  o.sllm_binary = "/bin/sllm";
  o.sizes = {1e5, 1e6};
  o.tokens = {1e5, 1e6, 1e7};
  o.batch_size = 8;
  o.block_size = 64;
  o.data = "corpus.txt";
  const auto runs = plan_sweep(o);
  ASSERT_EQ(runs.size(), 6u);
  EXPECT_EQ(runs[1].steps, static_cast<int>(std::lround(1e6 / 512)));
  EXPECT_DOUBLE_EQ(runs[1].tokens, runs[1].steps * 512.0);
  EXPECT_LT(sllm::num_params(runs[0].model), sllm::num_params(runs[3].model));
  for (const auto& r : runs) {
    EXPECT_NO_THROW(r.model.validate());
    EXPECT_EQ(r.argv[0], "/bin/sllm");
    EXPECT_EQ(r.argv[1], "train");
    EXPECT_NE(std::find(r.argv.begin(), r.argv.end(), "corpus.txt"), r.argv.end());
  }
  EXPECT_NE(runs[0].out, runs[1].out);
  o.tokens.clear();
  EXPECT_THROW(plan_sweep(o), sllm::Error);
}
