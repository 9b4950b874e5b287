#include "sllm/scale/calibrate.h"

#include <cblas.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <random>
#include <vector>

#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/model/model.h"
#include "sllm/model/optimizer.h"
#include "sllm/model/presets.h"

namespace sllm::scale {

namespace {

using Clock = std::chrono::steady_clock;

// Runs fn until `seconds` have passed (at least 3 times) and returns the best time of one run:
// the best run is the one least disturbed by other processes on a shared machine.
template <typename Fn>
double best_seconds(double seconds, Fn&& fn) {
  fn();  // warm caches and thread pools
  double best = 1e30;
  const auto start = Clock::now();
  for (int reps = 0;
       reps < 3 || std::chrono::duration<double>(Clock::now() - start).count() < seconds; ++reps) {
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    if (reps > 1000) break;
  }
  return best;
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

double square_gemm_gflops(int n, double seconds) {
  auto a = random_floats(size_t(n) * n, 1), b = random_floats(size_t(n) * n, 2);
  std::vector<float> c(size_t(n) * n);
  const double t = best_seconds(seconds, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
  });
  return 2.0 * n * n * double(n) / t / 1e9;
}

// One linear layer [M,w] -> [M,4w] trained: forward Y = X W^T, backward dX = dY W and
// dW += dY^T X, as a row-major trainer issues them.
double training_gemm_gflops(int w, double seconds) {
  const int M = 4096, K = w, N = 4 * w;
  auto x = random_floats(size_t(M) * K, 3), wt = random_floats(size_t(N) * K, 4),
       dy = random_floats(size_t(M) * N, 5);
  std::vector<float> y(size_t(M) * N), dx(size_t(M) * K), dw(size_t(N) * K);
  const double t = best_seconds(seconds, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x.data(), K, wt.data(), K,
                0.0f, y.data(), N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dy.data(), N, wt.data(),
                K, 0.0f, dx.data(), K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dy.data(), N, x.data(), K,
                1.0f, dw.data(), K);
  });
  return 3 * 2.0 * M * double(N) * K / t / 1e9;
}

// Mean time of fn over at least `min_runs` runs and `seconds`, after one warm-up run. A plan
// predicts a whole run, the sum of its steps: on a shared machine that is the mean step, slow
// steps included, not the best or the median one.
template <typename Fn>
double mean_seconds(double seconds, int min_runs, Fn&& fn) {
  fn();
  double total = 0;
  int runs = 0;
  const auto start = Clock::now();
  while (runs < min_runs ||
         (std::chrono::duration<double>(Clock::now() - start).count() < seconds && runs < 500)) {
    const auto t0 = Clock::now();
    fn();
    total += std::chrono::duration<double>(Clock::now() - t0).count();
    ++runs;
  }
  return total / runs;
}

}  // namespace

double training_step_gflops(const ModelConfig& c, int B, double seconds) {
  c.validate();
  if (B < 1) fail("calibration batch {} must be >= 1", B);
  const int T = c.block_size, V = c.vocab_size;
  Model m(c);
  m.init_weights(1);
  std::mt19937 rng(7);
  std::vector<int32_t> tok(size_t(B) * T), tgt(size_t(B) * T);
  for (auto& t : tok) t = static_cast<int32_t>(rng() % V);
  for (size_t i = 0; i < tok.size(); ++i) tgt[i] = tok[(i + 1) % tok.size()];
  AdamWState st;
  AdamWParams h;
  h.lr = 1e-4f;
  const double t = mean_seconds(seconds, 5, [&] {
    m.zero_grad();
    m.forward(tok.data(), tgt.data(), B, T);
    m.backward();
    h.grad_scale = clip_scale(grad_norm(m), 1.0f);
    adamw_step(m, st, h);
  });
  return flops_per_token(c, T) * B * T / t / 1e9;
}

namespace {

// The generic probe per width: a 2-layer GPT-2 (batch 8 x 64 tokens, vocabulary 256), for
// about 3 probe times.
double width_probe_gflops(int w, double seconds) {
  ModelConfig c;
  apply_preset(c, preset("gpt2"));
  c.vocab_size = 256;
  c.n_layer = 2;
  c.n_embd = w;
  c.n_head = c.n_kv_head = std::max(1, w / 32);
  c.block_size = 64;
  return training_step_gflops(c, 8, 3 * seconds);
}

// STREAM triad a = b + s*c over arrays far larger than the last-level cache; counts the
// 3 arrays' bytes as STREAM does.
double triad_gbs(double seconds) {
  const size_t n = size_t(32) << 20;  // 128 MiB per array
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  const float s = 3.0f;
  const double t = best_seconds(seconds, [&] {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
  });
  if (a[n / 2] != 7.0f) fail("bandwidth probe computed a wrong result");
  return 3.0 * n * sizeof(float) / t / 1e9;
}

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  }
  return "unknown CPU";
}

double total_memory_gb() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) / 1e9 : 0;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown host";
  return buf;
}

}  // namespace

Accelerator calibrate_this_cpu(const CalibrateOptions& opt, const Accelerator* previous) {
  if (opt.seconds_per_probe <= 0)
    fail("calibration probe time must be positive (got {})", opt.seconds_per_probe);
  set_num_threads(opt.threads);
  Accelerator a;
  a.id = "cpu";
  a.kind = "cpu";
  a.aliases = {"this-cpu"};
  a.threads = num_threads();
  a.name = cpu_model_name() + " (" + std::to_string(a.threads) + " threads, measured)";
  a.memory_gb = total_memory_gb();
  a.board_power_w = opt.board_power_w;
  a.peak_tflops["fp32"] = square_gemm_gflops(2048, opt.seconds_per_probe) / 1e3;
  for (int w : opt.widths) {
    if (w <= 0) fail("calibration width {} must be positive", w);
    a.gemm_gflops.push_back({w, training_gemm_gflops(w, opt.seconds_per_probe)});
  }
  std::sort(a.gemm_gflops.begin(), a.gemm_gflops.end(),
            [](auto& x, auto& y) { return x.width < y.width; });
  a.memory_bandwidth_gbs = triad_gbs(opt.seconds_per_probe);
  for (int w : opt.train_widths) {
    if (w <= 0 || w % 32)
      fail("calibration training width {} must be a positive multiple of 32", w);
    a.train_gflops.push_back({w, width_probe_gflops(w, opt.seconds_per_probe)});
  }
  std::sort(a.train_gflops.begin(), a.train_gflops.end(),
            [](auto& x, auto& y) { return x.width < y.width; });
  if (previous && previous->kind == "cpu") a.train_probes = previous->train_probes;
  if (opt.run_model) {
    const ModelConfig& c = *opt.run_model;
    TrainProbe p{family_name(c), c.n_layer,    c.n_embd,      c.n_head, c.n_kv_head,
                 c.vocab_size,   c.block_size, opt.run_batch, 0.0};
    // A run-shaped probe is what the plan of that run predicts with: give it more time.
    p.gflops = training_step_gflops(c, opt.run_batch, 5 * opt.seconds_per_probe);
    std::erase_if(a.train_probes, [&](const TrainProbe& q) {
      return q.arch == p.arch && q.layers == p.layers && q.width == p.width && q.heads == p.heads &&
             q.kv_heads == p.kv_heads && q.vocab == p.vocab && q.ctx == p.ctx && q.batch == p.batch;
    });
    a.train_probes.push_back(p);
  }
  a.measured_at = utc_now();
  a.source.title =
      "measured by `sllm plan --calibrate` on " + host_name() + " at " + a.measured_at +
      ": OpenBLAS sgemm 2048^3 for fp32 peak, 4096-token training GEMMs per width, "
      "STREAM triad (3 x 128 MiB) for bandwidth; sllm training steps (2-layer GPT-2, 8 x 64 "
      "tokens, mean step) per width; memory from sysconf" +
      (opt.board_power_w > 0 ? "; board power given by the user (--tdp)" : "");
  return a;
}

}  // namespace sllm::scale
