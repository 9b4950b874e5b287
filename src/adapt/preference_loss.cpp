#include "sllm/adapt/preference_loss.h"

#include <algorithm>
#include <cmath>

#include "sllm/common/error.h"

namespace sllm {

namespace {

struct LossName {
  PreferenceLossType type;
  const char* name;
};
constexpr LossName kLossNames[] = {{PreferenceLossType::Dpo, "dpo"},
                                   {PreferenceLossType::Ipo, "ipo"},
                                   {PreferenceLossType::Orpo, "orpo"}};

double log_sigmoid(double x) {
  return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}
double sigmoid(double x) {
  return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
}

// log-sum-exp of one position's logits, in double.
double lse(const float* z, int V) {
  double mx = -INFINITY;
  for (int v = 0; v < V; ++v) mx = std::max<double>(mx, z[v]);
  double s = 0;
  for (int v = 0; v < V; ++v) s += std::exp(z[v] - mx);
  return mx + std::log(s);
}

}  // namespace

void PreferenceOptions::validate() const {
  if (!(beta > 0.0f && std::isfinite(beta))) fail("preference beta {} must be > 0", beta);
  if (!(label_smoothing >= 0.0f && label_smoothing < 0.5f))
    fail("label smoothing {} must be in [0, 0.5)", label_smoothing);
  if (label_smoothing > 0.0f && type != PreferenceLossType::Dpo)
    fail("label smoothing (cDPO) applies to the dpo loss only, not {}", preference_loss_name(type));
}

PreferenceLossType parse_preference_loss(const std::string& name) {
  for (const LossName& l : kLossNames)
    if (name == l.name) return l.type;
  fail("unknown preference loss '{}' (dpo, ipo, orpo)", name);
}

const char* preference_loss_name(PreferenceLossType t) {
  for (const LossName& l : kLossNames)
    if (t == l.type) return l.name;
  return "?";
}

void completion_logps(const float* logits, const int32_t* targets, int R, int T, int V,
                      bool average, double* out) {
  for (int r = 0; r < R; ++r) {
    double sum = 0;
    int n = 0;
    for (int t = 0; t < T; ++t) {
      const size_t i = static_cast<size_t>(r) * T + t;
      if (targets[i] < 0) continue;
      const float* z = logits + i * V;
      sum += z[targets[i]] - lse(z, V);
      ++n;
    }
    if (n == 0) fail("preference row {} has no completion token", r);
    out[r] = average ? sum / n : sum;
  }
}

PreferenceLoss preference_loss(const float* logits, const int32_t* targets, int P, int T, int V,
                               const double* ref_logps, const PreferenceOptions& opt,
                               float* dlogits, float scale) {
  opt.validate();
  if (P < 1 || T < 1 || V < 2) fail("preference loss: bad shape P={} T={} V={}", P, T, V);
  if (opt.needs_reference() && !ref_logps)
    fail("the {} loss needs reference log-probs", preference_loss_name(opt.type));
  const int R = 2 * P;
  std::vector<double> logp(R);
  completion_logps(logits, targets, R, T, V, opt.averages_logps(), logp.data());
  std::vector<int> count(R, 0);
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) count[r] += targets[static_cast<size_t>(r) * T + t] >= 0;

  const double beta = opt.beta, ls = opt.label_smoothing;
  PreferenceLoss L;
  std::vector<double> grow(R, 0.0);  // d(loss)/d(row logp)
  double rc = 0, rr = 0, acc = 0, lc = 0, lr = 0, odds = 0;
  for (int i = 0; i < P; ++i) {
    const double pc = logp[i], pr = logp[P + i];
    double dc = 0, loss = 0, wc = 0, wr = 0;
    if (opt.type == PreferenceLossType::Orpo) {
      // log(1 - e^p) as log(-expm1(p)): exact near p = 0.
      const double lo = (pc - pr) - (std::log(-std::expm1(pc)) - std::log(-std::expm1(pr)));
      loss = -beta * log_sigmoid(lo);
      const double dlo = -beta * sigmoid(-lo);
      grow[i] = dlo / -std::expm1(pc);       // d lo / d pc = 1 / (1 - e^pc)
      grow[P + i] = -dlo / -std::expm1(pr);  // d lo / d pr = -1 / (1 - e^pr)
      wc = beta * pc;
      wr = beta * pr;
      odds += lo;
    } else {
      const double refc = ref_logps[i], refr = ref_logps[P + i];
      const double z = (pc - pr) - (refc - refr);
      if (opt.type == PreferenceLossType::Dpo) {
        loss = -(1 - ls) * log_sigmoid(beta * z) - ls * log_sigmoid(-beta * z);
        dc = -(1 - ls) * beta * sigmoid(-beta * z) + ls * beta * sigmoid(beta * z);
      } else {
        const double d = z - 1 / (2 * beta);
        loss = d * d;
        dc = 2 * d;
      }
      grow[i] = dc;
      grow[P + i] = -dc;
      wc = beta * (pc - refc);
      wr = beta * (pr - refr);
    }
    L.loss += loss / P;
    rc += wc / P;
    rr += wr / P;
    acc += (wc > wr ? 1.0 : 0.0) / P;
    lc += pc / P;
    lr += pr / P;
  }
  for (int r = 0; r < R; ++r) grow[r] /= P;
  if (opt.averages_logps())
    for (int r = 0; r < R; ++r) grow[r] /= count[r];

  // ORPO's NLL: the mean cross-entropy over every chosen completion token of the batch.
  double nll = 0, nll_w = 0;
  if (opt.type == PreferenceLossType::Orpo) {
    int n = 0;
    for (int r = 0; r < P; ++r) n += count[r];
    for (int r = 0; r < P; ++r) nll -= logp[r] * count[r] / n;  // logp is the row's mean
    nll_w = -1.0 / n;
    L.loss += nll;
    L.metrics["nll_loss"] = nll;
    L.metrics["log_odds_ratio"] = odds / P;
  }
  L.metrics["rewards/chosen"] = rc;
  L.metrics["rewards/rejected"] = rr;
  L.metrics["rewards/margins"] = rc - rr;
  L.metrics["rewards/accuracies"] = acc;
  L.metrics["logps/chosen"] = lc;
  L.metrics["logps/rejected"] = lr;
  if (!dlogits) return L;

#pragma omp parallel for schedule(static)
  for (int r = 0; r < R; ++r) {
    const double w = grow[r] + (r < P ? nll_w : 0.0);
    for (int t = 0; t < T; ++t) {
      const size_t i = static_cast<size_t>(r) * T + t;
      float* g = dlogits + i * V;
      if (targets[i] < 0) {
        std::fill(g, g + V, 0.0f);
        continue;
      }
      const float* z = logits + i * V;
      const double m = lse(z, V), ws = w * scale;
      for (int v = 0; v < V; ++v) g[v] = static_cast<float>(-ws * std::exp(z[v] - m));
      g[targets[i]] = static_cast<float>(ws * -std::expm1(z[targets[i]] - m));
    }
  }
  return L;
}

}  // namespace sllm
