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

// softmax(z / tau) of one row as log-probabilities and probabilities, in double so long rows
// keep their small probabilities. Every term below (student, dense or top-k teacher, the
// hard-label CE at tau = 1) is built from this one helper.
struct TemperedSoftmax {
  std::vector<double> logp, p;
  explicit TemperedSoftmax(int n) : logp(n), p(n) {}
  void compute(const float* z, int n, double inv_t) {
    double mx = -INFINITY;
    for (int v = 0; v < n; ++v) mx = std::max(mx, z[v] * inv_t);
    double s = 0;
    for (int v = 0; v < n; ++v) s += std::exp(z[v] * inv_t - mx);
    const double lse = mx + std::log(s);
    for (int v = 0; v < n; ++v) {
      logp[v] = z[v] * inv_t - lse;
      p[v] = std::exp(logp[v]);
    }
  }
};

void check_args(const int32_t* targets, int N, int V, const DistillOptions& opt) {
  opt.validate();
  if (N < 0 || V < 2) fail("distillation loss: bad shape N={} V={}", N, V);
  if (!targets && opt.alpha < 1.0f)
    fail("distillation with alpha {} < 1 needs hard targets for the CE term", opt.alpha);
}

// The teacher side of one row, given the student's tempered softmax: returns KL and, when g is
// not null, writes w * d(tau^2 KL)/d(student logits) into g (tau^2 * d/dz = tau * d/d(z/tau)).
// Teachers construct their scratch per thread from V.
struct DenseTeacher {
  const float* logits;
  bool reverse;
  int V;
  TemperedSoftmax t;
  DenseTeacher(const float* l, bool r, int v) : logits(l), reverse(r), V(v), t(v) {}
  bool valid(int) const { return true; }
  double kd(int i, const TemperedSoftmax& s, double inv_t, double w_tau, float* g) {
    t.compute(logits + static_cast<size_t>(i) * V, V, inv_t);
    double kl = 0;
    if (!reverse) {  // KL(p_t || p_s); gradient p_s - p_t
      for (int v = 0; v < V; ++v) kl += t.p[v] * (t.logp[v] - s.logp[v]);
      if (g)
        for (int v = 0; v < V; ++v) g[v] = static_cast<float>(w_tau * (s.p[v] - t.p[v]));
    } else {  // KL(p_s || p_t); gradient p_s * (log p_s - log p_t - KL)
      for (int v = 0; v < V; ++v) kl += s.p[v] * (s.logp[v] - t.logp[v]);
      if (g)
        for (int v = 0; v < V; ++v)
          g[v] = static_cast<float>(w_tau * s.p[v] * ((s.logp[v] - t.logp[v]) - kl));
    }
    return kl;
  }
};

// The teacher's k largest logits; its distribution is their tempered softmax (tail zero).
struct TopkTeacher {
  const int32_t* ids;
  const float* logits;
  int k, V;
  TemperedSoftmax t;
  TopkTeacher(const int32_t* i, const float* l, int k_, int v)
      : ids(i), logits(l), k(k_), V(v), t(k_) {}
  bool valid(int i) const {
    const int32_t* id = ids + static_cast<size_t>(i) * k;
    for (int j = 0; j < k; ++j)
      if (id[j] < 0 || id[j] >= V) return false;
    return true;
  }
  double kd(int i, const TemperedSoftmax& s, double inv_t, double w_tau, float* g) {
    const int32_t* id = ids + static_cast<size_t>(i) * k;
    t.compute(logits + static_cast<size_t>(i) * k, k, inv_t);
    double kl = 0;
    for (int j = 0; j < k; ++j) kl += t.p[j] * (t.logp[j] - s.logp[id[j]]);
    if (g) {
      for (int v = 0; v < V; ++v) g[v] = static_cast<float>(w_tau * s.p[v]);
      for (int j = 0; j < k; ++j) g[id[j]] -= static_cast<float>(w_tau * t.p[j]);
    }
    return kl;
  }
};

// Runs the loss over all rows (in parallel, per-row results summed in row order, so the result
// does not depend on the thread count): alpha * tau^2 KD + (1 - alpha) CE over the positions
// whose target is >= 0. make_teacher() builds one teacher (with its scratch) per thread.
template <class MakeTeacher>
DistillLoss run_rows(const float* student, const int32_t* targets, int N, int V,
                     const DistillOptions& opt, float* dstudent, const MakeTeacher& make_teacher,
                     const char* what) {
  const double tau = opt.temperature, inv_t = 1.0 / opt.temperature;
  int count = N;
  if (targets)
    count = static_cast<int>(std::count_if(targets, targets + N, [](int32_t y) { return y >= 0; }));
  const double w_kd = count ? opt.alpha / count : 0.0,
               w_ce = count ? (1.0 - opt.alpha) / count : 0.0;
  std::vector<double> kd(N, 0.0), ce(N, 0.0);
  bool bad = false;
#pragma omp parallel reduction(|| : bad)
  {
    auto teacher = make_teacher();
    TemperedSoftmax s(V), hard(V);
#pragma omp for schedule(static)
    for (int i = 0; i < N; ++i) {
      const float* zs = student + static_cast<size_t>(i) * V;
      float* g = dstudent ? dstudent + static_cast<size_t>(i) * V : nullptr;
      if (g) std::fill(g, g + V, 0.0f);
      if (targets && targets[i] < 0) continue;
      if ((targets && targets[i] >= V) || !teacher.valid(i)) {
        bad = true;
        continue;
      }
      s.compute(zs, V, inv_t);
      kd[i] = tau * tau * teacher.kd(i, s, inv_t, w_kd * tau, g);
      if (!targets) continue;
      const int32_t y = targets[i];
      hard.compute(zs, V, 1.0);
      ce[i] = -hard.logp[y];
      if (g && w_ce != 0.0)
        for (int v = 0; v < V; ++v)
          g[v] += static_cast<float>(w_ce * (hard.p[v] - (v == y ? 1.0 : 0.0)));
    }
  }
  if (bad) fail("{}: a token id or target is outside the vocabulary of {} tokens", what, V);
  DistillLoss L;
  L.count = count;
  for (int i = 0; i < N; ++i) {
    L.kd += kd[i];
    L.ce += ce[i];
  }
  if (count > 0) {
    L.kd /= count;
    L.ce /= count;
  }
  L.total = opt.alpha * L.kd + (1.0 - opt.alpha) * L.ce;
  return L;
}

}  // namespace

DistillLoss distill_loss_dense(const float* student, const float* teacher, const int32_t* targets,
                               int N, int V, const DistillOptions& opt, float* dstudent) {
  check_args(targets, N, V, opt);
  return run_rows(
      student, targets, N, V, opt, dstudent,
      [&] { return DenseTeacher(teacher, opt.reverse_kl, V); }, "distillation loss");
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
  return run_rows(
      student, targets, N, V, opt, dstudent, [&] { return TopkTeacher(ids, tlogits, k, V); },
      "top-k teacher");
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
