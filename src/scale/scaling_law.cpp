#include "sllm/scale/scaling_law.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/scale/lbfgs.h"

namespace sllm::scale {

using nlohmann::json;

namespace {

void check_point(const ScalePoint& p, const std::string& where) {
  if (!(p.params > 0 && p.tokens > 0 && p.loss > 0) || !std::isfinite(p.params) ||
      !std::isfinite(p.tokens) || !std::isfinite(p.loss))
    fail("{}: params, tokens and loss must be finite and positive (got {}, {}, {})", where,
         p.params, p.tokens, p.loss);
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) {
    cell.erase(0, cell.find_first_not_of(" \t\r\""));
    cell.erase(cell.find_last_not_of(" \t\r\"") + 1);
    out.push_back(cell);
  }
  return out;
}

double parse_double(const std::string& s, const std::string& where) {
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    fail("{}: '{}' is not a number", where, s);
  }
}

// Chinchilla's objective over x = (a, b, e, alpha, beta).
double huber_objective(const std::vector<ScalePoint>& pts, double delta,
                       const std::vector<double>& x, std::vector<double>& g) {
  std::fill(g.begin(), g.end(), 0.0);
  double total = 0;
  for (const auto& p : pts) {
    const double ln = std::log(p.params), ld = std::log(p.tokens);
    const double t1 = x[0] - x[3] * ln, t2 = x[1] - x[4] * ld, t3 = x[2];
    const double m = std::max({t1, t2, t3});
    const double e1 = std::exp(t1 - m), e2 = std::exp(t2 - m), e3 = std::exp(t3 - m),
                 sum = e1 + e2 + e3;
    const double r = m + std::log(sum) - std::log(p.loss);
    const double ar = std::abs(r);
    total += ar <= delta ? 0.5 * r * r : delta * (ar - 0.5 * delta);
    const double dr = std::clamp(r, -delta, delta);
    const double w1 = dr * e1 / sum, w2 = dr * e2 / sum, w3 = dr * e3 / sum;
    g[0] += w1;
    g[1] += w2;
    g[2] += w3;
    g[3] -= w1 * ln;
    g[4] -= w2 * ld;
  }
  return total;
}

ChinchillaParams from_x(const std::vector<double>& x) {
  return {std::exp(x[2]), std::exp(x[0]), std::exp(x[1]), x[3], x[4]};
}

std::vector<double> to_x(const ChinchillaParams& p) {
  return {std::log(p.A), std::log(p.B), std::log(p.E), p.alpha, p.beta};
}

PowerLaw fit_power_law(const std::map<double, double>& best, const char* what) {
  if (best.size() < 2)
    fail("a Kaplan {} fit needs at least 2 distinct values of {} (got {})", what, what,
         best.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double n = double(best.size());
  for (const auto& [x, l] : best) {
    const double lx = std::log(x), ly = std::log(l);
    sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
  }
  const double den = n * sxx - sx * sx;
  if (den <= 0) fail("a Kaplan {} fit needs distinct values of {}", what, what);
  const double slope = (n * sxy - sx * sy) / den, icept = (sy - slope * sx) / n;
  PowerLaw p;
  p.exponent = -slope;
  // log L = exponent * log(scale) - exponent * log x
  p.scale = p.exponent != 0 ? std::exp(icept / p.exponent) : 0;
  p.points = static_cast<int>(best.size());
  return p;
}

Interval percentile_interval(double value, std::vector<double> v, double confidence) {
  Interval iv{value, value, value};
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return iv;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const double pos = q * (v.size() - 1);
    const size_t i = static_cast<size_t>(pos);
    const double f = pos - i;
    return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
  };
  iv.lo = at((1 - confidence) / 2);
  iv.hi = at(1 - (1 - confidence) / 2);
  return iv;
}

}  // namespace

std::vector<ScalePoint> read_scale_points(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<ScalePoint> pts;
  std::stringstream ss(text);
  std::string line;
  int lineno = 0;
  const bool csv = path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  int ci = -1, ti = -1, li = -1;
  while (std::getline(ss, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path, lineno);
    ScalePoint p;
    if (csv) {
      auto cells = split_csv(line);
      if (ci < 0) {
        for (int i = 0; i < int(cells.size()); ++i) {
          if (cells[i] == "params") ci = i;
          if (cells[i] == "tokens") ti = i;
          if (cells[i] == "loss") li = i;
        }
        if (ci < 0 || ti < 0 || li < 0)
          fail("{}: the CSV header must name params, tokens and loss columns", where);
        continue;
      }
      if (int(cells.size()) <= std::max({ci, ti, li})) fail("{}: too few columns", where);
      p = {parse_double(cells[ci], where), parse_double(cells[ti], where),
           parse_double(cells[li], where)};
    } else {
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception& e) {
        fail("{}: not valid JSON: {}", where, e.what());
      }
      for (const char* k : {"params", "tokens", "loss"})
        if (!j.contains(k) || !j[k].is_number()) fail("{}: needs a number '{}'", where, k);
      p = {j["params"].get<double>(), j["tokens"].get<double>(), j["loss"].get<double>()};
    }
    check_point(p, where);
    pts.push_back(p);
  }
  if (pts.empty()) fail("{}: no data points", path);
  return pts;
}

double ChinchillaParams::loss(double n, double d) const {
  return E + A / std::pow(n, alpha) + B / std::pow(d, beta);
}

void ChinchillaParams::compute_optimal(double flops, double& n_opt, double& d_opt) const {
  if (!(alpha > 0 && beta > 0 && A > 0 && B > 0))
    fail("compute-optimal N and D need alpha, beta, A, B > 0");
  const double G = std::pow(alpha * A / (beta * B), 1.0 / (alpha + beta));
  n_opt = G * std::pow(flops / 6.0, beta / (alpha + beta));
  d_opt = std::pow(flops / 6.0, alpha / (alpha + beta)) / G;
}

ChinchillaFit refit_chinchilla(const std::vector<ScalePoint>& pts, const ChinchillaParams& start,
                               double delta) {
  Objective f = [&](const std::vector<double>& x, std::vector<double>& g) {
    return huber_objective(pts, delta, x, g);
  };
  LbfgsResult r = lbfgs_minimize(f, to_x(start));
  ChinchillaFit fit;
  fit.p = from_x(r.x);
  fit.objective = r.f;
  fit.starts = 1;
  fit.converged = r.converged ? 1 : 0;
  return fit;
}

ChinchillaFit fit_chinchilla(const std::vector<ScalePoint>& pts, const ChinchillaFitOptions& opt) {
  if (pts.size() < 5) fail("fitting L(N, D) needs at least 5 points (got {})", pts.size());
  for (size_t i = 0; i < pts.size(); ++i) check_point(pts[i], fmt::format("point {}", i));
  if (!(opt.huber_delta > 0)) fail("Huber delta must be positive (got {})", opt.huber_delta);
  Objective f = [&](const std::vector<double>& x, std::vector<double>& g) {
    return huber_objective(pts, opt.huber_delta, x, g);
  };
  ChinchillaFit best;
  best.objective = std::numeric_limits<double>::infinity();
  for (double a : opt.a_grid)
    for (double b : opt.b_grid)
      for (double e : opt.e_grid)
        for (double al : opt.alpha_grid)
          for (double be : opt.beta_grid) {
            LbfgsResult r = lbfgs_minimize(f, {a, b, e, al, be});
            ++best.starts;
            best.converged += r.converged;
            if (std::isfinite(r.f) && r.f < best.objective)
              best.objective = r.f, best.p = from_x(r.x);
          }
  if (!std::isfinite(best.objective)) fail("the L(N, D) fit failed from every start");
  return best;
}

double PowerLaw::loss(double x) const {
  return std::pow(scale / x, exponent);
}

PowerLaw fit_kaplan_n(const std::vector<ScalePoint>& pts) {
  std::map<double, double> best;
  for (const auto& p : pts)
    best[p.params] = best.count(p.params) ? std::min(best[p.params], p.loss) : p.loss;
  return fit_power_law(best, "N");
}

PowerLaw fit_kaplan_d(const std::vector<ScalePoint>& pts) {
  std::map<double, double> best;
  for (const auto& p : pts)
    best[p.tokens] = best.count(p.tokens) ? std::min(best[p.tokens], p.loss) : p.loss;
  return fit_power_law(best, "D");
}

ScalingReport fit_scaling_laws(const std::vector<ScalePoint>& pts,
                               const ScalingReportOptions& opt) {
  if (opt.bootstrap < 0) fail("bootstrap resamples must be >= 0 (got {})", opt.bootstrap);
  if (!(opt.confidence > 0 && opt.confidence < 1))
    fail("confidence must be in (0, 1) (got {})", opt.confidence);
  if (opt.budget < 0) fail("compute budget must be >= 0 (got {})", opt.budget);
  ScalingReport r;
  r.bootstrap = opt.bootstrap;
  r.confidence = opt.confidence;
  r.chinchilla = fit_chinchilla(pts, opt.fit);
  const ChinchillaParams& p = r.chinchilla.p;
  std::set<double> ns, ds;
  for (const auto& q : pts) ns.insert(q.params), ds.insert(q.tokens);
  r.has_kaplan_n = ns.size() >= 2;
  r.has_kaplan_d = ds.size() >= 2;
  if (r.has_kaplan_n) r.kaplan_n = fit_kaplan_n(pts);
  if (r.has_kaplan_d) r.kaplan_d = fit_kaplan_d(pts);
  r.has_budget = opt.budget > 0 && p.alpha > 0 && p.beta > 0;
  r.budget = opt.budget;
  double n_opt = 0, d_opt = 0;
  if (r.has_budget) p.compute_optimal(opt.budget, n_opt, d_opt);

  std::vector<double> E, A, B, al, be, no, dopt, lo, kne, kns, kde, kds;
  std::mt19937_64 rng(opt.seed);
  std::uniform_int_distribution<size_t> pick(0, pts.size() - 1);
  std::vector<ScalePoint> sample(pts.size());
  for (int b = 0; b < opt.bootstrap; ++b) {
    for (auto& s : sample) s = pts[pick(rng)];
    const ChinchillaParams q = refit_chinchilla(sample, p, opt.fit.huber_delta).p;
    E.push_back(q.E), A.push_back(q.A), B.push_back(q.B), al.push_back(q.alpha),
        be.push_back(q.beta);
    if (r.has_budget && q.alpha > 0 && q.beta > 0 && q.A > 0 && q.B > 0) {
      double n = 0, d = 0;
      q.compute_optimal(opt.budget, n, d);
      no.push_back(n), dopt.push_back(d), lo.push_back(q.loss(n, d));
    }
    std::set<double> sn, sd;
    for (const auto& s : sample) sn.insert(s.params), sd.insert(s.tokens);
    if (r.has_kaplan_n && sn.size() >= 2) {
      const PowerLaw k = fit_kaplan_n(sample);
      kne.push_back(k.exponent), kns.push_back(k.scale);
    }
    if (r.has_kaplan_d && sd.size() >= 2) {
      const PowerLaw k = fit_kaplan_d(sample);
      kde.push_back(k.exponent), kds.push_back(k.scale);
    }
  }
  const double c = opt.confidence;
  r.E = percentile_interval(p.E, E, c);
  r.A = percentile_interval(p.A, A, c);
  r.B = percentile_interval(p.B, B, c);
  r.alpha = percentile_interval(p.alpha, al, c);
  r.beta = percentile_interval(p.beta, be, c);
  if (r.has_budget) {
    r.n_opt = percentile_interval(n_opt, no, c);
    r.d_opt = percentile_interval(d_opt, dopt, c);
    r.loss_opt = percentile_interval(p.loss(n_opt, d_opt), lo, c);
  }
  r.kaplan_n_exponent = percentile_interval(r.kaplan_n.exponent, kne, c);
  r.kaplan_n_scale = percentile_interval(r.kaplan_n.scale, kns, c);
  r.kaplan_d_exponent = percentile_interval(r.kaplan_d.exponent, kde, c);
  r.kaplan_d_scale = percentile_interval(r.kaplan_d.scale, kds, c);
  return r;
}

std::string ScalingReport::to_text() const {
  std::string o;
  const int pct = static_cast<int>(std::lround(confidence * 100));
  auto row = [&](const char* name, const Interval& iv) {
    o += fmt::format("  {:<8} {:>12.5g}   [{:.5g}, {:.5g}]\n", name, iv.value, iv.lo, iv.hi);
  };
  o += fmt::format(
      "L(N, D) = E + A/N^alpha + B/D^beta  (Chinchilla approach 3: Huber on log loss, "
      "L-BFGS from {} starts, {} converged; objective {:.4g})\n",
      chinchilla.starts, chinchilla.converged, chinchilla.objective);
  o += fmt::format("  {:<8} {:>12}   {}% bootstrap interval ({} resamples)\n", "param", "estimate",
                   pct, bootstrap);
  row("E", E);
  row("A", A);
  row("B", B);
  row("alpha", alpha);
  row("beta", beta);
  if (has_budget) {
    o += fmt::format("compute-optimal for C = {:.4g} FLOPs (C = 6ND):\n", budget);
    row("N_opt", n_opt);
    row("D_opt", d_opt);
    row("loss", loss_opt);
    o += fmt::format("  tokens per parameter {:.3g}\n", d_opt.value / n_opt.value);
  }
  if (has_kaplan_n) {
    o += fmt::format("L(N) = (Nc/N)^alpha_N  (Kaplan; best loss per N over {} sizes)\n",
                     kaplan_n.points);
    row("alpha_N", kaplan_n_exponent);
    row("Nc", kaplan_n_scale);
  }
  if (has_kaplan_d) {
    o += fmt::format("L(D) = (Dc/D)^alpha_D  (Kaplan; best loss per D over {} budgets)\n",
                     kaplan_d.points);
    row("alpha_D", kaplan_d_exponent);
    row("Dc", kaplan_d_scale);
  }
  return o;
}

std::string ScalingReport::to_json() const {
  auto iv = [](const Interval& i) { return json{{"value", i.value}, {"lo", i.lo}, {"hi", i.hi}}; };
  json j;
  j["chinchilla"] = {{"E", iv(E)},
                     {"A", iv(A)},
                     {"B", iv(B)},
                     {"alpha", iv(alpha)},
                     {"beta", iv(beta)},
                     {"objective", chinchilla.objective},
                     {"starts", chinchilla.starts},
                     {"converged", chinchilla.converged}};
  if (has_budget)
    j["compute_optimal"] = {
        {"flops", budget}, {"N", iv(n_opt)}, {"D", iv(d_opt)}, {"loss", iv(loss_opt)}};
  if (has_kaplan_n)
    j["kaplan_n"] = {{"alpha_N", iv(kaplan_n_exponent)}, {"Nc", iv(kaplan_n_scale)}};
  if (has_kaplan_d)
    j["kaplan_d"] = {{"alpha_D", iv(kaplan_d_exponent)}, {"Dc", iv(kaplan_d_scale)}};
  j["bootstrap"] = bootstrap;
  j["confidence"] = confidence;
  return j.dump(2);
}

}  // namespace sllm::scale
