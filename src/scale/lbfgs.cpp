#include "sllm/scale/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

#include "sllm/common/error.h"

namespace sllm::scale {

namespace {

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}

struct Point {
  double a = 0, f = 0, d = 0;  // step length, f(x + a p), directional derivative there
  std::vector<double> x, g;
};

class LineSearch {
 public:
  LineSearch(const Objective& f, const std::vector<double>& x0, const std::vector<double>& p,
             double f0, double d0)
      : f_(f), x0_(x0), p_(p), f0_(f0), d0_(d0) {}

  // Strong Wolfe conditions with c1 = 1e-4, c2 = 0.9. Returns false when no acceptable step
  // was found; `best` then holds the lowest point seen (possibly none better than x0).
  bool search(double a1, Point& out) {
    Point prev{0, f0_, d0_, {}, {}};
    double a = a1;
    for (int i = 0; i < 40; ++i) {
      Point cur = eval(a);
      if (!std::isfinite(cur.f) || cur.f > f0_ + kC1 * a * d0_ || (i > 0 && cur.f >= prev.f))
        return zoom(prev, cur, out);
      if (std::abs(cur.d) <= -kC2 * d0_) return out = cur, true;
      if (cur.d >= 0) return zoom(cur, prev, out);
      prev = cur;
      a *= 2;
    }
    return false;
  }

  const Point& best() const { return best_; }

 private:
  static constexpr double kC1 = 1e-4, kC2 = 0.9;

  Point eval(double a) {
    Point pt;
    pt.a = a;
    pt.x = x0_;
    for (size_t i = 0; i < pt.x.size(); ++i) pt.x[i] += a * p_[i];
    pt.g.assign(pt.x.size(), 0.0);
    pt.f = f_(pt.x, pt.g);
    pt.d = dot(pt.g, p_);
    if (std::isfinite(pt.f) && (best_.x.empty() || pt.f < best_.f)) best_ = pt;
    return pt;
  }

  bool zoom(Point lo, Point hi, Point& out) {
    for (int i = 0; i < 60; ++i) {
      const double w = hi.a - lo.a;
      // Minimiser of the quadratic through f(lo), f'(lo) and f(hi), kept well inside the bracket.
      double a = lo.a + 0.5 * w;
      if (std::isfinite(hi.f)) {
        const double denom = 2 * (hi.f - lo.f - lo.d * w);
        if (denom != 0) a = lo.a - lo.d * w * w / denom;
      }
      const double lo_edge = std::min(lo.a, hi.a) + 0.1 * std::abs(w),
                   hi_edge = std::max(lo.a, hi.a) - 0.1 * std::abs(w);
      if (!(a >= lo_edge && a <= hi_edge)) a = lo.a + 0.5 * w;
      if (std::abs(w) < 1e-20) return false;
      Point cur = eval(a);
      if (!std::isfinite(cur.f) || cur.f > f0_ + kC1 * a * d0_ || cur.f >= lo.f) {
        hi = cur;
      } else {
        if (std::abs(cur.d) <= -kC2 * d0_) return out = cur, true;
        if (cur.d * (hi.a - lo.a) >= 0) hi = lo;
        lo = cur;
      }
    }
    return false;
  }

  const Objective& f_;
  const std::vector<double>& x0_;
  const std::vector<double>& p_;
  double f0_, d0_;
  Point best_;
};

}  // namespace

LbfgsResult lbfgs_minimize(const Objective& f, std::vector<double> x, const LbfgsOptions& opt) {
  if (x.empty()) fail("lbfgs: empty starting point");
  const size_t n = x.size();
  std::vector<double> g(n);
  double fx = f(x, g);
  LbfgsResult r;
  if (!std::isfinite(fx)) fail("lbfgs: the objective is not finite at the starting point");
  std::deque<std::vector<double>> S, Y;
  std::deque<double> rho;
  std::vector<double> p(n), q(n), alpha(opt.history);
  for (r.iterations = 0; r.iterations < opt.max_iterations; ++r.iterations) {
    if (max_abs(g) <= opt.grad_tolerance) {
      r.converged = true;
      break;
    }
    // Two-loop recursion: p = -H g.
    q = g;
    for (int i = int(S.size()) - 1; i >= 0; --i) {
      alpha[i] = rho[i] * dot(S[i], q);
      for (size_t k = 0; k < n; ++k) q[k] -= alpha[i] * Y[i][k];
    }
    const double gamma = S.empty() ? 1.0 / std::max(1.0, max_abs(g))
                                   : dot(S.back(), Y.back()) / dot(Y.back(), Y.back());
    for (size_t k = 0; k < n; ++k) q[k] *= gamma;
    for (size_t i = 0; i < S.size(); ++i) {
      const double beta = rho[i] * dot(Y[i], q);
      for (size_t k = 0; k < n; ++k) q[k] += S[i][k] * (alpha[i] - beta);
    }
    for (size_t k = 0; k < n; ++k) p[k] = -q[k];
    double d0 = dot(g, p);
    if (!(d0 < 0)) {  // not a descent direction: restart from steepest descent
      S.clear(), Y.clear(), rho.clear();
      for (size_t k = 0; k < n; ++k) p[k] = -g[k] / std::max(1.0, max_abs(g));
      d0 = dot(g, p);
    }
    LineSearch ls(f, x, p, fx, d0);
    Point next;
    if (!ls.search(1.0, next)) {
      if (ls.best().x.empty() || !(ls.best().f < fx)) break;  // no progress possible: stop
      next = ls.best();
    }
    std::vector<double> s(n), y(n);
    for (size_t k = 0; k < n; ++k) s[k] = next.x[k] - x[k], y[k] = next.g[k] - g[k];
    const double sy = dot(s, y);
    const double decrease = fx - next.f;
    x = std::move(next.x);
    g = std::move(next.g);
    fx = next.f;
    if (sy > 1e-300) {
      S.push_back(std::move(s));
      Y.push_back(std::move(y));
      rho.push_back(1.0 / sy);
      if (int(S.size()) > opt.history) S.pop_front(), Y.pop_front(), rho.pop_front();
    }
    if (decrease <= opt.f_tolerance * std::max({std::abs(fx), std::abs(fx + decrease), 1e-300})) {
      r.converged = true;
      ++r.iterations;
      break;
    }
  }
  r.x = std::move(x);
  r.f = fx;
  return r;
}

}  // namespace sllm::scale
