#include "sllm/adapt/distill_loss.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "sllm/common/error.h"

namespace sllm {

void DistillOptions::validate() const {
  if (!(temperature > 0.0f && temperature <= 100.0f))
    fail("distillation temperature {} must be in (0, 100]", temperature);
  if (!(alpha >= 0.0f && alpha <= 1.0f)) fail("distillation alpha {} must be in [0, 1]", alpha);
}

namespace {

// log softmax(z * inv_t) of one row, in double so long rows keep their small probabilities.
void log_softmax_row(const float* z, int V, float inv_t, double* out) {
  double mx = -INFINITY;
  for (int v = 0; v < V; ++v) mx = std::max(mx, static_cast<double>(z[v]) * inv_t);
  double s = 0;
  for (int v = 0; v < V; ++v) s += std::exp(static_cast<double>(z[v]) * inv_t - mx);
  const double lse = mx + std::log(s);
  for (int v = 0; v < V; ++v) out[v] = static_cast<double>(z[v]) * inv_t - lse;
}

void check_args(const int32_t* targets, int N, int V, const DistillOptions& opt) {
  opt.validate();
  if (N < 0 || V < 2) fail("distillation loss: bad shape N={} V={}", N, V);
  if (!targets && opt.alpha < 1.0f)
    fail("distillation with alpha {} < 1 needs hard targets for the CE term", opt.alpha);
}

// Per-row work shared by the dense and top-k paths: the caller fills the teacher's log-probs
// at temperature tau into lt (dense) or sparse (ids, lt over k entries).
struct RowResult {
  double kd = 0, ce = 0;
};

DistillLoss reduce(const std::vector<RowResult>& rows, const int32_t* targets, int N) {
  DistillLoss L;
  for (int i = 0; i < N; ++i) {
    if (targets && targets[i] < 0) continue;
    L.kd += rows[i].kd;
    L.ce += rows[i].ce;
    ++L.count;
  }
  return L;
}

void finish(DistillLoss& L, const DistillOptions& opt) {
  if (L.count > 0) {
    L.kd /= L.count;
    L.ce /= L.count;
  }
  L.total = opt.alpha * L.kd + (1.0 - opt.alpha) * L.ce;
}

int count_positions(const int32_t* targets, int N) {
  if (!targets) return N;
  int c = 0;
  for (int i = 0; i < N; ++i) c += targets[i] >= 0;
  return c;
}

// Adds the hard-label CE term of one row (y already checked): w * (softmax(z) - onehot) into g.
double ce_row(const float* z, int V, int32_t y, double w, float* g, std::vector<double>& tmp) {
  log_softmax_row(z, V, 1.0f, tmp.data());
  if (g && w != 0.0)
    for (int v = 0; v < V; ++v)
      g[v] += static_cast<float>(w * (std::exp(tmp[v]) - (v == y ? 1.0 : 0.0)));
  return -tmp[y];
}

}  // namespace

DistillLoss distill_loss_dense(const float* student, const float* teacher, const int32_t* targets,
                               int N, int V, const DistillOptions& opt, float* dstudent) {
  check_args(targets, N, V, opt);
  const double tau = opt.temperature;
  const float inv_t = 1.0f / opt.temperature;
  const int count = count_positions(targets, N);
  const double w_kd = count ? opt.alpha / count : 0.0,
               w_ce = count ? (1.0 - opt.alpha) / count : 0.0;
  std::vector<RowResult> rows(N);
  bool bad_target = false;
#pragma omp parallel
  {
    std::vector<double> ls(V), lt(V), tmp(V);
#pragma omp for schedule(static)
    for (int i = 0; i < N; ++i) {
      const float* zs = student + static_cast<size_t>(i) * V;
      float* g = dstudent ? dstudent + static_cast<size_t>(i) * V : nullptr;
      if (g) std::fill(g, g + V, 0.0f);
      if (targets && targets[i] < 0) continue;
      if (targets && targets[i] >= V) {
        bad_target = true;
        continue;
      }
      log_softmax_row(zs, V, inv_t, ls.data());
      log_softmax_row(teacher + static_cast<size_t>(i) * V, V, inv_t, lt.data());
      double kl = 0;
      if (!opt.reverse_kl) {
        for (int v = 0; v < V; ++v) kl += std::exp(lt[v]) * (lt[v] - ls[v]);
        if (g)
          for (int v = 0; v < V; ++v)
            g[v] = static_cast<float>(w_kd * tau * (std::exp(ls[v]) - std::exp(lt[v])));
      } else {
        for (int v = 0; v < V; ++v) kl += std::exp(ls[v]) * (ls[v] - lt[v]);
        if (g)
          for (int v = 0; v < V; ++v)
            g[v] = static_cast<float>(w_kd * tau * std::exp(ls[v]) * ((ls[v] - lt[v]) - kl));
      }
      rows[i].kd = tau * tau * kl;
      if (targets) rows[i].ce = ce_row(zs, V, targets[i], w_ce, g, tmp);
    }
  }
  if (bad_target) fail("distillation loss: a target is outside the vocabulary of {} tokens", V);
  DistillLoss L = reduce(rows, targets, N);
  finish(L, opt);
  return L;
}

DistillLoss distill_loss_topk(const float* student, const int32_t* ids, const float* tlogits, int k,
                              const int32_t* targets, int N, int V, const DistillOptions& opt,
                              float* dstudent) {
  check_args(targets, N, V, opt);
  if (opt.reverse_kl)
    fail(
        "reverse KL needs the teacher's full distribution; a top-k teacher cache supports forward "
        "KL only");
  if (k < 1 || k > V) fail("top-k teacher: k = {} must be in [1, {}]", k, V);
  const double tau = opt.temperature;
  const float inv_t = 1.0f / opt.temperature;
  const int count = count_positions(targets, N);
  const double w_kd = count ? opt.alpha / count : 0.0,
               w_ce = count ? (1.0 - opt.alpha) / count : 0.0;
  std::vector<RowResult> rows(N);
  bool bad = false;
#pragma omp parallel
  {
    std::vector<double> ls(V), lt(k), tmp(V);
#pragma omp for schedule(static)
    for (int i = 0; i < N; ++i) {
      const float* zs = student + static_cast<size_t>(i) * V;
      const int32_t* id = ids + static_cast<size_t>(i) * k;
      float* g = dstudent ? dstudent + static_cast<size_t>(i) * V : nullptr;
      if (g) std::fill(g, g + V, 0.0f);
      if (targets && targets[i] < 0) continue;
      bool row_ok = !targets || targets[i] < V;
      for (int j = 0; j < k; ++j) row_ok = row_ok && id[j] >= 0 && id[j] < V;
      if (!row_ok) {
        bad = true;
        continue;
      }
      log_softmax_row(zs, V, inv_t, ls.data());
      log_softmax_row(tlogits + static_cast<size_t>(i) * k, k, inv_t, lt.data());
      double kl = 0;
      for (int j = 0; j < k; ++j) kl += std::exp(lt[j]) * (lt[j] - ls[id[j]]);
      if (g) {
        for (int v = 0; v < V; ++v) g[v] = static_cast<float>(w_kd * tau * std::exp(ls[v]));
        for (int j = 0; j < k; ++j) g[id[j]] -= static_cast<float>(w_kd * tau * std::exp(lt[j]));
      }
      rows[i].kd = tau * tau * kl;
      if (targets) rows[i].ce = ce_row(zs, V, targets[i], w_ce, g, tmp);
    }
  }
  if (bad) fail("top-k teacher: a token id or target is outside the vocabulary of {} tokens", V);
  DistillLoss L = reduce(rows, targets, N);
  finish(L, opt);
  return L;
}

void topk_logits(const float* logits, int N, int V, int k, int32_t* ids, float* vals) {
  if (k < 1 || k > V) fail("top-k: k = {} must be in [1, {}]", k, V);
#pragma omp parallel
  {
    std::vector<int32_t> idx(V);
#pragma omp for schedule(static)
    for (int i = 0; i < N; ++i) {
      const float* z = logits + static_cast<size_t>(i) * V;
      std::iota(idx.begin(), idx.end(), 0);
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [z](int32_t a, int32_t b) {
        return z[a] > z[b] || (z[a] == z[b] && a < b);
      });
      for (int j = 0; j < k; ++j) {
        ids[static_cast<size_t>(i) * k + j] = idx[j];
        vals[static_cast<size_t>(i) * k + j] = z[idx[j]];
      }
    }
  }
}

}  // namespace sllm
