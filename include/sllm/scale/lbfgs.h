// Limited-memory BFGS (Nocedal & Wright, Numerical Optimization, 2nd ed., algorithms 7.4 and
// 7.5) with a strong-Wolfe line search (algorithms 3.5 and 3.6). Small, dependency-free, for
// the handful of parameters a scaling-law fit has.
#pragma once
#include <functional>
#include <vector>

namespace sllm::scale {

// Returns f(x) and writes its gradient into grad (already sized like x).
using Objective = std::function<double(const std::vector<double>& x, std::vector<double>& grad)>;

struct LbfgsOptions {
  int max_iterations = 1000;
  int history = 10;
  double grad_tolerance = 1e-10;  // stop when |grad|_inf <= this
  double f_tolerance = 1e-15;     // stop when the relative decrease of f is below this
};

struct LbfgsResult {
  std::vector<double> x;
  double f = 0;
  int iterations = 0;
  bool converged =
      false;  // a tolerance was met, rather than the iteration limit or a failed search
};

LbfgsResult lbfgs_minimize(const Objective& f, std::vector<double> x0,
                           const LbfgsOptions& opt = {});

}  // namespace sllm::scale
