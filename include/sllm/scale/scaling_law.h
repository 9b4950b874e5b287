// Scaling-law fits on (N parameters, D tokens, final loss) points:
//  - Chinchilla approach 3 (Hoffmann et al. 2022, appendix D.2): L(N, D) = E + A/N^alpha +
//  B/D^beta,
//    fitted by minimising the Huber loss (delta 1e-3) between log L and
//    LSE(a - alpha log N, b - beta log D, e) with A = e^a, B = e^b, E = e^e, by L-BFGS from a
//    grid of starting points, keeping the best.
//  - Kaplan et al. 2020: L(N) = (Nc/N)^alpha_N and L(D) = (Dc/D)^alpha_D, least squares in log-log.
// Confidence intervals come from a bootstrap over the points.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sllm::scale {

struct ScalePoint {
  double params = 0, tokens = 0, loss = 0;
};

// Reads points from JSONL (one object per line with "params", "tokens" and "loss") or CSV
// (a header naming params, tokens and loss columns), by the file's extension.
std::vector<ScalePoint> read_scale_points(const std::string& path);

struct ChinchillaParams {
  double E = 0, A = 0, B = 0, alpha = 0, beta = 0;
  double loss(double n, double d) const;
  // The N and D minimising loss under C = 6 N D (Hoffmann et al. eq. 4):
  // N = G (C/6)^(beta/(alpha+beta)), D = (C/6)^(alpha/(alpha+beta)) / G,
  // G = (alpha A / (beta B))^(1/(alpha+beta)).
  void compute_optimal(double flops, double& n_opt, double& d_opt) const;
};

struct ChinchillaFitOptions {
  double huber_delta = 1e-3;
  // Hoffmann et al.'s grid of starts.
  std::vector<double> alpha_grid = {0, 0.5, 1, 1.5, 2}, beta_grid = {0, 0.5, 1, 1.5, 2};
  std::vector<double> e_grid = {-1, -0.5, 0, 0.5, 1}, a_grid = {0, 5, 10, 15, 20, 25},
                      b_grid = {0, 5, 10, 15, 20, 25};
};

struct ChinchillaFit {
  ChinchillaParams p;
  double objective = 0;  // summed Huber loss at the optimum
  int starts = 0, converged = 0;
};

ChinchillaFit fit_chinchilla(const std::vector<ScalePoint>& pts,
                             const ChinchillaFitOptions& opt = {});
// Refits from one starting point (used by the bootstrap, starting from the full fit).
ChinchillaFit refit_chinchilla(const std::vector<ScalePoint>& pts, const ChinchillaParams& start,
                               double huber_delta);

struct PowerLaw {
  double scale = 0, exponent = 0;  // L(x) = (scale / x)^exponent
  double loss(double x) const;
  int points = 0;
};
// L(N): for each N the lowest loss over D (the best-trained run); L(D): for each D the lowest
// loss over N. Throws if fewer than 2 distinct values.
PowerLaw fit_kaplan_n(const std::vector<ScalePoint>& pts);
PowerLaw fit_kaplan_d(const std::vector<ScalePoint>& pts);

struct Interval {
  double value = 0, lo = 0, hi = 0;  // the full-data estimate and a percentile interval
};

struct ScalingReport {
  ChinchillaFit chinchilla;
  Interval E, A, B, alpha, beta;
  bool has_budget = false;
  double budget = 0;
  Interval n_opt, d_opt, loss_opt;
  bool has_kaplan_n = false, has_kaplan_d = false;
  PowerLaw kaplan_n, kaplan_d;
  Interval kaplan_n_exponent, kaplan_n_scale, kaplan_d_exponent, kaplan_d_scale;
  int bootstrap = 0;
  double confidence = 0.95;
  std::string to_text() const;
  std::string to_json() const;
};

struct ScalingReportOptions {
  ChinchillaFitOptions fit;
  int bootstrap = 200;  // resamples
  double confidence = 0.95;
  double budget = 0;  // FLOPs for the compute-optimal N and D; 0: none
  uint64_t seed = 1;
};

ScalingReport fit_scaling_laws(const std::vector<ScalePoint>& pts, const ScalingReportOptions& opt);

// Loss against N (one series per D) and against D (one series per N): the points and the fitted
// L(N, D) curves, side by side, as an SVG document.
std::string scaling_plot_svg(const std::vector<ScalePoint>& pts, const ScalingReport& r);

}  // namespace sllm::scale
